package activities

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"

	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/store/storetest"
	"github.com/rapporthq/rapport/workflows"
)

// pgProxy stands between the store and PostgreSQL so a test can take the
// database away: down drops every connection and refuses new ones, up
// listens again on the same address.
type pgProxy struct {
	addr, target string
	mu           sync.Mutex
	ln           net.Listener
	conns        []net.Conn
}

func newPGProxy(t *testing.T, target string) *pgProxy {
	p := &pgProxy{target: target}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.down)
	return p
}

func (p *pgProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(s, c); s.Close() }()
			go func() { _, _ = io.Copy(c, s); c.Close() }()
		}
	}()
}

func (p *pgProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *pgProxy) up(t *testing.T) {
	ln, err := net.Listen("tcp", p.addr)
	require.NoError(t, err)
	p.serve(ln)
}

// TestARunOutlastsADatabaseOutage: the real customer-facts and finish
// activities against PostgreSQL that really goes away (every connection
// dropped, new ones refused) when the run starts and comes back past the
// run's retry budget (in workflow time). The run retries (with time
// skipping, through its whole retry budget and into waiting) and completes
// once the database is back.
func TestARunOutlastsADatabaseOutage(t *testing.T) {
	direct, dbURL := storetest.New(t)
	ctx := context.Background()
	_, err := direct.UpsertCustomer(ctx, store.Customer{ID: "c_1"})
	require.NoError(t, err)
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	proxy := newPGProxy(t, u.Host)
	u.Host = proxy.addr
	proxied, err := store.Open(ctx, u.String())
	require.NoError(t, err)
	t.Cleanup(proxied.Close)
	a := &Activities{Store: proxied}

	comp, err := journey.NewCompiler(journey.Options{})
	require.NoError(t, err)
	plan, diags := comp.Compile("t.yaml", []byte(`
journey: thanks
purpose: transactional
trigger: {event: order.placed}
exit_when: event.type == "customer.erased" && customer.orders_count >= 0  # reads the facts: the run reads them first
steps:
  - {id: thanks, send: {channel: email, template: thank-you}}
`))
	require.False(t, diags.HasErrors(), diags.Error())

	var failures, sends atomic.Int32
	env := (&testsuite.WorkflowTestSuite{}).NewTestWorkflowEnvironment()
	workflows.NewInterpreter(comp.Env()).Register(env)
	env.RegisterActivityWithOptions(func(ctx context.Context, id string) (journey.Customer, error) {
		c, err := a.CustomerFacts(ctx, id)
		if err != nil {
			failures.Add(1)
		}
		return c, err
	}, activity.RegisterOptions{Name: workflows.CustomerFactsActivity})
	env.RegisterActivityWithOptions(a.FinishRun, activity.RegisterOptions{Name: workflows.FinishRunActivity})
	env.RegisterActivityWithOptions(func(_ context.Context, req workflows.SendRequest) (workflows.SendResult, error) {
		sends.Add(1)
		return workflows.SendResult{Channel: req.Channel, Status: workflows.SendSent}, nil
	}, activity.RegisterOptions{Name: workflows.SendMessageActivity})

	proxy.down()
	// The database comes back an hour of workflow time past the retry
	// budget, when the run waits for it: the same outage however fast the
	// machine runs the retries.
	env.RegisterDelayedCallback(func() { proxy.up(t) }, workflows.DefaultRetryBudget+time.Hour)
	env.ExecuteWorkflow(workflows.JourneyWorkflowName, workflows.JourneyInput{Plan: *plan, CustomerID: "c_1", EntryKey: "e1",
		Trigger: journey.Event{ID: "e1", Type: "order.placed", CustomerID: "c_1"}, Revision: workflows.Revision})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var res workflows.JourneyResult
	require.NoError(t, env.GetWorkflowResult(&res))
	assert.Equal(t, workflows.Completed, res.Outcome, res.Reason)
	assert.Greater(t, failures.Load(), int32(5), "the facts failed while the database was away")
	var st workflows.State
	v, err := env.QueryWorkflow(workflows.StateQuery)
	require.NoError(t, err)
	require.NoError(t, v.Get(&st))
	assert.Contains(t, strings.Join(st.Notes, "\n"), "failed past the retry budget", "it waited for the database")
	assert.Equal(t, int32(1), sends.Load())
	_, err = proxied.CustomerFacts(ctx, "c_1", time.Now())
	assert.False(t, errors.Is(err, store.ErrNotFound))
	require.NoError(t, err, "the database is back")
}
