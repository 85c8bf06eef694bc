package router

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rapporthq/rapport/internal/audience"
	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/metrics"
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
	// waits before its next attempt, doubled after each further failure
	// up to MaxBackoff. Defaults 30 s and 15 minutes.
	Backoff, MaxBackoff time.Duration
	// MaxAttempts and MaxAge bound the retries: a fan-out that fails
	// when it has been attempted MaxAttempts times, or was received
	// MaxAge ago or longer, is given up as failed (store.FailFanout)
	// until an operator retries it. Defaults DefaultFanoutMaxAttempts
	// (about four hours of retrying at the default backoff) and
	// DefaultFanoutMaxAge.
	MaxAttempts int
	MaxAge      time.Duration
	// Metrics, when set, shows the number of failed fan-outs
	// (rapport_fanouts_failed) after every pass.
	Metrics *metrics.Metrics
}

// Defaults of FanoutOptions' bounds on retries.
const (
	DefaultFanoutMaxAttempts = 20
	DefaultFanoutMaxAge      = 24 * time.Hour
)

func (o FanoutOptions) withDefaults() FanoutOptions {
	o.Interval = cmp.Or(max(o.Interval, 0), 15*time.Second)
	o.PageSize = cmp.Or(max(o.PageSize, 0), 2_000)
	o.Concurrency = cmp.Or(max(o.Concurrency, 0), 32)
	o.Lease = cmp.Or(max(o.Lease, 0), 5*time.Minute)
	o.Backoff = cmp.Or(max(o.Backoff, 0), 30*time.Second)
	o.MaxBackoff = max(cmp.Or(max(o.MaxBackoff, 0), 15*time.Minute), o.Backoff)
	o.MaxAttempts = cmp.Or(max(o.MaxAttempts, 0), DefaultFanoutMaxAttempts)
	o.MaxAge = cmp.Or(max(o.MaxAge, 0), DefaultFanoutMaxAge)
	return o
}

// backoff is the wait after a fan-out's attempt-th failed attempt: Backoff,
// doubled for each attempt before it, at most MaxBackoff.
func (o FanoutOptions) backoff(attempt int) time.Duration {
	d := o.Backoff
	for i := 1; i < attempt && d < o.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, o.MaxBackoff)
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
					r.log().Warn("fan-out attempt failed", "error", err)
				}
				if !did || ctx.Err() != nil {
					break
				}
			}
			r.reportFailedFanouts(ctx, o.Metrics)
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
// twice. An attempt that fails is tried again after a growing backoff,
// and given up as failed after o.MaxAttempts attempts or o.MaxAge
// (retryFanout). It reports whether there was one to do.
func (r *Router) FanoutOnce(ctx context.Context, o FanoutOptions) (bool, error) {
	o = o.withDefaults()
	f, err := r.Store.ClaimFanout(ctx, o.Lease)
	if err != nil || f == nil {
		return false, err
	}
	if f.Attempts > o.MaxAttempts {
		// The last attempt ended without recording its failure: its
		// process stopped in the middle (killed, out of memory). A
		// fan-out that does that again and again is given up too.
		return true, r.giveUpFanout(ctx, *f, fmt.Sprintf("gave up after %d attempts: the last ones ended without finishing (their process stopped)", f.Attempts-1))
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
			return true, r.retryFanout(ctx, *f, o, err)
		}
	}
	r.log().Info("fan-out done", "event_id", f.EventID, "journey", f.Journey, "scanned", f.Scanned, "matched", f.Matched, "started", f.Started)
	return true, r.Store.FinishFanout(ctx, *f, "")
}

// retryFanout keeps a fan-out's progress and leaves it for its next
// attempt, after a backoff that grows with its attempts, or gives it up as
// failed once it has been attempted o.MaxAttempts times or was received
// o.MaxAge ago. A runner stopping gives its claim back instead, uncounted.
func (r *Router) retryFanout(ctx context.Context, f store.Fanout, o FanoutOptions, cause error) error {
	bg := context.WithoutCancel(ctx)
	if ctx.Err() != nil {
		rctx, cancel := context.WithTimeout(bg, 5*time.Second)
		defer cancel()
		if err := r.Store.ReleaseFanout(rctx, f); err != nil {
			return errors.Join(cause, err) // the claim lapses with its lease
		}
		return cause
	}
	if f.Attempts >= o.MaxAttempts || time.Since(f.ReceivedAt) >= o.MaxAge {
		if err := r.giveUpFanout(bg, f, cause.Error()); err != nil {
			return errors.Join(cause, err)
		}
		return fmt.Errorf("fan-out of event %s to %s given up at attempt %d: %w", f.EventID, f.Journey, f.Attempts, cause)
	}
	if err := r.Store.SaveFanoutProgress(bg, f, o.Lease); err != nil {
		return errors.Join(cause, err)
	}
	if err := r.Store.RetryFanout(bg, f, o.backoff(f.Attempts), cause.Error()); err != nil {
		return errors.Join(cause, err)
	}
	return fmt.Errorf("fan-out of event %s to %s (attempt %d): %w", f.EventID, f.Journey, f.Attempts, cause)
}

// giveUpFanout marks a fan-out failed, with its progress and why, and
// says so at error level: it waits for an operator (`rapport fanouts`).
func (r *Router) giveUpFanout(ctx context.Context, f store.Fanout, why string) error {
	if err := r.Store.FailFanout(ctx, f, why); err != nil {
		return err
	}
	r.log().Error("fan-out given up after repeated failures; see `rapport fanouts`, and `rapport fanouts retry` once the cause is fixed",
		"event_id", f.EventID, "journey", f.Journey, "attempts", f.Attempts, "scanned", f.Scanned, "started", f.Started, "error", why)
	return nil
}

// reportFailedFanouts sets rapport_fanouts_failed, when there are
// metrics, to the number of failed fan-outs.
func (r *Router) reportFailedFanouts(ctx context.Context, m *metrics.Metrics) {
	if m == nil {
		return
	}
	n, err := r.Store.CountFailedFanouts(ctx)
	if err != nil {
		if ctx.Err() == nil {
			r.log().Warn("could not count the failed fan-outs", "error", err)
		}
		return
	}
	m.SetFanoutsFailed(n)
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
