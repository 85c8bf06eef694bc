package workflows

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/rapporthq/rapport/internal/journey"
)

// A journey that declares `on_edit: restart-at-step` moves its runs in
// flight to its new plan (internal/onedit sends the move-plan update). A
// run moves where it waits, at a wait step or a task step: it continues
// as new on the new plan, at the step with the same id, carrying its
// state as any run that continues as new does (continue.go). A run busy
// elsewhere (sending, held back by the contact rules) moves at its next
// wait. The step must wait as before in the new plan (journey.RestartAt);
// if it does not, the run keeps its plan and notes why.
//
// A run of rapport dev (a scaled plan) scales the new plan to its own
// clock. Time waited is kept: a wait that waits a length of time in both plans
// (a `wait: 3d`, or an until_event wait's timeout) ends at its new length
// counted from when it began; a wait that is or was a wait until a time of
// day starts anew. An open task stays open with its due time and queue.
//
// Only runs that accepted the update behave differently, and no history
// recorded before holds one: the change needs no version marker. A worker
// of an earlier release rejects the update (it has no handler for it), so
// nothing is recorded until every worker runs this one.

// MovePlanUpdate moves a run to its journey's new plan (on_edit:
// restart-at-step).
const MovePlanUpdate = "move-plan"

// ErrAlreadyMoving is the error type of a move-plan update refused because
// the run already accepted a move to that plan.
const ErrAlreadyMoving = "AlreadyMoving"

// MoveRunActivity records a run's new plan in the run registry.
const MoveRunActivity = "MoveRun"

// Move asks a run to move to Plan. Listens and ListensFor are what the
// router records for a run of Plan (which events to deliver to it).
type Move struct {
	Plan       journey.Plan `json:"plan"`
	Listens    bool         `json:"listens"`
	ListensFor []string     `json:"listens_for,omitempty"`
	// By says who asks, for the record.
	By string `json:"by,omitempty"`
}

// MoveAnswer is what a run that accepted a move says.
type MoveAnswer struct {
	// Step is the step the run is at.
	Step string `json:"step"`
	// Now is true when the run waits there and moves at once; otherwise it
	// moves at its next wait (or keeps its plan if that step cannot move).
	Now bool `json:"now"`
}

// MoveRunRequest records a run's new plan in the run registry.
type MoveRunRequest struct {
	WorkflowID string   `json:"workflow_id"`
	PlanHash   string   `json:"plan_hash"`
	Listens    bool     `json:"listens"`
	ListensFor []string `json:"listens_for,omitempty"`
}

// acceptMoves registers the move-plan update. Its validator refuses what
// cannot apply (another journey, the plan the run is on or left, a move
// it already took or is recording, a scaled plan, a step the new plan
// cannot wait at), so nothing invalid reaches the history.
func (r *run) acceptMoves(ctx workflow.Context) error {
	err := workflow.SetUpdateHandlerWithOptions(ctx, MovePlanUpdate,
		func(ctx workflow.Context, m Move) (MoveAnswer, error) {
			if r.plan.Scale > 0 { // a dev run keeps its clock
				m.Plan.ScaleBy(r.plan.Scale, r.plan.ScaleEpoch) // m was decoded for this handler: its own
			}
			r.moveTo = &m
			r.record(ctx, StaffAction{Kind: MovePlanUpdate, By: staffName(m.By), Reason: "to plan " + m.Plan.ShortHash() + " (on_edit: restart-at-step)", Step: r.state.CurrentStep})
			return MoveAnswer{Step: r.state.CurrentStep, Now: r.waitsWhereItMoves()}, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, m Move) error { return r.canMove(m) }})
	if err != nil {
		return fmt.Errorf("register %s update: %w", MovePlanUpdate, err)
	}
	return nil
}

// canMove says why the run cannot move to m's plan, if it cannot.
func (r *run) canMove(m Move) error {
	if err := r.stillRunning(); err != nil {
		return err
	}
	p := &m.Plan
	switch {
	case r.exitReason != "":
		return fmt.Errorf("this journey is exiting (%s)", r.exitReason)
	case p.Journey != r.plan.Journey:
		return fmt.Errorf("this run is of journey %s, not %s", r.plan.Journey, p.Journey)
	case p.Hash == "" || len(p.Steps) == 0:
		return errors.New("the plan to move to has no hash or no steps")
	case p.Hash == r.plan.Hash:
		return fmt.Errorf("this run is already on plan %s", r.plan.ShortHash())
	case r.moveRecorded != "" && r.moveRecorded != p.Hash:
		return fmt.Errorf("this run is moving to plan %s now; ask again once it has", r.moveRecorded[:min(7, len(r.moveRecorded))])
	case r.moveTo != nil && r.moveTo.Plan.Hash == p.Hash:
		// Asked again (another worker started): the move stands.
		return temporal.NewApplicationError(fmt.Sprintf("this run already moves to plan %s at its next wait", p.ShortHash()), ErrAlreadyMoving)
	case slices.Contains(r.state.PlansLeft, p.Hash):
		return fmt.Errorf("this run moved away from plan %s; it does not go back", p.ShortHash())
	case p.Scale != 0:
		return fmt.Errorf("plan %s is scaled (rapport dev --day); send the plan as compiled: a dev run scales it to its own clock", p.ShortHash())
	case r.canContinue < 0:
		return errors.New("this run started before runs could continue as new; it keeps its plan")
	}
	if r.waitsWhereItMoves() {
		if _, _, err := p.RestartAt(r.plan, r.state.PendingWait.Step); err != nil {
			return err
		}
	}
	return nil
}

// waitsWhereItMoves reports whether the run waits now at a step it can
// move from: a wait step or a staff task (not a held message).
func (r *run) waitsWhereItMoves() bool {
	w := r.state.PendingWait
	return w != nil && (w.Kind == WaitStep || w.Kind == WaitForTask)
}

// keepOrMove is called as the run comes to rest at step: a move accepted
// while the run was busy elsewhere is dropped, with a note, when the new
// plan cannot wait at this step. If the move was already recorded (an
// event ended the wait it was recorded at), the registry is set back to
// the run's plan, hearing every event (the events this plan listens for
// are not known here; hearing more is safe).
func (r *run) keepOrMove(ctx workflow.Context, step string) {
	if r.moveTo == nil {
		return
	}
	if _, _, err := r.moveTo.Plan.RestartAt(r.plan, step); err != nil {
		r.note(fmt.Sprintf("%s: keeps plan %s rather than move to %s: %v", step, r.plan.ShortHash(), r.moveTo.Plan.ShortHash(), err))
		r.moveTo = nil
		r.unrecordMove(ctx)
	}
}

// unrecordMove sets the registry back to the run's plan when a move it
// recorded does not happen now (an event, staff or a task ended the rest
// first): until the run moves, it hears every event, since the events its
// own plan listens for are not known here and hearing more is safe.
func (r *run) unrecordMove(ctx workflow.Context) {
	if r.moveRecorded == "" || ctx.Err() != nil { // an exiting run's end is recorded anyway
		return
	}
	r.recordMove(ctx, r.plan, true, []string{journey.AnyEventType})
	r.moveRecorded = ""
}

// recordMoveAtRest writes the new plan where the router and staff look,
// at the rest the run moves from, before it takes in what arrived and
// continues as new: events, staff actions and task completions that come
// while the database is written are then in the state it carries.
func (r *run) recordMoveAtRest(ctx workflow.Context) {
	m := r.moveTo
	if m == nil || r.moveRecorded == m.Plan.Hash {
		return
	}
	if r.recordMove(ctx, &m.Plan, m.Listens, m.ListensFor) {
		r.moveRecorded = m.Plan.Hash
	}
}

// moveDue reports whether a move waits to be made.
func (r *run) moveDue() bool { return r.moveTo != nil }

// moved turns the resume of a run continuing as new at a rest that ends
// at until into one on the new plan (see the top of this file).
func (r *run) moved(res *Resume, until time.Time) (*journey.Plan, error) {
	m := r.moveTo
	step := r.state.CurrentStep
	path, now, err := m.Plan.RestartAt(r.plan, step)
	if err != nil { // keepOrMove and the validator saw to it
		return nil, err
	}
	_, was, _ := r.plan.Locate(step)
	res.Path, res.Until = path, until
	if now.Kind == journey.KindWait {
		if long, ok := waitLength(was.Wait); ok {
			if newLong, ok := waitLength(now.Wait); ok {
				res.Until = until.Add(newLong - long)
				if res.State.PendingWait != nil {
					res.State.PendingWait.Why = "wait " + now.Wait.For.String()
					if now.Wait.UntilEvent != "" {
						res.State.PendingWait.Why = "wait " + now.Wait.Timeout.String()
					}
				}
			} else {
				res.Fresh = true
			}
		} else {
			res.Fresh = true
		}
	}
	res.State.PlansLeft = append(slices.Clone(res.State.PlansLeft), r.plan.Hash)
	res.State.PlanHash = m.Plan.Hash
	note := fmt.Sprintf("%s: moved from plan %s to plan %s (on_edit: restart-at-step)", step, r.plan.ShortHash(), m.Plan.ShortHash())
	res.State.Notes = append(slices.Clone(res.State.Notes), note)
	return &m.Plan, nil
}

// waitLength is how long a wait step waits when it waits a length of time
// (for, or until an event with a timeout); false for a time of day.
func waitLength(w *journey.WaitStep) (time.Duration, bool) {
	switch {
	case w == nil || w.Until != "":
		return 0, false
	case w.UntilEvent != "":
		return w.Timeout.D, true
	}
	return w.For.D, true
}

// recordMove writes a plan of the run where the router and staff look:
// the run registry (which events to deliver) and the RapportPlanHash
// search attribute, which the next execution keeps. It reports whether the
// registry took it (the search attribute follows the registry).
func (r *run) recordMove(ctx workflow.Context, plan *journey.Plan, listens bool, listensFor []string) bool {
	req := MoveRunRequest{WorkflowID: r.workflowID, PlanHash: plan.Hash, Listens: listens, ListensFor: listensFor}
	err := r.patientlyOr(ctx, "the database (run registry)", stopWaiting, func(budget time.Duration) error {
		return r.local(ctx, budget, "record plan "+plan.ShortHash(), MoveRunActivity, req, nil)
	})
	if err != nil {
		workflow.GetLogger(ctx).Warn("could not record the run's plan", "plan", plan.ShortHash(), "error", err)
		return false
	}
	r.setAttributes(ctx, PlanHashAttr.ValueSet(plan.Hash))
	return true
}
