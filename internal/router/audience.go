package router

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/rapporthq/rapport/internal/audience"
	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/lanes"
	"github.com/rapporthq/rapport/internal/policy"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

// AudienceRun is one stretch of an audience run: the customers after
// Cursor, at most MaxRows of them.
type AudienceRun struct {
	// EntryKey keys every entry of the run (audience-20261122T0900Z), so
	// running a stretch again enters nobody twice.
	EntryKey string
	// AsOf is the moment the audience is evaluated at
	// (days_since_last_order counts to it).
	AsOf time.Time
	// Cursor is the id of the last customer already scanned ("" first).
	Cursor string
	// MaxRows bounds the customers scanned in this stretch (default
	// 50,000); PageSize those per SQL page (default 2,000); Concurrency
	// the workflow starts in flight (default 32).
	MaxRows, PageSize, Concurrency int
}

func (a AudienceRun) withDefaults() AudienceRun {
	if a.MaxRows <= 0 {
		a.MaxRows = 50_000
	}
	if a.PageSize <= 0 {
		a.PageSize = 2_000
	}
	if a.Concurrency <= 0 {
		a.Concurrency = 32
	}
	return a
}

// EnterAudience walks customers after run.Cursor page by page (keyset
// pagination on the primary key): the audience's common predicates are
// decided by Postgres, the rest by CEL for each candidate; matching
// customers are entered under the journey's entry rules, Concurrency at a
// time, with deterministic workflow ids. A journey entered at customers'
// own times (a date trigger, an audience with time_zone: customer) enters
// only those whose moment has come (journey.Trigger.Due), each under the
// key of that occurrence. After each page it calls progress (for
// heartbeats) with what is done so far. It stops after MaxRows customers,
// or at the end (Done).
func (r *Router) EnterAudience(ctx context.Context, plan *journey.Plan, run AudienceRun, progress func(workflows.AudienceStretch)) (workflows.AudienceStretch, error) {
	run = run.withDefaults()
	run.AsOf = run.AsOf.Truncate(time.Microsecond) // Postgres' precision, for exact day boundaries
	out := workflows.AudienceStretch{Cursor: run.Cursor}
	sel, err := r.selection(plan, run.AsOf)
	if err != nil {
		return out, err
	}
	for out.Scanned < int64(run.MaxRows) {
		began := time.Now()
		page, err := r.Store.ScanCustomers(ctx, out.Cursor, run.PageSize, sel.filter.Where, sel.filter.Args, run.AsOf)
		if err != nil {
			return out, err
		}
		out.ScanMillis += time.Since(began).Milliseconds()
		if page.Scanned == 0 {
			out.Done = true
			break
		}
		var entrants []entrant
		for _, p := range page.Prospects {
			if e, ok := sel.pick(r, p, run.EntryKey); ok {
				entrants = append(entrants, e)
			}
		}
		started, skipped, err := r.enterAll(ctx, plan, run.Concurrency, entrants, false)
		if err != nil {
			return out, err
		}
		out.Scanned += int64(page.Scanned)
		out.Matched += int64(len(entrants))
		out.Started += started
		out.Skipped += skipped
		out.Cursor = page.Last
		if progress != nil {
			progress(out)
		}
		if page.Scanned < run.PageSize {
			out.Done = true
			break
		}
	}
	return out, nil
}

// selection decides which scanned customers a journey enters: filter is
// what Postgres decides; cond, when set, is evaluated by CEL for each
// candidate (not all of it translated).
type selection struct {
	plan   *journey.Plan
	filter audience.Filter
	cond   string
	asOf   time.Time
}

// entrant is a customer to enter, with the entry key and the event that
// starts their run.
type entrant struct {
	prospect store.Prospect
	key      string
	event    journey.Event
}

// selection builds the selection of a journey entered by scanning
// customers at asOf.
func (r *Router) selection(plan *journey.Plan, asOf time.Time) (selection, error) {
	t := plan.Trigger
	sel := selection{plan: plan, cond: t.Audience, asOf: asOf}
	switch {
	case t.Audience != "":
	case t.Date != "":
		sel.cond = t.When
	default:
		return sel, fmt.Errorf("journey %s is started by %s events, not by an audience or a date", plan.Journey, plan.Trigger.Event)
	}
	sel.filter = audience.Filter{Where: "true", Exact: true}
	if sel.cond != "" {
		f, err := audience.Translate(r.Env, sel.cond, asOf, store.AudienceArgBase)
		if err != nil {
			return sel, err
		}
		sel.filter = f
	}
	if t.Date != "" {
		where, args := dateFilter(t, asOf, store.AudienceArgBase+len(sel.filter.Args))
		sel.filter.Where = "(" + sel.filter.Where + ") AND " + where
		sel.filter.Args = append(sel.filter.Args, args...)
		sel.filter.SQL = append(sel.filter.SQL, "customer.attributes."+t.Date+" near "+asOf.UTC().Format(time.DateOnly))
	}
	return sel, nil
}

// dateFilter selects, in SQL, the customers whose date attribute may be
// due at asOf: its month and day (or, once, its date) within two days of
// asOf less the offset, so every time zone is covered; Trigger.Due
// decides exactly. Placeholders are numbered from base.
func dateFilter(t journey.Trigger, asOf time.Time, base int) (string, []any) {
	around := asOf.UTC().AddDate(0, 0, -t.Offset.Days)
	var dates []string
	for d := around.Add(-journey.CatchUp).AddDate(0, 0, -2); !d.After(around.AddDate(0, 0, 2)); d = d.AddDate(0, 0, 1) {
		if t.Every == journey.EveryOnce {
			dates = append(dates, d.Format(time.DateOnly))
			continue
		}
		dates = append(dates, d.Format("01-02"))
		if d.Month() == time.February && d.Day() == 28 {
			dates = append(dates, "02-29") // its anniversary is the 28th in other years
		}
	}
	if t.Every == journey.EveryOnce {
		return fmt.Sprintf("left(c.attributes->>$%d, 10) = ANY($%d)", base, base+1), []any{t.Date, dates}
	}
	return fmt.Sprintf("substr(c.attributes->>$%d, 6, 5) = ANY($%d)", base, base+1), []any{t.Date, dates}
}

// pick says whether a scanned customer enters, and how: under the run's
// key, or for a journey entered at customers' own times, under the key of
// the occurrence that is due.
func (sel selection) pick(r *Router, p store.Prospect, runKey string) (entrant, bool) {
	loc, _ := policy.ResolveZone(p.Facts.TimeZone, p.Facts.Country, r.DefaultZone)
	p.Facts.Zone = loc.String()
	if !sel.filter.Exact {
		ok, err := r.Env.EvalAudience(sel.cond, p.Facts, sel.asOf)
		if err != nil {
			r.log().Warn("audience could not be evaluated for a customer; left out", "journey", sel.plan.Journey, "customer_id", p.Facts.ID, "error", err)
			return entrant{}, false
		}
		if !ok {
			return entrant{}, false
		}
	}
	t := sel.plan.Trigger
	e := entrant{prospect: p, key: runKey,
		event: journey.Event{ID: runKey, Type: "audience", CustomerID: p.Facts.ID, OccurredAt: sel.asOf.UTC(), Data: map[string]any{}}}
	if !t.LocalTime() {
		return e, true
	}
	occ, ok := t.Due(p.Facts, loc, sel.asOf)
	if !ok {
		return entrant{}, false
	}
	e.key, e.event.ID, e.event.OccurredAt = occ.Key, occ.Key, occ.At.UTC()
	if t.Date != "" {
		e.event.Type = journey.DateEventType
		e.event.Data = map[string]any{"attribute": t.Date, "date": occ.Date}
	}
	return e, true
}

// enterAll enters customers, concurrency at a time (signal as enter
// takes it), in their journey's bulk lane (lanes.Bulk). A customer
// already in the run, or refused by the entry rules, counts as skipped.
func (r *Router) enterAll(ctx context.Context, plan *journey.Plan, concurrency int, entrants []entrant, signal bool) (started, skipped int64, err error) {
	var nStarted, nSkipped atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(concurrency)
	for _, e := range entrants {
		g.Go(func() error {
			_, ok, _, err := r.enter(gctx, plan, e.prospect.Facts.ID, e.key, e.event, e.prospect.LastEventSeq, signal, lanes.Bulk)
			if err != nil {
				return err
			}
			if ok {
				nStarted.Add(1)
			} else {
				nSkipped.Add(1)
			}
			return nil
		})
	}
	err = g.Wait()
	return nStarted.Load(), nSkipped.Load(), err
}

// AudiencePreview is what an audience would select now, without entering
// anyone.
type AudiencePreview struct {
	Journey  string `json:"journey"`
	Audience string `json:"audience"`
	// SQL lists the parts of the condition Postgres decides; CEL those
	// evaluated for each candidate.
	SQL       []string `json:"sql"`
	CEL       []string `json:"cel"`
	Customers int64    `json:"customers"`
	Matched   int64    `json:"matched"`
	// Sample is a random sample of the matching customers (no contact
	// details).
	Sample     []journey.Customer `json:"sample"`
	ScanMillis int64              `json:"scan_ms"`
}

// PreviewAudience counts the customers the journey's audience selects as
// of asOf and draws a random sample of up to sampleSize of them. It
// enters nobody.
func (r *Router) PreviewAudience(ctx context.Context, plan *journey.Plan, asOf time.Time, sampleSize int) (AudiencePreview, error) {
	asOf = asOf.Truncate(time.Microsecond)
	t := plan.Trigger
	out := AudiencePreview{Journey: plan.Journey, Audience: t.Audience, Sample: []journey.Customer{}}
	switch {
	case t.Date != "":
		// Those whose moment is due now.
		out.Audience = t.DescribeDate()
		if t.When != "" {
			out.Audience += ", when " + t.When
		}
	case t.LocalTime():
		out.Audience += fmt.Sprintf(", due at %q in each customer's zone", t.Schedule)
	}
	sel, err := r.selection(plan, asOf)
	if err != nil {
		return out, err
	}
	out.SQL, out.CEL = nonNil(sel.filter.SQL), nonNil(sel.filter.CEL)
	rng := rand.New(rand.NewPCG(uint64(asOf.UnixNano()), 0))
	cursor := ""
	for {
		began := time.Now()
		page, err := r.Store.ScanCustomers(ctx, cursor, 5_000, sel.filter.Where, sel.filter.Args, asOf)
		if err != nil {
			return out, err
		}
		out.ScanMillis += time.Since(began).Milliseconds()
		out.Customers += int64(page.Scanned)
		for _, p := range page.Prospects {
			e, ok := sel.pick(r, p, "")
			if !ok {
				continue
			}
			out.Matched++
			// Reservoir sampling: every match has the same chance.
			if len(out.Sample) < sampleSize {
				out.Sample = append(out.Sample, e.prospect.Facts)
			} else if j := rng.Int64N(out.Matched); j < int64(sampleSize) {
				out.Sample[j] = e.prospect.Facts
			}
		}
		if page.Scanned < 5_000 {
			return out, nil
		}
		cursor = page.Last
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
