// Package workflows holds the journey workflow: a deterministic interpreter
// that walks a compiled journey Plan for one customer. It decides; the
// activities (package activities) do every piece of I/O. This file is the
// contract between the two: names, inputs and results.
package workflows

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/rapporthq/rapport/internal/journey"
)

// TaskQueue is the task queue every Rapport worker polls.
const TaskQueue = "rapport"

// Names of the workflow, its signal, query and activities.
const (
	JourneyWorkflowName = "JourneyWorkflow"
	EventSignal         = "event"
	StateQuery          = "state"

	CustomerFactsActivity = "CustomerFacts"
	SendMessageActivity   = "SendMessage"
	FinishRunActivity     = "FinishRun"
	RecordStepsActivity   = "RecordSteps"
	CreateTaskActivity    = "CreateTask"
	UpdateTaskActivity    = "UpdateTask"
	RecordSplitActivity   = "RecordSplit"
	NextLocalTimeActivity = "NextLocalTime"
	SettleSendActivity    = "SettleSend"

	// CompleteTaskUpdate is the update staff (through the API or the
	// Temporal UI) send when a task is done.
	CompleteTaskUpdate = "complete-task"
	// TaskHandoverUpdate records in a run what staff did to the task it
	// waits for: a claim, an assignment, an unclaim or a note (the API
	// sends it once the task row has changed). Runs take it from
	// revision 6; older ones answer that they know no such update.
	TaskHandoverUpdate = "task-handover"
	// ExitUpdate ends a running journey at once, with a reason.
	ExitUpdate = "exit"
	// SkipWaitUpdate ends the wait step a journey is in, as if its time
	// had come.
	SkipWaitUpdate = "skip-wait"
)

// Search attributes a journey workflow carries. None holds personal data:
// customer ids are the shop's opaque ids.
var (
	CustomerIDAttr = temporal.NewSearchAttributeKeyKeyword("RapportCustomerId")
	JourneyAttr    = temporal.NewSearchAttributeKeyKeyword("RapportJourney")
	StepAttr       = temporal.NewSearchAttributeKeyKeyword("RapportStep")
	PlanHashAttr   = temporal.NewSearchAttributeKeyKeyword("RapportPlanHash")
	StatusAttr     = temporal.NewSearchAttributeKeyKeyword("RapportStatus")
	// OutcomeAttr says, once a run ended, what it came to for the
	// customer (see RunOutcome): the Temporal UI shows every run that
	// returned as Completed, even one that delivered nothing.
	OutcomeAttr = temporal.NewSearchAttributeKeyKeyword("RapportOutcome")
)

// SearchAttributes lists every attribute above, for registration.
var SearchAttributes = []temporal.SearchAttributeKeyKeyword{CustomerIDAttr, JourneyAttr, StepAttr, PlanHashAttr, StatusAttr, OutcomeAttr}

// JourneyInput starts a journey for one customer. The plan travels with
// the workflow, so a running journey never changes when its YAML does.
type JourneyInput struct {
	Plan       journey.Plan  `json:"plan"`
	CustomerID string        `json:"customer_id"`
	EntryKey   string        `json:"entry_key"`
	Trigger    journey.Event `json:"trigger"`
	// Backlog are the customer's events stored after the entry decision
	// and before the run was registered: the run receives them first, as
	// if they had been signalled. Some may arrive as signals too; a run
	// ignores an event it has seen.
	Backlog []journey.Event `json:"backlog,omitempty"`
	// Revision is the interpreter revision stamped by the starter: always
	// the frozen constant Revision (1), or 0 for runs started before
	// revisions existed. The interpreter no longer keys new behaviour on
	// it: runs started now record the revision they run at with
	// workflow.GetVersion (see RevisionChange). It is kept, and stamped,
	// for runs already in flight and for workers of releases that still
	// read it; see docs/development.md, "Changing the interpreter".
	Revision int `json:"revision,omitempty"`
	// Resume is set when the run continued as new: the state it carries
	// into this execution (see continue.go). New runs have none.
	Resume *Resume `json:"resume,omitempty"`
}

// Revision is the interpreter revision starters stamp into JourneyInput.
// It is frozen at 1 forever: workers of earlier releases read it (and
// behave as revision 1), and the interpreter falls back on it for runs
// whose history holds no RevisionChange marker. Never raise it; raise
// CurrentRevision instead.
//
//  1. The run takes in its backlog and already-signalled events before its
//     first step (so a purchase that raced the start ends a win-back before
//     it sends anything); it no longer sets RapportStatus=running, which
//     its start sets; and it records RapportStep when it comes to rest on a
//     step (a wait, a held message, a task) or ends, not on every step;
//     and it records its end in the run registry with a local activity.
const Revision = 1

// CurrentRevision is the newest interpreter revision this release runs.
// A run records the revision it runs at when it starts (the
// RevisionChange version marker): the newest every worker of the fleet
// can run (internal/fleet, RecordRevision), so during a rollout runs keep
// recording the older revision until the last older worker is gone.
//
//  2. An activity or local activity the run depends on that fails past
//     the retry budget (an outage of the database, say) does not end the
//     run as failed: the run notes it, shows "waiting for ..." in its
//     state and details, waits on a durable timer and tries again, for as
//     long as it takes (staff can still exit it).
//  3. The run records what it came to for the customer (RapportOutcome:
//     completed, partly_delivered, nothing_delivered, exited, failed) in
//     the search attributes it sets when it ends; and a scaled plan (dev
//     mode) keeps its own journey clock, so waits end where the journey
//     says in journey time, however late timers fire (devclock.go).
//  4. A run stays bounded however long it waits: it continues as new in
//     the middle of a step when Temporal suggests it (a message held, a
//     send in doubt, an activity failing past its budget) and walks the
//     step again in the next execution; it keeps at most 256 KiB of events
//     for later waits, notes of at most 500 characters, one record per
//     hold or look at a send in doubt, and the first 20 and latest 80
//     staff actions; and its input stays under 1.5 MiB when it continues
//     as new. A local activity that keeps failing gives way after two
//     minutes to the same activity retried by the server (no timers in
//     the history), and a send in doubt is looked at every two minutes at
//     most, sooner when the evidence says when (SettleResult.LookAgainIn).
//     The CEL environment conditions are evaluated in is pinned with it
//     (journey.StringsVersion and TestCELEnvironmentIsPinned).
//  5. The run records the steps it reaches in the run registry (when it
//     comes to rest, and when it ends), for the journey's funnel; a
//     journey whose goal says exit ends a run still in it when an event
//     meets the goal inside its window ("converted: ..."); a record step
//     keeps the order of the run's trigger (trigger.order.id, else
//     trigger.data.order_id) or the one it names. Conditions can read
//     customer.surveys.
//  6. The run takes the task-handover update (TaskHandoverUpdate): what
//     staff did to the task it waits for (a claim, an assignment, an
//     unclaim or a note) joins its staff actions, in its state and its
//     current details. The update only records: it issues no command.
//  7. The run issues fewer commands (billable actions) for what staff
//     and the registry see (record.go): the activities it runs anyway
//     record the steps it reached, and the send or task change that ends
//     the plan's last step records its end, so no local activity does;
//     it reads the customer's facts only when an expression or the order
//     of a step's channels needs them (with the record of a rest when it
//     can), and a branch only when its conditions read them; a send that
//     finds the customer gone ends it; it sets RapportStep only when the
//     step its search attributes show (the starter shows the first) is
//     not the one it rests at; and it records no marker for the narrow
//     changes (continue-as-new, settle-in-doubt, send-waits-out-outages,
//     customer-gone-exits, task-consent), which it always takes.
const CurrentRevision = 7

// Outcome says how a journey run ended.
type Outcome string

// Outcomes.
const (
	Completed Outcome = "completed" // walked every step
	Exited    Outcome = "exited"    // an exit step, or exit_when matched an event
	Failed    Outcome = "failed"    // could not run (a bad plan, say); runs before revision 2 also failed on outages
)

// RunOutcome is what an ended run came to for the customer, as the
// RapportOutcome search attribute holds it.
type RunOutcome string

// Run outcomes. A send step counts as delivered when one of its channels
// sent it (a message left in doubt is not counted: it may not have gone).
const (
	OutcomeCompleted        RunOutcome = "completed"         // walked every step; every send step delivered (or it had none)
	OutcomePartlyDelivered  RunOutcome = "partly_delivered"  // walked every step; some send steps delivered nothing
	OutcomeNothingDelivered RunOutcome = "nothing_delivered" // walked every step; it had send steps and none delivered
	OutcomeExited           RunOutcome = "exited"            // an exit step, exit_when, a purchase, or staff ended it
	OutcomeFailed           RunOutcome = "failed"            // could not run
)

// runOutcome says what a run that ended with outcome came to, from its
// send records.
func runOutcome(outcome Outcome, sends []SendRecord) RunOutcome {
	switch outcome {
	case Exited:
		return OutcomeExited
	case Failed:
		return OutcomeFailed
	}
	var steps []string
	delivered := map[string]bool{}
	for _, s := range sends {
		if _, seen := delivered[s.Step]; !seen {
			steps = append(steps, s.Step)
			delivered[s.Step] = false
		}
		if s.Status == SendSent {
			delivered[s.Step] = true
		}
	}
	n := 0
	for _, step := range steps {
		if delivered[step] {
			n++
		}
	}
	switch {
	case n == len(steps):
		return OutcomeCompleted
	case n == 0:
		return OutcomeNothingDelivered
	}
	return OutcomePartlyDelivered
}

// JourneyResult is the workflow's result.
type JourneyResult struct {
	Outcome   Outcome  `json:"outcome"`
	Reason    string   `json:"reason,omitempty"`
	StepsDone []string `json:"steps_done"`
}

// SendRequest asks the send activity to deliver one step's message on one
// channel.
type SendRequest struct {
	WorkflowID string          `json:"workflow_id"`
	Journey    string          `json:"journey"`
	StepID     string          `json:"step_id"`
	CustomerID string          `json:"customer_id"`
	Channel    journey.Channel `json:"channel"`
	Template   string          `json:"template"`
	// Endpoint is the step's webhook endpoint (journey.SendStep.Endpoint),
	// empty for a step without the webhook channel: the request of every
	// other send is what it was before the channel existed.
	Endpoint string `json:"endpoint,omitempty"`
	// TemplateVersion is the template's content hash the plan pinned
	// (Plan.Templates), or empty to render the current files.
	TemplateVersion string          `json:"template_version,omitempty"`
	Purpose         journey.Purpose `json:"purpose"`
	Topic           string          `json:"topic"`
	// OrderID is the order the journey is about, for the template.
	OrderID string `json:"order_id,omitempty"`
	// Voucher and Recommend are the step's options, if any.
	Voucher   *journey.VoucherSpec   `json:"voucher,omitempty"`
	Recommend *journey.RecommendSpec `json:"recommend,omitempty"`
	// Priority orders the message under frequency caps: the step's, else
	// the journey's (empty: normal).
	Priority journey.Priority `json:"priority,omitempty"`
	// OnCap is the step's on_cap (delay or skip); Caps the journey's own
	// frequency caps.
	OnCap string                 `json:"on_cap,omitempty"`
	Caps  []journey.FrequencyCap `json:"caps,omitempty"`
	// PolicyAt is the journey clock when it runs faster than real time
	// (dev mode); zero means now.
	PolicyAt time.Time `json:"policy_at,omitzero"`
	// TriggerEventID is the event that started the run, for the
	// template (read from the event store); empty for audience runs.
	TriggerEventID string `json:"trigger_event_id,omitempty"`
	// Trigger is the event that started the run when no event store holds
	// it (a date trigger's, with the date in its data), for the template;
	// nil otherwise.
	Trigger *journey.Event `json:"trigger,omitempty"`
	// SkipIfHeld, when set, is the journey's last ask: if the contact
	// rules hold the message again it is skipped with this reason, not
	// left held (where it would go first when a cap frees a slot).
	SkipIfHeld string `json:"skip_if_held,omitempty"`
	// Fallback says why the message goes on this channel and not an
	// earlier one of the step; nil on the step's first channel.
	Fallback *Fallback `json:"fallback,omitempty"`
	// Record is what the activity records in the run registry besides
	// the message (revision 7): the steps reached, and the run's end
	// when the message is sent (End).
	Record *Record `json:"record,omitempty"`
}

// Record is what an activity of a run records in the run registry
// besides its own work (revision 7), so that the run needs no local
// activity of its own to record it: the steps the run reached since it
// last recorded them, and how the run ends when the activity's step is
// its last and comes to its end with the activity (a message sent, a
// task completed). The activity says in its result what it recorded; an
// activity of a release before revision 7 ignores Record and says
// nothing, and the run records it itself.
type Record struct {
	Steps []StepReached `json:"steps,omitempty"`
	// End is how the run ends (its steps are Steps).
	End *FinishRunRequest `json:"end,omitempty"`
}

// Recorded is what an activity says it recorded of its Record.
type Recorded struct {
	// Steps is set when it recorded the Record's steps.
	Steps bool `json:"steps_recorded,omitempty"`
	// End is set when it recorded the run's end.
	End bool `json:"end_recorded,omitempty"`
}

// Fallback is why a send goes on a later channel of its step.
type Fallback struct {
	From   journey.Channel `json:"from"`
	Reason string          `json:"reason"`
}

// IdempotencyKey identifies this send across activity retries (and across
// workflow replays): workflow, step and channel.
func (r SendRequest) IdempotencyKey() string {
	return r.WorkflowID + "#" + r.StepID + "#" + string(r.Channel)
}

// SendStatus is the outcome of a send attempt on one channel.
type SendStatus string

// Send statuses, as recorded in the outbox.
const (
	SendSent    SendStatus = "sent"
	SendFailed  SendStatus = "failed"  // permanently refused; the next channel is tried
	SendSkipped SendStatus = "skipped" // not attempted (no address on this channel)
	SendUnknown SendStatus = "unknown" // may have gone out; not sent again, not fallen back from
	SendHeld    SendStatus = "held"    // the contact rules hold it until HeldUntil (quiet hours, a cap)
)

// Words says a send status for people (the current details, rapport
// inspect).
func (s SendStatus) Words() string {
	switch s {
	case SendHeld:
		return "held back"
	case SendSkipped:
		return "not sent"
	case SendUnknown:
		return "may have been sent (no answer from the provider)"
	}
	return string(s) // sent, failed
}

// SendResult is what the send activity reports.
type SendResult struct {
	Channel           journey.Channel `json:"channel"`
	Status            SendStatus      `json:"status"`
	Reason            string          `json:"reason,omitempty"`
	MessageID         string          `json:"message_id,omitempty"`
	Provider          string          `json:"provider,omitempty"`
	ProviderMessageID string          `json:"provider_message_id,omitempty"`
	// HeldUntil is when a held message may go (in journey time).
	HeldUntil time.Time `json:"held_until,omitzero"`
	// CustomerGone is set when the customer no longer exists (the message
	// is skipped): a run of revision 7, which may not have read the
	// customer's facts before, exits then.
	CustomerGone bool `json:"customer_gone,omitempty"`
	// Recorded says what the activity recorded of the request's Record.
	Recorded
}

// SettleRequest asks what became of a message whose send is in doubt
// (SendUnknown).
type SettleRequest struct {
	MessageID string          `json:"message_id"`
	Channel   journey.Channel `json:"channel"`
}

// Settlement is what the evidence about a message in doubt says.
type Settlement string

// Settlements.
const (
	// Settled: the message has an outcome now (a delivery webhook or the
	// provider's records say it was sent); SettleResult.Send says which.
	Settled Settlement = "settled"
	// Resend: the provider proved it never took the message, or the wait
	// for evidence is over on a channel whose owner prefers at-least-once;
	// the outbox row is pending again and the run sends it again.
	Resend Settlement = "resend"
	// StillInDoubt: no evidence yet; the run asks again later.
	StillInDoubt Settlement = "in_doubt"
	// GaveUp: the wait for evidence is over on an at-most-once channel
	// (email by default): the message stays unknown and is not sent again.
	GaveUp Settlement = "gave_up"
)

// SettleResult is what the settle activity found.
type SettleResult struct {
	Settlement Settlement `json:"settlement"`
	// Reason says what the evidence was, in words.
	Reason string `json:"reason,omitempty"`
	// Send is the message as it stands.
	Send SendResult `json:"send"`
	// LookAgainIn, when set with StillInDoubt, is when the evidence may
	// change (a marketing email proven unsent waits for the transactional
	// ones to go first): the run looks again then rather than after its
	// usual pause. Read from revision 4.
	LookAgainIn time.Duration `json:"look_again_in,omitempty"`
}

// FinishRunRequest records how a run ended in the run registry.
type FinishRunRequest struct {
	WorkflowID string  `json:"workflow_id"`
	Outcome    Outcome `json:"outcome"`
	Reason     string  `json:"reason,omitempty"`
	// Steps are the steps the run reached since it last recorded them
	// (revision 5).
	Steps []StepReached `json:"steps,omitempty"`
}

// StepReached is a step a run entered, and when (workflow time).
type StepReached struct {
	Step string    `json:"step"`
	At   time.Time `json:"at"`
}

// RecordStepsRequest records the steps a run reached, for the funnel.
type RecordStepsRequest struct {
	WorkflowID string        `json:"workflow_id"`
	Steps      []StepReached `json:"steps"`
}

// CreateTaskRequest asks for a staff task to be created (once).
type CreateTaskRequest struct {
	TaskID     string `json:"task_id"`
	WorkflowID string `json:"workflow_id"`
	Journey    string `json:"journey"`
	StepID     string `json:"step_id"`
	CustomerID string `json:"customer_id"`
	Kind       string `json:"kind"`
	Queue      string `json:"queue"`
	// Purpose and Topic are the journey's: a marketing call honours the
	// customer's phone consent and topics as a message would.
	Purpose   journey.Purpose `json:"purpose,omitempty"`
	Topic     string          `json:"topic,omitempty"`
	Brief     string          `json:"brief"`
	Outcomes  []string        `json:"outcomes"`
	DueAt     time.Time       `json:"due_at"`
	LastEvent journey.Event   `json:"last_event"`
	// Record is what the activity records in the run registry besides
	// the task (revision 7): the steps reached.
	Record *Record `json:"record,omitempty"`
}

// CreateTaskResult says whether the task was created: a call is not asked
// of staff for a customer who opted out of phone calls.
type CreateTaskResult struct {
	Created bool   `json:"created"`
	Reason  string `json:"reason,omitempty"`
	// Recorded says what the activity recorded of the request's Record.
	Recorded
}

// UpdateTaskRequest changes a task: completed with an outcome, moved to
// another queue, marked overdue or cancelled.
type UpdateTaskRequest struct {
	TaskID string `json:"task_id"`
	// WorkflowID is the run's, sent with Record (revision 7).
	WorkflowID string    `json:"workflow_id,omitempty"`
	Status     string    `json:"status"` // completed, escalated, overdue or cancelled
	Outcome    string    `json:"outcome,omitempty"`
	Notes      string    `json:"notes,omitempty"`
	Queue      string    `json:"queue,omitempty"`
	DueAt      time.Time `json:"due_at,omitzero"`
	// Record is what the activity records in the run registry besides
	// the task's change (revision 7): the steps reached, and the run's
	// end when the task was its last step and the change ends the step
	// (completed, or overdue with the journey going on).
	Record *Record `json:"record,omitempty"`
}

// UpdateTaskResult is what the task update activity reports (revision 7
// reads it; earlier runs read nothing).
type UpdateTaskResult struct {
	// Recorded says what the activity recorded of the request's Record.
	Recorded
}

// CompleteTask is the complete-task update's argument.
type CompleteTask struct {
	TaskID  string `json:"task_id"`
	Outcome string `json:"outcome"`
	Notes   string `json:"notes,omitempty"`
	// By names who did the task, for the record.
	By string `json:"by,omitempty"`
}

// Kinds of TaskHandover, as the task row records them.
const (
	HandoverClaim   = "claim"   // a person took the task
	HandoverAssign  = "assign"  // someone gave the task to a person
	HandoverUnclaim = "unclaim" // the task went back to its queue
	HandoverNote    = "note"    // a note for whoever works on it next
)

// MaxHandoverNote bounds the note a task-handover update carries, as
// staff's reasons are bounded (the task row keeps longer notes: the API
// sends a longer one cut to this).
const MaxHandoverNote = maxReason

// TaskHandover is the task-handover update's argument: one thing staff
// did to the task the run waits for.
type TaskHandover struct {
	TaskID string `json:"task_id"`
	// Kind is claim, assign, unclaim or note.
	Kind string `json:"kind"`
	// By names who did it ("staff" when empty).
	By string `json:"by,omitempty"`
	// To is who holds the task after a claim or an assignment.
	To string `json:"to,omitempty"`
	// From is who held it before an assignment or an unclaim.
	From string `json:"from,omitempty"`
	// Note is a note's words (at most MaxHandoverNote characters).
	Note string `json:"note,omitempty"`
}

// Exit is the exit update's argument: why staff end the journey.
type Exit struct {
	Reason string `json:"reason"`
	// By names who asked, for the record ("staff" when empty).
	By string `json:"by,omitempty"`
}

// SkipWait is the skip-wait update's argument.
type SkipWait struct {
	// Step, when set, is the wait step staff mean to skip: the update is
	// refused if the journey waits elsewhere (it moved on meanwhile).
	Step   string `json:"step,omitempty"`
	Reason string `json:"reason,omitempty"`
	By     string `json:"by,omitempty"`
}

// RecordSplitRequest records the path a run took at a split.
type RecordSplitRequest struct {
	WorkflowID string `json:"workflow_id"`
	StepID     string `json:"step_id"`
	Journey    string `json:"journey"`
	CustomerID string `json:"customer_id"`
	Path       string `json:"path"`
	Holdout    bool   `json:"holdout"`
}

// NextLocalTimeRequest asks when a time of day next comes in the customer's
// time zone, after a moment, on the given weekdays (any day when empty).
type NextLocalTimeRequest struct {
	CustomerID string    `json:"customer_id"`
	At         string    `json:"at"` // "10:00"
	On         []string  `json:"on,omitempty"`
	After      time.Time `json:"after"`
}

// NextLocalTime is that moment, and the zone it was computed in.
type NextLocalTime struct {
	Time time.Time `json:"time"`
	Zone string    `json:"zone"`
}

// TaskID is the deterministic id of the task a run creates at a step.
func TaskID(workflowID, stepID string) string {
	sum := sha256.Sum256([]byte(workflowID + "#" + stepID))
	return "task_" + hex.EncodeToString(sum[:10])
}

// ErrCustomerNotFound is the error type the facts activity fails with when
// the customer does not exist.
const ErrCustomerNotFound = "CustomerNotFound"

// WorkflowID is the deterministic id of a journey run:
// rapport/<journey>/<customer>/<entry-key>. Starting the same entry twice
// finds the first run.
func WorkflowID(journeyName, customerID, entryKey string) string {
	return fmt.Sprintf("rapport/%s/%s/%s", journeyName, customerID, entryKey)
}

var idPartRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$`)

// ValidIDPart reports whether s can be a customer id or entry key inside a
// workflow id: 1-128 letters, digits, _ . : -, starting with a letter or
// digit. This keeps ids unambiguous and keeps email addresses (which hold
// an @) out of workflow ids, which Temporal does not encrypt.
func ValidIDPart(s string) bool {
	return idPartRe.MatchString(s)
}

// Activity timeouts and retries used by the interpreter.
const (
	sendStartToClose  = 30 * time.Second
	localActivityTime = 10 * time.Second
)
