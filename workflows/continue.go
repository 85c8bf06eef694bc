package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/rapporthq/rapport/internal/journey"
)

// A journey run can last months and hear thousands of the customer's
// events. So its history stays bounded, a run that rests in a wait (a wait
// step or a staff task) continues as new when Temporal suggests it or
// after it received ContinueAfterEvents events in this execution: the new
// execution keeps the workflow id and search attributes, and takes the
// run's state with it (Resume), so it sends nothing again, creates no task
// again, and goes on waiting until the same deadline.

// DefaultContinueAfterEvents is how many events one execution of a run
// takes in before it continues as new, when the interpreter does not say.
const DefaultContinueAfterEvents = 2000

// maxSeen bounds the event ids a run remembers to ignore repeats; the API
// deduplicates by event id too.
const maxSeen = 1000

// Notes kept: the first notesHead, then the latest, maxNotes in all; the
// number dropped in between is State.NotesDropped.
const (
	maxNotes  = 200
	notesHead = NotesHead
)

// NotesHead is how many of a run's first notes State.Notes keeps before
// the latest: where a reader shows that NotesDropped were dropped.
const NotesHead = 20

// Resume is what a run that continued as new carries into its next
// execution: where it rests, until when, and what it has done.
type Resume struct {
	// Path leads to the step the run rests on: an index into the plan's
	// steps, then for a branch the case taken (len(cases) for otherwise) or
	// for a split the path taken, then an index into those steps, and so on.
	Path []int `json:"path"`
	// Until is when the wait (or the staff task) the run rests in ends at
	// the latest.
	Until time.Time `json:"until"`
	// State is the run's state as the state query shows it.
	State State `json:"state"`
	// Event is the event conditions see as `event` (the last one a wait
	// matched, or the trigger); Task the last task's outcome.
	Event journey.Event `json:"event"`
	Task  journey.Task  `json:"task,omitzero"`
	// Inbox are events kept for later waits; Seen the ids of recent
	// events, oldest first, to ignore repeats.
	Inbox []journey.Event `json:"inbox,omitempty"`
	Seen  []string        `json:"seen,omitempty"`
	// OpenTask is the staff task the run waits for, if it rests at a task
	// step.
	OpenTask *ResumeTask `json:"open_task,omitempty"`
	// Completed are the tasks staff completed, with their outcome.
	Completed map[string]string `json:"completed,omitempty"`
	// Continues counts the executions before this one.
	Continues int `json:"continues"`
	// Fresh says the run, moved to a new plan, walks the step Path leads
	// to anew rather than resting until Until (move.go).
	Fresh bool `json:"fresh,omitempty"`
	// Restart says the run continued as new in the middle of the step
	// Path leads to (waiting out an outage, a hold, a send in doubt: see
	// continuingFresh) and walks it again from its start. Fresh is set
	// too, so that a worker of a release before Restart, which walks the
	// step without looking, does not take the next wait for a rest.
	Restart bool `json:"restart,omitempty"`
	// Sending, when a send step restarts, is the channel it was on and
	// why it had left the ones before: the step goes on from there, not
	// from its first channel (which it had given up, and may now reach).
	Sending *ResumeSend `json:"sending,omitempty"`
	// Reached are the steps reached and not yet recorded in the registry;
	// EnteredAt is when the run started (revision 5).
	Reached   []StepReached `json:"reached,omitempty"`
	EnteredAt time.Time     `json:"entered_at,omitzero"`
}

// ResumeSend is where a send step that continued as new in its middle
// was: its channel, the fallback that brought it there, and what the
// channels before it came to.
type ResumeSend struct {
	Channel  journey.Channel `json:"channel"`
	Fallback *Fallback       `json:"fallback,omitempty"`
	Misses   []string        `json:"misses,omitempty"`
}

// ResumeTask is the open staff task a continued run waits for.
type ResumeTask struct {
	ID        string `json:"id"`
	Queue     string `json:"queue"`
	Escalated bool   `json:"escalated,omitempty"`
}

// continueError unwinds the walk when the run continues as new; plan is
// set when it moves to a new plan.
type continueError struct {
	resume      Resume
	plan        *journey.Plan
	keepBacklog bool // the run had not taken in its start backlog yet
}

func (e *continueError) Error() string { return "continue as new" }

// mayContinue reports whether this run may continue as new (it decides
// once, at its first rest, behind a version marker).
func (r *run) mayContinue(ctx workflow.Context) bool {
	if r.canContinue == 0 {
		r.canContinue = -1
		if r.took(ctx, continueAsNewChange) {
			r.canContinue = 1
		}
	}
	return r.canContinue == 1
}

// continueDue reports whether the run should continue as new now.
func (r *run) continueDue(ctx workflow.Context) bool {
	return r.receivedHere >= r.continueAfter || workflow.GetInfo(ctx).GetContinueAsNewSuggested()
}

// readyToContinue is called at a rest when continueDue said so: it takes
// in the signals already delivered and waits for update handlers under way
// to finish. It returns false when the run must not continue now: an
// event or staff ended the wait (wake), or the run is exiting.
func (r *run) readyToContinue(ctx workflow.Context, wake func() bool) bool {
	events := workflow.GetSignalChannel(ctx, EventSignal)
	for {
		var ev journey.Event
		if !events.ReceiveAsync(&ev) {
			break
		}
		r.tick(ctx)
		r.receive(ev, r.stopWalking)
	}
	_ = workflow.Await(ctx, func() bool {
		return ctx.Err() != nil || wake() || workflow.AllHandlersFinished(ctx)
	})
	return ctx.Err() == nil && !wake() && r.exitReason == ""
}

// continuing builds the error that unwinds the walk, with the run's state,
// at a rest that ends at until.
func (r *run) continuing(until time.Time) error {
	c := &continueError{resume: r.resumeState(until)}
	if t := r.pendingTask; t != nil && !t.done {
		c.resume.OpenTask = &ResumeTask{ID: t.id, Queue: t.queue, Escalated: t.escalated}
	}
	if r.moveDue() {
		if plan, err := r.moved(&c.resume, until); err == nil {
			c.plan = plan
		}
	}
	r.leaving = true
	return c
}

// continueMidStep continues the run as new in the middle of a step when
// it is due (revision 4), before a wait of an open-ended loop inside a
// step: a message held by the contact rules, a send in doubt, an activity
// failing past its budget. The next execution walks the step anew
// (continuingFresh). It returns nil when the run goes on here.
func (r *run) continueMidStep(ctx workflow.Context) error {
	if r.revision < 4 || !r.continueDue(ctx) || !r.mayContinue(ctx) {
		return nil
	}
	if r.moveDue() && workflow.GetInfo(ctx).GetCurrentHistoryLength() < moveHoldsHistory {
		return nil // a move accepted meanwhile happens at the next wait, which continues as new then
	}
	if !r.readyToContinue(ctx, func() bool { return false }) {
		return nil // the run is exiting: the wait that follows ends at once
	}
	return r.continuingFresh()
}

// continuingFresh builds the error that unwinds the walk in the middle of
// a step (revision 4): the next execution walks that step again from its
// start. Every activity of a step is idempotent (a send finds its outbox
// row and what became of it; a task, a split, a record keep their ids),
// so nothing is sent or created twice; a step interrupted before the walk
// began (learning about the customer) starts the walk. A run that had
// not yet taken in its start backlog carries it on.
func (r *run) continuingFresh() error {
	c := &continueError{resume: r.resumeState(time.Time{}), keepBacklog: !r.caughtUp}
	c.resume.Fresh, c.resume.Restart, c.resume.Sending = true, true, r.sending
	if orig := r.input.Resume; r.resume != nil && orig != nil {
		// A continued run that had not got back to where it was (it was
		// learning about the customer) keeps its place: where it rested,
		// until when, its open task.
		c.resume.Path, c.resume.Until, c.resume.OpenTask = slices.Clone(orig.Path), orig.Until, orig.OpenTask
		c.resume.Fresh, c.resume.Restart, c.resume.Sending = orig.Fresh, orig.Restart, orig.Sending
	}
	if r.moveDue() {
		r.note(r.state.CurrentStep + ": a move to a new plan waits for the next start of a worker (or rapport runs move): the run continued as new before its next wait")
	}
	r.leaving = true
	return c
}

// moveHoldsHistory is the history length up to which a run with a move
// due does not continue as new in the middle of a step (the move happens
// at its next wait, continuing as new then); past it the run continues
// and the move is asked again later.
const moveHoldsHistory = 40_000

// resumeState is what the next execution carries, at a rest that ends at
// until (zero when it walks a step anew).
func (r *run) resumeState(until time.Time) Resume {
	res := Resume{
		Path: append([]int(nil), r.at...), Until: until, State: r.state,
		Event: r.vars.Event, Task: r.vars.Task, Inbox: r.inbox, Seen: r.seenOrder,
		Completed: r.completed, Continues: r.continues + 1,
	}
	if r.revision >= 5 {
		res.Reached, res.EnteredAt = r.stepsReached, r.enteredAt
	}
	return res
}

// continueAsNew ends this execution and starts the next with the run's
// state.
func (r *run) continueAsNew(ctx workflow.Context, c *continueError) error {
	next := r.input
	if !c.keepBacklog {
		next.Backlog = nil
	}
	next.Resume = &c.resume
	if c.plan != nil {
		next.Plan = *c.plan // recorded at the rest (recordMoveAtRest)
	}
	if r.revision >= 4 {
		if shed := fitInput(&next, maxContinueBytes); shed != "" {
			workflow.GetLogger(ctx).Warn("journey continues as new with less state", "shed", shed)
		}
	}
	workflow.GetLogger(ctx).Info("journey continues as new", "events_here", r.receivedHere, "continues", c.resume.Continues, "step", r.state.CurrentStep)
	return workflow.NewContinueAsNewError(ctx, JourneyWorkflowName, next)
}

// maxContinueBytes bounds the input a run continues as new with, well
// inside Temporal's 2 MiB payload limit (past which the server ends the
// run). What a run keeps is bounded on its own (maxInboxBytes, maxSeen,
// maxNotes and maxNoteRunes, maxSends, maxActions; a plan by
// journey.MaxPlanBytes); fitInput is the last guard.
const maxContinueBytes = 3 << 19 // 1.5 MiB

// fitInput makes the input of the next execution fit in limit bytes as
// JSON, shedding what matters least first: the oldest events kept for
// later waits, then the oldest remembered event ids (the API also drops
// repeated events), then notes between the first and the latest, then
// the oldest events of a start backlog not taken in yet. It says
// what it shed ("" for nothing). It is deterministic: the same state sheds
// the same on replay.
func fitInput(in *JourneyInput, limit int) string {
	size := func() int {
		b, err := json.Marshal(in)
		if err != nil {
			return limit + 1
		}
		return len(b)
	}
	res := in.Resume
	var shed []string
	for size() > limit {
		switch {
		case len(res.Inbox) > 0:
			n := (len(res.Inbox) + 1) / 2
			res.Inbox = res.Inbox[n:]
			shed = append(shed, fmt.Sprintf("%d kept events", n))
		case len(res.Seen) > 100:
			n := len(res.Seen) - 100
			res.Seen = res.Seen[n:]
			shed = append(shed, fmt.Sprintf("%d remembered event ids", n))
		case len(res.State.Notes) > notesHead+10:
			n := len(res.State.Notes) - notesHead - 10
			res.State.Notes = append(res.State.Notes[:notesHead:notesHead], res.State.Notes[notesHead+n:]...)
			res.State.NotesDropped += n
			shed = append(shed, fmt.Sprintf("%d notes", n))
		case len(in.Backlog) > 0: // a start backlog not taken in yet
			n := (len(in.Backlog) + 1) / 2
			in.Backlog = in.Backlog[n:]
			shed = append(shed, fmt.Sprintf("%d events of the start backlog", n))
		default:
			return strings.Join(append(shed, "nothing more to shed"), ", ")
		}
	}
	return strings.Join(shed, ", ")
}

// restore takes the state a continued run carries.
func (r *run) restore(res *Resume) {
	r.state = res.State
	r.state.Status = "running"
	r.vars.Event, r.vars.Task = res.Event, res.Task
	r.inbox = res.Inbox
	for _, id := range res.Seen {
		r.remember(id)
	}
	if res.Completed != nil {
		r.completed = res.Completed
	}
	r.continues = res.Continues
	r.stepsReached, r.enteredAt = res.Reached, res.EnteredAt
	r.resume = &resumeAt{path: append([]int(nil), res.Path...), until: res.Until, task: res.OpenTask, fresh: res.Fresh, restart: res.Restart}
	if res.Restart {
		r.restartSend = res.Sending
	}
}

// resumeAt is where a continued run picks up its walk.
type resumeAt struct {
	path    []int
	until   time.Time
	task    *ResumeTask
	fresh   bool // walk the step anew (a run moved to a new plan)
	restart bool // walk the step again from its start (continuingFresh)
}

// restarting reports, at the step the resume path leads to, whether the
// run walks it again from its start (it continued as new in the middle of
// it); the run then goes on as if it had not continued.
func (r *run) restarting() bool {
	if r.resume == nil || !r.resume.restart || len(r.resume.path) > 0 {
		return false
	}
	r.resume = nil
	return true
}

// resumeIndex is the next index along the resume path (0 when the run is
// not resuming).
func (r *run) resumeIndex() int {
	if r.resume == nil || len(r.resume.path) == 0 {
		return 0
	}
	i := r.resume.path[0]
	r.resume.path = r.resume.path[1:]
	return i
}

// resumingBranch reports whether the walk passes through a branch or split
// it took before continuing as new, and which case or path.
func (r *run) resumingBranch() (int, bool) {
	if r.resume == nil || len(r.resume.path) == 0 {
		return 0, false
	}
	return r.resumeIndex(), true
}

// resumedRest returns the deadline of the rest a continued run resumes,
// once it reaches that step; the walk goes on normally after it.
func (r *run) resumedRest() (*resumeAt, bool) {
	if r.resume == nil || len(r.resume.path) > 0 {
		return nil, false
	}
	at := r.resume
	r.resume = nil
	return at, true
}

// remember records an event id as seen, forgetting the oldest beyond
// maxSeen.
func (r *run) remember(id string) {
	if id == "" || r.seen[id] {
		return
	}
	r.seen[id] = true
	r.seenOrder = append(r.seenOrder, id)
	if len(r.seenOrder) > maxSeen {
		delete(r.seen, r.seenOrder[0])
		r.seenOrder = r.seenOrder[1:]
	}
}

// isContinue reports whether err unwinds a run that continues as new.
func isContinue(err error) (*continueError, bool) {
	var c *continueError
	ok := errors.As(err, &c)
	return c, ok
}

// into walks a branch case or split path (index i), keeping the path to
// the current step.
func (r *run) into(i int, walk func() error) error {
	r.at = append(r.at, i)
	defer func() { r.at = r.at[:len(r.at)-1] }()
	return walk()
}

// waitRest waits out the rest of a wait step (wait for, wait until) a
// continued run was in.
func (r *run) waitRest(ctx workflow.Context, step journey.Step, until time.Time) error {
	why := "wait"
	if w := r.state.PendingWait; w != nil && w.Why != "" {
		why = w.Why
	}
	r.state.PendingWait = &PendingWait{Step: step.ID, Kind: WaitStep, Until: until, Why: why}
	r.describe(ctx)
	r.rest(ctx)
	skipped, err := r.pause(ctx, until.Sub(workflow.Now(ctx)), why, nil)
	if skipped {
		r.note(step.ID + ": wait skipped by staff")
	}
	return err
}
