package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/rapporthq/rapport/internal/journey"
)

// What a run leaves for its journey's report (revision 5): the steps it
// reached, and its end when it converts and its goal says exit.
// Conversions themselves are recorded by the router, for running and
// ended runs alike (internal/router/goals.go).

// maxUnrecorded bounds the steps a run keeps to record: a plan walked
// through without rest and without the database for that long loses the
// oldest from its funnel, not its way.
const maxUnrecorded = 200

// reach notes that the run entered a step, to record at its next rest.
func (r *run) reach(ctx workflow.Context, step journey.Step) {
	if r.revision < 5 {
		return
	}
	r.stepsReached = append(r.stepsReached, StepReached{Step: step.ID, At: workflow.Now(ctx).UTC()})
	if len(r.stepsReached) > maxUnrecorded {
		r.stepsReached = r.stepsReached[len(r.stepsReached)-maxUnrecorded:]
	}
}

// recordReached writes the steps reached since the last rest to the run
// registry, with one quick try: the funnel must not hold up a run, so
// when the database is out of reach the steps wait for the next rest (or
// the run's end, which records them patiently).
func (r *run) recordReached(ctx workflow.Context) {
	if r.revision < 5 || len(r.stepsReached) == 0 || ctx.Err() != nil {
		return
	}
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		ScheduleToCloseTimeout: 10 * time.Second,
		RetryPolicy:            &temporal.RetryPolicy{MaximumAttempts: 1},
		Summary:                "record steps reached",
	})
	req := RecordStepsRequest{WorkflowID: r.workflowID, Steps: r.stepsReached}
	err := workflow.ExecuteLocalActivity(lctx, RecordStepsActivity, req).Get(lctx, nil)
	r.factsAtRest(ctx)
	if err != nil {
		workflow.GetLogger(ctx).Warn("could not record the steps reached; they go with the next rest", "error", err)
		return
	}
	r.stepsReached = nil
}

// convertsAndExits reports whether an event meets the goal of a journey
// that exits on it, inside the goal's window: from the run's start, or
// from the latest message it sent before the event (from its start when
// it sent none), as the router counts conversions.
func (r *run) convertsAndExits(ev journey.Event) bool {
	g := r.plan.Goal
	if r.revision < 5 || g == nil || !g.Exit {
		return false
	}
	if r.enteredAt.IsZero() {
		return false
	}
	var lastSent time.Time
	for _, s := range r.state.Sends {
		if s.Status == SendSent && !s.At.After(ev.OccurredAt) && s.At.After(lastSent) {
			lastSent = s.At
		}
	}
	return g.Covers(r.enteredAt, lastSent, ev.OccurredAt) && r.matches(g.When, ev)
}
