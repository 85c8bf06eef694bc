package router_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/metrics"
	"github.com/rapporthq/rapport/internal/router"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/store/storetest"
	"github.com/rapporthq/rapport/workflows"
)

const restockJourney = `
journey: back-in-stock
topic: offers
trigger:
  event: product.restocked
  for: customer.events.exists(e, e.type == "product.viewed" && e.data.product_id == event.data.product_id)
steps:
  - send: {channel: email, template: back-in-stock}
`

// A fan-out enters each customer its condition selects, keyed by the
// event; cut short (Temporal gone in the middle of a page), it resumes at
// the page it was on, and enters nobody twice.
func TestAFanoutResumesWhereItStopped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	g := newRig(t, restockJourney)
	var viewers []string
	for i := range 10 {
		id := fmt.Sprintf("f_%02d", i)
		_, err := g.s.UpsertCustomer(ctx, store.Customer{ID: id, Email: id + "@example.com"})
		require.NoError(t, err)
		product := "teapot"
		if i%4 == 3 {
			product = "mug"
		} else {
			viewers = append(viewers, id)
		}
		g.event("v_"+id, "product.viewed", id, `{"product_id": "`+product+`"}`)
	}
	inserted, err := g.s.RecordFanout(ctx, store.Event{ID: "r1", Type: "product.restocked", OccurredAt: time.Now(), Data: []byte(`{"product_id": "teapot"}`)}, []string{"back-in-stock"})
	require.NoError(t, err)
	require.True(t, inserted)
	again, err := g.s.RecordFanout(ctx, store.Event{ID: "r1", Type: "product.restocked", OccurredAt: time.Now(), Data: []byte(`{}`)}, []string{"back-in-stock"})
	require.NoError(t, err)
	assert.False(t, again, "the same event again is stored once")

	// Temporal goes away after four starts: within the second page.
	g.tc.failAfter, g.tc.failWith = 4, errors.New("temporal is down")
	o := router.FanoutOptions{PageSize: 3, Concurrency: 1, Backoff: time.Millisecond}
	did, err := g.r.FanoutOnce(ctx, o)
	assert.True(t, did)
	require.ErrorContains(t, err, "temporal is down")
	fs, err := g.s.Fanouts(ctx, "r1")
	require.NoError(t, err)
	require.Len(t, fs, 1)
	assert.Nil(t, fs[0].DoneAt)
	assert.Equal(t, "f_03", fs[0].Cursor, "two pages (c_1, c_2, f_00; f_01, f_02, f_03) done, the third cut short")
	assert.Equal(t, int64(6), fs[0].Scanned)

	g.tc.mu.Lock()
	g.tc.fail = nil
	g.tc.mu.Unlock()
	var lastErr error
	require.Eventually(t, func() bool { // once the backoff has passed
		did, err := g.r.FanoutOnce(ctx, o)
		lastErr = err
		return did || err != nil
	}, time.Minute, 10*time.Millisecond)
	require.NoError(t, lastErr)
	fs, err = g.s.Fanouts(ctx, "r1")
	require.NoError(t, err)
	require.NotNil(t, fs[0].DoneAt, fs[0].Error)
	assert.Empty(t, fs[0].Error)
	assert.Equal(t, int64(12), fs[0].Scanned, "every customer scanned once: c_1, c_2 and the ten")
	assert.Equal(t, int64(len(viewers)), fs[0].Matched)

	entered, err := g.s.RunsEntered(ctx, "back-in-stock", "r1", 100)
	require.NoError(t, err)
	var want []string
	for _, id := range viewers {
		want = append(want, workflows.WorkflowID("back-in-stock", id, "r1"))
	}
	assert.ElementsMatch(t, want, entered, "each viewer entered once")
	ids := map[string]bool{}
	for _, s := range g.tc.startList() {
		assert.False(t, ids[s.ID], "started twice: %s", s.ID)
		ids[s.ID] = true
		assert.Equal(t, workflows.WorkflowID("back-in-stock", s.Input.CustomerID, "r1"), s.ID)
		assert.Equal(t, "product.restocked", s.Input.Trigger.Type)
		assert.Equal(t, s.Input.CustomerID, s.Input.Trigger.CustomerID)
		assert.Equal(t, "teapot", s.Input.Trigger.Data["product_id"])
	}
	assert.Len(t, ids, len(viewers))

	did, err = g.r.FanoutOnce(ctx, o)
	require.NoError(t, err)
	assert.False(t, did, "nothing left to do")

	// The same event type with a customer does not start the journey.
	res := g.route(g.event("r2", "product.restocked", "f_00", `{"product_id": "teapot"}`))
	assert.Empty(t, res.Started)
	assert.Contains(t, skipped(res, "back-in-stock"), "fans out")
}

// restockRig is a rig with the restock journey, the ten customers of
// TestAFanoutResumesWhereItStopped (f_00 to f_09; all but f_03 and f_07
// viewed the teapot) and fan-out r1 of a teapot restock stored. It returns
// the viewers.
func restockRig(t *testing.T, journeys ...string) (*rig, []string) {
	t.Helper()
	ctx := context.Background()
	g := newRig(t, append([]string{restockJourney}, journeys...)...)
	var viewers []string
	for i := range 10 {
		id := fmt.Sprintf("f_%02d", i)
		_, err := g.s.UpsertCustomer(ctx, store.Customer{ID: id, Email: id + "@example.com"})
		require.NoError(t, err)
		product := "teapot"
		if i%4 == 3 {
			product = "mug"
		} else {
			viewers = append(viewers, id)
		}
		g.event("v_"+id, "product.viewed", id, `{"product_id": "`+product+`"}`)
	}
	inserted, err := g.s.RecordFanout(ctx, store.Event{ID: "r1", Type: "product.restocked", OccurredAt: time.Now(), Data: []byte(`{"product_id": "teapot"}`)}, []string{"back-in-stock"})
	require.NoError(t, err)
	require.True(t, inserted)
	return g, viewers
}

// fanout reads the fan-out of an event to back-in-stock.
func (g *rig) fanout(eventID string) store.Fanout {
	g.t.Helper()
	fs, err := g.s.ListFanouts(context.Background(), store.FanoutFilter{EventID: eventID, Limit: 10})
	require.NoError(g.t, err)
	require.Len(g.t, fs, 1, eventID)
	return fs[0]
}

// exec changes the database behind the store's back: time passing, as
// a test stages it.
func (g *rig) exec(sql string, args ...any) {
	g.t.Helper()
	_, err := storetest.DB(g.t, g.url).Exec(context.Background(), sql, args...)
	require.NoError(g.t, err)
}

// A fan-out that keeps failing waits longer after each attempt, up to the
// cap, and is given up as failed after MaxAttempts: its progress, error
// and counts are kept, the runners leave it alone, and the metric counts
// it. An operator's retry resumes it where it stopped, with a fresh count
// of attempts.
func TestAFailingFanoutBacksOffThenFailsUntilRetried(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	g, viewers := restockRig(t)
	// Temporal goes away after four starts, in the third page, for good.
	g.tc.failAfter, g.tc.failWith = 4, errors.New("temporal is down")
	o := router.FanoutOptions{PageSize: 3, Concurrency: 1, Backoff: time.Hour, MaxBackoff: 3 * time.Hour, MaxAttempts: 4}

	for attempt, wait := range []time.Duration{time.Hour, 2 * time.Hour, 3 * time.Hour, 0} {
		if attempt > 0 {
			did, err := g.r.FanoutOnce(ctx, o)
			require.NoError(t, err)
			require.False(t, did, "attempt %d: not before its backoff has passed", attempt+1)
			g.exec(`UPDATE fanouts SET claimed_until = now() WHERE event_id = 'r1'`) // the backoff has passed
		}
		before := time.Now()
		did, err := g.r.FanoutOnce(ctx, o)
		after := time.Now()
		require.True(t, did)
		require.ErrorContains(t, err, "temporal is down")
		f := g.fanout("r1")
		assert.Equal(t, attempt+1, f.Attempts)
		assert.Contains(t, f.Error, "temporal is down")
		assert.Equal(t, "f_03", f.Cursor, "the first attempt's two pages are kept")
		assert.Equal(t, int64(6), f.Scanned)
		assert.Equal(t, int64(3), f.Started)
		if wait == 0 {
			assert.Equal(t, store.FanoutFailed, f.Status, "given up at the fourth attempt")
			assert.Nil(t, f.NextAttemptAt)
			require.NotNil(t, f.DoneAt)
			break
		}
		assert.Equal(t, store.FanoutPending, f.Status, "attempt %d", attempt+1)
		require.NotNil(t, f.NextAttemptAt, "attempt %d", attempt+1)
		assert.WithinRange(t, *f.NextAttemptAt, before.Add(wait-time.Minute), after.Add(wait+time.Minute), "attempt %d waits %s", attempt+1, wait)
		assert.Nil(t, f.DoneAt)
	}
	did, err := g.r.FanoutOnce(ctx, o)
	require.NoError(t, err)
	assert.False(t, did, "a failed fan-out is not taken up again")

	// The runner shows it in rapport_fanouts_failed, and leaves it.
	m := metrics.New()
	t.Cleanup(func() { _ = m.Close() })
	o.Metrics, o.Interval = m, 50*time.Millisecond
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	g.r.RunFanouts(runCtx, o)
	require.Eventually(t, func() bool { return gauge(t, m, "rapport_fanouts_failed") == 1 }, time.Minute, 10*time.Millisecond)
	assert.Equal(t, store.FanoutFailed, g.fanout("r1").Status)

	// Retried by an operator once Temporal is back: a fresh count, due
	// now, from its cursor; the runner takes it up.
	_, err = g.s.RetryFailedFanout(ctx, "r1", "nope")
	require.ErrorIs(t, err, store.ErrNotFound)
	g.tc.setFail(nil)
	f, err := g.s.RetryFailedFanout(ctx, "r1", "back-in-stock")
	require.NoError(t, err)
	assert.Equal(t, store.FanoutPending, f.Status)
	assert.Zero(t, f.Attempts)
	assert.Nil(t, f.DoneAt)
	assert.Nil(t, f.NextAttemptAt)
	assert.Contains(t, f.Error, "temporal is down", "the last error stays until the next attempt")
	assert.Equal(t, "f_03", f.Cursor)
	_, err = g.s.RetryFailedFanout(ctx, "r1", "back-in-stock")
	require.ErrorIs(t, err, store.ErrConflict, "no longer failed")
	g.r.NudgeFanouts()
	require.Eventually(t, func() bool { return g.fanout("r1").Status == store.FanoutDone }, time.Minute, 10*time.Millisecond)
	require.Eventually(t, func() bool { return gauge(t, m, "rapport_fanouts_failed") == 0 }, time.Minute, 10*time.Millisecond)
	f = g.fanout("r1")
	assert.Empty(t, f.Error)
	assert.Equal(t, 1, f.Attempts)
	assert.Equal(t, int64(12), f.Scanned, "every customer scanned once: c_1, c_2 and the ten")
	assert.Equal(t, int64(len(viewers)), f.Matched)
	entered, err := g.s.RunsEntered(ctx, "back-in-stock", "r1", 100)
	require.NoError(t, err)
	assert.Len(t, entered, len(viewers), "each viewer entered once")
	_, err = g.s.RetryFailedFanout(ctx, "r1", "back-in-stock")
	assert.ErrorContains(t, err, "is done, not failed")
}

// A fan-out received MaxAge ago or longer is given up at its first
// failure; one whose attempts keep ending without a word (its process
// killed mid-page) is given up once past MaxAttempts, without a try.
func TestFanoutsPastTheirBoundsAreGivenUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	g, _ := restockRig(t)
	o := router.FanoutOptions{PageSize: 3, Concurrency: 1, MaxAge: 24 * time.Hour}

	g.exec(`UPDATE fanouts SET received_at = now() - interval '25 hours', occurred_at = now() - interval '25 hours' WHERE event_id = 'r1'`)
	g.tc.setFail(errors.New("temporal is down"))
	did, err := g.r.FanoutOnce(ctx, o)
	require.True(t, did)
	require.ErrorContains(t, err, "given up at attempt 1")
	f := g.fanout("r1")
	assert.Equal(t, store.FanoutFailed, f.Status)
	assert.Equal(t, 1, f.Attempts)
	assert.Contains(t, f.Error, "temporal is down")

	g.tc.setFail(nil)
	_, err = g.s.RecordFanout(ctx, store.Event{ID: "r2", Type: "product.restocked", OccurredAt: time.Now(), Data: []byte(`{"product_id": "teapot"}`)}, []string{"back-in-stock"})
	require.NoError(t, err)
	g.exec(`UPDATE fanouts SET attempts = $1 WHERE event_id = 'r2'`, router.DefaultFanoutMaxAttempts)
	did, err = g.r.FanoutOnce(ctx, o)
	require.True(t, did)
	require.NoError(t, err)
	f = g.fanout("r2")
	assert.Equal(t, store.FanoutFailed, f.Status)
	assert.Equal(t, router.DefaultFanoutMaxAttempts+1, f.Attempts)
	assert.Contains(t, f.Error, "ended without finishing")
	assert.Empty(t, g.tc.startList(), "nobody entered")
}

// A runner that stops in the middle of a fan-out gives it back with the
// pages it finished, uncounted, for the next runner to take up at once.
func TestAStoppingRunnerGivesItsFanoutBack(t *testing.T) {
	t.Parallel()
	g, viewers := restockRig(t)
	ctx, stop := context.WithCancel(context.Background())
	g.tc.afterStart = func(n int) {
		if n == 2 { // f_01, the first of the second page
			stop()
		}
	}
	o := router.FanoutOptions{PageSize: 3, Concurrency: 1}
	did, err := g.r.FanoutOnce(ctx, o)
	require.True(t, did)
	require.Error(t, err)
	f := g.fanout("r1")
	assert.Equal(t, store.FanoutPending, f.Status)
	assert.Zero(t, f.Attempts, "a stop is not a failed attempt")
	assert.Nil(t, f.NextAttemptAt, "due at once")
	assert.Empty(t, f.Error)
	assert.Equal(t, "f_00", f.Cursor, "the first page is done")

	did, err = g.r.FanoutOnce(context.Background(), o)
	require.True(t, did)
	require.NoError(t, err)
	f = g.fanout("r1")
	assert.Equal(t, store.FanoutDone, f.Status)
	assert.Equal(t, int64(12), f.Scanned)
	assert.Equal(t, int64(len(viewers)), f.Matched)
}

// A for condition's durations, now (the event's receipt), the 90 days of
// customer.events and max_event_age are real time, even when dev mode
// makes a journey day last a second: they are not journey waits.
func TestForConditionDurationsAreRealTimeUnderDevDays(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	g := newRig(t, `
journey: back-in-stock
topic: offers
trigger:
  event: product.restocked
  max_event_age: 1d
  for: customer.events.exists(e, e.type == "product.viewed" && e.data.product_id == event.data.product_id && e.at > now - duration("24h"))
steps:
  - send: {channel: email, template: back-in-stock}
`)
	g.r.DayLength, g.r.DayEpoch = time.Second, time.Now().Add(-time.Hour)
	for id, ago := range map[string]time.Duration{"c_1": 2 * time.Hour, "c_2": 30 * time.Hour} {
		g.eventAt("v_"+id, "product.viewed", id, `{"product_id": "teapot"}`, time.Now().Add(-ago))
	}
	_, err := g.s.RecordFanout(ctx, store.Event{ID: "r1", Type: "product.restocked", OccurredAt: time.Now().Add(-2 * time.Hour),
		Data: []byte(`{"product_id": "teapot"}`)}, []string{"back-in-stock"})
	require.NoError(t, err)
	did, err := g.r.FanoutOnce(ctx, router.FanoutOptions{})
	require.True(t, did)
	require.NoError(t, err)
	f := g.fanout("r1")
	require.Equal(t, store.FanoutDone, f.Status)
	assert.Empty(t, f.Error, "an event two hours old is within max_event_age 1d of real time")
	assert.Equal(t, int64(1), f.Matched, "c_1 viewed it two real hours ago, within the 24h; c_2 thirty hours ago")
	entered, err := g.s.RunsEntered(ctx, "back-in-stock", "r1", 10)
	require.NoError(t, err)
	assert.Equal(t, []string{workflows.WorkflowID("back-in-stock", "c_1", "r1")}, entered)
}
