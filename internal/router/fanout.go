package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rapporthq/rapport/internal/audience"
	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/policy"
	"github.com/rapporthq/rapport/internal/store"
)

// FanoutOptions tune the fan-out of events posted without a customer.
// Zero fields take the defaults.
type FanoutOptions struct {
	// Interval is how often the runner looks for fan-outs to do besides
	// being nudged (NudgeFanouts). Default 15 s.
	Interval time.Duration
	// PageSize is how many customers one page scans (default 2,000);
	// Concurrency the entries in flight (default 32).
	PageSize, Concurrency int
	// Lease is how long a claimed fan-out stays with this runner without
	// progress before another may take it over (this process died).
	// Default 5 minutes.
	Lease time.Duration
	// Backoff is how long a fan-out that failed for now (Temporal down)
	// waits before it is tried again. Default 1 minute.
	Backoff time.Duration
}

func (o FanoutOptions) withDefaults() FanoutOptions {
	if o.Interval <= 0 {
		o.Interval = 15 * time.Second
	}
	if o.PageSize <= 0 {
		o.PageSize = 2_000
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 32
	}
	if o.Lease <= 0 {
		o.Lease = 5 * time.Minute
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Minute
	}
	return o
}

// NudgeFanouts tells the fan-out runner an event was stored for it. It
// never blocks; without a runner it does nothing.
func (r *Router) NudgeFanouts() {
	if r.fanoutNudge == nil {
		return
	}
	select {
	case r.fanoutNudge <- struct{}{}:
	default: // a nudge is pending already
	}
}

// RunFanouts does the stored fan-outs in the background until ctx ends,
// when nudged and every o.Interval. It returns at once.
func (r *Router) RunFanouts(ctx context.Context, o FanoutOptions) {
	o = o.withDefaults()
	r.fanoutNudge = make(chan struct{}, 1)
	go func() {
		t := time.NewTicker(o.Interval)
		defer t.Stop()
		for {
			for {
				did, err := r.FanoutOnce(ctx, o)
				if err != nil && ctx.Err() == nil {
					r.log().Warn("fan-out failed for now; it will be tried again", "error", err)
				}
				if !did || ctx.Err() != nil {
					break
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			case <-r.fanoutNudge:
			}
		}
	}()
}

// FanoutOnce claims one fan-out (store.ClaimFanout) and does it: it scans
// the customers after its cursor page by page as of the moment the event
// was received (the for condition's now), decided by Postgres where
// audience.TranslateFor can and by CEL for the rest, and enters each
// customer selected under the journey's entry rules, keyed by the event's
// id, with the event (its customer_id theirs) as the run's trigger. After
// each page it saves the cursor and extends its claim, so a fan-out cut
// short resumes where it stopped, and a page scanned again enters nobody
// twice. It reports whether there was one to do.
func (r *Router) FanoutOnce(ctx context.Context, o FanoutOptions) (bool, error) {
	o = o.withDefaults()
	f, err := r.Store.ClaimFanout(ctx, o.Lease)
	if err != nil || f == nil {
		return false, err
	}
	plan, ok := r.Catalog.Get(f.Journey)
	if !ok || !plan.Trigger.FanOut() || plan.Trigger.Event != f.Type {
		return true, r.Store.FinishFanout(ctx, *f, "the journey no longer fans out on "+f.Type)
	}
	ev := journey.Event{ID: f.EventID, Type: f.Type, OccurredAt: f.OccurredAt.UTC(), Data: map[string]any{}}
	if err := json.Unmarshal(f.Data, &ev.Data); err != nil {
		return true, r.Store.FinishFanout(ctx, *f, "its data is not an object: "+err.Error())
	}
	if age := plan.Trigger.MaxEventAge.D; age > 0 && f.ReceivedAt.Sub(f.OccurredAt) > age {
		return true, r.Store.FinishFanout(ctx, *f, fmt.Sprintf("the event is older than max_event_age %s", plan.Trigger.MaxEventAge))
	}
	asOf := f.ReceivedAt.UTC().Truncate(time.Microsecond)
	filter, err := audience.TranslateFor(r.Env, plan.Trigger.For, ev, asOf, store.AudienceArgBase)
	if err != nil {
		// The event lacks data the condition names: it concerns nobody.
		return true, r.Store.FinishFanout(ctx, *f, err.Error())
	}
	cel := strings.Join(filter.CEL, " && ")
	key := EntryKey(ev.ID)
	if plan.Trigger.EntryMode() == journey.EntryOnce {
		key = "once"
	}
	for {
		page, err := r.Store.ScanCustomers(ctx, f.Cursor, o.PageSize, filter.Where, filter.Args, asOf)
		if err != nil {
			return true, r.retryFanout(ctx, *f, o, err)
		}
		if page.Scanned == 0 {
			break
		}
		var picked []store.Prospect
		for _, p := range page.Prospects {
			if !filter.Exact {
				loc, _ := policy.ResolveZone(p.Facts.TimeZone, p.Facts.Country, r.DefaultZone)
				p.Facts.Zone = loc.String()
				ok, err := r.Env.EvalFor(cel, p.Facts, ev, asOf)
				if err != nil {
					r.log().Warn("trigger.for could not be evaluated for a customer; left out", "journey", plan.Journey, "customer_id", p.Facts.ID, "error", err)
					continue
				}
				if !ok {
					continue
				}
			}
			picked = append(picked, p)
		}
		started, skipped, err := r.enterFanout(ctx, plan, ev, key, picked, o.Concurrency)
		if err != nil {
			return true, r.retryFanout(ctx, *f, o, err)
		}
		f.Scanned += int64(page.Scanned)
		f.Matched += int64(len(picked))
		f.Started += started
		f.Skipped += skipped
		f.Cursor = page.Last
		if page.Scanned < o.PageSize {
			break
		}
		if err := r.Store.SaveFanoutProgress(ctx, *f, o.Lease); err != nil {
			return true, err
		}
	}
	r.log().Info("fan-out done", "event_id", f.EventID, "journey", f.Journey, "scanned", f.Scanned, "matched", f.Matched, "started", f.Started)
	return true, r.Store.FinishFanout(ctx, *f, "")
}

// retryFanout keeps a fan-out's progress and leaves it for later.
func (r *Router) retryFanout(ctx context.Context, f store.Fanout, o FanoutOptions, cause error) error {
	if errors.Is(cause, context.Canceled) && ctx.Err() != nil {
		return cause // stopping: the claim lapses with its lease
	}
	if err := r.Store.SaveFanoutProgress(context.WithoutCancel(ctx), f, o.Lease); err != nil {
		return errors.Join(cause, err)
	}
	if err := r.Store.RetryFanout(context.WithoutCancel(ctx), f, o.Backoff, cause.Error()); err != nil {
		return errors.Join(cause, err)
	}
	return fmt.Errorf("fan-out of event %s to %s: %w", f.EventID, f.Journey, cause)
}

// enterFanout enters the customers a page selected, concurrency at a
// time, each with the event as their trigger.
func (r *Router) enterFanout(ctx context.Context, plan *journey.Plan, ev journey.Event, key string, picked []store.Prospect, concurrency int) (started, skipped int64, err error) {
	entrants := make([]entrant, len(picked))
	for i, p := range picked {
		e := ev
		e.CustomerID = p.Facts.ID
		entrants[i] = entrant{prospect: p, key: key, event: e}
	}
	return r.enterAll(ctx, plan, concurrency, entrants, true)
}
