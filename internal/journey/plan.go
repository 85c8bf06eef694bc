package journey

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/rapporthq/rapport/internal/money"
)

// Purpose says which rules a journey's messages follow.
type Purpose string

const (
	// Marketing messages honour every preference: consent, topics,
	// quiet hours and frequency caps.
	Marketing Purpose = "marketing"
	// Transactional messages (about an order the customer placed) ignore
	// topic opt-outs and frequency caps, never consent to the channel.
	Transactional Purpose = "transactional"
)

// Channel is a way to reach a customer.
type Channel string

// The channels a send step may use.
const (
	Email Channel = "email"
	SMS   Channel = "sms"
	Mail  Channel = "mail"
	// Webhook posts a JSON message to an endpoint the operator configured
	// (SendStep.Endpoint), signed as Standard Webhooks says.
	Webhook Channel = "webhook"
)

// Channels lists every channel in a stable order.
var Channels = []Channel{Email, SMS, Mail, Webhook}

// Kind names what a step does.
type Kind string

// The step kinds.
const (
	KindSend   Kind = "send"
	KindWait   Kind = "wait"
	KindBranch Kind = "branch"
	KindExit   Kind = "exit"
	KindTask   Kind = "task"
	KindSplit  Kind = "split"
	KindRecord Kind = "record"
	KindEmit   Kind = "emit"
)

// Plan is a compiled journey: a plain, serialisable value that is the
// journey workflow's input. A running journey keeps the plan it started
// with, so editing the YAML never changes journeys already under way.
type Plan struct {
	Journey     string  `json:"journey"`
	Description string  `json:"description,omitempty"`
	Purpose     Purpose `json:"purpose"`
	Topic       string  `json:"topic,omitempty"`
	// Priority orders the journey's marketing messages against the
	// customer's others when a frequency cap holds them (empty: normal).
	Priority Priority `json:"priority,omitempty"`
	// OnEdit says what an edit of the journey does to its runs in flight
	// (empty: keep their plan).
	OnEdit   OnEdit  `json:"on_edit,omitempty"`
	Trigger  Trigger `json:"trigger"`
	ExitWhen string  `json:"exit_when,omitempty"`
	// Frequency are the journey's own limits on how often its marketing
	// messages may go, on top of each customer's.
	Frequency []FrequencyCap `json:"frequency,omitempty"`
	// Goal is what the journey is for, if it says: each run records
	// whether and when it converted (see Goal).
	Goal *Goal `json:"goal,omitempty"`
	// Holdout is the percentage of entrants held out as a control group:
	// they enter, are tracked for the goal, and get nothing (see
	// HeldOut). Zero holds out nobody.
	Holdout int    `json:"holdout,omitempty"`
	Steps   []Step `json:"steps"`
	// Templates pins the content of the templates the plan sends: template
	// name to the hash of its files (TemplateVersioner). A run renders
	// these versions whatever happens to the files later; a plan without
	// (compiled without templates, or before pinning) renders the
	// current files. Part of the hash: an edited template is a new plan.
	Templates map[string]string `json:"templates,omitempty"`
	// Source is the file the plan was compiled from. It is not part of the
	// hash: moving a file does not make a new plan.
	Source string `json:"source,omitempty"`
	// Hash identifies the plan's content; see ComputeHash.
	Hash string `json:"hash"`
	// Scale, when above zero, is how much faster than real time the run
	// goes (dev mode's --day): every journey duration has been multiplied
	// by it, and time-of-day waits are too. The durations' text stays as
	// written.
	Scale float64 `json:"scale,omitempty"`
	// ScaleEpoch is when dev time started: dev time at a wall-clock moment
	// t is ScaleEpoch + (t - ScaleEpoch) / Scale, the same for every run.
	ScaleEpoch time.Time `json:"scale_epoch,omitzero"`
}

// Goal is what a journey is for: an event condition and a window. A run
// converts when an event matching When arrives within Within of its
// start (GoalFromEntry, the default) or of the latest message it sent
// (GoalFromLastMessage). Conversions are recorded by the router for every
// run, running or ended, held out or not, so the arms compare.
type Goal struct {
	// When is a condition over the event (and customer, trigger, order),
	// such as event.type == "order.placed".
	When string `json:"when"`
	// Within is the conversion window.
	Within Duration `json:"within"`
	// From is where the window starts: GoalFromEntry (empty) or
	// GoalFromLastMessage.
	From GoalFrom `json:"from,omitempty"`
	// Exit ends a run still in the journey when it converts.
	Exit bool `json:"exit,omitempty"`
}

// Describe says the goal in words: "goal: event.type == \"order.placed\"
// within 14d of entry".
func (g *Goal) Describe() string {
	from := "entry"
	if g.From == GoalFromLastMessage {
		from = "the last message"
	}
	s := fmt.Sprintf("goal: %s within %s of %s", g.When, g.Within, from)
	if g.Exit {
		s += ", and the run ends"
	}
	return s
}

// Covers reports whether an event at t falls in the goal's window, for a
// run that entered at entered and whose latest message sent before t
// went at lastSent (zero when it sent none): from entry, or (GoalFrom
// LastMessage) from that message, from entry when there is none. The
// router (counting conversions) and the interpreter (exiting on one)
// both ask it.
func (g *Goal) Covers(entered, lastSent, t time.Time) bool {
	from := entered
	if g.From == GoalFromLastMessage && lastSent.After(entered) {
		from = lastSent
	}
	return !t.Before(entered) && !t.After(from.Add(g.Within.D))
}

// GoalFrom says where a goal's window starts.
type GoalFrom string

// Where goal windows start.
const (
	// GoalFromEntry: the window starts when the customer enters (the
	// default): held-out customers enter too, so both arms are measured
	// over the same window.
	GoalFromEntry GoalFrom = "entry"
	// GoalFromLastMessage: the window starts at the latest message the run
	// sent before the event (a run that sent nothing: at its entry).
	GoalFromLastMessage GoalFrom = "last_message"
)

// GoalFroms lists them, the default first.
var GoalFroms = []GoalFrom{GoalFromEntry, GoalFromLastMessage}

// MaxGoalWindow bounds a goal's window.
const MaxGoalWindow = 366 * 24 * time.Hour

// MaxHoldout bounds a journey's holdout percentage: a control group larger
// than the treated one measures little and withholds much.
const MaxHoldout = 50

// HeldOut says whether a customer is in the journey's control group: a
// hash of journey and customer, so the same customer is held out every
// time they enter, as split paths are chosen.
func HeldOut(journeyName, customerID string, holdout int) bool {
	if holdout <= 0 {
		return false
	}
	sum := sha256.Sum256([]byte(journeyName + "\x00holdout\x00" + customerID))
	return int(binary.BigEndian.Uint64(sum[:8])%100) < holdout
}

// RecordStep stores a survey answer the journey learnt (an SMS reply "2",
// say), as the survey page would: the answer is kept, and a
// survey.answered event tells the customer's journeys.
type RecordStep struct {
	// Survey names the survey (default: the journey's name).
	Survey string `json:"survey,omitempty"`
	// Score is a CEL expression giving the score, 1 to 5.
	Score string `json:"score"`
	// Comment is a CEL expression giving the comment, if any.
	Comment string `json:"comment,omitempty"`
	// Source says where the answer came from (sms, phone...), for people.
	Source string `json:"source,omitempty"`
	// Order is a CEL expression giving the id of the order the answer is
	// about; empty is the trigger's order (trigger.order.id, else
	// trigger.data.order_id).
	Order string `json:"order,omitempty"`
}

// EmitStep sends an event to the customer's journeys, through the same
// store-first routing as the shop's events: it may start journeys, end
// waits and exits.
type EmitStep struct {
	Event string `json:"event"`
	// Data are the event's data: key to CEL expression, evaluated when
	// the step runs (keys sorted, so the event is the same on replay).
	Data []EmitField `json:"data,omitempty"`
}

// EmitField is one key of an emitted event's data.
type EmitField struct {
	Key  string `json:"key"`
	Expr string `json:"expr"`
}

// Priority orders messages a frequency cap holds: the next free slot goes
// to the highest priority, then to the message held longest.
type Priority string

// Priorities.
const (
	PriorityHigh   Priority = "high"
	PriorityNormal Priority = "normal"
	PriorityLow    Priority = "low"
)

// Priorities lists them, highest first.
var Priorities = []Priority{PriorityHigh, PriorityNormal, PriorityLow}

// Rank is a priority as a number, higher first: high 1, normal (or
// empty) 0, low -1.
func (p Priority) Rank() int {
	switch p {
	case PriorityHigh:
		return 1
	case PriorityLow:
		return -1
	}
	return 0
}

// FrequencyCap limits a journey's marketing messages: at most Max per Per,
// on a channel or (empty) on all.
type FrequencyCap struct {
	Channel Channel  `json:"channel,omitempty"`
	Max     int      `json:"max"`
	Per     Duration `json:"per"`
}

// Trigger says what starts a journey.
type Trigger struct {
	// Event is the event type that starts the journey, such as order.placed.
	Event string `json:"event,omitempty"`
	// When is an optional CEL condition over event, customer and order.
	When string `json:"when,omitempty"`
	// MaxEventAge: an event older than this does not start the journey, so
	// loading history never thanks anyone for last year's order.
	MaxEventAge Duration `json:"max_event_age,omitzero"`
	// For, on an event trigger, makes it a fan-out trigger: an event of
	// the type posted without a customer starts the journey for every
	// customer this condition (over customer, with customer.events and
	// customer.orders, and event) selects (fanout.go).
	For string `json:"for,omitempty"`
	// Audience is a CEL condition over the customer's fields; customers for
	// whom it holds are entered by an audience run instead of an event.
	Audience string `json:"audience,omitempty"`
	// Schedule is when audience runs happen: a cron expression
	// (minute hour day-of-month month day-of-week) read in TimeZone.
	Schedule string `json:"schedule,omitempty"`
	// TimeZone is the IANA zone the schedule is read in; empty is UTC.
	// CustomerTimeZone ("customer") reads it in each customer's own zone:
	// a customer is entered when the schedule's time comes where they
	// live (see Calendar).
	TimeZone string `json:"time_zone,omitempty"`

	// Date, for a calendar trigger, names the customer attribute holding
	// a date (renewal_date for customer.attributes.renewal_date): the
	// customer is entered on that date (every year, or once, as Every
	// says), At local time in their zone, Offset days before or after.
	Date   string `json:"date,omitempty"`
	Every  Every  `json:"every,omitempty"`
	At     string `json:"at,omitempty"`
	Offset Offset `json:"offset,omitzero"`

	// Entry says how often a customer may enter; empty is
	// EntryOncePerEventKey.
	Entry EntryMode `json:"entry,omitempty"`
	// Key is a CEL expression giving the entry key of an event trigger
	// under EntryOncePerEventKey; empty is the event's id.
	Key string `json:"key,omitempty"`
	// Reentry is how long after entering a customer may enter again.
	Reentry Duration `json:"reentry,omitzero"`
	// MaxActive caps the runs of this journey a customer may be in at
	// once. Zero is no cap for event triggers and 1 for audiences; see
	// ActiveCap.
	MaxActive int `json:"max_active,omitempty"`
}

// EntryMode says how often a customer may enter a journey.
type EntryMode string

// Entry modes.
const (
	// EntryOnce: a customer enters the journey at most once, ever.
	EntryOnce EntryMode = "once"
	// EntryOncePerEventKey: once per entry key: the trigger's key (the
	// event id unless the journey names another), or the audience run.
	EntryOncePerEventKey EntryMode = "once_per_event_key"
	// EntryAlways: every trigger event enters, even while the customer is
	// in the journey already (a repeated delivery of one event still
	// enters once).
	EntryAlways EntryMode = "always"
)

// EntryModes lists the entry modes, for messages.
var EntryModes = []EntryMode{EntryOnce, EntryOncePerEventKey, EntryAlways}

// ActiveCap is how many runs of the journey a customer may be in at once;
// zero is no cap.
func (t Trigger) ActiveCap() int {
	if t.MaxActive == 0 && t.Scanned() {
		return 1
	}
	return t.MaxActive
}

// Scanned says whether customers enter by a scan of the customers (an
// audience or a date trigger) rather than by an event.
func (t Trigger) Scanned() bool { return t.Audience != "" || t.Date != "" }

// EntryMode returns the entry mode, with the default filled in.
func (t Trigger) EntryMode() EntryMode {
	if t.Entry == "" {
		return EntryOncePerEventKey
	}
	return t.Entry
}

// DefaultMaxEventAge is how old an event may be and still start a journey,
// unless the journey says otherwise.
const DefaultMaxEventAge = 24 * time.Hour

// Step is one thing a journey does. Exactly one of Send, Wait, Branch and
// Exit is set, as Kind says.
type Step struct {
	ID     string      `json:"id"`
	Kind   Kind        `json:"kind"`
	Line   int         `json:"line"`
	Send   *SendStep   `json:"send,omitempty"`
	Wait   *WaitStep   `json:"wait,omitempty"`
	Branch *BranchStep `json:"branch,omitempty"`
	Exit   *ExitStep   `json:"exit,omitempty"`
	Task   *TaskStep   `json:"task,omitempty"`
	Split  *SplitStep  `json:"split,omitempty"`
	Record *RecordStep `json:"record,omitempty"`
	Emit   *EmitStep   `json:"emit,omitempty"`
}

// SendStep sends one message through the first channel, in order, that
// reaches the customer.
type SendStep struct {
	Channels []Channel `json:"channels"`
	Template string    `json:"template"`
	// Endpoint names the configured webhook endpoint the webhook channel
	// posts to (RAPPORT_WEBHOOK_ENDPOINTS); empty without that channel.
	Endpoint string `json:"endpoint,omitempty"`
	// Voucher, when set, issues a voucher with the message.
	Voucher *VoucherSpec `json:"voucher,omitempty"`
	// Recommend, when set, picks products to suggest in the message.
	Recommend *RecommendSpec `json:"recommend,omitempty"`
	// OnUndeliverable says what happens when no channel works: continue
	// (the default) or exit.
	OnUndeliverable string `json:"on_undeliverable,omitempty"`
	// OnCap says what a frequency cap does to the message: delay it (the
	// default) until the cap allows it, or skip it.
	OnCap string `json:"on_cap,omitempty"`
	// Priority overrides the journey's for this message (empty: the
	// journey's).
	Priority Priority `json:"priority,omitempty"`
}

// VoucherSpec describes the voucher a send step issues: a percentage or an
// amount off, valid for a while.
type VoucherSpec struct {
	Percent float64 `json:"percent,omitempty"`
	// Amount is exact, written as a JSON number (10.50) as a float was,
	// so runs recorded before it was a decimal replay unchanged.
	Amount   money.Amount `json:"amount,omitzero"`
	Currency string       `json:"currency,omitempty"`
	ValidFor Duration     `json:"valid_for"`
}

// RecommendSpec says which products a send step suggests.
type RecommendSpec struct {
	// From is where the taste comes from: "order" (the triggering order).
	From  string `json:"from"`
	Limit int    `json:"limit"`
}

// WaitStep pauses the journey for a while (For), or until an event matching
// UntilEvent arrives or Timeout passes.
type WaitStep struct {
	For        Duration `json:"for,omitzero"`
	UntilEvent string   `json:"until_event,omitempty"`
	Timeout    Duration `json:"timeout,omitzero"`
	// Until is a local time of day ("10:00") in the customer's time zone;
	// On optionally limits it to some weekdays ("mon", "tue", ...).
	Until string   `json:"until,omitempty"`
	On    []string `json:"on,omitempty"`
}

// BranchStep runs the steps of the first case whose condition holds, or
// Otherwise when none does; then the journey continues after the branch.
type BranchStep struct {
	Cases     []Case `json:"cases"`
	Otherwise []Step `json:"otherwise,omitempty"`
}

// Case is one arm of a branch.
type Case struct {
	When  string `json:"when"`
	Steps []Step `json:"steps"`
}

// ExitStep ends the journey.
type ExitStep struct {
	Reason string `json:"reason,omitempty"`
}

// TaskStep asks staff to do something (call the customer) and waits until
// they report an outcome, or the task is overdue.
type TaskStep struct {
	Kind     string   `json:"kind"`
	Queue    string   `json:"queue"`
	DueIn    Duration `json:"due_in"`
	Brief    string   `json:"brief,omitempty"`
	Outcomes []string `json:"outcomes"`
	// OnOverdue is continue, exit or escalate (to EscalateTo).
	OnOverdue  string `json:"on_overdue"`
	EscalateTo string `json:"escalate_to,omitempty"`
}

// Overdue actions.
const (
	OverdueContinue = "continue"
	OverdueExit     = "exit"
	OverdueEscalate = "escalate"
)

// SplitStep sends customers down one of several paths, at random but the
// same path every time for a customer and journey.
type SplitStep struct {
	Paths []SplitPath `json:"paths"`
}

// SplitPath is one path of a split. Weights are percentages. A holdout path
// receives nothing: the run ends there, as a control group.
type SplitPath struct {
	Name    string `json:"name"`
	Weight  int    `json:"weight"`
	Holdout bool   `json:"holdout,omitempty"`
	Steps   []Step `json:"steps,omitempty"`
}

// ComputeHash returns the content hash of a plan: the first 16 hex digits of
// the SHA-256 of its JSON form without Source, Hash and line numbers. Equal
// journeys have equal hashes wherever their files live and however they are
// laid out; any change of meaning changes the hash.
func ComputeHash(p *Plan) string {
	b, err := json.Marshal(p)
	if err != nil { // a Plan holds only plain values; this cannot fail
		panic("journey: marshal plan: " + err.Error())
	}
	var c Plan
	if err := json.Unmarshal(b, &c); err != nil {
		panic("journey: copy plan: " + err.Error())
	}
	c.Source, c.Hash = "", ""
	c.Walk(func(s *Step) { s.Line = 0 })
	if b, err = json.Marshal(&c); err != nil {
		panic("journey: marshal plan: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// ShortHash is the hash as shown to people: its first 7 digits.
func (p *Plan) ShortHash() string {
	if len(p.Hash) < 7 {
		return p.Hash
	}
	return p.Hash[:7]
}

// Walk calls fn for every step of the plan, depth first in document order,
// including the steps inside branches.
func (p *Plan) Walk(fn func(*Step)) {
	walkSteps(p.Steps, fn)
}

func walkSteps(steps []Step, fn func(*Step)) {
	for i := range steps {
		s := &steps[i]
		fn(s)
		if s.Branch != nil {
			for _, c := range s.Branch.Cases {
				walkSteps(c.Steps, fn)
			}
			walkSteps(s.Branch.Otherwise, fn)
		}
		if s.Split != nil {
			for _, p := range s.Split.Paths {
				walkSteps(p.Steps, fn)
			}
		}
	}
}

// ListensForEvents reports whether a running journey reacts to incoming
// events at all (an exit_when, a goal it exits on, or a wait until_event),
// so events need to be delivered to it.
func (p *Plan) ListensForEvents() bool {
	if p.ExitWhen != "" || p.Goal != nil && p.Goal.Exit {
		return true
	}
	listens := false
	p.Walk(func(s *Step) {
		if s.Wait != nil && s.Wait.UntilEvent != "" {
			listens = true
		}
	})
	return listens
}

// Scaled returns a copy of the plan running faster than real time, for
// demos: a day lasts day, and every wait, timeout and task due time shrinks
// with it. Voucher validity is real time (it is printed on the message).
// The hash is the original plan's.
func (p *Plan) Scaled(day time.Duration, epoch time.Time) *Plan {
	b, err := json.Marshal(p)
	if err != nil {
		panic("journey: marshal plan: " + err.Error())
	}
	var c Plan
	if err := json.Unmarshal(b, &c); err != nil {
		panic("journey: copy plan: " + err.Error())
	}
	if day <= 0 || day == 24*time.Hour {
		return &c
	}
	c.ScaleBy(float64(day)/float64(24*time.Hour), epoch)
	return &c
}

// ScaleBy scales an unscaled plan in place, as Scaled does a copy: every
// wait, timeout and task due time is multiplied by scale (above zero), and
// dev time starts at epoch. It is for a plan the caller owns, such as one
// just decoded; it uses no reflection, so workflow code may call it.
func (p *Plan) ScaleBy(scale float64, epoch time.Time) {
	p.Scale = scale
	p.ScaleEpoch = epoch.UTC()
	scaled := func(d *Duration) {
		d.D = time.Duration(float64(d.D) * scale)
		if d.D < time.Millisecond && d.Text != "" {
			d.D = time.Millisecond
		}
	}
	if p.Goal != nil {
		scaled(&p.Goal.Within)
	}
	p.Walk(func(s *Step) {
		switch {
		case s.Wait != nil:
			scaled(&s.Wait.For)
			scaled(&s.Wait.Timeout)
		case s.Task != nil:
			scaled(&s.Task.DueIn)
		}
	})
}

// WithTaskDueFloor returns a copy of a scaled plan whose staff tasks are
// due no sooner than min of wall-clock time, so a person trying dev mode
// at --day=1s can still do a task before it goes overdue. The due time
// people read stays as written.
func (p *Plan) WithTaskDueFloor(min time.Duration) *Plan {
	c := p.Scaled(24*time.Hour, time.Time{}) // a day as long as a day: a copy
	c.Walk(func(s *Step) {
		if s.Task != nil && s.Task.DueIn.D < min {
			s.Task.DueIn.D = min
		}
	})
	return c
}

// DevTime is the journey clock at wall-clock time now: now itself in real
// time, or the faster dev clock of a scaled plan.
func (p *Plan) DevTime(now time.Time) time.Time {
	if p.Scale <= 0 || p.ScaleEpoch.IsZero() { // plans scaled before dev time had an epoch run on the wall clock
		return now
	}
	return p.ScaleEpoch.Add(time.Duration(float64(now.Sub(p.ScaleEpoch)) / p.Scale))
}

// WallDuration turns a span of journey time into wall-clock time: itself,
// or shrunk for a scaled plan.
func (p *Plan) WallDuration(d time.Duration) time.Duration {
	if p.Scale <= 0 {
		return d
	}
	return time.Duration(float64(d) * p.Scale)
}
