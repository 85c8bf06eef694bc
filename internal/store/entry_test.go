package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/store/storetest"
)

func entry(id, journey string) store.Entry {
	return store.Entry{Run: store.Run{WorkflowID: id, Journey: journey, CustomerID: "c_1", PlanHash: "h", Listens: true, EntryKey: id}}
}

func TestEntryRules(t *testing.T) {
	t.Parallel()
	s, _ := storetest.New(t)
	ctx := context.Background()
	_, err := s.UpsertCustomer(ctx, store.Customer{ID: "c_1"})
	require.NoError(t, err)

	// once: the first entry starts, a second key is refused, the same id
	// is started again (its start may be a retry after a crash).
	once := entry("once-1", "welcome")
	once.Once = true
	got, err := s.EnterRun(ctx, once)
	require.NoError(t, err)
	assert.True(t, got.Start)
	again := entry("once-2", "welcome")
	again.Once = true
	got, err = s.EnterRun(ctx, again)
	require.NoError(t, err)
	assert.False(t, got.Start)
	assert.Contains(t, got.Refused, "entry: once")
	got, err = s.EnterRun(ctx, once)
	require.NoError(t, err)
	assert.True(t, got.Start, "the same entry is started again while it runs")
	require.NoError(t, s.FinishRun(ctx, "once-1", store.RunCompleted, ""))
	got, err = s.EnterRun(ctx, once)
	require.NoError(t, err)
	assert.False(t, got.Start, "an entry that ended does not run twice")
	assert.Contains(t, got.Refused, "entry: once")
	got, err = s.EnterRun(ctx, store.Entry{Run: once.Run})
	require.NoError(t, err)
	assert.Contains(t, got.Refused, "already ran: completed")

	// max_active: a second concurrent run is refused until the first ends.
	a := entry("winback-a", "winback")
	a.MaxActive = 1
	got, err = s.EnterRun(ctx, a)
	require.NoError(t, err)
	require.True(t, got.Start)
	b := entry("winback-b", "winback")
	b.MaxActive = 1
	got, err = s.EnterRun(ctx, b)
	require.NoError(t, err)
	assert.Contains(t, got.Refused, "max_active")
	require.NoError(t, s.FinishRun(ctx, "winback-a", store.RunExited, "bought"))
	got, err = s.EnterRun(ctx, b)
	require.NoError(t, err)
	assert.True(t, got.Start)

	// reentry: not again within the period after the last entry.
	c := entry("winback-c", "winback")
	c.Reentry = 180 * 24 * time.Hour
	require.NoError(t, s.FinishRun(ctx, "winback-b", store.RunCompleted, ""))
	got, err = s.EnterRun(ctx, c)
	require.NoError(t, err)
	assert.Contains(t, got.Refused, "reentry")
	assert.Contains(t, got.Refused, "180d")
	c.Reentry = time.Millisecond
	require.Eventually(t, func() bool {
		got, err = s.EnterRun(ctx, c)
		return assert.NoError(t, err) && got.Start
	}, time.Minute, time.Millisecond, "after the period the customer may enter again")
}

// A run's backlog holds exactly the customer's events stored after its
// entry decision: with events and entries interleaved from many
// goroutines, every event after from_seq reaches the run either in the
// backlog or because the run was registered before the event was stored
// (so routing finds it among RunningListeners).
func TestBacklogOrNotice(t *testing.T) {
	t.Parallel()
	s, _ := storetest.New(t)
	ctx := context.Background()
	_, err := s.UpsertCustomer(ctx, store.Customer{ID: "c_1"})
	require.NoError(t, err)
	const runs, events = 40, 40
	type seen struct {
		backlog map[string]bool
		from    int64
	}
	results := make([]seen, runs)
	type stored struct {
		seq       int64
		listeners map[string]bool // runs registered when the event was stored
	}
	storedEvents := make([]stored, events)
	var wg sync.WaitGroup
	for i := range runs {
		wg.Go(func() {
			from, err := s.LastEventSeq(ctx, "c_1")
			if !assert.NoError(t, err) {
				return
			}
			e := entry(fmt.Sprintf("run-%d", i), "j")
			e.FromSeq = from
			got, err := s.EnterRun(ctx, e)
			if !assert.NoError(t, err) {
				return
			}
			results[i] = seen{backlog: map[string]bool{}, from: from}
			for _, ev := range got.Backlog {
				results[i].backlog[ev.ID] = true
			}
		})
	}
	for i := range events {
		wg.Go(func() {
			ev, _, err := s.RecordEvent(ctx, store.Event{ID: fmt.Sprintf("e-%d", i), Type: "page.viewed", CustomerID: "c_1", OccurredAt: time.Now()}, nil)
			if !assert.NoError(t, err) {
				return
			}
			// As the router does: list the listeners once the event is stored.
			listeners, err := s.RunningListeners(ctx, "c_1", "page.viewed")
			if !assert.NoError(t, err) {
				return
			}
			storedEvents[i] = stored{seq: ev.Seq, listeners: map[string]bool{}}
			for _, r := range listeners {
				storedEvents[i].listeners[r.WorkflowID] = true
			}
		})
	}
	wg.Wait()
	for i, ev := range storedEvents {
		for r, res := range results {
			if ev.seq <= res.from {
				continue // the entry decision saw this event
			}
			id := fmt.Sprintf("run-%d", r)
			assert.True(t, res.backlog[fmt.Sprintf("e-%d", i)] || ev.listeners[id],
				"event e-%d (seq %d) reaches %s (from %d) neither way", i, ev.seq, id, res.from)
		}
	}
}

func TestNoRunEntersWhileTheCustomerIsErased(t *testing.T) {
	t.Parallel()
	s, _ := storetest.New(t)
	ctx := context.Background()
	_, err := s.UpsertCustomer(ctx, store.Customer{ID: "c_1"})
	require.NoError(t, err)
	_, _, err = s.BeginErasure(ctx, "c_1", "rapport-erase/x", "key dpo", "asked by email")
	require.NoError(t, err)
	got, err := s.EnterRun(ctx, entry("during-erasure", "welcome"))
	require.NoError(t, err)
	assert.False(t, got.Start, "a run entered while the erasure runs would outlive it")
	assert.Equal(t, "the customer was erased", got.Refused)
}

// TestFailedRunsDoNotCount: a run that failed (an outage, before runs
// waited outages out) counts neither for once nor for reentry; its entry
// is made again under a new id, once, whoever asks.
func TestFailedRunsDoNotCount(t *testing.T) {
	t.Parallel()
	s, _ := storetest.New(t)
	ctx := context.Background()
	_, err := s.UpsertCustomer(ctx, store.Customer{ID: "c_1"})
	require.NoError(t, err)

	// entry: once, and the run failed loading the customer.
	once := entry("rapport/welcome/c_1/once", "welcome")
	once.Once, once.TriggerEventID = true, "evt-1"
	got, err := s.EnterRun(ctx, once)
	require.NoError(t, err)
	require.True(t, got.Start)
	assert.Equal(t, once.WorkflowID, got.WorkflowID)
	require.NoError(t, s.FinishRun(ctx, once.WorkflowID, store.RunFailed, "load customer c_1: connection refused"))

	restartable, err := s.RestartableEvents(ctx, []string{"evt-1", "evt-other"})
	require.NoError(t, err)
	assert.Equal(t, map[string]bool{"evt-1": true}, restartable)

	// The same event again (posted again, or routed again): a new run.
	got, err = s.EnterRun(ctx, once)
	require.NoError(t, err)
	require.True(t, got.Start, got.Refused)
	assert.True(t, got.New)
	assert.Equal(t, "rapport/welcome/c_1/once~2", got.WorkflowID)
	// Asked again (a retried start, another router): the same new run.
	again, err := s.EnterRun(ctx, once)
	require.NoError(t, err)
	assert.True(t, again.Start)
	assert.False(t, again.New, "registered once")
	assert.Equal(t, "rapport/welcome/c_1/once~2", again.WorkflowID)
	restartable, err = s.RestartableEvents(ctx, []string{"evt-1"})
	require.NoError(t, err)
	assert.Empty(t, restartable, "its entry runs again")
	// Another event under the key is refused while that runs, and after.
	other := once
	other.TriggerEventID = "evt-2"
	got, err = s.EnterRun(ctx, other)
	require.NoError(t, err)
	assert.False(t, got.Start)
	require.NoError(t, s.FinishRun(ctx, "rapport/welcome/c_1/once~2", store.RunCompleted, ""))
	got, err = s.EnterRun(ctx, other)
	require.NoError(t, err)
	assert.False(t, got.Start)
	assert.Contains(t, got.Refused, "entry: once")

	// reentry 180d: a failed win-back does not block the customer.
	wb := entry("rapport/winback/c_1/evt-3", "winback")
	wb.Reentry, wb.TriggerEventID = 180*24*time.Hour, "evt-3"
	got, err = s.EnterRun(ctx, wb)
	require.NoError(t, err)
	require.True(t, got.Start)
	require.NoError(t, s.GiveUpRun(ctx, wb.WorkflowID, "closed in Temporal: terminated"))
	next := entry("rapport/winback/c_1/evt-4", "winback")
	next.Reentry, next.TriggerEventID = wb.Reentry, "evt-4"
	got, err = s.EnterRun(ctx, next)
	require.NoError(t, err)
	assert.True(t, got.Start, "the failed run does not count: %s", got.Refused)
	assert.Equal(t, next.WorkflowID, got.WorkflowID)
	// ...but one that did not fail does.
	later := entry("rapport/winback/c_1/evt-5", "winback")
	later.Reentry, later.TriggerEventID = wb.Reentry, "evt-5"
	got, err = s.EnterRun(ctx, later)
	require.NoError(t, err)
	assert.False(t, got.Start)
	assert.Contains(t, got.Refused, "reentry")
}

// TestListenersByEventType: a run that lists the event types it listens
// for is found only for those types, and its backlog holds only them; a run
// without a list (registered before lists existed, or listening to every
// type) is found for every type.
func TestListenersByEventType(t *testing.T) {
	t.Parallel()
	s, _ := storetest.New(t)
	ctx := context.Background()
	_, err := s.UpsertCustomer(ctx, store.Customer{ID: "c_1"})
	require.NoError(t, err)
	for i, typ := range []string{"page.viewed", "order.placed", "page.viewed", "survey.answered"} {
		_, _, err := s.RecordEvent(ctx, store.Event{ID: fmt.Sprintf("e-%d", i), Type: typ, CustomerID: "c_1", OccurredAt: time.Now()}, nil)
		require.NoError(t, err)
	}

	orders := entry("orders", "winback")
	orders.ListensFor = []string{"order.placed", "survey.answered"}
	got, err := s.EnterRun(ctx, orders)
	require.NoError(t, err)
	require.True(t, got.Start)
	var backlog []string
	for _, e := range got.Backlog {
		backlog = append(backlog, e.ID)
	}
	assert.Equal(t, []string{"e-1", "e-3"}, backlog, "only the types the run listens for")

	every := entry("every", "browse")
	every.ListensFor = []string{"*"}
	got, err = s.EnterRun(ctx, every)
	require.NoError(t, err)
	assert.Len(t, got.Backlog, 4)
	old := entry("old", "legacy") // no list: every type
	_, err = s.EnterRun(ctx, old)
	require.NoError(t, err)
	deaf := entry("deaf", "thanks")
	deaf.Listens = false
	_, err = s.EnterRun(ctx, deaf)
	require.NoError(t, err)
	none := entry("none", "never") // conditions no type can satisfy
	none.ListensFor = []string{}
	got, err = s.EnterRun(ctx, none)
	require.NoError(t, err)
	assert.Empty(t, got.Backlog)

	ids := func(eventType string) []string {
		runs, err := s.RunningListeners(ctx, "c_1", eventType)
		require.NoError(t, err)
		var out []string
		for _, r := range runs {
			out = append(out, r.WorkflowID)
		}
		return out
	}
	assert.Equal(t, []string{"orders", "every", "old"}, ids("order.placed"))
	assert.Equal(t, []string{"every", "old"}, ids("page.viewed"))
	assert.Equal(t, []string{"orders", "every", "old", "none"}, ids(""))

	r, err := s.GetRun(ctx, "orders")
	require.NoError(t, err)
	assert.Equal(t, []string{"order.placed", "survey.answered"}, r.ListensFor)
	r, err = s.GetRun(ctx, "every")
	require.NoError(t, err)
	assert.Nil(t, r.ListensFor, "every type is stored as NULL")
}
