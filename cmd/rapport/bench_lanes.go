//go:build !production

package main

// Part (d) of `rapport bench`: lanes. A large audience run drains while
// orders come in; their thank-you emails are timed against the same with
// no audience running: without lanes, with lanes (internal/lanes), and
// with the fallback, a task queue of its own for the transactional lane.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/rapporthq/rapport/internal/app"
	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/lanes"
	"github.com/rapporthq/rapport/internal/money"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

// lanesAudience is how many lapsed customers (d)'s audience run enters at
// --scale 1.
const lanesAudience = 20_000

// The modes of (d) (--lanes).
const (
	lanesOff    = "off"    // no priority or fairness keys: arrival order
	lanesOn     = "on"     // priority and fairness keys
	lanesQueues = "queues" // no keys; transactional runs on a queue and worker of their own
)

// lanesModes says what each mode is, for the output.
var lanesModes = map[string]string{
	lanesOff:    "no priority or fairness keys: tasks in arrival order",
	lanesOn:     "priority and fairness keys",
	lanesQueues: "no keys; transactional runs on a task queue of their own, with a worker of their own",
}

// transactionalQueue is the transactional lane's task queue in mode queues.
const transactionalQueue = "rapport-transactional"

// checkLanes checks (d)'s flags.
func (o benchOptions) checkLanes() error {
	if o.skips("d") {
		return nil
	}
	if len(o.Lanes) == 0 {
		return errors.New("--lanes: give one or more of off, on, queues")
	}
	for _, m := range o.Lanes {
		if _, ok := lanesModes[m]; !ok {
			return fmt.Errorf("--lanes: %q; give one or more of off, on, queues", m)
		}
	}
	switch {
	case o.Scale <= 0 || o.Scale > 50:
		return fmt.Errorf("--scale: %v; give a factor above 0 and at most 50 of (d)'s %d customers", o.Scale, lanesAudience)
	case o.Thanks < 1 || o.Thanks > 100_000:
		return fmt.Errorf("--thanks: %d; give 1 to 100000", o.Thanks)
	case o.ThanksRate <= 0 || o.ThanksRate > 100:
		return fmt.Errorf("--thanks-rate: %v; give orders a second above 0 and at most 100", o.ThanksRate)
	}
	return nil
}

// lanesResult is what one mode of (d) measured.
type lanesResult struct {
	mode       string
	raw        float64 // the server's raw start rate with a journey's options
	idle, busy []thankYou
	drain      audienceDrain
}

// thankYou is one timed thank-you: when its order was posted, when its
// run started and got its first workflow task (from the run's history),
// and when the SendGrid fake received its email.
type thankYou struct {
	customerID, workflowID       string
	posted, started, task, email time.Time
}

// toEmail is the thank-you's start to email: from the post of its order
// to the email's receipt.
func (t thankYou) toEmail() time.Duration { return t.email.Sub(t.posted) }

// audienceDrain is how an audience run went while thank-yous came in.
type audienceDrain struct {
	matched, started int64
	entered          time.Duration // until every customer was entered (the audience workflow ended)
	emailed          time.Duration // until every entered run's email was out
	backlogWF        int64         // the most workflow tasks waiting in the task queue
	backlogAct       int64         // the most activity tasks
}

// runLanes runs (d): for each mode of --lanes, on a fresh stack (the
// embedded server slows as it fills) with the worker in this process,
// thank-yous with no audience, then an audience run of 20,000 x --scale
// lapsed customers with thank-yous coming in while it drains.
func runLanes(ctx context.Context, out io.Writer, journeysDir string, cfg *app.Config, js *app.Journeys, o benchOptions) error {
	size := max(1, int(math.Round(lanesAudience*o.Scale)))
	fmt.Fprintf(out, "(d) lanes: an audience run enters %d lapsed customers into lapse-winback while orders come in, %.1f a second; each mode on a fresh stack, the worker in this process\n", size, o.ThanksRate)
	fmt.Fprintln(out, "    (start to email: POST /v1/events of an order.placed to the SendGrid fake's receipt of its thank-you; entered: the audience workflow's run; emailed: until every entered run's email is out)")
	var results []lanesResult
	for _, mode := range o.Lanes {
		res, err := lanesMode(ctx, out, journeysDir, cfg, js, o, mode, size)
		if err != nil {
			return fmt.Errorf("lanes %s: %w", mode, err)
		}
		results = append(results, res)
	}
	for _, r := range results {
		idle, busy := durations(r.idle, thankYou.toEmail), durations(r.busy, thankYou.toEmail)
		p99, idle99 := percentile(busy, 0.99), percentile(idle, 0.99)
		d := r.drain
		fmt.Fprintf(out, "    lanes %-6s thank-you p99 %s during the audience, %.1fx its %s without; the audience entered at %.0f%% of the raw start rate, emailed at %.0f%%\n",
			r.mode+":", p99.Round(time.Millisecond), float64(p99)/float64(max(idle99, time.Millisecond)), idle99.Round(time.Millisecond),
			100*rate(d.started, d.entered)/r.raw, 100*rate(d.started, d.emailed)/r.raw)
	}
	return nil
}

// rate is n per second over d.
func rate(n int64, d time.Duration) float64 { return float64(n) / max(d.Seconds(), 1e-9) }

// durations is f of each thank-you, sorted.
func durations(ts []thankYou, f func(thankYou) time.Duration) []time.Duration {
	out := make([]time.Duration, len(ts))
	for i, t := range ts {
		out[i] = f(t)
	}
	slices.Sort(out)
	return out
}

// p50p99 formats the median and 99th percentile of f over the thank-yous.
func p50p99(ts []thankYou, f func(thankYou) time.Duration) string {
	d := durations(ts, f)
	return fmt.Sprintf("p50 %s, p99 %s", percentile(d, 0.5).Round(time.Millisecond), percentile(d, 0.99).Round(time.Millisecond))
}

// lanesMode measures one mode of (d) on a stack of its own and prints it.
func lanesMode(ctx context.Context, out io.Writer, journeysDir string, cfg *app.Config, js *app.Journeys, o benchOptions, mode string, size int) (lanesResult, error) {
	res := lanesResult{mode: mode}
	plan, ok := js.Catalog.Get("lapse-winback")
	if !ok {
		return res, errors.New("no lapse-winback journey in the journeys folder")
	}
	inProcess := o
	inProcess.Workers = 0
	s, err := openBenchStack(ctx, inProcess, journeysDir, cfg, func(do *devOptions) {
		do.ParkAudienceJourneys = false
		do.NoLanes = mode != lanesOn
		if mode == lanesQueues {
			do.TransactionalQueue = transactionalQueue
		}
	})
	if err != nil {
		return res, err
	}
	defer s.Close()
	b := &benchRun{d: s.d, js: js, o: o, out: out}
	fmt.Fprintf(out, "    lanes %s (%s):\n", mode, lanesModes[mode])
	// Buyers for as many orders as come in an hour at the rate.
	th := &thanks{b: b, rate: o.ThanksRate, buyers: o.Thanks + int(o.ThanksRate*3600), posted: map[string]time.Time{}}
	if err := b.generateBuyers(ctx, th.buyers); err != nil {
		return res, err
	}
	if res.raw, err = b.rawStartRate(ctx, min(2000, max(200, size/10)), plan); err != nil {
		return res, err
	}
	fmt.Fprintf(out, "      raw start rate of the server now (%d in flight): %.0f/s with a journey's search attributes and plan\n", o.Concurrency, res.raw)
	if res.idle, err = th.timed(ctx, func(ctx context.Context) error { return th.post(ctx, o.Thanks) }); err != nil {
		return res, err
	}
	fmt.Fprintf(out, "      no audience: %d thank-yous, start to email %s\n", len(res.idle), p50p99(res.idle, thankYou.toEmail))
	if err := b.generateLapsed(ctx, size); err != nil {
		return res, err
	}
	res.busy, err = th.timed(ctx, func(ctx context.Context) (err error) {
		res.drain, err = b.drainAudience(ctx, plan, mode == lanesOn, func(ctx context.Context) error { return th.post(ctx, th.buyers-th.sent) })
		return err
	})
	if err != nil {
		return res, err
	}
	d := res.drain
	fmt.Fprintf(out, "      audience: %d match, %d entered in %s (%.0f/s, %.0f%% of the raw rate); their emails all out after %s (%.0f/s, %.0f%%)\n",
		d.matched, d.started, d.entered.Round(time.Millisecond), rate(d.started, d.entered), 100*rate(d.started, d.entered)/res.raw,
		d.emailed.Round(time.Millisecond), rate(d.started, d.emailed), 100*rate(d.started, d.emailed)/res.raw)
	fmt.Fprintf(out, "      most tasks waiting in the task queue meanwhile: %d workflow tasks, %d activity tasks\n", d.backlogWF, d.backlogAct)
	fmt.Fprintf(out, "      during it: %d thank-yous, start to email %s\n", len(res.busy), p50p99(res.busy, thankYou.toEmail))
	fmt.Fprintf(out, "        the order posted until its run started (the API, routing) %s\n", p50p99(res.busy, func(t thankYou) time.Duration { return t.started.Sub(t.posted) }))
	fmt.Fprintf(out, "        the run's first workflow task waiting for a worker       %s\n", p50p99(res.busy, func(t thankYou) time.Duration { return t.task.Sub(t.started) }))
	fmt.Fprintf(out, "        from that task to the email (the send, the engine)      %s\n", p50p99(res.busy, func(t thankYou) time.Duration { return t.email.Sub(t.task) }))
	return res, nil
}

// generateBuyers COPYs n customers who have never ordered (the lapse
// audience leaves them out) for the thank-yous.
func (b *benchRun) generateBuyers(ctx context.Context, n int) error {
	_, err := b.d.store.CopyCustomers(ctx, func(yield func(store.CustomerRow) bool) {
		for i := range n {
			id := lanesBuyer(i)
			if !yield(store.CustomerRow{ID: id, Email: id + "@example.com", Name: "Buyer " + id, Locale: "en-GB", TimeZone: "Europe/London", Country: "GB"}) {
				return
			}
		}
	})
	if err != nil {
		return fmt.Errorf("generate buyers: %w", err)
	}
	return nil
}

// lanesBuyer is the i-th buyer of (d).
func lanesBuyer(i int) string { return fmt.Sprintf("buyer-%06d", i) }

// generateLapsed COPYs n customers whose last order was 91 to 400 days
// ago: the lapse audience selects every one.
func (b *benchRun) generateLapsed(ctx context.Context, n int) error {
	rng := rand.New(rand.NewPCG(uint64(n), 2))
	now := time.Now().UTC()
	_, err := b.d.store.CopyCustomers(ctx, func(yield func(store.CustomerRow) bool) {
		for i := range n {
			id := fmt.Sprintf("lapsed-%07d", i)
			last := now.Add(-time.Duration(91+rng.IntN(310)) * 24 * time.Hour)
			orders := 1 + rng.IntN(8)
			row := store.CustomerRow{ID: id, Email: id + "@example.com", Name: "Customer " + id, Locale: "en-GB", TimeZone: "Europe/London",
				Country: "GB", OrdersCount: orders, LifetimeValue: money.FromMinor(int64(orders)*3150, 2), LastOrderAt: &last}
			if !yield(row) {
				return
			}
		}
	})
	if err != nil {
		return fmt.Errorf("generate lapsed customers: %w", err)
	}
	return nil
}

// drainAudience runs the journey's audience workflow on the worker, as
// its schedule starts it (in the scans' lane when withLanes), while
// during runs; it returns once every entered run's email is out, and
// ends during then.
func (b *benchRun) drainAudience(ctx context.Context, plan *journey.Plan, withLanes bool, during func(context.Context) error) (audienceDrain, error) {
	var d audienceDrain
	dctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	var duringErr, sampleErr error
	wg.Go(func() { duringErr = during(dctx) })
	wg.Go(func() { d.backlogWF, d.backlogAct, sampleErr = b.sampleBacklog(dctx) })
	began := time.Now()
	key := "bench-lanes"
	opts := client.StartWorkflowOptions{ID: workflows.AudienceWorkflowID(plan.Journey, key), TaskQueue: workflows.TaskQueue}
	if withLanes {
		opts.Priority = lanes.Scan(plan)
	}
	run, err := b.d.client.ExecuteWorkflow(ctx, opts, workflows.AudienceWorkflowName, workflows.AudienceInput{Journey: plan.Journey, EntryKey: key, AsOf: time.Now().UTC()})
	var res workflows.AudienceResult
	if err == nil {
		err = run.Get(ctx, &res)
	}
	d.entered, d.matched, d.started = time.Since(began), res.Counts.Matched, res.Counts.Started
	if err == nil {
		err = b.waitMessages(ctx, plan.Journey, d.started)
	}
	d.emailed = time.Since(began)
	stop()
	wg.Wait()
	return d, errors.Join(err, duringErr, sampleErr)
}

// waitMessages waits until the journey's outbox holds n messages (sent,
// or decided otherwise).
func (b *benchRun) waitMessages(ctx context.Context, journeyName string, n int64) error {
	for {
		var have int64
		err := b.d.store.ReadOnly(ctx, func(q store.Querier) error {
			return q.QueryRow(ctx, `SELECT count(*) FROM messages WHERE journey = $1`, journeyName).Scan(&have)
		})
		if err != nil || have >= n {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// sampleBacklog reads the journeys' task queue's backlog every half a
// second until ctx ends, and returns the most workflow and activity tasks
// it saw waiting.
func (b *benchRun) sampleBacklog(ctx context.Context) (wf, act int64, err error) {
	for {
		for _, typ := range []enumspb.TaskQueueType{enumspb.TASK_QUEUE_TYPE_WORKFLOW, enumspb.TASK_QUEUE_TYPE_ACTIVITY} {
			resp, err := b.d.client.WorkflowService().DescribeTaskQueue(ctx, &workflowservice.DescribeTaskQueueRequest{Namespace: b.d.temporal.Namespace(),
				TaskQueue: &taskqueuepb.TaskQueue{Name: workflows.TaskQueue, Kind: enumspb.TASK_QUEUE_KIND_NORMAL}, TaskQueueType: typ, ReportStats: true})
			if ctx.Err() != nil {
				return wf, act, nil
			}
			if err != nil {
				return wf, act, fmt.Errorf("the task queue's backlog: %w", err)
			}
			if n := resp.GetStats().GetApproximateBacklogCount(); typ == enumspb.TASK_QUEUE_TYPE_WORKFLOW {
				wf = max(wf, n)
			} else {
				act = max(act, n)
			}
		}
		select {
		case <-ctx.Done():
			return wf, act, nil
		case <-time.After(500 * time.Millisecond):
		}
	}
}
