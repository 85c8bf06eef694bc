package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"go.temporal.io/sdk/workflow"

	"github.com/rapporthq/rapport/internal/journey"
)

// pendingTask is the staff task a run is waiting for.
type pendingTask struct {
	id    string
	step  journey.Step
	queue string
	done  bool
	// escalated is set once the task was moved to the escalation queue.
	escalated bool
	result    CompleteTask
	outcomes  []string
}

// OpenTask is a task in the state query.
type OpenTask struct {
	ID    string    `json:"id"`
	Step  string    `json:"step"`
	Kind  string    `json:"kind"`
	Queue string    `json:"queue"`
	DueAt time.Time `json:"due_at"`
}

// NotWaitingForTask is the complete-task update's refusal when the run
// waits for no task: it has not reached the task yet (its creation is
// being recorded), or has moved on.
const NotWaitingForTask = "this journey is not waiting for a task now"

// acceptTaskCompletions registers the complete-task update. Its validator
// turns away an outcome the task does not list, a task this run is not
// waiting for, and a task already completed, so nothing invalid reaches
// the history.
func (r *run) acceptTaskCompletions(ctx workflow.Context) error {
	return workflow.SetUpdateHandlerWithOptions(ctx, CompleteTaskUpdate,
		func(ctx workflow.Context, c CompleteTask) (CompleteTask, error) {
			t := r.pendingTask
			t.done, t.result = true, c
			if c.TaskID == "" {
				t.result.TaskID = t.id
			}
			r.completed[t.id] = c.Outcome
			r.record(ctx, StaffAction{Kind: CompleteTaskUpdate, By: staffName(c.By), Reason: c.Outcome, Step: t.step.ID})
			return t.result, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, c CompleteTask) error {
			if outcome, ok := r.completed[c.TaskID]; ok {
				return fmt.Errorf("task %s is already completed (outcome %s)", c.TaskID, outcome)
			}
			t := r.pendingTask
			if t == nil || t.done {
				return errors.New(NotWaitingForTask)
			}
			if c.TaskID != "" && c.TaskID != t.id {
				return fmt.Errorf("this journey is waiting for task %s, not %s", t.id, c.TaskID)
			}
			if !slices.Contains(t.outcomes, c.Outcome) {
				return fmt.Errorf("unknown outcome %q; this task's outcomes are %s", c.Outcome, strings.Join(t.outcomes, ", "))
			}
			return nil
		}})
}

// acceptTaskHandovers registers the task-handover update (revision 6).
// Its validator turns away bad input and a task this run is not waiting
// for, so nothing invalid reaches the history; the handler only records
// the staff action.
func (r *run) acceptTaskHandovers(ctx workflow.Context) error {
	err := workflow.SetUpdateHandlerWithOptions(ctx, TaskHandoverUpdate,
		func(ctx workflow.Context, h TaskHandover) (StaffAction, error) {
			step := r.state.CurrentStep
			if t := r.pendingTask; t != nil { // always, once the validator took it
				step = t.step.ID
			}
			r.record(ctx, StaffAction{Kind: h.Kind, By: staffName(h.By), Reason: handoverReason(h), Step: step})
			return r.state.Actions[len(r.state.Actions)-1], nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, h TaskHandover) error {
			if err := validHandover(h); err != nil {
				return err
			}
			return r.waitsFor(h.TaskID)
		}})
	if err != nil {
		return fmt.Errorf("register %s update: %w", TaskHandoverUpdate, err)
	}
	return nil
}

// validHandover checks a task-handover update's argument.
func validHandover(h TaskHandover) error {
	for _, f := range []struct{ name, value string }{{"by", h.By}, {"to", h.To}, {"from", h.From}} {
		if n := utf8.RuneCountInString(f.value); n > maxReason {
			return fmt.Errorf("%s is %d characters; keep it under %d", f.name, n, maxReason)
		}
	}
	switch h.Kind {
	case HandoverClaim, HandoverAssign:
		if strings.TrimSpace(h.To) == "" {
			return fmt.Errorf("a %s names who holds the task now (to)", h.Kind)
		}
	case HandoverUnclaim:
	case HandoverNote:
		if strings.TrimSpace(h.Note) == "" {
			return errors.New("a note needs its words (note)")
		}
		if n := utf8.RuneCountInString(h.Note); n > MaxHandoverNote {
			return fmt.Errorf("the note is %d characters; keep it under %d", n, MaxHandoverNote)
		}
	default:
		return fmt.Errorf("unknown kind %q; a task-handover is a %s, %s, %s or %s", h.Kind, HandoverClaim, HandoverAssign, HandoverUnclaim, HandoverNote)
	}
	return nil
}

// waitsFor refuses, with words that say why, unless the run waits for
// the task taskID now.
func (r *run) waitsFor(taskID string) error {
	if err := r.stillRunning(); err != nil {
		return err
	}
	if r.exitReason != "" {
		return fmt.Errorf("this journey is exiting (%s)", r.exitReason)
	}
	t := r.pendingTask
	switch {
	case strings.TrimSpace(taskID) == "":
		return errors.New("name the task (task_id)")
	case t == nil || t.done:
		return errors.New(NotWaitingForTask)
	case taskID != t.id:
		return fmt.Errorf("this journey is waiting for task %s, not %s", t.id, taskID)
	}
	return nil
}

// handoverReason says in a line what a task-handover did: to whom, from
// whom, or the note.
func handoverReason(h TaskHandover) string {
	switch h.Kind {
	case HandoverClaim, HandoverAssign:
		s := "to " + oneLine(h.To, 80)
		if from := strings.TrimSpace(h.From); from != "" && h.Kind == HandoverAssign {
			s += " (from " + oneLine(from, 80) + ")"
		}
		return s
	case HandoverUnclaim:
		if from := strings.TrimSpace(h.From); from != "" {
			return "from " + oneLine(from, 80)
		}
		return ""
	}
	return h.Note
}

// task creates a task for staff and waits until they complete it or it is
// overdue. Overdue, it is escalated once to another queue (with a new due
// time), or the journey goes on, or it exits, as the step says. The outcome
// becomes `task` for later conditions.
func (r *run) task(ctx workflow.Context, step journey.Step) error {
	spec := step.Task
	t := &pendingTask{id: TaskID(r.workflowID, step.ID), step: step, queue: spec.Queue, outcomes: spec.Outcomes}
	due := workflow.Now(ctx).Add(spec.DueIn.D)
	if at, ok := r.resumedRest(); ok && at.task != nil {
		// A run that continued as new waits for the task it created.
		t.queue, t.escalated, due = at.task.Queue, at.task.Escalated, at.until
		return r.awaitTask(ctx, step, t, due)
	}
	var created CreateTaskResult
	req := CreateTaskRequest{
		TaskID: t.id, WorkflowID: r.workflowID, Journey: r.plan.Journey, StepID: step.ID, CustomerID: r.input.CustomerID,
		Kind: spec.Kind, Queue: spec.Queue, Purpose: r.plan.Purpose, Topic: r.plan.Topic, Brief: spec.Brief, Outcomes: spec.Outcomes, DueAt: due, LastEvent: r.vars.Event,
		Record: r.recordWith(false),
	}
	if err := r.taskActivityResult(ctx, CreateTaskActivity, fmt.Sprintf("task %s for %s", spec.Kind, spec.Queue), req, &created); err != nil {
		return err
	}
	r.recorded(req.Record, created.Recorded)
	// Runs recorded before CreateTask could decline (a customer who opted
	// out of calls) have no result to read: the task was created.
	if r.took(ctx, taskConsentChange) && !created.Created {
		r.vars.Task = journey.Task{ID: t.id, Step: step.ID, Kind: spec.Kind, Queue: spec.Queue, Skipped: true}
		r.note(fmt.Sprintf("%s: no task: %s", step.ID, created.Reason))
		return nil
	}
	err := r.awaitTask(ctx, step, t, due)
	r.reached(ctx, time.Time{}, true) // a scaled run's clock: where the task left it
	return err
}

// awaitTask waits for staff to complete the run's task, escalating it or
// going on when it is overdue, as the step says.
func (r *run) awaitTask(ctx workflow.Context, step journey.Step, t *pendingTask, due time.Time) error {
	spec := step.Task
	// The run forgets the task once it is settled; if the run is stopped
	// while waiting (exit_when), finish finds it and cancels it.
	r.pendingTask = t
	settled := func() { r.pendingTask, r.state.OpenTask, r.state.PendingWait = nil, nil, nil }
	may := r.mayContinue(ctx)
	r.keepOrMove(ctx, step.ID)
	for {
		r.state.OpenTask = &OpenTask{ID: t.id, Step: step.ID, Kind: spec.Kind, Queue: t.queue, DueAt: due}
		r.state.PendingWait = &PendingWait{Step: step.ID, Kind: WaitForTask, Until: due, ForEvent: "task " + t.id + " completed",
			Why: fmt.Sprintf("task %s for the %s queue, due %s UTC", spec.Kind, t.queue, due.UTC().Format("2006-01-02 15:04"))}
		r.describe(ctx)
		r.rest(ctx)
		done, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{
			Timeout:      due.Sub(workflow.Now(ctx)),
			TimerOptions: workflow.TimerOptions{Summary: fmt.Sprintf("task %s for %s, due in %s", spec.Kind, t.queue, spec.DueIn)},
		}, func() bool { return t.done || (may && (r.continueDue(ctx) || r.moveDue())) })
		if err != nil {
			return err
		}
		if done && !t.done && may && r.moveDue() {
			r.recordMoveAtRest(ctx)
		}
		if done && !t.done {
			// Due to continue as new (continue.go).
			if r.readyToContinue(ctx, func() bool { return t.done }) {
				return r.continuing(due)
			}
			r.unrecordMove(ctx) // the move, if recorded, waits for the next rest
			if !t.done && ctx.Err() != nil {
				return ctx.Err() // the run is exiting
			}
			done = t.done
		}
		if done {
			settled()
			c := t.result
			r.vars.Task = journey.Task{ID: t.id, Step: step.ID, Kind: spec.Kind, Queue: t.queue, Outcome: c.Outcome, Notes: c.Notes}
			r.note(fmt.Sprintf("%s: task %s completed: %s", step.ID, t.id, c.Outcome))
			return r.endTask(ctx, "record outcome "+c.Outcome,
				UpdateTaskRequest{TaskID: t.id, Status: "completed", Outcome: c.Outcome, Notes: c.Notes})
		}
		if spec.OnOverdue == journey.OverdueEscalate && !t.escalated {
			t.escalated, t.queue = true, spec.EscalateTo
			due = workflow.Now(ctx).Add(spec.DueIn.D)
			r.note(fmt.Sprintf("%s: task %s overdue; escalated to %s", step.ID, t.id, t.queue))
			if err := r.taskActivity(ctx, UpdateTaskActivity, "escalate to "+t.queue, UpdateTaskRequest{TaskID: t.id, Status: "escalated", Queue: t.queue, DueAt: due}); err != nil {
				return err
			}
			continue
		}
		settled()
		r.vars.Task = journey.Task{ID: t.id, Step: step.ID, Kind: spec.Kind, Queue: t.queue, Overdue: true}
		if spec.OnOverdue == journey.OverdueExit {
			if err := r.taskActivity(ctx, UpdateTaskActivity, "cancel overdue task", UpdateTaskRequest{TaskID: t.id, Status: "cancelled"}); err != nil {
				return err
			}
			return &exitError{reason: fmt.Sprintf("task %s was not done in time", t.id)}
		}
		r.note(fmt.Sprintf("%s: task %s overdue; the journey goes on", step.ID, t.id))
		return r.endTask(ctx, "mark task overdue", UpdateTaskRequest{TaskID: t.id, Status: "overdue"})
	}
}

// taskActivity changes the run's task once the run decided (its outcome,
// an escalation, overdue, cancelled): past the budget, a run whose
// history grows long stops waiting (revision 4) and goes on; the task
// row may then lag what the run did.
func (r *run) taskActivity(ctx workflow.Context, name, summary string, req any) error {
	err := r.taskActivityOr(ctx, name, summary, req, nil, stopWaiting)
	var stopped *stoppedWaiting
	if errors.As(err, &stopped) {
		return nil // noted; the journey goes on
	}
	return err
}

// endTask records the change that ends the run's task step (completed,
// or overdue with the journey going on), as taskActivity. From revision 7
// it carries the steps the run reached and, when the step is the plan's
// last, the run's end (recordWith).
func (r *run) endTask(ctx workflow.Context, summary string, req UpdateTaskRequest) error {
	if r.revision < 7 {
		return r.taskActivity(ctx, UpdateTaskActivity, summary, req)
	}
	if req.Record = r.recordWith(true); req.Record != nil {
		req.WorkflowID = r.workflowID
	}
	var res UpdateTaskResult
	err := r.taskActivityOr(ctx, UpdateTaskActivity, summary, req, &res, stopWaiting)
	var stopped *stoppedWaiting
	if errors.As(err, &stopped) {
		return nil // noted; the journey goes on, and records what it reached itself
	}
	if err == nil {
		r.recorded(req.Record, res.Recorded)
	}
	return err
}

// taskActivityResult creates the run's task: past the budget, a run whose
// history grows long continues as new and creates it again (it has one
// id: created once).
func (r *run) taskActivityResult(ctx workflow.Context, name, summary string, req, result any) error {
	return r.taskActivityOr(ctx, name, summary, req, result, continueFresh)
}

func (r *run) taskActivityOr(ctx workflow.Context, name, summary string, req, result any, at onLongOutage) error {
	return r.patientlyOr(ctx, "the database (staff tasks)", at, func(budget time.Duration) error {
		actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout:    30 * time.Second,
			ScheduleToCloseTimeout: budget,
			RetryPolicy:            retryPolicy(retryMaxInterval),
			Summary:                summary,
		})
		return workflow.ExecuteActivity(actx, name, req).Get(actx, result)
	})
}
