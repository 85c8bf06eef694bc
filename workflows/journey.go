package workflows

import (
	"cmp"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/rapporthq/rapport/internal/journey"
)

// Interpreter runs journey plans. It holds the CEL environment used to
// evaluate conditions; evaluation is pure, so it is safe in workflow code.
type Interpreter struct {
	env *journey.Env
	// RetryBudget is how long an activity a run depends on is retried,
	// with exponential backoff, before the run stops to wait and try again
	// (see CurrentRevision); zero is DefaultRetryBudget. Changing it does
	// not change the commands of runs in flight: it may differ between
	// workers.
	RetryBudget time.Duration
	// ContinueAfterEvents is how many events one execution of a run takes
	// in before it continues as new at its next rest (0:
	// DefaultContinueAfterEvents). Unlike RetryBudget it decides commands:
	// a worker with another value would replay a run that rested past it
	// differently. Tests set it; workers leave the default, and a change
	// of the default is a behaviour change (behind workflow.GetVersion).
	ContinueAfterEvents int
	// Newest is the newest interpreter revision this interpreter runs
	// (0: CurrentRevision). Tests set it lower to stand for a worker of an
	// older release, which records and replays no revision past its own.
	Newest int
	// Oldest is the oldest interpreter revision this interpreter runs
	// (0: MinRevision). Tests set it higher to stand for a release that
	// retired the revisions below it.
	Oldest int
}

// NewInterpreter returns an interpreter evaluating conditions in env.
func NewInterpreter(env *journey.Env) *Interpreter {
	return &Interpreter{env: env}
}

// JourneyWorkflow takes one customer through one journey.
//
// It learns who the customer is, listens for their events for the whole
// run (an event matching exit_when ends the journey at once, wherever it
// is), walks the steps in order, and records how the run ended.
func (in *Interpreter) JourneyWorkflow(ctx workflow.Context, input JourneyInput) (JourneyResult, error) {
	run := newRun(ctx, in.env, input)
	run.revision = revisionOf(ctx, input, cmp.Or(in.Oldest, MinRevision), cmp.Or(in.Newest, CurrentRevision))
	if run.revision >= 7 {
		run.needs = needOfFacts(in.env, run.plan)
	}
	if run.revision >= 5 && run.enteredAt.IsZero() {
		run.enteredAt = workflow.GetInfo(ctx).WorkflowStartTime.UTC()
	}
	run.startDevClock(ctx)
	run.budget = in.RetryBudget
	run.continueAfter = cmp.Or(in.ContinueAfterEvents, DefaultContinueAfterEvents)
	if err := run.expose(ctx); err != nil {
		return JourneyResult{}, err
	}

	walking, stopWalking := workflow.WithCancel(ctx)
	run.stopWalking = stopWalking
	learning := ctx
	if run.revision >= 2 {
		learning = walking // staff can exit a run that waits for the database
	}
	if err := run.learnAboutTheCustomer(learning); err != nil {
		if c, ok := isContinue(err); ok {
			return JourneyResult{}, run.continueAsNew(ctx, c)
		}
		return run.finish(ctx, Failed, err.Error())
	}

	run.catchUp(ctx, stopWalking)
	workflow.Go(ctx, func(ctx workflow.Context) { run.listenForEvents(ctx, stopWalking) })

	var err error
	if run.exitReason == "" { // a purchase in the backlog, or staff, may have ended it
		err = run.walk(walking, input.Plan.Steps)
	}

	if c, ok := isContinue(err); ok && run.exitReason == "" {
		return JourneyResult{}, run.continueAsNew(ctx, c)
	}
	var exit *exitError
	switch {
	case run.exitReason != "":
		return run.finish(ctx, Exited, run.exitReason)
	case errors.As(err, &exit):
		return run.finish(ctx, Exited, exit.reason)
	case err != nil:
		return run.finish(ctx, Failed, err.Error())
	default:
		return run.finish(ctx, Completed, "")
	}
}

// walk runs steps in order. Branches walk their chosen case's steps and
// then the journey continues after the branch.
func (r *run) walk(ctx workflow.Context, steps []journey.Step) error {
	depth := len(r.at)
	r.at = append(r.at, 0)
	defer func() { r.at = r.at[:depth] }()
	for i := r.resumeIndex(); i < len(steps); i++ {
		step := steps[i]
		r.at[depth] = i
		r.restarting()
		r.enter(ctx, step)
		var err error
		switch step.Kind {
		case journey.KindSend:
			err = r.send(ctx, step)
		case journey.KindWait:
			err = r.wait(ctx, step)
		case journey.KindBranch:
			err = r.branch(ctx, step)
		case journey.KindSplit:
			err = r.split(ctx, step)
		case journey.KindTask:
			err = r.task(ctx, step)
		case journey.KindRecord:
			err = r.recordAnswer(ctx, step)
		case journey.KindEmit:
			err = r.emit(ctx, step)
		case journey.KindExit:
			err = &exitError{reason: exitReason(step)}
		default:
			err = temporal.NewNonRetryableApplicationError(fmt.Sprintf("step %s has unknown kind %q", step.ID, step.Kind), "BadPlan", nil)
		}
		if err != nil {
			return err
		}
		r.done(ctx, step)
	}
	return nil
}

// exitError ends the walk because the journey reached an exit step.
type exitError struct{ reason string }

func (e *exitError) Error() string { return "exit: " + e.reason }

func exitReason(step journey.Step) string {
	if step.Exit != nil && step.Exit.Reason != "" {
		return step.Exit.Reason
	}
	return "reached exit step " + step.ID
}
