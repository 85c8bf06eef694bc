//go:build !production

package main

import (
	"context"
	"fmt"
	"io"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/rapporthq/rapport/internal/metrics"
)

// phaseTotals are the send path's phase timings a process recorded so
// far (rapport_send_phase_seconds): seconds and observations per phase.
type phaseTotals map[string]struct {
	Seconds float64
	Count   uint64
}

// readPhases reads the phase timings from m.
func readPhases(m *metrics.Metrics) (phaseTotals, error) {
	out := phaseTotals{}
	fams, err := m.Registry().Gather()
	if err != nil {
		return nil, fmt.Errorf("read the send phases: %w", err)
	}
	for _, f := range fams {
		if f.GetName() != "rapport_send_phase_seconds" {
			continue
		}
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "phase" {
					out[l.GetValue()] = struct {
						Seconds float64
						Count   uint64
					}{s.GetHistogram().GetSampleSum(), s.GetHistogram().GetSampleCount()}
				}
			}
		}
	}
	return out, nil
}

// enginePhases are where runs spent their time as their histories tell:
// from the start to the first workflow task, in that task (which runs the
// facts local activity), waiting for a worker to take the send activity,
// in the send activity, and from its end to the run's completion (a
// workflow task that records the end with a local activity). Sums over
// Runs runs.
type enginePhases struct {
	Runs                                              int
	Start, FirstTask, ActivityQueue, Activity, Finish time.Duration
}

// readEnginePhases reads the histories of the runs with these workflow
// ids (their latest executions) and sums their phases.
func readEnginePhases(ctx context.Context, c client.Client, ids []string) (enginePhases, error) {
	var p enginePhases
	for _, id := range ids {
		var started, firstTaskStarted, scheduled, activityStarted, activityDone time.Time
		firstTaskDone := false
		it := c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				return p, fmt.Errorf("history of %s: %w", id, err)
			}
			at := ev.GetEventTime().AsTime()
			switch ev.GetEventType() {
			case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
				started = at
			case enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED:
				if firstTaskStarted.IsZero() {
					firstTaskStarted = at
					p.Start += at.Sub(started)
				}
			case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
				if !firstTaskDone {
					firstTaskDone = true
					p.FirstTask += at.Sub(firstTaskStarted)
				}
			case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
				scheduled = at
			case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
				activityStarted = at
			case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
				activityDone = at
				p.ActivityQueue += activityStarted.Sub(scheduled)
				p.Activity += at.Sub(activityStarted)
			case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
				p.Finish += at.Sub(activityDone)
			}
		}
		p.Runs++
	}
	return p, nil
}

// printPhases writes where an interpreted thank-you's time went: the
// engine's phases from the histories, and the send path's from the
// metrics recorded between before and after (the same runs).
func printPhases(out io.Writer, eng enginePhases, before, after phaseTotals) {
	if eng.Runs == 0 {
		return
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) / float64(eng.Runs) }
	phase := func(name string) (float64, uint64) {
		n := after[name].Count - before[name].Count
		if n == 0 {
			return 0, 0
		}
		return 1000 * (after[name].Seconds - before[name].Seconds) / float64(n), n
	}
	fmt.Fprintf(out, "    where an interpreted thank-you's time goes, %d runs one at a time (mean ms; wall time: a guide, not an exact count):\n", eng.Runs)
	fmt.Fprintf(out, "      %-46s %8.1f\n", "start to first workflow task", ms(eng.Start))
	fmt.Fprintf(out, "      %-46s %8.1f\n", "first workflow task (with the facts)", ms(eng.FirstTask))
	if v, n := phase(metrics.PhaseFacts); n > 0 {
		fmt.Fprintf(out, "        %-44s %8.1f\n", "facts (local activity)", v)
	}
	fmt.Fprintf(out, "      %-46s %8.1f\n", "send activity waiting for a worker", ms(eng.ActivityQueue))
	fmt.Fprintf(out, "      %-46s %8.1f\n", "send activity", ms(eng.Activity))
	for _, p := range []struct{ name, words string }{
		{metrics.PhaseCustomer, "read the customer"},
		{metrics.PhaseRender, "render (template, links)"},
		{metrics.PhaseClaim, "policy decision and outbox claim"},
		{metrics.PhaseProvider, "provider call (SendGrid fake)"},
		{metrics.PhaseRecord, "record the answer"},
	} {
		if v, n := phase(p.name); n > 0 {
			fmt.Fprintf(out, "        %-44s %8.1f\n", p.words, v)
		}
	}
	fmt.Fprintf(out, "      %-46s %8.1f\n", "finish (workflow task, end recorded, complete)", ms(eng.Finish))
}

// phaseRuns is how many interpreted thank-yous the breakdown runs, one at
// a time so that no phase waits behind another run.
const phaseRuns = 50

// breakdown runs phaseRuns interpreted thank-yous one after another and
// prints where their time went. It needs the worker in this process
// (whose metrics it reads); with --workers it says so and does nothing.
func (b *benchRun) breakdown(ctx context.Context, kind thankYouKind, customers int) error {
	if b.o.Workers > 0 {
		fmt.Fprintln(b.out, "    (where the time goes: only with the worker in this process, not with --workers)")
		return nil
	}
	before, err := readPhases(b.d.metrics)
	if err != nil {
		return err
	}
	ids := make([]string, 0, phaseRuns)
	for i := range phaseRuns {
		id := fmt.Sprintf("bench/phases/%d", i)
		customerID := buyerID(0, i%customers)
		run, err := kind.start(ctx, id, customerID, "order-"+customerID)
		if err == nil {
			err = kind.check(ctx, run)
		}
		if err != nil {
			return fmt.Errorf("where the time goes: %w", err)
		}
		ids = append(ids, id)
	}
	after, err := readPhases(b.d.metrics)
	if err != nil {
		return err
	}
	eng, err := readEnginePhases(ctx, b.d.client, ids)
	if err != nil {
		return err
	}
	printPhases(b.out, eng, before, after)
	return nil
}
