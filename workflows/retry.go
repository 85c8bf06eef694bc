package workflows

import (
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

// Retry pacing. Backoffs longer than the workflow task timeout turn a
// local activity's retry into a timer in the history, so the local
// activities' backoff is capped lower than the activities' (whose retries
// the server keeps out of the history).
const (
	retryInitialInterval  = time.Second
	localRetryMaxInterval = 5 * time.Minute
	retryMaxInterval      = 10 * time.Minute
	// maxRetryPause is the longest a run waits, once the budget is spent,
	// before it tries again.
	maxRetryPause = time.Hour
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

// patiently runs try, an activity the run depends on, with the run's
// retry budget. From revision 2, when the activity fails past the budget
// for a reason that may pass (an outage, not a permanent refusal), the run
// does not fail: it shows that it waits for what (in its state and the
// Temporal UI), waits on a durable timer and tries again, for as long as
// it takes. Staff can still exit the run (ctx is then cancelled). Runs of
// earlier revisions return the error, as they did.
func (r *run) patiently(ctx workflow.Context, what string, try func(budget time.Duration) error) error {
	return r.patientlyAfter(ctx, what, try(r.retryBudget()), try)
}

// patientlyAfter is patiently for an activity whose first try, with the
// whole budget, has already ended with err.
func (r *run) patientlyAfter(ctx workflow.Context, what string, err error, try func(budget time.Duration) error) error {
	stalls := 0
	for {
		if err == nil || r.revision < 2 || ctx.Err() != nil || permanent(err) {
			if err == nil && stalls > 0 {
				r.note(fmt.Sprintf("%s is back after %d wait(s); the run goes on", what, stalls))
			}
			return err
		}
		pause := min(maxRetryPause, r.retryBudget())
		until := workflow.Now(ctx).Add(pause)
		why := fmt.Sprintf("waiting for %s: retrying at %s UTC (%s)", what, until.UTC().Format("2006-01-02 15:04:05"), oneLine(rootCause(err), 200))
		if stalls == 0 {
			r.note(fmt.Sprintf("%s: %s failed past the retry budget of %s: %s", r.state.CurrentStep, what, r.retryBudget(), oneLine(rootCause(err), 200)))
		}
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
