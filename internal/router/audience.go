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
// time, with deterministic workflow ids. After each page it calls
// progress (for heartbeats) with what is done so far. It stops after
// MaxRows customers, or at the end (Done).
func (r *Router) EnterAudience(ctx context.Context, plan *journey.Plan, run AudienceRun, progress func(workflows.AudienceStretch)) (workflows.AudienceStretch, error) {
	run = run.withDefaults()
	run.AsOf = run.AsOf.Truncate(time.Microsecond) // Postgres' precision, for exact day boundaries
	out := workflows.AudienceStretch{Cursor: run.Cursor}
	if plan.Trigger.Audience == "" {
		return out, fmt.Errorf("journey %s has no trigger.audience", plan.Journey)
	}
	filter, err := audience.Translate(r.Env, plan.Trigger.Audience, run.AsOf, store.AudienceArgBase)
	if err != nil {
		return out, err
	}
	for out.Scanned < int64(run.MaxRows) {
		began := time.Now()
		page, err := r.Store.ScanCustomers(ctx, out.Cursor, run.PageSize, filter.Where, filter.Args, run.AsOf)
		if err != nil {
			return out, err
		}
		out.ScanMillis += time.Since(began).Milliseconds()
		if page.Scanned == 0 {
			out.Done = true
			break
		}
		matched := make([]store.Prospect, 0, len(page.Prospects))
		for _, p := range page.Prospects {
			if !filter.Exact {
				ok, err := r.Env.EvalAudience(plan.Trigger.Audience, p.Facts)
				if err != nil {
					r.log().Warn("audience could not be evaluated for a customer; left out", "journey", plan.Journey, "customer_id", p.Facts.ID, "error", err)
					continue
				}
				if !ok {
					continue
				}
			}
			matched = append(matched, p)
		}
		started, skipped, err := r.enterAll(ctx, plan, run, matched)
		if err != nil {
			return out, err
		}
		out.Scanned += int64(page.Scanned)
		out.Matched += int64(len(matched))
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

// enterAll enters matching customers, Concurrency at a time. A customer
// already in the run, or refused by the entry rules, counts as skipped.
func (r *Router) enterAll(ctx context.Context, plan *journey.Plan, run AudienceRun, matched []store.Prospect) (started, skipped int64, err error) {
	var nStarted, nSkipped atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(run.Concurrency)
	for _, p := range matched {
		g.Go(func() error {
			ev := journey.Event{ID: run.EntryKey, Type: "audience", CustomerID: p.Facts.ID, OccurredAt: run.AsOf.UTC(), Data: map[string]any{}}
			_, ok, _, err := r.enter(gctx, plan, p.Facts.ID, run.EntryKey, ev, p.LastEventSeq, false)
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
	out := AudiencePreview{Journey: plan.Journey, Audience: plan.Trigger.Audience, Sample: []journey.Customer{}}
	if plan.Trigger.Audience == "" {
		return out, fmt.Errorf("journey %s is started by %s events, not by an audience", plan.Journey, plan.Trigger.Event)
	}
	filter, err := audience.Translate(r.Env, plan.Trigger.Audience, asOf, store.AudienceArgBase)
	if err != nil {
		return out, err
	}
	out.SQL, out.CEL = nonNil(filter.SQL), nonNil(filter.CEL)
	rng := rand.New(rand.NewPCG(uint64(asOf.UnixNano()), 0))
	cursor := ""
	for {
		began := time.Now()
		page, err := r.Store.ScanCustomers(ctx, cursor, 5_000, filter.Where, filter.Args, asOf)
		if err != nil {
			return out, err
		}
		out.ScanMillis += time.Since(began).Milliseconds()
		out.Customers += int64(page.Scanned)
		for _, p := range page.Prospects {
			if !filter.Exact {
				if ok, err := r.Env.EvalAudience(plan.Trigger.Audience, p.Facts); err != nil || !ok {
					continue
				}
			}
			out.Matched++
			// Reservoir sampling: every match has the same chance.
			if len(out.Sample) < sampleSize {
				out.Sample = append(out.Sample, p.Facts)
			} else if j := rng.Int64N(out.Matched); j < int64(sampleSize) {
				out.Sample[j] = p.Facts
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
