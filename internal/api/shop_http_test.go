package api_test

// The handler tests of this package's external test files talk to the API
// as a shop does: JSON over HTTP (httptest), against the real handlers
// over a real PostgreSQL database of their own (storetest), with the
// Temporal client faked (what the API asks of Temporal is checked;
// journeys themselves run in workflows and end to end in cmd/rapport).
// They name no Go request or answer type of the API: only its JSON.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/rapporthq/rapport/internal/api"
	"github.com/rapporthq/rapport/internal/apikey"
	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/links"
	"github.com/rapporthq/rapport/internal/router"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/store/storetest"
	"github.com/rapporthq/rapport/workflows"
)

// The shop's journeys: thanks starts on every order; review listens for
// the delivery and a cancellation; care starts on a poor survey answer;
// winback is an audience.
var shopJourneys = []string{`
journey: thanks
purpose: transactional
topic: orders
trigger: {event: order.placed}
steps:
  - id: thank_you
    send: {channel: email, template: thank-you}
`, `
journey: review
purpose: marketing
topic: reviews
trigger: {event: order.placed}
exit_when: event.type == "order.cancelled"
steps:
  - id: wait_for_delivery
    wait: {until_event: event.type == "order.delivered", timeout: 7d}
  - id: ask
    send: {channel: email, template: review-request}
`, `
journey: care
purpose: transactional
topic: orders
trigger:
  event: survey.answered
  when: event.data.score <= 2
steps:
  - id: call
    task: {kind: phone_call, queue: care, due_in: 2d, brief: Call them., outcomes: [reached, declined]}
`, `
journey: winback
purpose: marketing
topic: offers
trigger:
  audience: days_since_last_order >= 90 && orders_count >= 1
steps:
  - id: offer
    send: {channel: email, template: winback-offer}
`}

// publicURL is the API's address as the providers call it.
const publicURL = "https://rapport.example"

// shop is the API over a fresh database, with an admin key, signed links
// and webhook keys made for the test.
type shop struct {
	t        *testing.T
	st       *store.Store
	dbURL    string
	h        http.Handler
	key      string
	temporal *fakeTemporal
	links    *links.Signer
	sendgrid *ecdsa.PrivateKey
	// twilioToken and lobSecret sign Twilio's and Lob's callbacks.
	twilioToken, lobSecret string
	router                 *router.Router
}

func newShop(t *testing.T) *shop {
	t.Helper()
	return newShopWith(t)
}

// newShopWith is newShop with more journeys besides the shop's.
func newShopWith(t *testing.T, journeys ...string) *shop {
	t.Helper()
	return newShopKeyed(t, nil, journeys...)
}

// newShopKeyed is newShopWith with the webhook keys changed by keys
// (nil: as newShop has them).
func newShopKeyed(t *testing.T, keys func(*api.WebhookKeys), journeys ...string) *shop {
	t.Helper()
	st, dbURL := storetest.New(t)
	comp, err := journey.NewCompiler(journey.Options{})
	require.NoError(t, err)
	var plans []*journey.Plan
	for _, src := range append(slices.Clone(shopJourneys), journeys...) {
		p, diags := comp.Compile("journey.yaml", []byte(src))
		require.False(t, diags.HasErrors(), "%v", diags)
		plans = append(plans, p)
	}
	cat, err := journey.NewCatalog(plans...)
	require.NoError(t, err)
	signer, err := links.NewSigner([]byte(strings.Repeat("l", 32)))
	require.NoError(t, err)
	sg, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tc := newFakeTemporal()
	rt := &router.Router{Store: st, Temporal: tc, Catalog: cat, Env: comp.Env()}
	s := &shop{t: t, st: st, dbURL: dbURL, temporal: tc, links: signer, sendgrid: sg, twilioToken: "twilio-token", lobSecret: "lob-secret", router: rt}
	srv := &api.Server{Store: st, Router: rt, Temporal: tc, Links: signer, Topics: []string{"offers", "reviews"}, ShopName: "The Tea Shop",
		Webhooks: api.WebhookKeys{SendGrid: &sg.PublicKey, TwilioAuthToken: s.twilioToken, LobSecret: s.lobSecret, PublicURL: publicURL,
			ShopifySecrets: []string{shopifyOldSecret, shopifySecret}},
		PublicLimit: api.PublicLimit{Rate: 1000, Burst: 1000, WebhookRate: 1000, WebhookBurst: 1000}}
	if keys != nil {
		keys(&srv.Webhooks)
	}
	s.h = srv.Handler()
	_, s.key, err = st.CreateAPIKey(context.Background(), "shop-backend", []apikey.Scope{apikey.Admin})
	require.NoError(t, err)
	return s
}

// answer is an HTTP answer: its status, its body, and the body read as a
// JSON object when it is one.
type answer struct {
	Code int
	Body string
	JSON map[string]any
}

// call sends a /v1 request with the admin key; body is JSON text ("" for
// none).
func (s *shop) call(method, path, body string) answer {
	s.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	req.Header.Set("Authorization", "Bearer "+s.key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return s.serve(req)
}

// serve answers a request made by the test.
func (s *shop) serve(req *http.Request) answer {
	s.t.Helper()
	req.RemoteAddr = "192.0.2.10:5555"
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, req)
	a := answer{Code: rec.Code, Body: rec.Body.String()}
	if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		require.NoError(s.t, json.Unmarshal(rec.Body.Bytes(), &a.JSON), "%s", rec.Body.String())
	}
	return a
}

// must sends a request that must be answered with code.
func (s *shop) must(code int, method, path, body string) map[string]any {
	s.t.Helper()
	a := s.call(method, path, body)
	require.Equal(s.t, code, a.Code, "%s %s: %s", method, path, a.Body)
	return a.JSON
}

// customer creates a customer from JSON fields.
func (s *shop) customer(fields string) {
	s.t.Helper()
	s.must(http.StatusCreated, "POST", "/v1/customers", fields)
}

// jsonText marshals v for a request body.
func jsonText(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// strs reads a JSON list of strings from an answer.
func strs(v any) []string {
	list, _ := v.([]any)
	out := []string{}
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// fakeTemporal is the part of Temporal's client the API and its router
// call, in memory: it records starts and signals and knows which
// workflows run. Any other call panics (the embedded nil client).
type fakeTemporal struct {
	client.Client

	mu      sync.Mutex
	starts  []start
	signals []start
	running map[string]bool
	fail    error
	// audience is what an audience run started by hand comes to.
	audience workflows.AudienceResult
}

// start is a workflow started or signalled: its id, the event it was
// signalled with, and the start's arguments.
type start struct {
	ID       string
	Workflow string
	Event    journey.Event
	Args     []any
	Opts     client.StartWorkflowOptions
}

func newFakeTemporal() *fakeTemporal { return &fakeTemporal{running: map[string]bool{}} }

func (f *fakeTemporal) ExecuteWorkflow(_ context.Context, o client.StartWorkflowOptions, wf any, args ...any) (client.WorkflowRun, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	name, _ := wf.(string)
	f.running[o.ID] = true
	f.starts = append(f.starts, start{ID: o.ID, Workflow: name, Args: args, Opts: o})
	return &fakeRun{id: o.ID, result: f.audience}, nil
}

func (f *fakeTemporal) SignalWithStartWorkflow(_ context.Context, id, _ string, arg any, o client.StartWorkflowOptions, wf any, args ...any) (client.WorkflowRun, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	ev, _ := arg.(journey.Event)
	if f.running[id] {
		f.signals = append(f.signals, start{ID: id, Event: ev})
		return &fakeRun{id: id}, nil
	}
	name, _ := wf.(string)
	f.running[id] = true
	f.starts = append(f.starts, start{ID: id, Workflow: name, Event: ev, Args: args, Opts: o})
	return &fakeRun{id: id}, nil
}

func (f *fakeTemporal) SignalWorkflow(_ context.Context, id, _, _ string, arg any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	if !f.running[id] {
		return serviceerror.NewNotFound("workflow not found")
	}
	ev, _ := arg.(journey.Event)
	f.signals = append(f.signals, start{ID: id, Event: ev})
	return nil
}

func (f *fakeTemporal) setFail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = err
}

func (f *fakeTemporal) startIDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []string{}
	for _, s := range f.starts {
		out = append(out, s.ID)
	}
	return out
}

func (f *fakeTemporal) startList() []start {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]start(nil), f.starts...)
}

func (f *fakeTemporal) signalList() []start {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]start(nil), f.signals...)
}

// fakeRun is a started workflow; an audience run's Get answers its result
// unless the caller stopped waiting.
type fakeRun struct {
	client.WorkflowRun
	id     string
	result workflows.AudienceResult
}

func (r *fakeRun) GetID() string    { return r.id }
func (r *fakeRun) GetRunID() string { return "run-of-" + r.id }
func (r *fakeRun) Get(ctx context.Context, v any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if p, ok := v.(*workflows.AudienceResult); ok {
		*p = r.result
	}
	return nil
}

// eventually waits for cond, polling; it fails the test with what when
// cond does not come true within d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// routerSweep are sweep options that take every unrouted event at once.
func routerSweep() router.SweepOptions { return router.SweepOptions{Interval: time.Nanosecond} }
