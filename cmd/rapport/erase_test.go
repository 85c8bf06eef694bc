//go:build !production

package main

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
	"google.golang.org/protobuf/proto"

	"github.com/rapporthq/rapport/internal/store/storetest"
	"github.com/rapporthq/rapport/workflows"
)

// What the shop told Rapport about Ada, each string hers alone: after the
// erasure none may be left in the database.
var adaPersonal = []string{
	"ada.erase@example.com", // email
	"Ada Lovelace",          // name
	"+44 7911 123456",       // phone
	"+447911123456",         // phone, E.164
	"12 St James's Square",  // street
	"198.51.100.23",         // the IP address her consent came from
	"Earl Grey tea",         // an item she ordered
	"gift for my wife Jane", // what an event of hers said
}

// eraseSetup puts Ada mid-way through the win-back (the voucher email
// sent, two weeks of waiting ahead) with every kind of record, and Linus,
// whom the erasure must not touch. It returns Ada's run.
func eraseSetup(t *testing.T, s *stack) string {
	t.Helper()
	status, body := s.post("/v1/customers", lapsedCustomer("c_ada", "ada.erase@example.com"))
	require.Equal(t, http.StatusCreated, status, body)
	status, body = s.post("/v1/orders", pastOrder("o-ada-old", "c_ada", 120))
	require.Equal(t, http.StatusCreated, status, body)
	status, body = s.put("/v1/customers/c_ada/preferences", map[string]any{
		"channels": map[string]any{"phone": map[string]any{"consent": "opted_in"}},
		"evidence": map[string]any{"source": "checkout", "shown": "You may call me about offers", "ip": "198.51.100.23", "user_agent": "Firefox/140"}})
	require.Equal(t, http.StatusOK, status, body)
	status, body = s.post("/v1/events", map[string]any{"id": "evt-ada-note", "type": "note.added", "customer_id": "c_ada",
		"data": map[string]any{"note": "gift for my wife Jane"}})
	require.Equal(t, http.StatusAccepted, status, body)
	status, body = s.post("/v1/customers", map[string]any{"id": "c_linus", "email": "linus@example.com", "name": "Linus Pauling"})
	require.Equal(t, http.StatusCreated, status, body)
	linusOrder := pastOrder("o-linus", "c_linus", 10)
	linusOrder["items"] = []any{map[string]any{"product_id": "pot", "name": "Blue teapot", "quantity": 1, "price": 17}}
	status, body = s.post("/v1/orders", linusOrder)
	require.Equal(t, http.StatusCreated, status, body)

	status, run := s.post("/v1/journeys/lapse-winback/audience-runs", nil)
	require.Equal(t, http.StatusOK, status, run)
	wid := "rapport/lapse-winback/c_ada/" + run["entry_key"].(string)
	require.Equal(t, []any{wid}, run["runs"])
	s.waitFor("the voucher email", func() bool { return len(s.messagesTo("c_ada")) == 1 })
	// She unsubscribed from email through her provider's link.
	status, body = s.post("/v1/suppressions", map[string]any{"channel": "email", "address": "ada.erase@example.com", "reason": "unsubscribed"})
	require.Contains(t, []int{http.StatusOK, http.StatusCreated}, status, body)
	dump := storetest.Dump(t, s.DatabaseURL)
	for _, p := range adaPersonal {
		require.Contains(t, dump, p, "the setup stores %q, so its absence later means something", p)
	}
	return wid
}

// assertErased checks that nothing of Ada is left: in the database (a
// pg_dump of it), in Temporal (no execution by her id, her run's
// execution gone), and that events for her are refused.
func assertErased(t *testing.T, s *stack, wid string) {
	t.Helper()
	ctx := context.Background()
	dump := storetest.Dump(t, s.DatabaseURL)
	for _, p := range adaPersonal {
		assert.Empty(t, storetest.LinesWith(dump, p), "no table may keep %q", p)
	}
	assert.Empty(t, storetest.LinesWith(dump, "c_ada"), "nor her id: the outbox keeps a hash")
	assert.Contains(t, dump, "linus@example.com", "Linus is untouched")
	assert.Contains(t, dump, "asked by email", "the erasure record is kept")

	list, err := s.client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: "default", Query: "RapportCustomerId = 'c_ada'"})
	require.NoError(t, err)
	assert.Empty(t, list.GetExecutions(), "Temporal lists no execution of hers")
	_, err = s.client.DescribeWorkflowExecution(ctx, wid, "")
	var nf *serviceerror.NotFound
	assert.True(t, errors.As(err, &nf), "her run's execution is deleted: %v", err)

	sent := len(s.outbox())
	status, body := s.post("/v1/events", orderPlaced("evt-ada-later", "c_ada", false))
	assert.Equal(t, http.StatusGone, status, body)
	assert.Len(t, s.outbox(), sent, "a later event sends nothing")
}

// TestEraseCustomerMidWinback erases Ada while her win-back waits: the run
// exits (not fails), nothing more is sent, and nothing of her is left. She
// can sign up again as a new customer; her unsubscribe still holds.
func TestEraseCustomerMidWinback(t *testing.T) {
	s := startStack(t, "../../journeys")
	wid := eraseSetup(t, s)
	sent := len(s.outbox())

	// Watch the run end (its execution is deleted soon after).
	ended := make(chan workflows.JourneyResult, 1)
	go func() {
		var res workflows.JourneyResult
		if err := s.client.GetWorkflow(context.Background(), wid, "").Get(context.Background(), &res); err == nil {
			ended <- res
		}
		close(ended)
	}()

	out, errOut, err := run("customers", "erase", "c_ada", "--reason", "asked by email", "--api="+s.APIURL, "--api-key="+s.APIKey)
	require.NoError(t, err, errOut)
	assert.Contains(t, out, "erasing c_ada (erasure 1, asked by key dev-admin)")
	assert.Contains(t, out, "erased c_ada: 1 running journey exited, ")
	res, ok := <-ended
	require.True(t, ok, "the run ended")
	assert.Equal(t, workflows.Exited, res.Outcome, "exited, not failed")
	assert.Equal(t, "exited by key dev-admin: customer erased", res.Reason)
	assert.Equal(t, []string{"email_offer"}, res.StepsDone)
	assert.Len(t, s.outbox(), sent, "nothing sent after the erasure")
	assertErased(t, s, wid)

	// The erasure's own history keeps nothing personal either.
	var erasure map[string]any
	require.Equal(t, http.StatusOK, s.get("/v1/customers/c_ada/erasure", &erasure))
	assert.Equal(t, "done", erasure["status"])
	history := workflowHistoryJSON(t, s, erasure["workflow_id"].(string))
	for _, p := range adaPersonal {
		assert.NotContains(t, history, p)
	}

	// Asking again: erased already.
	out, errOut, err = run("customers", "erase", "c_ada", "--reason", "asked twice", "--api="+s.APIURL, "--api-key="+s.APIKey)
	require.NoError(t, err, errOut)
	assert.Contains(t, out, "c_ada was erased already")

	// She comes back: a new customer, taking events again, with her
	// unsubscribe kept (by its hash).
	status, body := s.post("/v1/customers", lapsedCustomer("c_ada", "ada.erase@example.com"))
	require.Equal(t, http.StatusCreated, status, body)
	status, body = s.post("/v1/events", map[string]any{"id": "evt-ada-back", "type": "note.added", "customer_id": "c_ada"})
	assert.Equal(t, http.StatusAccepted, status, body)
	var sup map[string]any
	assert.Equal(t, http.StatusOK, s.get("/v1/suppressions/email/ada.erase@example.com", &sup))
	// The reason keeps its category only: its free text ("manual:
	// unsubscribed", a bounce quoting the address) may name the person.
	assert.Equal(t, "manual", sup["reason"])
}

// interruptErasure makes the erasure fail midway the way a lost worker
// does: DeleteExecutions does its work and then fails on its first
// attempt; the first RemoveCustomerData waits (so the test can stop the
// whole erasure there) and then fails without doing anything.
type interruptErasure struct {
	interceptor.WorkerInterceptorBase
	mu       sync.Mutex
	attempts map[string]int
	reached  chan struct{}
	release  chan struct{}
}

func (i *interruptErasure) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &interruptingActivity{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}, i: i}
}

type interruptingActivity struct {
	interceptor.ActivityInboundInterceptorBase
	i *interruptErasure
}

func (a *interruptingActivity) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	name := activity.GetInfo(ctx).ActivityType.Name
	a.i.mu.Lock()
	a.i.attempts[name]++
	n := a.i.attempts[name]
	a.i.mu.Unlock()
	switch {
	case name == workflows.RemoveCustomerDataActivity && n == 1:
		close(a.i.reached)
		<-a.i.release
		return nil, errors.New("worker lost")
	case name == workflows.DeleteExecutionsActivity && n == 1:
		if _, err := a.Next.ExecuteActivity(ctx, in); err != nil {
			return nil, err
		}
		return nil, errors.New("worker lost after deleting")
	}
	return a.Next.ExecuteActivity(ctx, in)
}

// TestErasureInterruptedAndResumed stops an erasure midway (its run
// exited and deleted, the data not yet removed) and asks for it again: it
// resumes the same erasure and ends as one that ran through.
func TestErasureInterruptedAndResumed(t *testing.T) {
	ic := &interruptErasure{attempts: map[string]int{}, reached: make(chan struct{}), release: make(chan struct{})}
	s := startStack(t, "../../journeys", withInterceptors(ic))
	wid := eraseSetup(t, s)
	ctx := context.Background()

	out, errOut, err := run("customers", "erase", "c_ada", "--reason", "asked by email", "--no-wait", "--api="+s.APIURL, "--api-key="+s.APIKey)
	require.NoError(t, err, errOut)
	assert.Contains(t, out, "erasing c_ada (erasure 1")
	select {
	case <-ic.reached:
	case <-time.After(patience): // Temporal deletes executions in the background, after up to 30s
		t.Fatal("the erasure did not reach the removal of the data")
	}
	var er map[string]any
	require.Equal(t, http.StatusOK, s.get("/v1/customers/c_ada/erasure", &er))
	require.NoError(t, s.client.TerminateWorkflow(ctx, er["workflow_id"].(string), "", "the test stops the erasure midway"))
	close(ic.release)

	require.Equal(t, http.StatusOK, s.get("/v1/customers/c_ada/erasure", &er))
	assert.Equal(t, "failed", er["status"])
	assert.Contains(t, er["error"], "ask for it again")
	status, body := s.post("/v1/events", map[string]any{"id": "evt-ada-mid", "type": "note.added", "customer_id": "c_ada"})
	assert.Equal(t, http.StatusGone, status, body, "events are refused while the erasure is unfinished")
	dump := storetest.Dump(t, s.DatabaseURL)
	assert.Contains(t, dump, "ada.erase@example.com", "stopped before the data went")
	_, err = s.client.DescribeWorkflowExecution(ctx, wid, "")
	var nf *serviceerror.NotFound
	assert.True(t, errors.As(err, &nf), "her run was exited and deleted before the stop: %v", err)

	out, errOut, err = run("customers", "erase", "c_ada", "--reason", "asked by email again", "--api="+s.APIURL, "--api-key="+s.APIKey)
	require.NoError(t, err, errOut)
	assert.Contains(t, out, "erasing c_ada (erasure 1,", "the same erasure, resumed")
	assert.Contains(t, out, "erased c_ada: ")
	assertErased(t, s, wid)
	ic.mu.Lock()
	defer ic.mu.Unlock()
	assert.GreaterOrEqual(t, ic.attempts[workflows.DeleteExecutionsActivity], 2, "deleting was retried after the lost worker")
	assert.Equal(t, 2, ic.attempts[workflows.RemoveCustomerDataActivity], "the data went on the resumed run")
}

// workflowHistoryJSON is a workflow's whole history, with payloads
// (JSON) as they are stored.
func workflowHistoryJSON(t *testing.T, s *stack, workflowID string) string {
	t.Helper()
	iter := s.client.GetWorkflowHistory(context.Background(), workflowID, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var b strings.Builder
	for iter.HasNext() {
		ev, err := iter.Next()
		require.NoError(t, err)
		raw, err := proto.Marshal(ev) // payloads as their bytes, not base64
		require.NoError(t, err)
		b.Write(raw)
	}
	return b.String()
}
