package activities

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/rapporthq/rapport/internal/api"
	"github.com/rapporthq/rapport/internal/channels/sendgrid"
	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

// trafficRun is one journey run the traffic workflow starts, at At after
// its own start.
type trafficRun struct {
	At    time.Duration
	ID    string
	Input workflows.JourneyInput
}

// traffic starts journey runs as customers come, one child workflow each,
// and waits for them all: traffic over hours on Temporal's test clock.
func traffic(ctx workflow.Context, runs []trafficRun) error {
	start := workflow.Now(ctx)
	var started []workflow.ChildWorkflowFuture
	for _, r := range runs {
		if d := start.Add(r.At).Sub(workflow.Now(ctx)); d > 0 {
			if err := workflow.Sleep(ctx, d); err != nil {
				return err
			}
		}
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: r.ID})
		started = append(started, workflow.ExecuteChildWorkflow(cctx, workflows.JourneyWorkflowName, r.Input))
	}
	for i, f := range started {
		var res workflows.JourneyResult
		if err := f.Get(ctx, &res); err != nil {
			return fmt.Errorf("%s: %w", runs[i].ID, err)
		}
		if res.Outcome != workflows.Completed {
			return fmt.Errorf("%s: %s (%s)", runs[i].ID, res.Outcome, res.Reason)
		}
	}
	return nil
}

// accepted is an email SendGrid took, at test time At.
type accepted struct {
	At         time.Time
	CustomerID string
}

// TestTwoHourSendGridOutageEveryEmailOnceTransactionalFirst: with the
// default settings and SendGrid's event webhook configured, SendGrid
// answers 503 to every request for two hours (it takes nothing) while
// customers keep coming. Every email of the outage goes out exactly once
// within minutes of its end, once the webhook has reported the emails
// SendGrid accepted after them and not them, and the transactional ones
// go before the marketing ones. The runs, the activities, the outbox
// (PostgreSQL), the sendgrid-go client, the SendGrid fake and the API's
// webhook handler are real; the time is Temporal's test clock.
func TestTwoHourSendGridOutageEveryEmailOnceTransactionalFirst(t *testing.T) {
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	env.SetTestTimeout(5 * time.Minute)
	start := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	env.SetStartTime(start)
	h := newHarness(t, store.WithClock(env.Now))
	h.acts.Clock = env.Now
	h.acts.InDoubt = InDoubtPolicy{} // the defaults: at most once, a 6-hour deadline
	env.RegisterWorkflowWithOptions(traffic, workflow.RegisterOptions{Name: "traffic"})
	comp, err := journey.NewCompiler(journey.Options{})
	require.NoError(t, err)
	workflows.NewInterpreter(comp.Env()).Register(env)
	h.acts.Register(env)

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	apiSrv := httptest.NewServer((&api.Server{Store: h.store, Webhooks: api.WebhookKeys{SendGrid: &key.PublicKey}, Metrics: h.acts.Metrics}).Handler())
	t.Cleanup(apiSrv.Close)
	h.fakes.SendGrid.PostEvents(apiSrv.URL+"/webhooks/sendgrid", key)

	outageFrom, outageTo := start.Add(20*time.Minute), start.Add(2*time.Hour+20*time.Minute)
	var mu sync.Mutex
	var took []accepted
	refused := 0
	sg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := env.Now()
		if !now.Before(outageFrom) && now.Before(outageTo) {
			mu.Lock()
			refused++
			mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable) // SendGrid's edge: nothing reached SendGrid
			_, _ = io.WriteString(w, `{"errors":[{"message":"service unavailable","field":null}]}`)
			return
		}
		body, _ := io.ReadAll(r.Body)
		var req struct {
			Personalizations []struct {
				CustomArgs map[string]string `json:"custom_args"`
			} `json:"personalizations"`
		}
		require.NoError(t, json.Unmarshal(body, &req))
		args := req.Personalizations[0].CustomArgs
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		rec := httptest.NewRecorder()
		h.fakes.ServeHTTP(rec, r)
		// SendGrid's processed event comes within seconds: here, before
		// the answer, so the test clock does not run past it.
		require.Eventually(t, func() bool {
			m, err := h.store.GetMessage(context.Background(), args["message_id"])
			return err == nil && m.DeliveryStatus != ""
		}, 30*time.Second, 10*time.Millisecond, "the event webhook reports %s", args["message_id"])
		mu.Lock()
		took = append(took, accepted{At: now, CustomerID: args["customer_id"]})
		mu.Unlock()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	t.Cleanup(sg.Close)
	h.acts.Email = sendgrid.New(sendgrid.Config{APIKey: "SG.test", BaseURL: sg.URL})

	transactional, diags := comp.Compile("order-thanks.yaml", []byte(`
journey: order-thanks
purpose: transactional
trigger: {event: order.placed}
steps:
  - {id: thanks, send: {channel: email, template: thank-you}}
`))
	require.False(t, diags.HasErrors(), diags.Error())
	marketing, diags := comp.Compile("news.yaml", []byte(`
journey: news
topic: offers
trigger: {event: customer.lapsed}
steps:
  - {id: news, send: {channel: email, template: thank-you}}
`))
	require.False(t, diags.HasErrors(), diags.Error())

	// A customer every ten minutes for three hours, transactional and
	// marketing in turn: two before the outage, twelve during it, four
	// after.
	var runs []trafficRun
	kind := map[string]string{}
	ctx := context.Background()
	for i := range 18 {
		id, plan, ev := fmt.Sprintf("c_t%d", i), transactional, "order.placed"
		if i%2 == 1 {
			id, plan, ev = fmt.Sprintf("c_m%d", i), marketing, "customer.lapsed"
		}
		kind[id] = string(plan.Purpose)
		_, err := h.store.UpsertCustomer(ctx, store.Customer{ID: id, Email: id + "@example.com", Name: "Customer " + id, Locale: "en-GB"})
		require.NoError(t, err)
		runs = append(runs, trafficRun{At: time.Duration(i) * 10 * time.Minute, ID: fmt.Sprintf("rapport/%s/%s/k", plan.Journey, id),
			Input: workflows.JourneyInput{Plan: *plan, CustomerID: id, EntryKey: "k", Revision: workflows.Revision,
				Trigger: journey.Event{ID: "evt-" + id, Type: ev, CustomerID: id, OccurredAt: start.Add(time.Duration(i) * 10 * time.Minute)}}})
	}
	env.ExecuteWorkflow("traffic", runs)
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())

	mu.Lock()
	defer mu.Unlock()
	assert.Greater(t, refused, 10, "SendGrid refused every attempt during the outage")
	got := map[string]int{}
	for _, a := range took {
		got[a.CustomerID]++
	}
	for id := range kind {
		assert.Equal(t, 1, got[id], "%s got exactly one email", id)
	}
	assert.Len(t, h.fakes.Recorder.Messages(), len(kind), "SendGrid sent one email per customer")

	// The emails of the outage: after it, within minutes, transactional
	// ones first.
	var lastTransactional, firstMarketing time.Time
	var order []string
	for _, a := range took {
		var at time.Time
		for _, r := range runs {
			if r.Input.CustomerID == a.CustomerID {
				at = start.Add(r.At)
			}
		}
		if at.Before(outageFrom) || !at.Before(outageTo) {
			continue // sent when it came
		}
		order = append(order, a.CustomerID)
		assert.False(t, a.At.Before(outageTo), "%s went out after the outage", a.CustomerID)
		assert.Less(t, a.At.Sub(outageTo), 20*time.Minute, "%s went out soon after the outage ended (at %s)", a.CustomerID, a.At.Sub(outageTo))
		switch kind[a.CustomerID] {
		case string(journey.Transactional):
			lastTransactional = a.At
		default:
			if firstMarketing.IsZero() {
				firstMarketing = a.At
			}
		}
	}
	assert.Len(t, order, 12, "twelve customers came during the outage")
	for _, a := range took {
		t.Logf("%s (%s) accepted at +%s", a.CustomerID, kind[a.CustomerID], a.At.Sub(start))
	}
	t.Logf("SendGrid refused %d requests during the outage", refused)
	require.False(t, firstMarketing.IsZero())
	assert.False(t, firstMarketing.Before(lastTransactional), "every transactional email of the outage went before the first marketing one: %v", order)
	for i, id := range order {
		if kind[id] == string(journey.Marketing) {
			for _, later := range order[i:] {
				assert.Equal(t, string(journey.Marketing), kind[later], "no transactional email after a marketing one: %v", order)
			}
			break
		}
	}

	msgs, err := h.store.MessagesFor(ctx, "c_t2")
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	assert.Equal(t, store.MessageSent, msgs[0].Status)
	assert.Equal(t, 2.0, float64(msgs[0].Attempts), "one attempt in the outage, one after")
	assert.Equal(t, 0.0, h.metric(t, "rapport_messages_in_doubt_settled_total", "channel", "email", "how", "deadline", "result", "expired"), "none left unsent")
	assert.Equal(t, 12.0, h.metric(t, "rapport_messages_in_doubt_settled_total", "channel", "email", "how", "silence", "result", "resent"))
}

// testClock is a clock a test moves by hand.
type testClock struct {
	mu sync.Mutex
	at time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.at
}

func (c *testClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at = t
}

// TestWebhookSilenceProvesAnEmailUnsent: an email in doubt is proven
// unsent only when SendGrid's event webhook has reported every email
// SendGrid accepted after it (claimed more than a minute after it, and
// more than two minutes ago) and nothing on it, and no sooner than five
// minutes after the attempt; a marketing email so proven waits while
// transactional emails of the outage wait to go.
func TestWebhookSilenceProvesAnEmailUnsent(t *testing.T) {
	t0 := time.Now().Truncate(time.Second)
	clock := &testClock{at: t0}
	h := newHarness(t, store.WithClock(clock.now))
	h.acts.Clock = clock.now
	ctx := context.Background()
	down := true
	sg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down {
			http.Error(w, `{"errors":[{"message":"service unavailable"}]}`, http.StatusServiceUnavailable)
			return
		}
		h.fakes.ServeHTTP(w, r)
	}))
	t.Cleanup(sg.Close)
	h.acts.Email = sendgrid.New(sendgrid.Config{APIKey: "SG.test", BaseURL: sg.URL})
	for _, id := range []string{"c_2", "c_3", "c_4", "c_5"} {
		_, err := h.store.UpsertCustomer(ctx, store.Customer{ID: id, Email: id + "@example.com", Name: "Customer " + id, Locale: "en-GB"})
		require.NoError(t, err)
	}
	sendTo := func(customer string, purpose journey.Purpose) workflows.SendResult {
		req := request()
		req.CustomerID, req.WorkflowID, req.Purpose, req.OrderID = customer, "rapport/thank-you/"+customer+"/k", purpose, ""
		if purpose == journey.Marketing {
			req.Topic = "offers"
		}
		res, err := h.send(req)
		require.NoError(t, err)
		return res
	}

	inDoubt := sendTo("c_1", journey.Transactional)
	require.Equal(t, workflows.SendUnknown, inDoubt.Status)
	clock.set(t0.Add(time.Minute))
	assert.Equal(t, workflows.StillInDoubt, h.settle(t, inDoubt).Settlement, "too soon after the attempt")

	down = false
	clock.set(t0.Add(30 * time.Second)) // within a request's time of the attempt: no evidence
	soon := sendTo("c_2", journey.Transactional)
	require.Equal(t, workflows.SendSent, soon.Status)
	require.NoError(t, h.store.RecordDelivery(ctx, soon.MessageID, "processed", clock.now()))
	clock.set(t0.Add(10 * time.Minute))
	got := h.settle(t, inDoubt)
	assert.Equal(t, workflows.StillInDoubt, got.Settlement, "an email claimed 30 s after proves nothing")

	clock.set(t0.Add(4 * time.Minute))
	later := sendTo("c_3", journey.Transactional)
	require.Equal(t, workflows.SendSent, later.Status)
	clock.set(t0.Add(10 * time.Minute))
	assert.Equal(t, workflows.StillInDoubt, h.settle(t, inDoubt).Settlement, "the later email is not reported: the webhook may be down")

	require.NoError(t, h.store.RecordDelivery(ctx, later.MessageID, "processed", clock.now()))
	got = h.settle(t, inDoubt)
	assert.Equal(t, workflows.Resend, got.Settlement, got.Reason)
	assert.Contains(t, got.Reason, "SendGrid's event webhook reported the 1 emails it accepted after this one processed, and nothing on this one, 10m0s after the attempt (proven not sent)")
	assert.Equal(t, 1.0, h.metric(t, "rapport_messages_in_doubt_settled_total", "channel", "email", "how", "silence", "result", "resent"))

	// A marketing email proven unsent waits for the transactional one,
	// now pending again, to go first.
	down = true
	clock.set(t0.Add(11 * time.Minute))
	news := sendTo("c_4", journey.Marketing)
	require.Equal(t, workflows.SendUnknown, news.Status)
	down = false
	clock.set(t0.Add(14 * time.Minute))
	next := sendTo("c_5", journey.Marketing)
	require.Equal(t, workflows.SendSent, next.Status)
	require.NoError(t, h.store.RecordDelivery(ctx, next.MessageID, "processed", clock.now()))
	clock.set(t0.Add(20 * time.Minute))
	wait := h.settle(t, news)
	assert.Equal(t, workflows.StillInDoubt, wait.Settlement)
	assert.Contains(t, wait.Reason, "waiting for 1 transactional email(s) of the outage to go first")
	assert.GreaterOrEqual(t, wait.LookAgainIn, 20*time.Second, "about 30 s, jittered")
	assert.Less(t, wait.LookAgainIn, 40*time.Second)

	resent := sendTo("c_1", journey.Transactional) // the transactional one goes again
	require.Equal(t, workflows.SendSent, resent.Status)
	assert.Equal(t, workflows.Resend, h.settle(t, news).Settlement, "then the marketing one goes")
}

// TestWebhookSilenceNeedsProcessedAndNoFailedPost: only processed reports
// of the emails after one in doubt prove it unsent (a webhook without
// them, whose delivered reports may come hours later, proves nothing);
// one email after it never reported does not block the proof for good
// (the latest ones count); a post of the webhook the API failed to take
// since the attempt holds the proof back for an hour (SendGrid posts it
// again); and a reopened email the webhook reports before it goes again
// is not sent again.
func TestWebhookSilenceNeedsProcessedAndNoFailedPost(t *testing.T) {
	t0 := time.Now().Truncate(time.Second)
	clock := &testClock{at: t0}
	h := newHarness(t, store.WithClock(clock.now))
	h.acts.Clock = clock.now
	ctx := context.Background()
	down := true
	sg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down {
			http.Error(w, `{"errors":[{"message":"service unavailable"}]}`, http.StatusServiceUnavailable)
			return
		}
		h.fakes.ServeHTTP(w, r)
	}))
	t.Cleanup(sg.Close)
	h.acts.Email = sendgrid.New(sendgrid.Config{APIKey: "SG.test", BaseURL: sg.URL})
	n := 0
	sendTo := func() workflows.SendResult {
		n++
		id := fmt.Sprintf("c_%d", n+1)
		_, err := h.store.UpsertCustomer(ctx, store.Customer{ID: id, Email: id + "@example.com", Name: "Customer " + id, Locale: "en-GB"})
		require.NoError(t, err)
		req := request()
		req.CustomerID, req.WorkflowID, req.OrderID = id, "rapport/thank-you/"+id+"/k", ""
		res, err := h.send(req)
		require.NoError(t, err)
		return res
	}
	at := func(d time.Duration) { clock.set(t0.Add(d)) }

	inDoubt := sendTo()
	require.Equal(t, workflows.SendUnknown, inDoubt.Status)
	down = false
	at(2 * time.Minute)
	silent := sendTo() // never reported at all
	at(3 * time.Minute)
	deliveredOnly := sendTo()
	require.NoError(t, h.store.RecordDelivery(ctx, deliveredOnly.MessageID, "delivered", clock.now()))
	at(10 * time.Minute)
	assert.Equal(t, workflows.StillInDoubt, h.settle(t, inDoubt).Settlement, "no processed report after it: no proof")

	var later []workflows.SendResult
	for i := range silenceLater {
		at(4*time.Minute + time.Duration(i)*time.Second)
		later = append(later, sendTo())
	}
	for _, r := range later {
		require.NoError(t, h.store.RecordDelivery(ctx, r.MessageID, "processed", clock.now()))
	}
	_ = silent
	at(10 * time.Minute)
	require.NoError(t, h.store.RecordWebhookFailure(ctx, "sendgrid", t0.Add(5*time.Minute)))
	assert.Equal(t, workflows.StillInDoubt, h.settle(t, inDoubt).Settlement, "a post the API failed to take since: SendGrid posts it again, maybe with its report")
	at(5*time.Minute + silenceRetryWait + time.Minute)
	got := h.settle(t, inDoubt)
	require.Equal(t, workflows.Resend, got.Settlement, "the latest ten emails after it were processed; the one never reported does not block it: %s", got.Reason)

	// The webhook reports it after all (a post retried late) before it
	// goes again: it is settled as sent, not sent twice.
	require.NoError(t, h.store.RecordDelivery(ctx, inDoubt.MessageID, "processed", clock.now()))
	sentBefore := len(h.fakes.Recorder.Messages())
	req := request()
	req.CustomerID, req.WorkflowID, req.OrderID = "c_2", "rapport/thank-you/c_2/k", ""
	again, err := h.send(req)
	require.NoError(t, err)
	assert.Equal(t, workflows.SendSent, again.Status)
	assert.Contains(t, again.Reason, "was proven not sent, but the provider's webhook reported it (processed) before it went again")
	assert.Len(t, h.fakes.Recorder.Messages(), sentBefore, "not sent again")
}
