package router_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/metrics"
	"github.com/rapporthq/rapport/internal/router"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/store/storetest"
)

// newRouter routes against a real database with no journeys: a good event
// routes without Temporal; a poison one (data.order is not an order)
// fails in JourneyEvent every time.
func newRouter(t *testing.T) (*router.Router, *store.Store) {
	t.Helper()
	s, _ := storetest.New(t)
	env, err := journey.NewEnv()
	require.NoError(t, err)
	cat, err := journey.NewCatalog()
	require.NoError(t, err)
	_, err = s.UpsertCustomer(context.Background(), store.Customer{ID: "c_1", TimeZone: "UTC"})
	require.NoError(t, err)
	return &router.Router{Store: s, Catalog: cat, Env: env}, s
}

func record(t *testing.T, s *store.Store, id string, poison bool) {
	t.Helper()
	data := json.RawMessage(`{}`)
	if poison {
		data = json.RawMessage(`{"order": "not an order"}`)
	}
	_, _, err := s.RecordEvent(context.Background(), store.Event{ID: id, Type: "page.viewed", CustomerID: "c_1", OccurredAt: time.Now(), Data: data}, nil)
	require.NoError(t, err)
}

func TestPoisonEventsStopNothingAndEndInTheDeadLetter(t *testing.T) {
	t.Parallel()
	r, s := newRouter(t)
	ctx := context.Background()
	for i := range 100 {
		record(t, s, fmt.Sprintf("bad%03d", i), true)
	}
	for i := range 5 {
		record(t, s, fmt.Sprintf("good%d", i), false)
	}
	m := metrics.New()
	o := router.SweepOptions{Interval: time.Nanosecond, Batch: 100, Backoff: 50 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, MaxAttempts: 3, Metrics: m}

	// The 100 oldest events are poison: the first pass fails them all,
	// the next one routes the good ones (the poison backs off, and when
	// due again it queues behind events never tried).
	st, err := r.SweepOnce(ctx, o)
	require.NoError(t, err)
	assert.Equal(t, router.SweepStats{Claimed: 100, Failed: 100}, st)
	st, err = r.SweepOnce(ctx, o)
	require.NoError(t, err)
	assert.Equal(t, 5, st.Routed)
	for i := range 5 {
		e, err := s.GetEvent(ctx, fmt.Sprintf("good%d", i))
		require.NoError(t, err)
		assert.NotNil(t, e.RoutedAt, "good%d", i)
	}

	// Tried until MaxAttempts, the poison is dead-lettered, listed and
	// counted.
	require.Eventually(t, func() bool {
		if n, err := s.CountFailedEvents(ctx); !assert.NoError(t, err) || n == 100 {
			return true
		}
		_, err := r.SweepOnce(ctx, o) // tries the poison again once its backoff is over
		return !assert.NoError(t, err)
	}, time.Minute, 10*time.Millisecond, "the poison dead-lettered")
	failed, err := s.FailedEvents(ctx, 1000)
	require.NoError(t, err)
	require.Len(t, failed, 100)
	assert.Equal(t, 3, failed[0].Attempts)
	assert.Contains(t, failed[0].Error, "data.order")
	assert.Equal(t, 100.0, gauge(t, m, "rapport_events_routing_failed"))

	// Dead-lettered events are not claimed again, not even once every
	// backoff is over (when a live event would be due).
	time.Sleep(o.MaxBackoff + 10*time.Millisecond)
	st, err = r.SweepOnce(ctx, o)
	require.NoError(t, err)
	assert.Zero(t, st.Claimed)
}

func gauge(t *testing.T, m *metrics.Metrics, name string) float64 {
	t.Helper()
	families, err := m.Registry().Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() == name {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func TestTwoSweepersNeverRouteTheSameEvent(t *testing.T) {
	t.Parallel()
	r, s := newRouter(t)
	ctx := context.Background()
	for i := range 300 {
		record(t, s, fmt.Sprintf("e%03d", i), false)
	}
	o := router.SweepOptions{Interval: time.Nanosecond, Batch: 20}
	var mu sync.Mutex
	routed := 0
	var wg sync.WaitGroup
	for range 2 {
		r2 := *r
		wg.Go(func() {
			for {
				st, err := r2.SweepOnce(ctx, o)
				if !assert.NoError(t, err) || st.Claimed == 0 {
					return
				}
				mu.Lock()
				routed += st.Routed
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 300, routed, "each event routed exactly once by one of the sweepers")
}
