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

func recordEvents(t *testing.T, s *store.Store, prefix string, n int) {
	t.Helper()
	ctx := context.Background()
	_, err := s.UpsertCustomer(ctx, store.Customer{ID: "c_1", TimeZone: "UTC"})
	require.NoError(t, err)
	for i := range n {
		_, _, err := s.RecordEvent(ctx, store.Event{ID: fmt.Sprintf("%s%03d", prefix, i), Type: "page.viewed", CustomerID: "c_1", OccurredAt: time.Now()}, nil)
		require.NoError(t, err)
	}
}

func TestClaimUnroutedEventsSharesWork(t *testing.T) {
	t.Parallel()
	s, _ := storetest.New(t)
	ctx := context.Background()
	recordEvents(t, s, "e", 200)
	cutoff := time.Now().Add(time.Minute)

	// Two sweepers claim at once, in small batches, until nothing is left:
	// every event is claimed exactly once.
	var mu sync.Mutex
	claimedBy := map[string]int{}
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			for {
				events, err := s.ClaimUnroutedEvents(ctx, cutoff, 7, time.Hour)
				if !assert.NoError(t, err) || len(events) == 0 {
					return
				}
				mu.Lock()
				for _, e := range events {
					claimedBy[e.ID]++
					assert.Equal(t, 1, claimedBy[e.ID], "event %s claimed twice (sweeper %d)", e.ID, w)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	assert.Len(t, claimedBy, 200)

	// A lapsed lease lets another sweeper take the event again.
	recordEvents(t, s, "f", 1)
	got, err := s.ClaimUnroutedEvents(ctx, cutoff, 10, time.Millisecond)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Eventually(t, func() bool {
		got, err = s.ClaimUnroutedEvents(ctx, cutoff, 10, time.Hour)
		return assert.NoError(t, err) && len(got) == 1
	}, time.Minute, 5*time.Millisecond, "the event whose lease lapsed is claimed again")
	assert.Equal(t, "f000", got[0].ID)
}

func TestRoutingFailuresBackOffThenDeadLetter(t *testing.T) {
	t.Parallel()
	s, _ := storetest.New(t)
	ctx := context.Background()
	recordEvents(t, s, "e", 2)
	b := store.RoutingBackoff{Base: 10 * time.Second, Max: 50 * time.Second, MaxAttempts: 5}

	var waits []time.Duration
	for i := 1; i <= 4; i++ {
		before := time.Now()
		f, err := s.RecordRoutingFailure(ctx, "e000", fmt.Sprintf("boom %d", i), b)
		require.NoError(t, err)
		assert.Equal(t, i, f.Attempts)
		assert.False(t, f.DeadLettered)
		waits = append(waits, f.NextAttemptAt.Sub(before).Round(time.Second))
	}
	assert.Equal(t, []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 50 * time.Second}, waits, "doubling, capped at Max")

	// Not due: another claim does not take it, but takes the other event.
	got, err := s.ClaimUnroutedEvents(ctx, time.Now().Add(time.Minute), 10, time.Minute)
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, "e001", got[0].ID)

	f, err := s.RecordRoutingFailure(ctx, "e000", "boom 5", b)
	require.NoError(t, err)
	assert.True(t, f.DeadLettered)
	assert.Equal(t, 5, f.Attempts)

	failed, err := s.FailedEvents(ctx, 10)
	require.NoError(t, err)
	require.Len(t, failed, 1)
	assert.Equal(t, "e000", failed[0].ID)
	assert.Equal(t, 5, failed[0].Attempts)
	assert.Equal(t, "boom 5", failed[0].Error)
	n, err := s.CountFailedEvents(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)

	// Retried, it is due at once with a fresh count.
	ids, err := s.RetryFailedEvents(ctx, nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"e000"}, ids)
	got, err = s.ClaimUnroutedEvents(ctx, time.Now().Add(time.Minute), 10, time.Minute)
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, "e000", got[0].ID)
	f, err = s.RecordRoutingFailure(ctx, "e000", "again", b)
	require.NoError(t, err)
	assert.Equal(t, 1, f.Attempts)

	// A routed event is not counted.
	require.NoError(t, s.MarkEventRouted(ctx, "e001"))
	f, err = s.RecordRoutingFailure(ctx, "e001", "late", b)
	require.NoError(t, err)
	assert.Zero(t, f.Attempts)
}
