package router

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/rapporthq/rapport/internal/metrics"
	"github.com/rapporthq/rapport/internal/store"
)

// SweepOptions tune the routing sweeper. Zero fields take the defaults.
type SweepOptions struct {
	// Interval is how often the sweeper looks for events to route, and
	// how old an unrouted event must be (younger ones are still being
	// routed by the API). Default 15 s.
	Interval time.Duration
	// Batch is how many events one pass claims. Default 100.
	Batch int
	// Lease is how long a claimed event stays with this sweeper before
	// another may take it (this process died, say). Default 5 minutes.
	Lease time.Duration
	// Backoff is the wait after the first failed attempt, doubled after
	// each further one up to MaxBackoff. Defaults Interval and 1 hour.
	Backoff, MaxBackoff time.Duration
	// MaxAttempts is how many failed attempts dead-letter an event.
	// Default 10.
	MaxAttempts int
	// Metrics, when set, shows the number of dead-lettered events.
	Metrics *metrics.Metrics
}

// DefaultMaxRoutingAttempts is how many failed attempts dead-letter an
// event unless SweepOptions say otherwise.
const DefaultMaxRoutingAttempts = 10

func (o SweepOptions) withDefaults() SweepOptions {
	o.Interval = cmp.Or(o.Interval, 15*time.Second)
	o.Batch = cmp.Or(o.Batch, 100)
	o.Lease = cmp.Or(o.Lease, 5*time.Minute)
	o.Backoff = cmp.Or(o.Backoff, o.Interval)
	o.MaxBackoff = cmp.Or(o.MaxBackoff, time.Hour)
	o.MaxAttempts = cmp.Or(o.MaxAttempts, DefaultMaxRoutingAttempts)
	return o
}

// Sweep routes events whose routing did not finish (Temporal was down, the
// process died), every interval, until ctx ends, with the default
// SweepOptions otherwise.
func (r *Router) Sweep(ctx context.Context, interval time.Duration) {
	r.SweepWith(ctx, SweepOptions{Interval: interval})
}

// SweepWith runs SweepOnce every o.Interval until ctx ends.
func (r *Router) SweepWith(ctx context.Context, o SweepOptions) {
	o = o.withDefaults()
	t := time.NewTicker(o.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := r.SweepOnce(ctx, o); err != nil && ctx.Err() == nil {
			r.log().Warn("routing sweeper pass failed", "error", err)
		}
	}
}

// SweepStats says what one sweeper pass did.
type SweepStats struct {
	Claimed, Routed, Failed, DeadLettered int
}

// SweepOnce claims the due unrouted events (store.ClaimUnroutedEvents:
// replicas share them, none waits on another) and routes each. An event
// that fails is tried again after a backoff that doubles with each
// attempt, and after o.MaxAttempts attempts it is dead-lettered: it stops
// nothing (the next pass claims other events) and shows in `rapport events
// failed` and the rapport_events_routing_failed metric.
func (r *Router) SweepOnce(ctx context.Context, o SweepOptions) (SweepStats, error) {
	o = o.withDefaults()
	var st SweepStats
	events, err := r.Store.ClaimUnroutedEvents(ctx, time.Now().Add(-o.Interval), o.Batch, o.Lease)
	if err != nil {
		return st, fmt.Errorf("sweep: %w", err)
	}
	st.Claimed = len(events)
	backoff := store.RoutingBackoff{Base: o.Backoff, Max: o.MaxBackoff, MaxAttempts: o.MaxAttempts}
	for _, e := range events {
		if ctx.Err() != nil {
			return st, ctx.Err() // the claims lapse with their lease
		}
		_, rerr := r.route(ctx, e, false)
		if rerr == nil {
			if err := r.Store.MarkEventRouted(ctx, e.ID); err != nil {
				r.log().Warn("sweeper could not mark event routed", "event_id", e.ID, "error", err)
				continue
			}
			st.Routed++
			continue
		}
		st.Failed++
		f, err := r.Store.RecordRoutingFailure(ctx, e.ID, rerr.Error(), backoff)
		if err != nil {
			r.log().Error("sweeper could not record routing failure", "event_id", e.ID, "error", err, "routing_error", rerr)
			continue
		}
		if f.DeadLettered {
			st.DeadLettered++
			r.log().Error("event dead-lettered after repeated routing failures; see `rapport events failed`",
				"event_id", e.ID, "attempts", f.Attempts, "error", rerr)
			continue
		}
		r.log().Warn("sweeper could not route event", "event_id", e.ID, "attempts", f.Attempts, "next_attempt_at", f.NextAttemptAt, "error", rerr)
	}
	if o.Metrics != nil {
		if n, err := r.Store.CountFailedEvents(ctx); err == nil {
			o.Metrics.SetEventsRoutingFailed(n)
		}
	}
	return st, nil
}
