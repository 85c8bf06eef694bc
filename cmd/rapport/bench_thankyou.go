//go:build !production

package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/client"
	"golang.org/x/sync/errgroup"

	"github.com/rapporthq/rapport/internal/bench"
	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/lanes"
	"github.com/rapporthq/rapport/internal/router"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

// thankYouKind is one way to run the thank-you journey in (a): the
// interpreter, or a hand-written workflow (internal/bench).
type thankYouKind struct {
	name  string
	start func(ctx context.Context, id, customerID, orderID string) (client.WorkflowRun, error)
	// check waits for the run to end and says whether it sent.
	check func(ctx context.Context, run client.WorkflowRun) error
}

// The kinds' names; the first is compared with the others.
const (
	kindInterpreted = "interpreted"
	kindSameSteps   = "same-steps"
	kindLean        = "lean"
)

// thankYouKinds are the interpreted journey and its two hand-written
// baselines. The interpreted and same-steps runs start as the router
// starts a journey (the same search attributes, summary, details); the
// lean one as anyone would, with an id and a task queue. All three run
// in the thank-you's lane, so that none goes before the others.
func (b *benchRun) thankYouKinds(plan *journey.Plan) []thankYouKind {
	journeyStart := func(id, customerID, orderID string) (client.StartWorkflowOptions, journey.Event) {
		ev := journey.Event{ID: "bench-" + strings.ReplaceAll(id, "/", "-"), Type: "order.placed", CustomerID: customerID, OccurredAt: time.Now().UTC(),
			Order: journey.Order{ID: orderID}, Data: map[string]any{}}
		return router.StartOptions(id, plan, customerID, ev, lanes.Event), ev
	}
	completed := func(ctx context.Context, run client.WorkflowRun) error {
		var res workflows.JourneyResult
		if err := run.Get(ctx, &res); err != nil {
			return err
		}
		if res.Outcome != workflows.Completed {
			return fmt.Errorf("%s: %s %s", run.GetID(), res.Outcome, res.Reason)
		}
		return nil
	}
	return []thankYouKind{
		{name: kindInterpreted, check: completed, start: func(ctx context.Context, id, customerID, orderID string) (client.WorkflowRun, error) {
			opts, ev := journeyStart(id, customerID, orderID)
			return b.d.client.ExecuteWorkflow(ctx, opts, workflows.JourneyWorkflowName,
				workflows.JourneyInput{Plan: *plan, CustomerID: customerID, EntryKey: ev.ID, Trigger: ev, Revision: workflows.Revision})
		}},
		{name: kindSameSteps, check: completed, start: func(ctx context.Context, id, customerID, orderID string) (client.WorkflowRun, error) {
			opts, ev := journeyStart(id, customerID, orderID)
			return b.d.client.ExecuteWorkflow(ctx, opts, bench.SameStepsWorkflowName, bench.ThankYouInput{CustomerID: customerID, OrderID: orderID,
				EventID: ev.ID, TemplateVersion: plan.Templates[plan.Steps[0].Send.Template]})
		}},
		{name: kindLean, start: func(ctx context.Context, id, customerID, orderID string) (client.WorkflowRun, error) {
			return b.d.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: workflows.TaskQueue, Priority: lanes.Run(plan, lanes.Event)},
				bench.LeanWorkflowName, bench.ThankYouInput{CustomerID: customerID, OrderID: orderID})
		}, check: func(ctx context.Context, run client.WorkflowRun) error {
			var res workflows.SendResult
			if err := run.Get(ctx, &res); err != nil {
				return err
			}
			if res.Status != workflows.SendSent {
				return fmt.Errorf("%s: %s %s", run.GetID(), res.Status, res.Reason)
			}
			return nil
		}},
	}
}

// spread is a figure measured once a round: its median and range.
type spread struct{ median, min, max float64 }

func spreadOf(xs []float64) spread {
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	if n == 0 {
		return spread{}
	}
	m := s[n/2]
	if n%2 == 0 {
		m = (s[n/2-1] + s[n/2]) / 2
	}
	return spread{median: m, min: s[0], max: s[n-1]}
}

// thankYouResult is what (a) found: the ratio interpreted/same-steps,
// once a round.
type thankYouResult struct {
	ratio  spread
	rounds int
}

// thankYou runs (a): what each kind's thank-you, and each seed journey
// on a scripted path, cost (from their histories), then rounds in which
// the kinds run side by side, and their throughputs and ratios.
func (b *benchRun) thankYou(ctx context.Context) (thankYouResult, error) {
	if b.o.Journeys < 1 || b.o.Rounds < 1 || b.o.Concurrency < 1 {
		return thankYouResult{}, errors.New("--journeys, --rounds and --concurrency must be at least 1")
	}
	plan, ok := b.js.Catalog.Get("thank-you")
	if !ok {
		return thankYouResult{}, errors.New("no thank-you journey in the journeys folder")
	}
	kinds := b.thankYouKinds(plan)
	slots := (b.o.Concurrency + len(kinds) - 1) / len(kinds)
	if b.o.Journeys < 4*slots {
		// Journeys complete in batches of about slots: a round needs a few
		// batches for its window to measure every kind.
		return thankYouResult{}, fmt.Errorf("--journeys %d is too few for %d in flight per kind: give at least %d, or lower --concurrency", b.o.Journeys, slots, 4*slots)
	}
	rows, err := b.costs(ctx, kinds)
	if err != nil {
		return thankYouResult{}, err
	}
	fmt.Fprintln(b.out, "(a) thank-you journeys, start to email sent")
	fmt.Fprintln(b.out, "    cost per run, counted from its history (exact; actions as Temporal Cloud bills them):")
	fmt.Fprintf(b.out, "      %-58s %6s %8s %10s %5s %6s %7s %7s %7s %7s\n", "run", "events", "wf tasks", "activities", "local", "timers", "signals", "updates", "upserts", "actions")
	for _, r := range rows {
		c := r.cost
		fmt.Fprintf(b.out, "      %-58s %6d %8d %10d %5d %6d %7d %7d %7d %7d\n", r.run, c.Events, c.WorkflowTasks, c.Activities, c.LocalActivities, c.Timers, c.Signals, c.Updates, c.Upserts, c.Actions)
		if r.offScript != "" {
			fmt.Fprintf(b.out, "        (off script: %s)\n", r.offScript)
		}
	}

	perKind := b.o.Journeys + slots // the most a kind starts in a round
	for k := range kinds {
		for i := range perKind {
			if err := b.seedBuyer(ctx, buyerID(k, i)); err != nil {
				return thankYouResult{}, err
			}
		}
	}
	seqBefore := len(b.d.fakes.Recorder.Messages())
	starts := &startLog{at: map[string]time.Time{}, kind: map[string]int{}}
	rates := make([][]float64, len(kinds)) // journeys/s, by kind, by round
	for r := range b.o.Rounds {
		got, err := b.round(ctx, kinds, r, slots, starts)
		if err != nil {
			return thankYouResult{}, err
		}
		for k := range kinds {
			rates[k] = append(rates[k], got[k])
		}
	}
	latencies, err := b.startToEmail(ctx, len(kinds), seqBefore, starts)
	if err != nil {
		return thankYouResult{}, err
	}

	fmt.Fprintf(b.out, "    throughput: the kinds side by side, %d in flight each, starts alternating; %d rounds, each measured from when every kind is under way\n", slots, b.o.Rounds)
	fmt.Fprintf(b.out, "    until one kind has completed %d (median, min-max over rounds; start to email: ExecuteWorkflow to the SendGrid fake's receipt):\n", b.o.Journeys)
	for k, kind := range kinds {
		s, l := spreadOf(rates[k]), latencies[k]
		fmt.Fprintf(b.out, "      %-12s %6.1f journeys/s (%.1f-%.1f); start to email p50 %s, p99 %s\n", kind.name, s.median, s.min, s.max,
			percentile(l, 0.5).Round(time.Millisecond), percentile(l, 0.99).Round(time.Millisecond))
	}
	ratios := make([]spread, len(kinds))
	for k := 1; k < len(kinds); k++ {
		var rs []float64
		for r := range b.o.Rounds {
			rs = append(rs, rates[0][r]/rates[k][r])
		}
		ratios[k] = spreadOf(rs)
	}
	fmt.Fprintf(b.out, "    ratio %s/%s %.2f (%.2f-%.2f), %s/%s %.2f (%.2f-%.2f): median and min-max of the rounds' ratios\n",
		kinds[0].name, kinds[1].name, ratios[1].median, ratios[1].min, ratios[1].max, kinds[0].name, kinds[2].name, ratios[2].median, ratios[2].min, ratios[2].max)
	fmt.Fprintf(b.out, "    %d emails received by the SendGrid fake, one per journey\n", len(starts.at))
	if err := b.breakdown(ctx, kinds[0], perKind); err != nil {
		return thankYouResult{}, err
	}
	return thankYouResult{ratio: ratios[1], rounds: b.o.Rounds}, nil
}

// buyerID is the i-th customer of kind k: the kinds send to customers of
// their own, so they never wait on each other's customer.
func buyerID(k, i int) string { return fmt.Sprintf("buyer-%d-%06d", k, i) }

// startLog keeps when each journey of the rounds started, and its kind.
type startLog struct {
	mu   sync.Mutex
	at   map[string]time.Time
	kind map[string]int
}

func (l *startLog) add(id string, k int, t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.at[id], l.kind[id] = t, k
}

// round runs the kinds side by side: each has slots journeys in flight,
// started as the one before ends, the kinds' first starts alternating.
// Each kind's throughput is measured over the same window: from when
// every kind has completed its first batch (each is under way) until one
// has completed Journeys; then no journey starts, and those in flight
// finish (their emails are checked, not counted in the throughput).
func (b *benchRun) round(ctx context.Context, kinds []thankYouKind, r, slots int, starts *startLog) ([]float64, error) {
	var (
		mu              sync.Mutex
		done            = make([]int, len(kinds)) // completed, by kind
		opened, closed  time.Time
		atOpen, atClose []int
		stop            atomic.Bool
		next            = make([]atomic.Int64, len(kinds))
		began           = time.Now()
		underWay        = min(slots, max(1, b.o.Journeys/2)) // completed by every kind when the window opens
		customers       = b.o.Journeys + slots
	)
	g, gctx := errgroup.WithContext(ctx)
	for range slots {
		for k, kind := range kinds {
			g.Go(func() error {
				for !stop.Load() {
					i := int(next[k].Add(1) - 1)
					id := fmt.Sprintf("bench/%s/%d/%d", kind.name, r, i)
					customerID := buyerID(k, i%customers)
					starts.add(id, k, time.Now())
					run, err := kind.start(gctx, id, customerID, "order-"+customerID)
					if err == nil {
						err = kind.check(gctx, run)
					}
					if err != nil {
						return fmt.Errorf("%s: %w", kind.name, err)
					}
					mu.Lock()
					done[k]++
					if opened.IsZero() && slices.Min(done) >= underWay {
						opened, atOpen = time.Now(), slices.Clone(done)
					}
					if closed.IsZero() && done[k] >= b.o.Journeys {
						closed, atClose = time.Now(), slices.Clone(done)
						stop.Store(true)
					}
					mu.Unlock()
				}
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	// A kind not under way when another finished, or with no journey
	// completed in the window: the round is measured from its start.
	if opened.IsZero() || !opened.Before(closed) || !allGained(atOpen, atClose) {
		opened, atOpen = began, make([]int, len(kinds))
	}
	window := closed.Sub(opened).Seconds()
	rates := make([]float64, len(kinds))
	for k := range kinds {
		rates[k] = float64(atClose[k]-atOpen[k]) / window
	}
	return rates, nil
}

// allGained reports whether every count grew from before to after.
func allGained(before, after []int) bool {
	for k := range after {
		if after[k] <= before[k] {
			return false
		}
	}
	return true
}

// startToEmail matches each journey the rounds started with the email
// the SendGrid fake received for it (through the outbox row the email
// names), checks there is exactly one, and returns the times from start
// to email, sorted, by kind.
func (b *benchRun) startToEmail(ctx context.Context, kinds, seqBefore int, starts *startLog) ([][]time.Duration, error) {
	received := map[string][]time.Time{} // by outbox message id
	for _, m := range b.d.fakes.Recorder.After(seqBefore) {
		if m.Channel == "email" {
			received[m.MessageID] = append(received[m.MessageID], m.SentAt)
		}
	}
	ids := make([]string, 0, len(starts.at))
	for id := range starts.at {
		ids = append(ids, id)
	}
	out := make([][]time.Duration, kinds)
	matched := 0
	err := b.d.store.ReadOnly(ctx, func(q store.Querier) error {
		rows, err := q.Query(ctx, `SELECT workflow_id, id::text FROM messages WHERE workflow_id = ANY($1)`, ids)
		if err != nil {
			return fmt.Errorf("the bench's outbox rows: %w", err)
		}
		var workflowID, messageID string
		_, err = pgx.ForEachRow(rows, []any{&workflowID, &messageID}, func() error {
			sent := received[messageID]
			if len(sent) != 1 {
				return fmt.Errorf("%s: the SendGrid fake received %d emails, not 1", workflowID, len(sent))
			}
			k := starts.kind[workflowID]
			out[k] = append(out[k], sent[0].Sub(starts.at[workflowID]))
			matched++
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	if matched != len(ids) {
		return nil, fmt.Errorf("%d of %d journeys have an outbox row", matched, len(ids))
	}
	for k := range out {
		slices.Sort(out[k])
	}
	return out, nil
}
