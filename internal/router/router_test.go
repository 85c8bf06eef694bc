package router_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"

	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/lanes"
	"github.com/rapporthq/rapport/internal/money"
	"github.com/rapporthq/rapport/internal/router"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/store/storetest"
	"github.com/rapporthq/rapport/workflows"
)

// These tests route events against a real database, with Temporal's
// client faked (fake_test.go): what the router asks of Temporal and what
// it records in the store are what is checked. The journeys run for real
// in workflows and end to end in cmd/rapport.

const thanksJourney = `
journey: thanks
purpose: transactional
topic: orders
trigger:
  event: order.placed
steps:
  - id: thank_you
    send: {channel: email, template: thank-you}
`

// reviewJourney listens: it waits for the delivery and exits on a
// cancellation.
const reviewJourney = `
journey: review
purpose: marketing
topic: reviews
trigger:
  event: order.placed
exit_when: event.type == "order.cancelled"
steps:
  - id: wait_for_delivery
    wait:
      until_event: event.type == "order.delivered"
      timeout: 7d
  - id: ask
    send: {channel: email, template: review-request}
`

// rig is a router over a fresh database with customers c_1 and c_2.
type rig struct {
	t   *testing.T
	r   *router.Router
	s   *store.Store
	tc  *fakeTemporal
	url string // the database's
}

func compile(t *testing.T, comp *journey.Compiler, src string) *journey.Plan {
	t.Helper()
	p, diags := comp.Compile("journey.yaml", []byte(src))
	require.False(t, diags.HasErrors(), "%v", diags)
	return p
}

func newRig(t *testing.T, journeys ...string) *rig {
	t.Helper()
	s, url := storetest.New(t)
	comp, err := journey.NewCompiler(journey.Options{})
	require.NoError(t, err)
	var plans []*journey.Plan
	for _, src := range journeys {
		plans = append(plans, compile(t, comp, src))
	}
	cat, err := journey.NewCatalog(plans...)
	require.NoError(t, err)
	tc := newFakeTemporal()
	g := &rig{t: t, s: s, tc: tc, url: url, r: &router.Router{Store: s, Temporal: tc, Catalog: cat, Env: comp.Env()}}
	for _, id := range []string{"c_1", "c_2"} {
		_, err := s.UpsertCustomer(context.Background(), store.Customer{ID: id, Email: id + "@example.com", TimeZone: "UTC"})
		require.NoError(t, err)
	}
	return g
}

// event stores an event of the customer's, occurring now; data is JSON
// ("" for none).
func (g *rig) event(id, typ, customerID, data string) store.Event {
	g.t.Helper()
	return g.eventAt(id, typ, customerID, data, time.Now())
}

func (g *rig) eventAt(id, typ, customerID, data string, at time.Time) store.Event {
	g.t.Helper()
	if data == "" {
		data = "{}"
	}
	e, inserted, err := g.s.RecordEvent(context.Background(), store.Event{ID: id, Type: typ, CustomerID: customerID, OccurredAt: at, Data: json.RawMessage(data)}, nil)
	require.NoError(g.t, err)
	require.True(g.t, inserted, id)
	return e
}

func (g *rig) route(e store.Event) router.Result {
	g.t.Helper()
	res, err := g.r.Route(context.Background(), e)
	require.NoError(g.t, err, "route %s", e.ID)
	return res
}

func (g *rig) run(id string) store.Run {
	g.t.Helper()
	run, err := g.s.GetRun(context.Background(), id)
	require.NoError(g.t, err, id)
	return run
}

func (g *rig) routed(id string) bool {
	g.t.Helper()
	e, err := g.s.GetEvent(context.Background(), id)
	require.NoError(g.t, err)
	return e.RoutedAt != nil
}

// skipped finds the reason a journey was skipped for, "" when it was not.
func skipped(res router.Result, journeyName string) string {
	for _, s := range res.Skipped {
		if strings.HasPrefix(s, journeyName+": ") {
			return strings.TrimPrefix(s, journeyName+": ")
		}
	}
	return ""
}

// An event starts every journey its type triggers, each with the event as
// its first signal, registered as running before it starts; the event is
// marked routed. An event no journey reacts to is routed too, touching
// nothing.
func TestAnEventStartsTheJourneysItTriggers(t *testing.T) {
	t.Parallel()
	g := newRig(t, thanksJourney, reviewJourney)
	e := g.event("evt-1", "order.placed", "c_1",
		`{"order": {"id": "o-1", "total": 48.00, "currency": "GBP", "items": [{"product_id": "p", "name": "Tea", "quantity": 1, "price": 48.00}]}}`)
	res := g.route(e)

	thanks, review := workflows.WorkflowID("thanks", "c_1", "evt-1"), workflows.WorkflowID("review", "c_1", "evt-1")
	assert.ElementsMatch(t, []string{thanks, review}, res.Started)
	assert.Empty(t, res.Delivered, "the trigger reaches its own runs as their start signal, not again")
	assert.Empty(t, res.Skipped)
	assert.Empty(t, g.tc.signalList())
	starts := g.tc.startList()
	require.Len(t, starts, 2)
	for _, st := range starts {
		assert.Equal(t, workflows.EventSignal, st.Signal, "%s starts with the event as a signal", st.ID)
		assert.Equal(t, "evt-1", st.Event.ID)
		assert.Equal(t, "o-1", st.Event.Order.ID, "data.order is the event's order")
		assert.InDelta(t, 48.0, st.Event.Order.Total, 0.001)
		assert.Equal(t, workflows.TaskQueue, st.Opts.TaskQueue)
		assert.Equal(t, st.ID, st.Opts.ID)
		assert.Equal(t, enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE, st.Opts.WorkflowIDReusePolicy)
		assert.Equal(t, "c_1", st.Input.CustomerID)
		assert.Equal(t, "evt-1", st.Input.EntryKey)
		assert.Equal(t, "evt-1", st.Input.Trigger.ID)
		assert.Equal(t, workflows.Revision, st.Input.Revision)

		run := g.run(st.ID)
		assert.Equal(t, store.RunRunning, run.Status)
		assert.Equal(t, "evt-1", run.TriggerEventID)
		assert.Equal(t, st.Input.Plan.Journey, run.Journey)
		assert.Equal(t, st.Input.Plan.Hash, run.PlanHash)
	}
	assert.False(t, g.run(thanks).Listens, "thanks reacts to no event")
	assert.True(t, g.run(review).Listens)
	assert.ElementsMatch(t, []string{"order.cancelled", "order.delivered"}, g.run(review).ListensFor)
	assert.True(t, g.routed("evt-1"))

	// An event no journey reacts to.
	res = g.route(g.event("evt-2", "page.viewed", "c_1", ""))
	assert.Empty(t, res.Started)
	assert.Empty(t, res.Delivered)
	assert.Len(t, g.tc.startList(), 2)
	assert.Empty(t, g.tc.signalList())
	assert.True(t, g.routed("evt-2"))
}

// An event reaches the customer's running journeys that listen for its
// type, as a signal; not the journeys that do not listen, not another
// customer's, and not a run that has ended.
func TestAnEventReachesTheRunningJourneysThatListenForIt(t *testing.T) {
	t.Parallel()
	g := newRig(t, thanksJourney, reviewJourney)
	g.route(g.event("evt-1", "order.placed", "c_1", ""))
	g.route(g.event("evt-2", "order.placed", "c_2", ""))
	review1 := workflows.WorkflowID("review", "c_1", "evt-1")

	res := g.route(g.event("evt-3", "order.delivered", "c_1", `{"order_id": "o-1"}`))
	assert.Equal(t, []string{review1}, res.Delivered)
	assert.Empty(t, res.Started)
	signals := g.tc.signalList()
	require.Len(t, signals, 1)
	assert.Equal(t, review1, signals[0].ID)
	assert.Equal(t, workflows.EventSignal, signals[0].Name)
	assert.Equal(t, "evt-3", signals[0].Event.ID)
	assert.Equal(t, "o-1", signals[0].Event.Data["order_id"])

	// review does not listen for page views.
	res = g.route(g.event("evt-4", "page.viewed", "c_1", ""))
	assert.Empty(t, res.Delivered)
	assert.Len(t, g.tc.signalList(), 1)

	// An ended run hears nothing more.
	require.NoError(t, g.s.FinishRun(context.Background(), review1, store.RunExited, "cancelled"))
	res = g.route(g.event("evt-5", "order.cancelled", "c_1", ""))
	assert.Empty(t, res.Delivered)
	assert.Len(t, g.tc.signalList(), 1)
}

// A run registered a moment ago may not have started in Temporal yet:
// delivery is tried again until it appears. One Temporal closed without
// recording its end, or never heard of after the start grace, is marked
// ended instead; one that does not appear within the grace leaves the
// event unrouted, for the sweeper, with the reason recorded.
func TestDeliveryToARunTemporalDoesNotHave(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	g := newRig(t, reviewJourney)
	g.route(g.event("evt-1", "order.placed", "c_1", ""))
	g.route(g.event("evt-2", "order.placed", "c_2", ""))
	run1, run2 := workflows.WorkflowID("review", "c_1", "evt-1"), workflows.WorkflowID("review", "c_2", "evt-2")

	// Starting late: found on the third try.
	g.tc.appearAfter[run1] = 2
	res := g.route(g.event("evt-3", "order.delivered", "c_1", ""))
	assert.Equal(t, []string{run1}, res.Delivered)

	// Closed in Temporal without recording its end (terminated).
	g.tc.close(run1, enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED)
	res = g.route(g.event("evt-4", "order.delivered", "c_1", ""))
	assert.Empty(t, res.Delivered)
	run := g.run(run1)
	assert.Equal(t, store.RunFailed, run.Status)
	assert.Equal(t, "closed in Temporal: terminated", run.Outcome)

	// Not in Temporal, and registered longer ago than the grace.
	g.tc.forget(run2)
	g.r.StartGrace = time.Nanosecond
	res = g.route(g.event("evt-5", "order.delivered", "c_2", ""))
	assert.Empty(t, res.Delivered)
	run = g.run(run2)
	assert.Equal(t, store.RunFailed, run.Status)
	assert.Equal(t, store.RunNotFound, run.Outcome)

	// Not in Temporal yet, within the grace: the event waits for the
	// sweeper.
	g.r.StartGrace = time.Hour
	g.route(g.event("evt-6", "order.placed", "c_2", ""))
	run3 := workflows.WorkflowID("review", "c_2", "evt-6")
	g.tc.forget(run3)
	e := g.event("evt-7", "order.delivered", "c_2", "")
	_, err := g.r.Route(ctx, e)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "registered but not started yet")
	assert.False(t, g.routed("evt-7"))
	assert.Equal(t, store.RunRunning, g.run(run3).Status, "the run is not given up within the grace")
	failed, err := g.s.FailedEvents(ctx, 10)
	require.NoError(t, err)
	assert.Empty(t, failed, "one failure does not dead-letter the event")
}

// Temporal out of reach: the run stays registered, the event unrouted
// with the reason, and routing it again once Temporal is back completes
// the start cut short: the same run, started once. (The answer then
// counts the entry as made before, by the first attempt.)
func TestRoutingWhileTemporalIsDownIsDoneLater(t *testing.T) {
	t.Parallel()
	g := newRig(t, thanksJourney)
	g.tc.setFail(errors.New("connection refused"))
	e := g.event("evt-1", "order.placed", "c_1", "")
	_, err := g.r.Route(context.Background(), e)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "connection refused")
	assert.False(t, g.routed("evt-1"))
	id := workflows.WorkflowID("thanks", "c_1", "evt-1")
	assert.Equal(t, store.RunRunning, g.run(id).Status, "registered before the start")

	g.tc.setFail(nil)
	res := g.route(e)
	assert.Equal(t, []string{id}, g.tc.startedIDs(), "the registered run is started, once")
	assert.Equal(t, "evt-1", g.tc.startList()[0].Event.ID, "with its trigger as the signal")
	assert.Empty(t, res.Started)
	assert.Contains(t, skipped(res, "thanks"), "already entered under the key evt-1")
	assert.True(t, g.routed("evt-1"))
	failed, err := g.s.FailedEvents(context.Background(), 10)
	require.NoError(t, err)
	assert.Empty(t, failed)
}

// The entry rules of a journey decide whether an event enters the
// customer again.
func TestEntryRules(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	journeyWith := func(name, trigger string) string {
		return fmt.Sprintf(`
journey: %s
purpose: marketing
topic: offers
trigger:
%s
steps:
  - id: hello
    send: {channel: email, template: hello}
`, name, trigger)
	}

	t.Run("once per event key, by default", func(t *testing.T) {
		t.Parallel()
		g := newRig(t, journeyWith("j", "  event: cart.abandoned"))
		e1 := g.event("evt-1", "cart.abandoned", "c_1", "")
		assert.Equal(t, []string{workflows.WorkflowID("j", "c_1", "evt-1")}, g.route(e1).Started)
		// The same event routed again (the sweeper after a crash) enters
		// nobody twice.
		res := g.route(e1)
		assert.Empty(t, res.Started)
		assert.Contains(t, skipped(res, "j"), "already entered under the key evt-1")
		// Another event is another entry.
		assert.Equal(t, []string{workflows.WorkflowID("j", "c_1", "evt-2")}, g.route(g.event("evt-2", "cart.abandoned", "c_1", "")).Started)
		assert.Len(t, g.tc.startList(), 2)
	})

	t.Run("once per key the journey names", func(t *testing.T) {
		t.Parallel()
		g := newRig(t, journeyWith("j", "  event: cart.abandoned\n  key: event.data.cart"))
		res := g.route(g.event("evt-1", "cart.abandoned", "c_1", `{"cart": "cart-7"}`))
		assert.Equal(t, []string{workflows.WorkflowID("j", "c_1", "cart-7")}, res.Started)
		res = g.route(g.event("evt-2", "cart.abandoned", "c_1", `{"cart": "cart-7"}`))
		assert.Empty(t, res.Started, "the same cart again")
		assert.Contains(t, skipped(res, "j"), "already entered under the key cart-7")
		// A key that cannot be part of a workflow id (an address) is
		// digested: it never shows in Temporal.
		res = g.route(g.event("evt-3", "cart.abandoned", "c_1", `{"cart": "ada@example.com"}`))
		require.Len(t, res.Started, 1)
		assert.Equal(t, workflows.WorkflowID("j", "c_1", router.EntryKey("ada@example.com")), res.Started[0])
		assert.NotContains(t, res.Started[0], "example.com")
		assert.Regexp(t, `/k-[0-9a-f]{20}$`, res.Started[0])
		// A key that cannot be evaluated enters nobody, saying why.
		res = g.route(g.event("evt-4", "cart.abandoned", "c_1", `{}`))
		assert.Empty(t, res.Started)
		assert.Contains(t, skipped(res, "j"), "trigger.key could not be evaluated")
	})

	t.Run("once ever", func(t *testing.T) {
		t.Parallel()
		g := newRig(t, journeyWith("j", "  event: newsletter.joined\n  entry: once"))
		res := g.route(g.event("evt-1", "newsletter.joined", "c_1", ""))
		assert.Equal(t, []string{workflows.WorkflowID("j", "c_1", "once")}, res.Started)
		require.NoError(t, g.s.FinishRun(ctx, res.Started[0], store.RunCompleted, ""))
		res = g.route(g.event("evt-2", "newsletter.joined", "c_1", ""))
		assert.Empty(t, res.Started)
		assert.Contains(t, skipped(res, "j"), "entry: once")
		assert.Len(t, g.route(g.event("evt-3", "newsletter.joined", "c_2", "")).Started, 1, "another customer enters")
	})

	t.Run("always, at most one running", func(t *testing.T) {
		t.Parallel()
		g := newRig(t, journeyWith("j", "  event: page.viewed\n  entry: always\n  max_active: 1"))
		first := g.route(g.event("evt-1", "page.viewed", "c_1", "")).Started
		require.Len(t, first, 1)
		res := g.route(g.event("evt-2", "page.viewed", "c_1", ""))
		assert.Empty(t, res.Started)
		assert.Contains(t, skipped(res, "j"), "max_active")
		require.NoError(t, g.s.FinishRun(ctx, first[0], store.RunCompleted, ""))
		assert.Equal(t, []string{workflows.WorkflowID("j", "c_1", "evt-3")}, g.route(g.event("evt-3", "page.viewed", "c_1", "")).Started)
	})

	t.Run("reentry after a while", func(t *testing.T) {
		t.Parallel()
		g := newRig(t, journeyWith("j", "  event: page.viewed\n  entry: always\n  reentry: 30d"))
		first := g.route(g.event("evt-1", "page.viewed", "c_1", "")).Started
		require.Len(t, first, 1)
		require.NoError(t, g.s.FinishRun(ctx, first[0], store.RunCompleted, ""))
		res := g.route(g.event("evt-2", "page.viewed", "c_1", ""))
		assert.Empty(t, res.Started, "entered less than 30 days ago, though that run ended")
		assert.Contains(t, skipped(res, "j"), "reentry")
	})

	t.Run("trigger.when", func(t *testing.T) {
		t.Parallel()
		g := newRig(t, journeyWith("j", "  event: order.placed\n  when: order.total >= 50"))
		order := func(total string) string {
			return fmt.Sprintf(`{"order": {"id": "o", "total": %s, "currency": "GBP", "items": []}}`, total)
		}
		res := g.route(g.event("evt-1", "order.placed", "c_1", order("12.00")))
		assert.Empty(t, res.Started)
		assert.Equal(t, "trigger.when is false", skipped(res, "j"))
		assert.Len(t, g.route(g.event("evt-2", "order.placed", "c_1", order("50.00"))).Started, 1)
	})

	t.Run("max_event_age", func(t *testing.T) {
		t.Parallel()
		g := newRig(t, journeyWith("j", "  event: order.placed\n  max_event_age: 1h"))
		res := g.route(g.eventAt("evt-1", "order.placed", "c_1", "", time.Now().Add(-2*time.Hour)))
		assert.Empty(t, res.Started)
		assert.Contains(t, skipped(res, "j"), "older than max_event_age")
		assert.True(t, g.routed("evt-1"), "an event too old to start anything is routed all the same")
		assert.Len(t, g.route(g.eventAt("evt-2", "order.placed", "c_1", "", time.Now().Add(-30*time.Minute))).Started, 1)
	})

	t.Run("an erased customer enters nothing", func(t *testing.T) {
		t.Parallel()
		g := newRig(t, journeyWith("j", "  event: page.viewed"))
		e := g.event("evt-1", "page.viewed", "c_1", "")
		hash, err := g.s.CustomerHash("c_1")
		require.NoError(t, err)
		_, _, err = g.s.BeginErasure(ctx, "c_1", workflows.EraseWorkflowID(hash), "test", "asked")
		require.NoError(t, err)
		res := g.route(e)
		assert.Empty(t, res.Started)
		assert.Equal(t, "the customer was erased", skipped(res, "j"))
		assert.Empty(t, g.tc.startList())
	})
}

// A failed run's trigger, routed again with Restart, starts the journey
// again under the entry's next id; running journeys are not told again.
func TestRestartStartsAFailedEntryAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	g := newRig(t, thanksJourney, reviewJourney)
	e := g.event("evt-1", "order.placed", "c_1", "")
	g.route(e)
	thanks := workflows.WorkflowID("thanks", "c_1", "evt-1")
	require.NoError(t, g.s.FinishRun(ctx, thanks, store.RunFailed, "activity failed"))
	restartable, err := g.s.RestartableEvents(ctx, []string{"evt-1"})
	require.NoError(t, err)
	require.True(t, restartable["evt-1"])

	res, err := g.r.Restart(ctx, e)
	require.NoError(t, err)
	assert.Equal(t, []string{store.RetryWorkflowID(thanks, 2)}, res.Started)
	assert.Contains(t, skipped(res, "review"), "already entered", "review's run did not fail")
	assert.Empty(t, res.Delivered)
	assert.Equal(t, store.RunRunning, g.run(store.RetryWorkflowID(thanks, 2)).Status)
	restartable, err = g.s.RestartableEvents(ctx, []string{"evt-1"})
	require.NoError(t, err)
	assert.False(t, restartable["evt-1"])
}

// The routing queue routes enqueued events in the background, each
// customer's in the order they were enqueued. Without a running queue
// Enqueue drops the event, and the sweeper routes it.
func TestTheQueueRoutesEachCustomersEventsInOrder(t *testing.T) {
	t.Parallel()
	g := newRig(t, `
journey: every-view
purpose: marketing
topic: offers
trigger:
  event: page.viewed
  entry: always
steps:
  - id: hello
    send: {channel: email, template: hello}
`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// No queue yet.
	lone := g.event("lone", "page.viewed", "c_1", "")
	g.r.Enqueue(lone)
	st, err := g.r.SweepOnce(ctx, router.SweepOptions{Interval: time.Nanosecond})
	require.NoError(t, err)
	assert.Equal(t, 1, st.Routed, "the sweeper routes what the queue could not take")
	assert.True(t, g.routed("lone"))

	g.r.RunQueue(ctx, 3)
	var want = map[string][]string{}
	var events []store.Event
	for i := range 30 {
		c := []string{"c_1", "c_2"}[i%2]
		id := fmt.Sprintf("v%02d", i)
		events = append(events, g.event(id, "page.viewed", c, ""))
		want[c] = append(want[c], id)
	}
	for _, e := range events {
		g.r.Enqueue(e)
	}
	require.Eventually(t, func() bool {
		for _, e := range events {
			if !g.routed(e.ID) {
				return false
			}
		}
		return true
	}, time.Minute, 20*time.Millisecond, "every enqueued event is routed")
	got := map[string][]string{}
	for _, s := range g.tc.startList() {
		if s.Event.ID != "lone" {
			got[s.Input.CustomerID] = append(got[s.Input.CustomerID], s.Event.ID)
		}
	}
	assert.Equal(t, want, got, "each customer's events start their runs in the order they were enqueued")
}

// audienceJourney picks lapsed customers in SQL and gold ones in CEL (the
// attributes are not translated to SQL), so a scan takes both paths.
const audienceJourney = `
journey: winback
purpose: marketing
topic: offers
trigger:
  audience: days_since_last_order >= 90 && orders_count >= 1 && attributes.tier == "gold"
steps:
  - id: offer
    send: {channel: email, template: winback-offer}
`

// audienceCustomers stores n customers: every other one last ordered 120
// days before now, the rest 10 days before or (every fourth) never; two
// thirds are gold. It returns the ids the audience selects.
func audienceCustomers(t *testing.T, s *store.Store, now time.Time, n int) []string {
	t.Helper()
	ctx := context.Background()
	var want []string
	for i := range n {
		id := fmt.Sprintf("a_%02d", i)
		tier := "gold"
		if i%3 == 0 {
			tier = "silver"
		}
		_, err := s.UpsertCustomer(ctx, store.Customer{ID: id, Email: id + "@example.com", Attributes: map[string]any{"tier": tier}})
		require.NoError(t, err)
		var placed time.Time
		switch {
		case i%2 == 0:
			placed = now.AddDate(0, 0, -120)
		case i%4 == 1:
			placed = now.AddDate(0, 0, -10)
		default:
			continue // never ordered
		}
		_, err = s.RecordOrder(ctx, store.Order{ID: "o-" + id, CustomerID: id, Total: money.MustParse("20.00"), Currency: "GBP", PlacedAt: placed})
		require.NoError(t, err)
		if i%2 == 0 && tier == "gold" {
			want = append(want, id)
		}
	}
	return want
}

// An audience run walks the customers in stretches, page by page, and
// enters those the audience selects (SQL and CEL together), under the
// run's entry key; a stretch run again enters nobody twice.
func TestAudienceRunsEnterTheMatchingCustomers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	g := newRig(t, audienceJourney)
	plan, ok := g.r.Catalog.Get("winback")
	require.True(t, ok)
	now := time.Now().UTC()
	want := audienceCustomers(t, g.s, now, 24) // and c_1, c_2, who never ordered
	require.NotEmpty(t, want)

	run := router.AudienceRun{EntryKey: "audience-test", AsOf: now, MaxRows: 10, PageSize: 4, Concurrency: 3}
	var progress []int64
	first, err := g.r.EnterAudience(ctx, plan, run, func(s workflows.AudienceStretch) { progress = append(progress, s.Scanned) })
	require.NoError(t, err)
	assert.False(t, first.Done)
	assert.Equal(t, int64(12), first.Scanned, "whole pages until MaxRows is reached")
	assert.Equal(t, []int64{4, 8, 12}, progress, "progress after each page")
	assert.Equal(t, "a_11", first.Cursor)

	run.Cursor = first.Cursor
	run.MaxRows = 1000
	rest, err := g.r.EnterAudience(ctx, plan, run, nil)
	require.NoError(t, err)
	assert.True(t, rest.Done)
	assert.Equal(t, int64(26), first.Scanned+rest.Scanned, "every customer scanned once")
	assert.Equal(t, int64(len(want)), first.Matched+rest.Matched)
	assert.Equal(t, int64(len(want)), first.Started+rest.Started)
	assert.Zero(t, first.Skipped+rest.Skipped)

	var entered []string
	for _, s := range g.tc.startList() {
		assert.Empty(t, s.Signal, "an audience entry starts without a signal")
		assert.Equal(t, "audience-test", s.Input.EntryKey)
		assert.Equal(t, "audience", s.Input.Trigger.Type)
		assert.Equal(t, workflows.WorkflowID("winback", s.Input.CustomerID, "audience-test"), s.ID)
		entered = append(entered, s.Input.CustomerID)
	}
	assert.ElementsMatch(t, want, entered)
	runs, err := g.s.RunsEntered(ctx, "winback", "audience-test", 100)
	require.NoError(t, err)
	assert.Len(t, runs, len(want))

	// The whole run again: everyone matching is skipped, no one started.
	again, err := g.r.EnterAudience(ctx, plan, router.AudienceRun{EntryKey: "audience-test", AsOf: now, PageSize: 5}, nil)
	require.NoError(t, err)
	assert.True(t, again.Done)
	assert.Zero(t, again.Started)
	assert.Equal(t, int64(len(want)), again.Skipped)
	assert.Len(t, g.tc.startList(), len(want))

	// A journey started by events has no audience to run.
	_, err = g.r.EnterAudience(ctx, compile(t, mustCompiler(t), thanksJourney), run, nil)
	assert.Error(t, err)
}

func mustCompiler(t *testing.T) *journey.Compiler {
	t.Helper()
	comp, err := journey.NewCompiler(journey.Options{})
	require.NoError(t, err)
	return comp
}

// A preview counts whom the audience selects and samples them, entering
// nobody.
func TestAudiencePreviewEntersNobody(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	g := newRig(t, audienceJourney)
	plan, _ := g.r.Catalog.Get("winback")
	now := time.Now().UTC()
	want := audienceCustomers(t, g.s, now, 24)

	p, err := g.r.PreviewAudience(ctx, plan, now, 3)
	require.NoError(t, err)
	assert.Equal(t, int64(26), p.Customers)
	assert.Equal(t, int64(len(want)), p.Matched)
	assert.Equal(t, []string{"days_since_last_order >= 90", "orders_count >= 1"}, p.SQL)
	assert.Equal(t, []string{`attributes.tier == "gold"`}, p.CEL)
	require.Len(t, p.Sample, 3)
	for _, c := range p.Sample {
		assert.Contains(t, want, c.ID, "the sample holds matches only")
	}
	all, err := g.r.PreviewAudience(ctx, plan, now, 100)
	require.NoError(t, err)
	var sampled []string
	for _, c := range all.Sample {
		sampled = append(sampled, c.ID)
	}
	assert.ElementsMatch(t, want, sampled, "a sample as large as the audience is the audience")
	assert.Empty(t, g.tc.startList())
	runs, err := g.s.RunCounts(ctx)
	require.NoError(t, err)
	assert.Empty(t, runs)
}

// TestAStartShowsTheFirstStep: a run starts with its search attributes
// saying who, which journey and plan, running, and at its first step
// (revision 7 sets RapportStep only when it rests elsewhere).
func TestAStartShowsTheFirstStep(t *testing.T) {
	comp, err := journey.NewCompiler(journey.Options{})
	require.NoError(t, err)
	plan := compile(t, comp, reviewJourney)
	opts := router.StartOptions("rapport/review/c_1/e1", plan, "c_1", journey.Event{ID: "e1", Type: "order.placed"}, lanes.Event)
	for key, want := range map[string]string{
		workflows.CustomerIDAttr.GetName(): "c_1", workflows.JourneyAttr.GetName(): plan.Journey, workflows.PlanHashAttr.GetName(): plan.Hash,
		workflows.StatusAttr.GetName(): "running", workflows.StepAttr.GetName(): plan.Steps[0].ID,
	} {
		got, ok := opts.TypedSearchAttributes.GetKeyword(temporal.NewSearchAttributeKeyKeyword(key))
		assert.True(t, ok, key)
		assert.Equal(t, want, got, key)
	}
}
