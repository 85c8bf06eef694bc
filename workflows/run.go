package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/rapporthq/rapport/internal/journey"
)

// State is what the state query answers: where a run stands and what it
// has done. It holds no contact details.
type State struct {
	Journey     string       `json:"journey"`
	PlanHash    string       `json:"plan_hash"`
	CustomerID  string       `json:"customer_id"`
	Status      string       `json:"status"` // running, completed, exited, failed
	CurrentStep string       `json:"current_step,omitempty"`
	StepsDone   []string     `json:"steps_done"`
	PendingWait *PendingWait `json:"pending_wait,omitempty"`
	Sends       []SendRecord `json:"sends"`
	Notes       []string     `json:"notes,omitempty"`
	// NotesDropped counts notes dropped between the first and the latest
	// (see maxNotes).
	NotesDropped   int    `json:"notes_dropped,omitempty"`
	EventsReceived int    `json:"events_received"`
	Reason         string `json:"reason,omitempty"`
	// OpenTask is the staff task the run waits for, if any.
	OpenTask *OpenTask `json:"open_task,omitempty"`
	// Splits lists the path taken at each split ("step: path").
	Splits []string `json:"splits,omitempty"`
	// Actions are what staff did to the run (exit, skip-wait,
	// complete-task, move-plan) and, from revision 6, to the task it
	// waits for (claim, assign, unclaim, note), in order.
	Actions []StaffAction `json:"actions,omitempty"`
	// PlansLeft are the plans the run moved away from (on_edit:
	// restart-at-step), oldest first; PlanHash is the one it is on.
	PlansLeft []string `json:"plans_left,omitempty"`
}

// PendingWait is the wait a run is in: its next wake-up and why.
type PendingWait struct {
	Step string `json:"step"`
	// Kind says what the run waits for: a wait step, a held message or a
	// staff task.
	Kind WaitKind `json:"kind,omitempty"`
	// Until is when the wait ends at the latest.
	Until time.Time `json:"until"`
	// ForEvent is the condition that ends the wait early, if any.
	ForEvent string `json:"for_event,omitempty"`
	// Why says in words why the run waits ("wait 14d", "email held:
	// quiet hours ...").
	Why string `json:"why,omitempty"`
}

// WaitKind is what a run waits for.
type WaitKind string

// Wait kinds.
const (
	WaitStep    WaitKind = "wait" // a wait step: skip-wait ends it
	WaitHeld    WaitKind = "held" // a message the contact rules hold back
	WaitForTask WaitKind = "task" // a staff task to be completed
)

// SendRecord is one channel attempt of a send step.
type SendRecord struct {
	Step     string `json:"step"`
	Template string `json:"template"`
	SendResult
	At time.Time `json:"at"`
}

// maxInbox bounds the events a run keeps for waits that have not started.
const maxInbox = 100

// run is the state of one journey run while the workflow executes.
type run struct {
	env        *journey.Env
	input      JourneyInput
	plan       *journey.Plan
	workflowID string
	vars       journey.Vars
	state      State
	seen       map[string]bool // ids of recent events received, to ignore repeats
	seenOrder  []string        // the same ids, oldest first (at most maxSeen)
	inbox      []journey.Event // events received since the last wait ended
	waiting    *waiter         // the until_event wait in progress
	exitReason string          // set when exit_when matched an event or staff exited the run
	// stopWalking cancels the walk (set once the walk starts).
	stopWalking workflow.CancelFunc
	// skip is set by the skip-wait update until the wait step ends.
	skip bool
	// unsavedStep is set while RapportStep lags the current step (see rest).
	unsavedStep bool

	pendingTask *pendingTask // the staff task the run waits for
	fallback    *Fallback    // why the send under way is on a later channel of its step
	devClock    bool         // a scaled plan keeps its journey time in devAt (devclock.go)
	devAt       time.Time
	completed   map[string]string // task id -> outcome, for tasks done

	// revision is the interpreter revision the run runs at (revisionOf):
	// behaviour changes key on it. A run continued as new carries it.
	revision int
	// budget is the retry budget (Interpreter.RetryBudget; zero: default).
	budget time.Duration
	// Continuing as new (continue.go).
	at            []int       // path to the current step
	resume        *resumeAt   // where a continued run picks up, until it gets there
	canContinue   int         // 0 undecided, 1 may continue as new, -1 may not
	continueAfter int         // events in one execution before continuing as new
	receivedHere  int         // events received in this execution
	continues     int         // executions before this one
	leaving       bool        // the walk unwinds to continue as new
	caughtUp      bool        // the run took in its start backlog (catchUp)
	sending       *ResumeSend // the channel a send step is on, for continuingFresh
	restartSend   *ResumeSend // where a restarted send step goes on (Resume.Sending)
	moveTo        *Move       // the plan the run moves to at its next wait (move.go)
	moveRecorded  string      // the plan hash recordMoveAtRest wrote, if any
	// Outcomes (revision 5, outcomes.go).
	stepsReached []StepReached // steps entered since they were last recorded
	enteredAt    time.Time     // when the run started (its first execution)
	// Fewer commands (revision 7, record.go and facts.go).
	needs       factsNeed         // when the run reads the customer's facts
	factsLoaded bool              // the run has read them (vars.Customer)
	shown       string            // the step RapportStep shows
	endRecorded *FinishRunRequest // the end an activity recorded, if any
}

type waiter struct {
	condition string
	matched   *journey.Event
}

func newRun(ctx workflow.Context, env *journey.Env, input JourneyInput) *run {
	r := &run{
		env:        env,
		input:      input,
		plan:       &input.Plan,
		workflowID: workflow.GetInfo(ctx).WorkflowExecution.ID,
		seen:       map[string]bool{},
		completed:  map[string]string{},
		vars:       journey.Vars{Event: input.Trigger, Trigger: input.Trigger, Order: input.Trigger.Order},
		state: State{
			Journey:    input.Plan.Journey,
			PlanHash:   input.Plan.Hash,
			CustomerID: input.CustomerID,
			Status:     "running",
			StepsDone:  []string{},
			Sends:      []SendRecord{},
		},
	}
	if input.Resume != nil {
		r.restore(input.Resume)
	} else if input.Trigger.ID != "" {
		r.remember(input.Trigger.ID) // the trigger also arrives as a signal
	}
	return r
}

// expose registers the state query and marks the run as running in its
// search attributes.
func (r *run) expose(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, StateQuery, func() (State, error) { return r.state, nil }); err != nil {
		return fmt.Errorf("register state query: %w", err)
	}
	if err := r.acceptTaskCompletions(ctx); err != nil {
		return fmt.Errorf("register %s update: %w", CompleteTaskUpdate, err)
	}
	if err := r.acceptSteering(ctx); err != nil {
		return err
	}
	if err := r.acceptMoves(ctx); err != nil {
		return err
	}
	if r.revision >= 6 {
		if err := r.acceptTaskHandovers(ctx); err != nil {
			return err
		}
	}
	if r.revision >= 7 {
		r.shown = shownStep(ctx)
	}
	// Runs started at revision 1 or later carry RapportStatus=running from
	// their start; older ones set it here.
	if r.revision < 1 {
		r.setAttributes(ctx, StatusAttr.ValueSet("running"))
	}
	r.describe(ctx)
	return nil
}

// learnAboutTheCustomer loads the facts conditions are evaluated against
// (from revision 7 only when the plan needs them from its start: see
// factsNeed). A customer who no longer exists (erased) makes the run exit
// before its first step.
func (r *run) learnAboutTheCustomer(ctx workflow.Context) error {
	if r.revision >= 7 && !r.needs.atStart {
		return nil
	}
	facts, err := r.customerFacts(ctx)
	if _, ok := isContinue(err); ok {
		return err // waiting for the database, the run continues as new
	}
	var gone *exitError
	if errors.As(err, &gone) {
		r.exitReason = gone.reason
		return nil
	}
	if err != nil && r.revision >= 2 && r.exitReason != "" && ctx.Err() != nil {
		return nil // staff exited the run while it waited
	}
	if err != nil {
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) && appErr.Type() == ErrCustomerNotFound {
			return fmt.Errorf("customer %s does not exist", r.input.CustomerID)
		}
		return fmt.Errorf("load customer %s: %w", r.input.CustomerID, err)
	}
	r.vars.Customer, r.factsLoaded = facts, true
	return nil
}

func (r *run) customerFacts(ctx workflow.Context) (journey.Customer, error) {
	var facts journey.Customer
	err := r.patiently(ctx, "the database (customer facts)", func(budget time.Duration) error {
		return r.local(ctx, budget, "", CustomerFactsActivity, r.input.CustomerID, &facts, ErrCustomerNotFound)
	})
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == ErrCustomerNotFound && r.took(ctx, customerGoneExitsChange) {
		// The customer was erased (or deleted): the run exits, it has not
		// failed. Runs that met this before the change failed, and replay so.
		return facts, &exitError{reason: CustomerGoneReason}
	}
	return facts, err
}

// CustomerGoneReason is the reason a run exits with when its customer no
// longer exists.
const CustomerGoneReason = "customer no longer exists"

// listenForEvents receives the customer's events for the whole run. An
// event matching exit_when stops the walk at once; others are kept for
// waits. Repeated deliveries of an event are ignored.
//
// From revision 4 it never blocks in Receive: a signal handed to a
// coroutine blocked there is taken out of the channel before that
// coroutine runs, so a run continuing as new in the same workflow task
// (when Temporal suggests it; readyToContinue drains the channel) lost it.
// It waits for the channel to hold events and takes them from there, so
// events stay in the channel until someone takes them in.
func (r *run) listenForEvents(ctx workflow.Context, stopWalking workflow.CancelFunc) {
	events := workflow.GetSignalChannel(ctx, EventSignal)
	for {
		var ev journey.Event
		if r.revision < 4 {
			events.Receive(ctx, &ev)
			r.tick(ctx)
			r.receive(ev, stopWalking)
			continue
		}
		if workflow.Await(ctx, func() bool { return events.Len() > 0 }) != nil {
			return
		}
		for events.ReceiveAsync(&ev) {
			r.tick(ctx)
			r.receive(ev, stopWalking)
			ev = journey.Event{}
		}
	}
}

// catchUp takes in, before the first step, the backlog the run started
// with and the events already signalled, so an event that ends the
// journey (a purchase, for a win-back) stops it before it sends anything.
func (r *run) catchUp(ctx workflow.Context, stopWalking workflow.CancelFunc) {
	r.caughtUp = true
	if r.revision < 1 {
		return // runs started before: they received these in listenForEvents
	}
	r.tick(ctx)
	for _, ev := range r.input.Backlog {
		r.receive(ev, stopWalking)
	}
	events := workflow.GetSignalChannel(ctx, EventSignal)
	for {
		var ev journey.Event
		if !events.ReceiveAsync(&ev) {
			return
		}
		r.receive(ev, stopWalking)
	}
}

// tick sets `now` in the run's variables: the workflow's time (a scaled
// run's journey clock), the same on every replay.
func (r *run) tick(ctx workflow.Context) {
	r.vars.Now = r.journeyNow(ctx)
}

// receive takes in one of the customer's events.
func (r *run) receive(ev journey.Event, stopWalking workflow.CancelFunc) {
	if ev.ID != "" && r.seen[ev.ID] {
		return
	}
	r.remember(ev.ID)
	r.state.EventsReceived++
	r.receivedHere++

	if r.plan.ExitWhen != "" && r.exitReason == "" && r.matches(r.plan.ExitWhen, ev) {
		r.exitReason = fmt.Sprintf("exit_when matched %s event %s", ev.Type, ev.ID)
		stopWalking()
		return
	}
	if r.exitReason == "" && r.convertsAndExits(ev) {
		r.exitReason = fmt.Sprintf("converted: %s event %s met the goal", ev.Type, ev.ID)
		stopWalking()
		return
	}
	if r.waiting != nil && r.waiting.matched == nil && r.matches(r.waiting.condition, ev) {
		r.waiting.matched = &ev
		return
	}
	r.inbox = append(r.inbox, ev)
	if len(r.inbox) > maxInbox {
		r.inbox = r.inbox[1:]
	}
	if r.revision >= 4 {
		r.inbox = keepBytes(r.inbox, maxInboxBytes)
	}
}

// keepBytes drops the oldest events until the events' data together take
// at most limit bytes as JSON (the newest event is always kept: an event's
// data is bounded by the API).
func keepBytes(events []journey.Event, limit int) []journey.Event {
	total := 0
	for i := len(events) - 1; i >= 0; i-- {
		total += eventBytes(events[i])
		if total > limit && i < len(events)-1 {
			return events[i+1:]
		}
	}
	return events
}

// eventBytes is about what an event takes in a workflow's input: its data
// as JSON (encoding/json writes map keys in order: the same on replay),
// its id, type and customer.
func eventBytes(ev journey.Event) int {
	n := len(ev.ID) + len(ev.Type) + len(ev.CustomerID) + 64
	if len(ev.Data) > 0 {
		b, err := json.Marshal(ev.Data)
		if err != nil {
			return n + maxInboxBytes // cannot say: count it as large
		}
		n += len(b)
	}
	return n
}

// matches evaluates a condition over an incoming event. A condition that
// cannot be evaluated (a missing key in event data, say) does not match;
// the run notes why.
func (r *run) matches(condition string, ev journey.Event) bool {
	vars := r.vars
	vars.Event = ev
	ok, err := r.env.Eval(condition, vars)
	if err != nil {
		r.note(fmt.Sprintf("event %s: %v", ev.ID, err))
		return false
	}
	return ok
}

// enter records that a step starts. Runs from revision 1 record the step
// in RapportStep when they come to rest on it (see rest), not on every
// step they pass through.
func (r *run) enter(ctx workflow.Context, step journey.Step) {
	r.reach(ctx, step)
	r.state.CurrentStep = step.ID
	if r.revision < 1 {
		r.setAttributes(ctx, StepAttr.ValueSet(step.ID))
	} else {
		r.unsavedStep = true
	}
	r.describe(ctx)
}

// rest records the current step in RapportStep before the run waits (a
// timer, an event, a task), so staff searching by step find the runs that
// rest there; steps passed through without waiting cost no search
// attribute update.
func (r *run) rest(ctx workflow.Context) {
	if r.stepUnsaved() {
		r.setAttributes(ctx, StepAttr.ValueSet(r.state.CurrentStep))
		r.stepSaved()
	}
	r.recordReached(ctx)
}

// done records that a step finished.
func (r *run) done(ctx workflow.Context, step journey.Step) {
	r.state.StepsDone = append(r.state.StepsDone, step.ID)
	r.state.PendingWait = nil
	r.describe(ctx)
}

// Bounds on what a run keeps in its state from revision 4 (its state
// travels into the next execution when it continues as new, and the
// whole input must stay well inside Temporal's payload limit): a note's
// length, the send records, the staff actions (the first actionsHead and
// the latest), and the bytes of the events kept for later waits.
const (
	maxNoteRunes  = 500
	maxSends      = 200
	maxActions    = 100
	actionsHead   = 20
	maxInboxBytes = 256 << 10
)

// addSend records a channel attempt of a send step. From revision 4 a
// record that repeats the last one's step, channel and status while the
// message is held or in doubt (each hold of a message the contact rules
// keep holding, each look at a send in doubt) replaces it, and beyond
// maxSends the oldest such records go: the notes say what happened.
func (r *run) addSend(rec SendRecord) {
	if r.revision >= 4 {
		rec.Reason = cut(rec.Reason, maxNoteRunes)
	}
	sends := r.state.Sends
	if r.revision >= 4 && len(sends) > 0 {
		last := sends[len(sends)-1]
		if last.Step == rec.Step && last.Channel == rec.Channel && last.Status == rec.Status && intermediate(rec.Status) {
			sends[len(sends)-1] = rec
			return
		}
	}
	sends = append(sends, rec)
	for r.revision >= 4 && len(sends) > maxSends {
		i := slices.IndexFunc(sends, func(s SendRecord) bool { return intermediate(s.Status) })
		if i < 0 {
			i = 0
		}
		sends = slices.Delete(sends, i, i+1)
	}
	r.state.Sends = sends
}

// intermediate reports whether a send status may still change: held, or
// in doubt.
func intermediate(s SendStatus) bool { return s == SendHeld || s == SendUnknown }

// note keeps a note in the run's state: the first notesHead and the
// latest, maxNotes in all, counting those dropped between.
func (r *run) note(s string) {
	if r.revision >= 4 {
		s = cut(s, maxNoteRunes)
	}
	r.state.Notes = append(r.state.Notes, s)
	if len(r.state.Notes) > maxNotes {
		r.state.Notes = append(r.state.Notes[:notesHead], r.state.Notes[notesHead+1:]...)
		r.state.NotesDropped++
	}
}

func (r *run) setAttributes(ctx workflow.Context, updates ...temporal.SearchAttributeUpdate) {
	if err := workflow.UpsertTypedSearchAttributes(ctx, updates...); err != nil {
		workflow.GetLogger(ctx).Warn("could not update search attributes", "error", err)
	}
}

// finish records the outcome (search attributes, run registry) and ends
// the run. It runs on a context the exit cancellation does not reach.
func (r *run) finish(ctx workflow.Context, outcome Outcome, reason string) (JourneyResult, error) {
	ctx, _ = workflow.NewDisconnectedContext(ctx)
	r.state.Status = string(outcome)
	r.state.Reason = reason
	r.state.PendingWait = nil
	attrs := []temporal.SearchAttributeUpdate{StatusAttr.ValueSet(string(outcome))}
	if r.stepUnsaved() {
		step := StepAttr.ValueSet(r.state.CurrentStep)
		if r.state.CurrentStep == "" { // ended before its first step, which the starter showed
			step = StepAttr.ValueUnset()
		}
		attrs = append(attrs, step)
		r.stepSaved()
	}
	if r.revision >= 3 {
		attrs = append(attrs, OutcomeAttr.ValueSet(string(runOutcome(outcome, r.state.Sends))))
	}
	r.setAttributes(ctx, attrs...)
	r.describe(ctx)

	if t := r.pendingTask; t != nil && !t.done {
		// The run ends while staff still have its task: take it off their list.
		if err := r.taskActivity(ctx, UpdateTaskActivity, "cancel task", UpdateTaskRequest{TaskID: t.id, Status: "cancelled"}); err != nil {
			workflow.GetLogger(ctx).Warn("could not cancel the open task", "task_id", t.id, "error", err)
		}
	}

	req := FinishRunRequest{WorkflowID: r.workflowID, Outcome: outcome, Reason: reason, Steps: r.stepsReached}
	var err error
	switch {
	case r.endIsRecorded(outcome, reason):
		// The last activity recorded it (revision 7).
	case r.revision >= 1:
		// A quick write to the registry: a local activity saves a round
		// trip through the server.
		// Past the budget, a run whose history grows long stops waiting
		// (revision 4): the router's sweeper records the end of a run
		// Temporal has closed.
		err = r.patientlyOr(ctx, "the database (run registry)", stopWaiting, func(budget time.Duration) error {
			return r.local(ctx, budget, "record "+string(outcome), FinishRunActivity, req, nil)
		})
	default:
		actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout:    10 * time.Second,
			ScheduleToCloseTimeout: time.Hour,
			Summary:                "record " + string(outcome),
		})
		err = workflow.ExecuteActivity(actx, FinishRunActivity, req).Get(ctx, nil)
	}
	if err != nil {
		workflow.GetLogger(ctx).Warn("could not record the end of the run", "error", err)
	}
	return JourneyResult{Outcome: outcome, Reason: reason, StepsDone: r.state.StepsDone}, nil
}

// describe writes the run's state as the current details shown in the
// Temporal UI, in words staff can read: where the run stands, when it
// wakes next and why, what it sent or held back and why, open tasks and
// what staff did.
func (r *run) describe(ctx workflow.Context) {
	var b strings.Builder
	fmt.Fprintf(&b, "**%s** for customer `%s` (plan %s): **%s**\n\n", r.plan.Journey, r.input.CustomerID, r.plan.ShortHash(), r.state.Status)
	if r.plan.Scale > 0 {
		fmt.Fprintf(&b, "_Dev time: a day lasts %s; durations below are as written._\n\n", time.Duration(float64(24*time.Hour)*r.plan.Scale))
	}
	if r.state.Status == "running" && r.state.CurrentStep != "" {
		fmt.Fprintf(&b, "Now at step **%s**.", r.state.CurrentStep)
		if w := r.state.PendingWait; w != nil {
			fmt.Fprintf(&b, " Next wake-up: **%s UTC**", w.Until.UTC().Format("Mon 2 Jan 2006 15:04"))
			if w.Why != "" {
				fmt.Fprintf(&b, " (%s)", w.Why)
			}
			if w.ForEvent != "" && w.Kind != WaitForTask {
				fmt.Fprintf(&b, ", or sooner on an event where `%s`", w.ForEvent)
			}
			b.WriteString(".")
			if w.Kind == WaitStep {
				b.WriteString(" Staff can end this wait with the `skip-wait` update.")
			}
		}
		b.WriteString("\n\n")
	}
	if t := r.state.OpenTask; t != nil {
		fmt.Fprintf(&b, "Open task `%s`: %s for the %s queue, due %s UTC (complete it with the `complete-task` update or `rapport tasks complete`).\n\n", t.ID, t.Kind, t.Queue, t.DueAt.UTC().Format("Mon 2 Jan 2006 15:04"))
	}
	if r.state.Reason != "" {
		fmt.Fprintf(&b, "Ended: %s.\n\n", r.state.Reason)
	}
	if len(r.state.Sends) > 0 {
		b.WriteString("Messages:\n")
		for _, s := range r.state.Sends {
			fmt.Fprintf(&b, "- %s %s: %s %s %s", s.At.UTC().Format("2006-01-02 15:04"), s.Step, s.Channel, s.Template, s.Status.Words())
			if s.Reason != "" {
				fmt.Fprintf(&b, " (%s)", s.Reason)
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
	if len(r.state.Actions) > 0 {
		b.WriteString("Staff actions:\n")
		for _, a := range r.state.Actions {
			fmt.Fprintf(&b, "- %s %s by %s", a.At.UTC().Format("2006-01-02 15:04"), a.Kind, a.By)
			if a.Step != "" {
				fmt.Fprintf(&b, " at %s", a.Step)
			}
			if a.Reason != "" {
				fmt.Fprintf(&b, ": %s", a.Reason)
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
	if len(r.state.StepsDone) > 0 {
		fmt.Fprintf(&b, "Steps done: %s.\n", strings.Join(r.state.StepsDone, ", "))
	}
	workflow.SetCurrentDetails(ctx, b.String())
}
