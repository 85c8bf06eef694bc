package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"go.temporal.io/sdk/workflow"
)

// StaffAction is something staff did to a run through an update, as the
// state query and the current details show it.
type StaffAction struct {
	Kind   string    `json:"kind"` // exit, skip-wait, complete-task, move-plan; claim, assign, unclaim, note (revision 6)
	By     string    `json:"by"`
	Reason string    `json:"reason,omitempty"`
	Step   string    `json:"step,omitempty"`
	At     time.Time `json:"at"`
}

// maxReason bounds the reason staff give, which the history and the
// current details keep.
const maxReason = 500

// acceptSteering registers the updates staff steer a run with: exit and
// skip-wait. Their validators turn away what cannot apply now (a run that
// has ended, a wait the run is not in, a missing reason), so nothing
// invalid reaches the history; the handlers record who did what in the
// run's state.
func (r *run) acceptSteering(ctx workflow.Context) error {
	err := workflow.SetUpdateHandlerWithOptions(ctx, ExitUpdate,
		func(ctx workflow.Context, e Exit) (State, error) {
			by := staffName(e.By)
			reason := strings.TrimSpace(e.Reason)
			r.record(ctx, StaffAction{Kind: ExitUpdate, By: by, Reason: reason, Step: r.state.CurrentStep})
			if r.exitReason == "" {
				r.exitReason = fmt.Sprintf("exited by %s: %s", by, reason)
			}
			if r.stopWalking != nil {
				r.stopWalking()
			}
			// Answer once the run has ended, with how it ended.
			if err := workflow.Await(ctx, func() bool { return r.state.Status != "running" }); err != nil {
				return State{}, err
			}
			return r.state, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, e Exit) error {
			if err := r.stillRunning(); err != nil {
				return err
			}
			if r.exitReason != "" {
				return fmt.Errorf("this journey is already exiting (%s)", r.exitReason)
			}
			return validReason(e.Reason, true)
		}})
	if err != nil {
		return fmt.Errorf("register %s update: %w", ExitUpdate, err)
	}
	err = workflow.SetUpdateHandlerWithOptions(ctx, SkipWaitUpdate,
		func(ctx workflow.Context, s SkipWait) (State, error) {
			step := r.state.PendingWait.Step
			r.record(ctx, StaffAction{Kind: SkipWaitUpdate, By: staffName(s.By), Reason: strings.TrimSpace(s.Reason), Step: step})
			r.skip = true
			// Answer once the run has left the wait (or ended meanwhile).
			if err := workflow.Await(ctx, func() bool { return !r.skip || r.state.Status != "running" }); err != nil {
				return State{}, err
			}
			return r.state, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, s SkipWait) error {
			if err := r.stillRunning(); err != nil {
				return err
			}
			if r.exitReason != "" {
				return fmt.Errorf("this journey is exiting (%s)", r.exitReason)
			}
			w := r.state.PendingWait
			if w == nil || w.Kind != WaitStep || r.skip {
				return errors.New("this journey is not in a wait step now; skip-wait ends wait steps only (a held message waits for the customer's contact rules; a task, for complete-task)")
			}
			if s.Step != "" && s.Step != w.Step {
				return fmt.Errorf("this journey waits at step %s, not %s", w.Step, s.Step)
			}
			return validReason(s.Reason, false)
		}})
	if err != nil {
		return fmt.Errorf("register %s update: %w", SkipWaitUpdate, err)
	}
	return nil
}

// stillRunning refuses an update to a run that has ended.
func (r *run) stillRunning() error {
	if r.state.Status != "running" {
		return fmt.Errorf("this journey has already ended (%s)", r.state.Status)
	}
	return nil
}

// validReason checks the reason staff give.
func validReason(reason string, required bool) error {
	reason = strings.TrimSpace(reason)
	switch {
	case required && reason == "":
		return errors.New("give a reason: it is kept with the journey for whoever looks next")
	case utf8.RuneCountInString(reason) > maxReason:
		return fmt.Errorf("the reason is %d characters; keep it under %d", utf8.RuneCountInString(reason), maxReason)
	}
	return nil
}

func staffName(by string) string {
	if by = strings.TrimSpace(by); by != "" {
		return oneLine(by, 80)
	}
	return "staff"
}

// record keeps a staff action in the run's state and current details.
func (r *run) record(ctx workflow.Context, a StaffAction) {
	a.At = workflow.Now(ctx)
	a.Reason = oneLine(a.Reason, 4*maxReason) // one line in the details: no markdown blocks
	r.state.Actions = append(r.state.Actions, a)
	if r.revision >= 4 && len(r.state.Actions) > maxActions {
		r.state.Actions = slices.Delete(r.state.Actions, actionsHead, actionsHead+1)
	}
	r.describe(ctx)
}

// pause waits for d (a wait step's timer), until done holds, or until
// staff skip the wait. It reports whether staff skipped it.
//
// A run that may continue as new (see continue.go) does so from here when
// it is due, unless the wait ends meanwhile: pause then returns a
// continueError carrying the wait's deadline.
func (r *run) pause(ctx workflow.Context, d time.Duration, summary string, done func() bool) (skipped bool, err error) {
	var target time.Time // the journey time the wait ends at, for a scaled plan
	if r.devClock {
		target = r.devAt.Add(time.Duration(float64(d) / r.plan.Scale))
		d = r.wallUntil(ctx, target)
		defer func() { r.reached(ctx, target, skipped || (done != nil && done()) || err != nil) }()
	}
	until := workflow.Now(ctx).Add(d)
	wake := func() bool { return r.skip || (done != nil && done()) }
	may := r.mayContinue(ctx)
	r.keepOrMove(ctx, r.state.CurrentStep)
	var fired bool
	fired, err = workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{
		Timeout:      max(d, time.Millisecond),
		TimerOptions: workflow.TimerOptions{Summary: summary},
	}, func() bool { return wake() || (may && (r.continueDue(ctx) || r.moveDue())) })
	if err == nil && fired && ctx.Err() == nil && !wake() && may && r.moveDue() {
		r.recordMoveAtRest(ctx)
	}
	if err == nil && fired && ctx.Err() == nil && !wake() && r.readyToContinue(ctx, wake) {
		return false, r.continuing(until)
	}
	r.unrecordMove(ctx) // the move, if recorded, waits for the next rest
	if err == nil && ctx.Err() != nil {
		err = ctx.Err() // the run is exiting: the walk stops here
	}
	if r.skip {
		r.skip = false
		return err == nil, err
	}
	return false, err
}
