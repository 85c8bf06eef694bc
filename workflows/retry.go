package workflows

import (
	"cmp"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// DefaultRetryBudget is how long an activity a run depends on is retried
// (with exponential backoff) before the run stops to wait and try again,
// unless the worker sets Interpreter.RetryBudget (RAPPORT_RETRY_BUDGET).
const DefaultRetryBudget = 24 * time.Hour

// Retry pacing. An activity's retries are the server's and cost no
// history, so their backoff is capped at a minute: a run resumes within a
// minute of the database or provider coming back (a 10-minute cap made
// runs wait up to 8.5 minutes after a 9-minute outage). Backoffs longer
// than the workflow task timeout turn a local activity's retry into a
// timer in the history, so from revision 4 a local activity that keeps
// failing gives way, after localFirstBudget, to the same activity run as
// a (server-retried) activity for the rest of the budget (see onceLocal).
const (
	retryInitialInterval  = time.Second
	localRetryMaxInterval = 5 * time.Minute // revisions before 4
	retryMaxInterval      = time.Minute
	// localFirstBudget bounds a local activity's own retries from
	// revision 4 (a few timers in the history at most).
	localFirstBudget = 2 * time.Minute
	// maxRetryPause is the longest a run waits, once the budget is spent,
	// before it tries again.
	maxRetryPause = time.Hour
	// continuingRetryPause is the pause from revision 4 where the run may
	// continue as new while it waits (continueMidStep): short, so the run
	// notices soon that the outage ended.
	continuingRetryPause = 10 * time.Minute
	// probeBudget bounds each try after the budget was spent once: the run
	// then mostly waits on its timer, which keeps its history short
	// through a long outage.
	probeBudget = time.Minute
)

// WaitRetry is the wait of a run whose activity failed past the retry
// budget: it tries again when the wait ends.
const WaitRetry WaitKind = "retry"

// retryPolicy is the retry policy of the activities a run depends on:
// exponential backoff with no attempt limit; the schedule-to-close
// timeout (the budget) bounds it.
func retryPolicy(maxInterval time.Duration, nonRetryable ...string) *temporal.RetryPolicy {
	return &temporal.RetryPolicy{
		InitialInterval:        retryInitialInterval,
		BackoffCoefficient:     2,
		MaximumInterval:        maxInterval,
		NonRetryableErrorTypes: nonRetryable,
	}
}

// localOptions are the options of a local activity the run depends on,
// retried for budget.
func localOptions(budget time.Duration, summary string, nonRetryable ...string) workflow.LocalActivityOptions {
	return workflow.LocalActivityOptions{
		StartToCloseTimeout:    localActivityTime,
		ScheduleToCloseTimeout: budget,
		RetryPolicy:            retryPolicy(localRetryMaxInterval, nonRetryable...),
		Summary:                summary,
	}
}

// local runs the activity name as a local activity the run depends on,
// for budget, decoding its result into result (nil: none). From revision
// 4 it tries the local activity for at most localFirstBudget, then, if it
// still fails for a reason that may pass, runs the same activity as a
// server-retried activity for the rest of the budget: a long outage then
// costs no timers in the history, and the run still resumes within a
// minute of its end (retryMaxInterval).
func (r *run) local(ctx workflow.Context, budget time.Duration, summary, name string, arg, result any, nonRetryable ...string) error {
	if r.revision < 4 {
		lctx := workflow.WithLocalActivityOptions(ctx, localOptions(budget, summary, nonRetryable...))
		return workflow.ExecuteLocalActivity(lctx, name, arg).Get(lctx, result)
	}
	first := min(budget, localFirstBudget)
	opts := localOptions(first, summary, nonRetryable...)
	opts.RetryPolicy.MaximumInterval = retryMaxInterval
	lctx := workflow.WithLocalActivityOptions(ctx, opts)
	err := workflow.ExecuteLocalActivity(lctx, name, arg).Get(lctx, result)
	if err == nil || budget <= first || ctx.Err() != nil || permanent(err) {
		return err
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    localActivityTime,
		ScheduleToCloseTimeout: budget - first,
		RetryPolicy:            retryPolicy(retryMaxInterval, nonRetryable...),
		Summary:                cmp.Or(summary, name) + " (retrying)",
	})
	return workflow.ExecuteActivity(actx, name, arg).Get(actx, result)
}

// patiently runs try, an activity the run depends on, with the run's
// retry budget. From revision 2, when the activity fails past the budget
// for a reason that may pass (an outage, not a permanent refusal), the run
// does not fail: it shows that it waits for what (in its state and the
// Temporal UI), waits on a durable timer and tries again, for as long as
// it takes. Staff can still exit the run (ctx is then cancelled). Runs of
// earlier revisions return the error, as they did. From revision 4 the
// run continues as new while it waits when Temporal suggests it (its
// history grows with each try), and walks the step it was in anew: every
// activity of a step is idempotent (the outbox's key, the task's id).
func (r *run) patiently(ctx workflow.Context, what string, try func(budget time.Duration) error) error {
	return r.patientlyAfter(ctx, what, try(r.retryBudget()), try)
}

// patientlyOr is patiently, saying what to do when the run's history
// grows long while it waits (revision 4).
func (r *run) patientlyOr(ctx workflow.Context, what string, at onLongOutage, try func(budget time.Duration) error) error {
	return r.waitOut(ctx, what, try(r.retryBudget()), at, try)
}

// patientlyAfter is patiently for an activity whose first try, with the
// whole budget, has already ended with err.
func (r *run) patientlyAfter(ctx workflow.Context, what string, err error, try func(budget time.Duration) error) error {
	return r.waitOut(ctx, what, err, continueFresh, try)
}

// OnLongOutage says what a run waiting out an outage does when Temporal
// suggests it continue as new.
type onLongOutage int

const (
	// continueFresh: continue as new, walking the step anew.
	continueFresh onLongOutage = iota
	// stopWaiting: give the activity up, returning its error: for what
	// cannot be walked again (recording a completed task's outcome, the
	// run's end, a move at a rest); the caller says what is lost.
	stopWaiting
)

// stoppedWaiting is the error of an activity a run stopped waiting for
// (stopWaiting).
type stoppedWaiting struct{ err error }

func (e *stoppedWaiting) Error() string { return "stopped waiting: " + e.err.Error() }
func (e *stoppedWaiting) Unwrap() error { return e.err }

// waitOut waits out an outage after the activity's try ended with err
// (see patiently); at says what to do when the history grows long.
func (r *run) waitOut(ctx workflow.Context, what string, err error, at onLongOutage, try func(budget time.Duration) error) error {
	stalls := 0
	for {
		if err == nil || r.revision < 2 || ctx.Err() != nil || permanent(err) {
			if err == nil && stalls > 0 {
				r.note(fmt.Sprintf("%s is back after %d wait(s); the run goes on", what, stalls))
			}
			return err
		}
		if stalls == 0 {
			r.note(fmt.Sprintf("%s: %s failed past the retry budget of %s: %s", r.state.CurrentStep, what, r.retryBudget(), oneLine(rootCause(err), 200)))
		}
		if at == stopWaiting && r.revision >= 4 && r.continueDue(ctx) {
			r.note(fmt.Sprintf("%s: stopped waiting for %s after %d wait(s): the run's history is long", r.state.CurrentStep, what, stalls))
			return &stoppedWaiting{err}
		}
		if at == continueFresh {
			if c := r.continueMidStep(ctx); c != nil {
				return c
			}
		}
		pause := min(maxRetryPause, r.retryBudget())
		if r.revision >= 4 && at == continueFresh {
			pause = min(continuingRetryPause, pause)
		}
		until := workflow.Now(ctx).Add(pause)
		why := fmt.Sprintf("waiting for %s: retrying at %s UTC (%s)", what, until.UTC().Format("2006-01-02 15:04:05"), oneLine(rootCause(err), 200))
		stalls++
		previous := r.state.PendingWait
		r.state.PendingWait = &PendingWait{Step: r.state.CurrentStep, Kind: WaitRetry, Until: until, Why: why}
		r.describe(ctx)
		err = workflow.NewTimerWithOptions(ctx, pause, workflow.TimerOptions{Summary: oneLine("waiting for "+what, 120)}).Get(ctx, nil)
		r.state.PendingWait = previous
		r.describe(ctx)
		if err != nil {
			return err // the run is exiting
		}
		err = try(min(probeBudget, r.retryBudget()))
	}
}

// retryBudget is the run's retry budget.
func (r *run) retryBudget() time.Duration {
	if r.budget > 0 {
		return r.budget
	}
	return DefaultRetryBudget
}

// permanent reports whether an activity's error will not pass by trying
// again: a non-retryable application error (the customer does not exist,
// a bad request) or a cancellation.
func permanent(err error) bool {
	var canceled *temporal.CanceledError
	if errors.As(err, &canceled) {
		return true
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.NonRetryable() || appErr.Type() == ErrCustomerNotFound
	}
	return false
}
