//go:build !production

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/rapporthq/rapport/internal/api/wire"
	"github.com/rapporthq/rapport/internal/app"
	"github.com/rapporthq/rapport/internal/bench"
	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/lanes"
	"github.com/rapporthq/rapport/internal/money"
	"github.com/rapporthq/rapport/internal/router"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

// benchOptions says what `rapport bench` runs.
type benchOptions struct {
	Journeys    int     // thank-you journeys per round, of the kind done first (a)
	Rounds      int     // rounds of thank-you journeys (a)
	Customers   int     // customers generated for the audience (b)
	LapsedShare float64 // share of them the lapse audience selects
	Events      int     // events posted (c)
	EventBatch  int     // events per request
	Senders     int     // requests in flight (c)
	Concurrency int     // workflow starts in flight ((a): shared by the kinds)
	Skip        []string
	TemporalDB  string   // Temporal's persistence: sqlite or postgres
	Workers     int      // worker processes; 0: the worker in this process
	Scale       float64  // (d)'s audience is 20,000 customers times this
	Lanes       []string // (d)'s modes: off, on, queues
	Thanks      int      // (d)'s thank-yous with no audience
	ThanksRate  float64  // (d)'s orders a second
}

func newBenchCmd() *cobra.Command {
	o := benchOptions{}
	var journeysDir string
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure Rapport against bare Temporal on this machine",
		Long: `Bench starts a private Rapport in this process (embedded Temporal, fake
providers, a fresh PostgreSQL database on the server rapport dev would
use) and measures:

  (a) thank-you journeys, from start to email captured by the SendGrid fake
      (real sendgrid-go client, outbox in Postgres), of three kinds:
      interpreted from journeys/thank-you.yaml; "same-steps", written by
      hand with the commands and options the interpreter issues; "lean",
      one activity that sends, as a Temporal engineer would write it.
      First what one run of each costs, and the four seed journeys on
      scripted paths (at dev time): history events, workflow tasks,
      activities, billable Temporal Cloud actions, counted from the
      histories. Then the kinds run side by side in rounds: journeys per
      second and start-to-email latency for each, and the ratios of
      their throughputs (median and range over the rounds);
  (b) the lapse-winback audience over generated customers (100,000, then
      all of them): SQL scan time, rows per second, journeys started per
      second next to the server's raw start rate, and peak heap;
  (c) events posted to POST /v1/events in batches: events per second,
      request latency p50/p99, and time until every event is routed.
  (d) lanes: an audience run enters 20,000 lapsed customers (x --scale)
      into lapse-winback while orders come in through the API
      (--thanks-rate a second): the thank-yous' start to email p50/p99
      against --thanks of them with no audience, and the audience's rate
      (entered, and emailed) as a share of the server's raw start rate;
      each mode of --lanes on a fresh stack: off (no priority or fairness
      keys), on, queues (the transactional lane on a task queue and a
      worker of its own, the fallback to priority).

Temporal keeps its state in memory (SQLite) unless --temporal-db postgres
gives it PostgreSQL databases next to the bench's, the store real clusters
use (dropped at the end). --workers N runs N ` + "`rapport worker`" + ` processes
instead of the worker in this process. The first line names the engine.

The line before the last gives the ratio interpreted/same-steps: its
median and range over the rounds; the last is "ratio
interpreted/hand-written: X.XX", that median. Counts are exact;
throughputs depend on the machine and its load; docs/performance.md quotes a run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBench(cmd.Context(), cmd.OutOrStdout(), journeysDir, o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Journeys, "journeys", 200, "(a) thank-you journeys per round: a round ends when one kind has completed this many")
	f.IntVar(&o.Rounds, "rounds", 5, "(a) rounds of thank-you journeys")
	f.IntVar(&o.Customers, "customers", 1_000_000, "(b) customers to generate")
	f.Float64Var(&o.LapsedShare, "lapsed", 0.01, "(b) share of customers the lapse audience selects")
	f.IntVar(&o.Events, "events", 10_000, "(c) events to post")
	f.IntVar(&o.EventBatch, "batch", 250, "(c) events per request")
	f.IntVar(&o.Senders, "senders", 4, "(c) requests in flight")
	f.IntVar(&o.Concurrency, "concurrency", 32, "workflow starts in flight ((a): shared by the kinds; and the raw start rate)")
	f.StringSliceVar(&o.Skip, "skip", nil, "parts to leave out: a, b, c, d; paths leaves out (a)'s scripted journeys")
	f.Float64Var(&o.Scale, "scale", 1, "(d) the audience run enters 20,000 customers times this")
	f.StringSliceVar(&o.Lanes, "lanes", []string{lanesOff, lanesOn, lanesQueues}, "(d) the modes to measure: off (no priority or fairness keys), on, queues (the transactional lane on a task queue and worker of its own)")
	f.IntVar(&o.Thanks, "thanks", 200, "(d) thank-yous timed with no audience running")
	f.Float64Var(&o.ThanksRate, "thanks-rate", 2, "(d) orders posted a second, with and without the audience")
	f.StringVar(&o.TemporalDB, "temporal-db", benchSQLite, "Temporal's persistence: sqlite (in memory) or postgres (a database next to the bench's, as real clusters use)")
	f.IntVar(&o.Workers, "workers", 0, "run this many `rapport worker` processes instead of the worker in this process")
	f.StringVar(&journeysDir, "journeys-dir", env("RAPPORT_JOURNEYS", "journeys"), "folder of journey files and templates")
	return cmd
}

func runBench(ctx context.Context, out io.Writer, journeysDir string, o benchOptions) error {
	if err := o.checkEngine(); err != nil {
		return err
	}
	if err := o.checkLanes(); err != nil {
		return err
	}
	cfg, err := configFromEnv()
	if err != nil {
		return err
	}
	js, err := app.LoadJourneys(journeysDir)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "bench: %s, %d CPUs, %s, %s\n", runtime.Version(), runtime.NumCPU(), time.Now().UTC().Format(time.DateOnly), o.engine())
	var a thankYouResult
	if !o.skips("a", "b", "c") {
		if a, err = runParts(ctx, out, journeysDir, &cfg, js, o); err != nil {
			return err
		}
	}
	if !o.skips("d") {
		if err := runLanes(ctx, out, journeysDir, &cfg, js, o); err != nil {
			return fmt.Errorf("bench (d): %w", err)
		}
	}
	if o.skips("a") {
		fmt.Fprintln(out, "ratio interpreted/hand-written: n/a (skipped)")
		return nil
	}
	fmt.Fprintf(out, "ratio interpreted/same-steps: median %.2f, min-max %.2f-%.2f over %d rounds\n", a.ratio.median, a.ratio.min, a.ratio.max, a.rounds)
	fmt.Fprintf(out, "ratio interpreted/hand-written: %.2f\n", a.ratio.median)
	return nil
}

// skips reports whether every one of the parts is left out (--skip).
func (o benchOptions) skips(parts ...string) bool {
	for _, p := range parts {
		if !slices.Contains(o.Skip, p) {
			return false
		}
	}
	return true
}

// runParts runs (a), (b) and (c), those not left out, on one stack.
func runParts(ctx context.Context, out io.Writer, journeysDir string, cfg *app.Config, js *app.Journeys, o benchOptions) (thankYouResult, error) {
	s, err := openBenchStack(ctx, o, journeysDir, cfg, nil)
	if err != nil {
		return thankYouResult{}, err
	}
	defer s.Close()
	b := &benchRun{d: s.d, js: js, o: o, out: out}
	var a thankYouResult
	if !o.skips("a") {
		if a, err = b.thankYou(ctx); err != nil {
			return a, fmt.Errorf("bench (a): %w", err)
		}
	}
	if !o.skips("b") {
		if err := b.audience(ctx); err != nil {
			return a, fmt.Errorf("bench (b): %w", err)
		}
	}
	if !o.skips("c") {
		if err := b.events(ctx); err != nil {
			return a, fmt.Errorf("bench (c): %w", err)
		}
	}
	return a, nil
}

// benchStack is a private Rapport the bench measures: a fresh database,
// the engine o asks for (Temporal's databases, worker processes) and the
// dev stack in this process, with the fake providers.
type benchStack struct {
	d      *devStack
	closed []func() // undone in reverse order
}

// openBenchStack starts a benchStack; tune, when set, changes the dev
// stack's options ((d) sets the lanes).
func openBenchStack(ctx context.Context, o benchOptions, journeysDir string, cfg *app.Config, tune func(*devOptions)) (_ *benchStack, err error) {
	s := &benchStack{}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	stateDir, err := os.MkdirTemp("", "rapport-bench-")
	if err != nil {
		return nil, err
	}
	s.closed = append(s.closed, func() { os.RemoveAll(stateDir) })
	dbURL, cleanup, err := privateDatabase(ctx, stateDir, "rapport_bench")
	if err != nil {
		return nil, err
	}
	s.closed = append(s.closed, func() { cleanup(false) })
	eng, err := newBenchEngine(ctx, o, dbURL)
	if err != nil {
		return nil, err
	}
	s.closed = append(s.closed, eng.dropDatabases)
	do := devOptions{StateDir: stateDir, JourneysDir: journeysDir, IP: "127.0.0.1", UIPort: -1,
		DatabaseURL: dbURL, InMemory: true, NoDemo: true, Sender: cfg, ParkAudienceJourneys: true,
		TemporalPostgresURL: eng.temporalURL, NoWorker: o.Workers > 0,
		Log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		Register: bench.Register}
	if tune != nil {
		tune(&do)
	}
	if s.d, err = startDev(ctx, do); err != nil {
		return nil, err
	}
	s.closed = append(s.closed, s.d.Stop)
	if err := eng.startWorkers(ctx, s.d, journeysDir, stateDir); err != nil {
		return nil, err
	}
	s.closed = append(s.closed, eng.stopWorkers)
	return s, nil
}

// Close stops what openBenchStack started and drops its databases.
func (s *benchStack) Close() {
	for i := len(s.closed) - 1; i >= 0; i-- {
		s.closed[i]()
	}
	s.closed = nil
}

type benchRun struct {
	d         *devStack
	js        *app.Journeys
	o         benchOptions
	out       io.Writer
	rawRounds int // raw start rate measurements so far, for unique ids
}

// audience runs (b): generate customers, measure the server's raw start
// rate, then run the lapse audience over the first 100,000 customers and
// over all of them, sampling the heap.
func (b *benchRun) audience(ctx context.Context) error {
	plan, ok := b.js.Catalog.Get("lapse-winback")
	if !ok {
		return fmt.Errorf("no lapse-winback journey in the journeys folder")
	}
	first := min(100_000, b.o.Customers)
	fmt.Fprintf(b.out, "(b) lapse-winback audience (%s), %.1f%% of customers lapsed:\n", plan.Trigger.Audience, 100*b.o.LapsedShare)
	generated := 0
	for _, size := range []int{first, b.o.Customers} {
		if size <= generated {
			continue
		}
		began := time.Now()
		if err := b.generateCustomers(ctx, generated, size); err != nil {
			return err
		}
		fmt.Fprintf(b.out, "    %d customers generated in %s\n", size-generated, time.Since(began).Round(time.Millisecond))
		generated = size
		// The server slows as it fills, so its raw rate is measured
		// right before each run.
		n := max(500, min(2000, int(float64(size)*b.o.LapsedShare)))
		bare, err := b.rawStartRate(ctx, n, nil)
		if err != nil {
			return err
		}
		raw, err := b.rawStartRate(ctx, n, plan)
		if err != nil {
			return err
		}
		fmt.Fprintf(b.out, "    raw start rate of the server now (%d in flight): %.0f workflows/s bare, %.0f/s with a journey's search attributes and plan\n", b.o.Concurrency, bare, raw)
		if err := b.audienceRun(ctx, plan, size, bare, raw); err != nil {
			return err
		}
	}
	return nil
}

// generateCustomers COPYs customers [from, to) into the database:
// LapsedShare of them last ordered 91 to 400 days ago, the others within
// the last 89 days or never.
func (b *benchRun) generateCustomers(ctx context.Context, from, to int) error {
	rng := rand.New(rand.NewPCG(uint64(from), uint64(to)))
	countries := []string{"GB", "FR", "DE", "US", "NL"}
	now := time.Now().UTC()
	_, err := b.d.store.CopyCustomers(ctx, func(yield func(store.CustomerRow) bool) {
		for i := from; i < to; i++ {
			id := fmt.Sprintf("cust-%07d", i)
			var last *time.Time
			orders := 0
			switch r := rng.Float64(); {
			case r < b.o.LapsedShare:
				t := now.Add(-time.Duration(91+rng.IntN(310)) * 24 * time.Hour)
				last, orders = &t, 1+rng.IntN(8)
			case r < 0.9:
				t := now.Add(-time.Duration(rng.IntN(89*24)) * time.Hour)
				last, orders = &t, 1+rng.IntN(12)
			}
			row := store.CustomerRow{ID: id, Email: id + "@example.com", Name: "Customer " + id, Locale: "en-GB", TimeZone: "Europe/London",
				Country: countries[rng.IntN(len(countries))], OrdersCount: orders, LifetimeValue: money.FromMinor(int64(orders)*3150, 2), LastOrderAt: last}
			if !yield(row) {
				return
			}
		}
	})
	if err != nil {
		return fmt.Errorf("generate customers: %w", err)
	}
	return nil
}

// rawStartRate starts n workflows on the parked task queue, Concurrency
// at a time, and returns starts per second: the ceiling for audience
// starts. Without a plan they are bare; with one they carry what a
// journey start carries (search attributes, summary, the plan as input),
// without Rapport's registry.
func (b *benchRun) rawStartRate(ctx context.Context, n int, plan *journey.Plan) (float64, error) {
	b.rawRounds++
	round := b.rawRounds
	began := time.Now()
	sem := make(chan struct{}, b.o.Concurrency)
	var failed atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			opts := client.StartWorkflowOptions{ID: fmt.Sprintf("bench/raw/%d-%d", round, i), TaskQueue: app.ParkedTaskQueue}
			var args []any
			if plan != nil {
				customerID := fmt.Sprintf("raw-%d-%d", round, i)
				ev := journey.Event{ID: "raw", Type: "audience", CustomerID: customerID, OccurredAt: time.Now().UTC()}
				opts = router.StartOptions("bench/raw-journey/"+customerID, plan, customerID, ev, lanes.Bulk)
				opts.TaskQueue = app.ParkedTaskQueue
				args = append(args, workflows.JourneyInput{Plan: *plan, CustomerID: customerID, EntryKey: "raw", Trigger: ev, Revision: workflows.Revision})
			}
			_, err := b.d.client.ExecuteWorkflow(ctx, opts, "BenchNothing", args...)
			if err != nil {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	if failed.Load() > 0 {
		return 0, fmt.Errorf("%d of %d raw starts failed", failed.Load(), n)
	}
	return float64(n) / time.Since(began).Seconds(), nil
}

// audienceRun previews the lapse audience over the size customers there
// are (the scan alone: its heap is the scan's), then runs the audience
// workflow and reports its figures.
func (b *benchRun) audienceRun(ctx context.Context, plan *journey.Plan, size int, bare, raw float64) error {
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	peak := sampleHeap(ctx)
	rt := (&app.Services{Store: b.d.store, Temporal: b.d.client, Journeys: b.js, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}).NewRouter(0, time.Time{})
	pre, err := rt.PreviewAudience(ctx, plan, time.Now(), 10)
	if err != nil {
		return err
	}
	scanHeap := peak()
	fmt.Fprintf(b.out, "    %d customers: preview (scan only) %d match in %s, heap %d MiB at most (%+d MiB)\n", pre.Customers, pre.Matched,
		(time.Duration(pre.ScanMillis) * time.Millisecond).Round(time.Millisecond), scanHeap>>20, (int64(scanHeap)-int64(base.HeapInuse))>>20)
	peak = sampleHeap(ctx)
	began := time.Now()
	key := fmt.Sprintf("bench-%d", size)
	run, err := b.d.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.AudienceWorkflowID(plan.Journey, key), TaskQueue: workflows.TaskQueue},
		workflows.AudienceWorkflowName, workflows.AudienceInput{Journey: plan.Journey, EntryKey: key, AsOf: time.Now().UTC()})
	if err != nil {
		return err
	}
	var res workflows.AudienceResult
	if err := run.Get(ctx, &res); err != nil {
		return err
	}
	wall := time.Since(began)
	heap := peak()
	c := res.Counts
	sql := time.Duration(c.ScanMillis) * time.Millisecond
	startTime := wall - sql
	fmt.Fprintf(b.out, "      audience run: %d match, %d started, %d skipped in %s\n", c.Matched, c.Started, c.Skipped, wall.Round(time.Millisecond))
	rate := float64(c.Started) / startTime.Seconds()
	fmt.Fprintf(b.out, "      SQL scan %s (%.0f rows/s); starts %.0f/s outside the scan: %.0f%% of the raw rate with a journey's start options, %.0f%% of the bare rate\n",
		sql.Round(time.Millisecond), float64(c.Scanned)/sql.Seconds(), rate, 100*rate/raw, 100*rate/bare)
	fmt.Fprintf(b.out, "      peak heap %d MiB (%s)\n", heap>>20, b.o.heapNote())
	return nil
}

// sampleHeap samples the Go heap in use every 50ms until the returned
// function is called, which returns the peak.
func sampleHeap(ctx context.Context) func() uint64 {
	ctx, stop := context.WithCancel(ctx)
	var peak atomic.Uint64
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { stop(); <-done; return peak.Load() }
}

// events runs (c): post Events events in batches through the API,
// Concurrency requests at a time, then wait until every one is routed.
func (b *benchRun) events(ctx context.Context) error {
	const customers = 1000
	for i := range customers {
		id := fmt.Sprintf("viewer-%04d", i)
		if _, err := b.d.store.UpsertCustomer(ctx, store.Customer{ID: id, Email: id + "@example.com"}); err != nil {
			return err
		}
	}
	var bodies [][]byte
	for start := 0; start < b.o.Events; start += b.o.EventBatch {
		var batch []map[string]any
		for i := start; i < min(start+b.o.EventBatch, b.o.Events); i++ {
			batch = append(batch, map[string]any{"id": fmt.Sprintf("bench-view-%06d", i), "type": "product.viewed",
				"customer_id": fmt.Sprintf("viewer-%04d", i%customers), "data": map[string]any{"product_id": fmt.Sprintf("p-%d", i%97)}})
		}
		body, err := json.Marshal(map[string]any{"events": batch})
		if err != nil {
			return err
		}
		bodies = append(bodies, body)
	}
	latencies := make([]time.Duration, len(bodies))
	var accepted atomic.Int64
	began := time.Now()
	sem := make(chan struct{}, b.o.Senders)
	errs := make(chan error, len(bodies))
	var wg sync.WaitGroup
	for i, body := range bodies {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			t := time.Now()
			req, err := http.NewRequest(http.MethodPost, b.d.APIURL+"/v1/events", bytes.NewReader(body))
			if err != nil {
				errs <- err
				return
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+b.d.APIKey)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			var res wire.BatchResponse
			if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || resp.StatusCode != http.StatusOK {
				errs <- fmt.Errorf("batch %d: %s %v", i, resp.Status, err)
				return
			}
			latencies[i] = time.Since(t)
			accepted.Add(int64(res.Accepted))
		})
	}
	wg.Wait()
	acceptedIn := time.Since(began)
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	if int(accepted.Load()) != b.o.Events {
		return fmt.Errorf("%d of %d events accepted", accepted.Load(), b.o.Events)
	}
	var stored, routed int
	for {
		err := b.d.store.ReadOnly(ctx, func(q store.Querier) error {
			return q.QueryRow(ctx, `SELECT count(*), count(routed_at) FROM events WHERE id LIKE 'bench-view-%'`).Scan(&stored, &routed)
		})
		if err != nil {
			return err
		}
		if routed == b.o.Events || ctx.Err() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	routedIn := time.Since(began)
	var p50, p99 float64
	err := b.d.store.ReadOnly(ctx, func(q store.Querier) error {
		return q.QueryRow(ctx, `
			SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM routed_at - received_at)),
			       percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM routed_at - received_at))
			FROM events WHERE id LIKE 'bench-view-%'`).Scan(&p50, &p99)
	})
	if err != nil {
		return err
	}
	slices.Sort(latencies)
	fmt.Fprintf(b.out, "(c) %d events in batches of %d, %d requests in flight:\n", b.o.Events, b.o.EventBatch, b.o.Senders)
	fmt.Fprintf(b.out, "    accepted (stored) in %s: %.0f events/s; request latency p50 %s, p99 %s\n",
		acceptedIn.Round(time.Millisecond), float64(b.o.Events)/acceptedIn.Seconds(),
		percentile(latencies, 0.5).Round(time.Millisecond), percentile(latencies, 0.99).Round(time.Millisecond))
	fmt.Fprintf(b.out, "    %d stored, %d routed after %s; stored to routed p50 %s, p99 %s\n", stored, routed, routedIn.Round(time.Millisecond),
		time.Duration(p50*float64(time.Second)).Round(time.Millisecond), time.Duration(p99*float64(time.Second)).Round(time.Millisecond))
	if stored != b.o.Events || routed != b.o.Events {
		return fmt.Errorf("lost events: %d stored, %d routed of %d", stored, routed, b.o.Events)
	}
	return nil
}

// percentile returns the p-th quantile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}
