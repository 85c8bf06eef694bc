package workflows

import (
	"slices"

	"go.temporal.io/sdk/workflow"

	"github.com/rapporthq/rapport/internal/journey"
)

// From revision 7 a run issues fewer commands for the same visibility
// (each command is a billable action on Temporal Cloud):
//
//   - the activities it runs anyway (a send, a task's creation or
//     completion) record the steps it reached, and the send or task
//     change that ends the plan's last step records the run's end, so no
//     local activity of its own does (recordWith, recorded);
//   - it reads the customer's facts only when something needs them
//     (facts.go), and a branch reads them afresh only when its
//     conditions do;
//   - it sets RapportStep only when the step its search attributes show
//     (the starter shows the first) is not the one it rests at;
//   - it records no marker of the narrow changes (took): they are part
//     of revision 7.

// recordWith is what an activity of the step the run is in records for it
// from revision 7: the steps reached and not recorded yet, and, when
// ends is set and the step is the plan's last, the run's end as a
// completed run. It is nil when there is nothing to record.
func (r *run) recordWith(ends bool) *Record {
	if r.revision < 7 {
		return nil
	}
	rec := &Record{Steps: slices.Clone(r.stepsReached)}
	if ends && r.atLastStep() {
		rec.End = &FinishRunRequest{WorkflowID: r.workflowID, Outcome: Completed}
	}
	if len(rec.Steps) == 0 && rec.End == nil {
		return nil
	}
	return rec
}

// recorded takes in what an activity says it recorded of rec: the steps
// are no longer the run's to record, and the end, if recorded, need not be
// recorded again when the run ends as it says (finish).
func (r *run) recorded(rec *Record, did Recorded) {
	if rec == nil {
		return
	}
	if did.Steps {
		r.stepsReached = r.stepsReached[min(len(rec.Steps), len(r.stepsReached)):]
	}
	if did.End && rec.End != nil {
		r.endRecorded = rec.End
	}
}

// endIsRecorded reports whether an activity recorded the end the run
// comes to, with every step it reached (revision 7).
func (r *run) endIsRecorded(outcome Outcome, reason string) bool {
	e := r.endRecorded
	return r.revision >= 7 && e != nil && e.Outcome == outcome && e.Reason == reason && len(r.stepsReached) == 0
}

// atLastStep reports whether the step the run is in is the plan's last:
// nothing follows it in its list, nor the branch or split it is in in
// theirs, and so on up to the plan's steps. The run ends when it is done.
func (r *run) atLastStep() bool {
	steps := r.plan.Steps
	for d := 0; d < len(r.at); d += 2 {
		i := r.at[d]
		if i != len(steps)-1 {
			return false
		}
		if d+1 == len(r.at) {
			return true
		}
		steps = within(steps[i], r.at[d+1])
	}
	return false
}

// within is the steps of a branch's case (len(cases) for otherwise) or of
// a split's path.
func within(s journey.Step, i int) []journey.Step {
	switch {
	case s.Branch != nil && i < len(s.Branch.Cases):
		return s.Branch.Cases[i].Steps
	case s.Branch != nil:
		return s.Branch.Otherwise
	case s.Split != nil && i < len(s.Split.Paths):
		return s.Split.Paths[i].Steps
	}
	return nil
}

// took reports whether the run takes a narrow change (see changes): from
// revision 7 always, recording no marker; before, as the version marker
// of the change records (taken by runs that first met it after it
// came).
func (r *run) took(ctx workflow.Context, changeID string) bool {
	return r.revision >= 7 || workflow.GetVersion(ctx, changeID, workflow.DefaultVersion, 1) == 1
}

// shownStep is the step the run's RapportStep shows now (revision 7): set
// by the starter (the plan's first step), carried across continue as new,
// and by the run's upserts.
func shownStep(ctx workflow.Context) string {
	step, _ := workflow.GetTypedSearchAttributes(ctx).GetKeyword(StepAttr)
	return step
}

// stepUnsaved reports whether RapportStep lags the step the run is in.
func (r *run) stepUnsaved() bool {
	if r.revision >= 7 {
		return r.state.CurrentStep != r.shown
	}
	return r.unsavedStep
}

// stepSaved notes that RapportStep shows the step the run is in.
func (r *run) stepSaved() {
	r.unsavedStep, r.shown = false, r.state.CurrentStep
}
