package workflows

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"github.com/stretchr/testify/suite"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/rapporthq/rapport/internal/journey"
)

// fakeActivities stands in for package activities: it records sends and
// answers per channel as told.
type fakeActivities struct {
	mu       sync.Mutex
	facts    journey.Customer
	missing  bool
	answers  map[journey.Channel]SendStatus
	sends    []SendRequest
	finished []FinishRunRequest
	reached  []StepReached // RecordSteps and FinishRun
	tasks    []CreateTaskRequest
	updates  []UpdateTaskRequest
	splits   []RecordSplitRequest
	nextAt   time.Duration                       // NextLocalTime answers After + nextAt
	noCalls  bool                                // CreateTask declines
	holds    map[journey.Channel][]time.Duration // SendMessage holds for these, in turn
	// down, when set, says whether the database is down now: CustomerFacts
	// and NextLocalTime then fail as they would.
	down       func() bool
	factsCalls int
	// sendDown, when set, says whether SendMessage fails now (the
	// provider or the database down).
	sendDown func() bool
	// settles are SettleSend's answers, in turn (then still in doubt); a
	// Resend makes the channel's next send go out.
	settles     []Settlement
	settleCalls []SettleRequest
	recorded    []RecordAnswerRequest
	emitted     []EmitEventRequest
	moved       []MoveRunRequest
	lookAgain   time.Duration
	downOnly    journey.Channel
	// ignoreRecord makes the activities ignore a request's Record, as
	// those of a release before revision 7 do.
	ignoreRecord bool
	// finishCalls counts the run's own FinishRun (local activity) calls;
	// finished holds those and the ends activities recorded.
	finishCalls int
}

func (f *fakeActivities) MoveRun(_ context.Context, req MoveRunRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down != nil && f.down() {
		return errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")
	}
	f.moved = append(f.moved, req)
	return nil
}

func (f *fakeActivities) RecordAnswer(_ context.Context, req RecordAnswerRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recorded = append(f.recorded, req)
	return nil
}

func (f *fakeActivities) EmitEvent(_ context.Context, req EmitEventRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.emitted = append(f.emitted, req)
	return nil
}

func (f *fakeActivities) SettleSend(_ context.Context, req SettleRequest) (SettleResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.settleCalls = append(f.settleCalls, req)
	res := SettleResult{Settlement: StillInDoubt, Reason: "no evidence yet", Send: SendResult{Channel: req.Channel, Status: SendUnknown, MessageID: req.MessageID}}
	if len(f.settles) > 0 {
		res.Settlement, f.settles = f.settles[0], f.settles[1:]
	}
	if res.Settlement == StillInDoubt {
		res.LookAgainIn = f.lookAgain
	}
	switch res.Settlement {
	case Settled:
		res.Reason, res.Send.Status = "was in doubt; settled as sent by the provider's records", SendSent
	case Resend:
		res.Reason = "the provider has no record of it (proven not sent)"
		res.Send.Status = "pending"
		f.answers[req.Channel] = SendSent
	case GaveUp:
		res.Reason = "in doubt: no evidence within 6h0m0s; not sent again"
	}
	return res, nil
}

func (f *fakeActivities) CreateTask(_ context.Context, req CreateTaskRequest) (CreateTaskResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tasks = append(f.tasks, req)
	if f.noCalls {
		return CreateTaskResult{Reason: "opted out of phone", Recorded: f.take(req.Record, false)}, nil
	}
	return CreateTaskResult{Created: true, Recorded: f.take(req.Record, false)}, nil
}

func (f *fakeActivities) UpdateTask(_ context.Context, req UpdateTaskRequest) (UpdateTaskResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.updates = append(f.updates, req)
	return UpdateTaskResult{Recorded: f.take(req.Record, true)}, nil
}

// take records what an activity's Record asks, as the activities do: the
// steps, and the end when the activity's step came to its end (ended).
// Called with f.mu held.
func (f *fakeActivities) take(rec *Record, ended bool) Recorded {
	var did Recorded
	if rec == nil || f.ignoreRecord {
		return did
	}
	if len(rec.Steps) > 0 {
		f.reached = append(f.reached, rec.Steps...)
		did.Steps = true
	}
	if rec.End != nil && ended {
		f.finished = append(f.finished, *rec.End)
		did.End = true
	}
	return did
}

func (f *fakeActivities) RecordSplit(_ context.Context, req RecordSplitRequest) error {
	f.splits = append(f.splits, req)
	return nil
}

func (f *fakeActivities) NextLocalTime(_ context.Context, req NextLocalTimeRequest) (NextLocalTime, error) {
	if f.down != nil && f.down() {
		return NextLocalTime{}, errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")
	}
	return NextLocalTime{Time: req.After.Add(f.nextAt), Zone: "Europe/London"}, nil
}

func (f *fakeActivities) CustomerFacts(_ context.Context, id string) (journey.Customer, error) {
	f.mu.Lock()
	f.factsCalls++
	f.mu.Unlock()
	if f.down != nil && f.down() {
		return journey.Customer{}, fmt.Errorf("load customer %s: dial tcp 127.0.0.1:5432: connect: connection refused", id)
	}
	if f.missing {
		return journey.Customer{}, temporal.NewNonRetryableApplicationError("no customer", ErrCustomerNotFound, nil)
	}
	c := f.facts
	c.ID = id
	return c, nil
}

func (f *fakeActivities) SendMessage(_ context.Context, req SendRequest) (SendResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sends = append(f.sends, req)
	if f.sendDown != nil && (f.downOnly == "" || f.downOnly == req.Channel) && f.sendDown() {
		if req.Channel == journey.Mail {
			return SendResult{}, temporal.NewApplicationError("lob answered 429", ErrProviderUnavailable)
		}
		return SendResult{}, errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")
	}
	if f.missing { // as the send activity answers for a customer who no longer exists
		return SendResult{Channel: req.Channel, Status: SendSkipped, Reason: "the customer no longer exists", CustomerGone: true, Recorded: f.take(req.Record, false)}, nil
	}
	if hs := f.holds[req.Channel]; len(hs) > 0 {
		f.holds[req.Channel] = hs[1:]
		if req.SkipIfHeld != "" { // as the send activity does on the last ask
			return SendResult{Channel: req.Channel, Status: SendSkipped, Reason: req.SkipIfHeld + " (quiet hours)"}, nil
		}
		// Tests that hold use a scaled plan, whose requests carry the
		// journey clock.
		return SendResult{Channel: req.Channel, Status: SendHeld, Reason: "quiet hours (21:00-08:00) until Mon 23 Nov 08:00 Europe/London", HeldUntil: req.PolicyAt.Add(hs[0]),
			Recorded: f.take(req.Record, false)}, nil
	}
	status := SendSent
	if s, ok := f.answers[req.Channel]; ok {
		status = s
	}
	res := SendResult{Channel: req.Channel, Status: status, Reason: string(status) + " by test", MessageID: req.IdempotencyKey()}
	res.Recorded = f.take(req.Record, status == SendSent)
	return res, nil
}

func (f *fakeActivities) FinishRun(_ context.Context, req FinishRunRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.finishCalls++
	f.finished = append(f.finished, req)
	f.reached = append(f.reached, req.Steps...)
	return nil
}

func (f *fakeActivities) RecordSteps(_ context.Context, req RecordStepsRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reached = append(f.reached, req.Steps...)
	return nil
}

// reachedSteps are the ids of the steps recorded as reached, in order.
func (f *fakeActivities) reachedSteps() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []string{}
	for _, st := range f.reached {
		out = append(out, st.Step)
	}
	return out
}

func (f *fakeActivities) sentSteps() []string {
	var out []string
	for _, s := range f.sends {
		if f.answers[s.Channel] == "" || f.answers[s.Channel] == SendSent {
			out = append(out, s.StepID)
		}
	}
	return out
}

type JourneySuite struct {
	suite.Suite
	testsuite.WorkflowTestSuite
	env  *testsuite.TestWorkflowEnvironment
	acts *fakeActivities
	comp *journey.Compiler
}

func TestJourneyWorkflow(t *testing.T) { suite.Run(t, new(JourneySuite)) }

func (s *JourneySuite) SetupTest() {
	var err error
	s.comp, err = journey.NewCompiler(journey.Options{})
	s.Require().NoError(err)
	s.env = s.NewTestWorkflowEnvironment()
	s.acts = &fakeActivities{answers: map[journey.Channel]SendStatus{}}
	NewInterpreter(s.comp.Env()).Register(s.env)
	s.env.RegisterActivityWithOptions(s.acts.CustomerFacts, activity.RegisterOptions{Name: CustomerFactsActivity})
	s.env.RegisterActivityWithOptions(s.acts.SendMessage, activity.RegisterOptions{Name: SendMessageActivity})
	s.env.RegisterActivityWithOptions(s.acts.FinishRun, activity.RegisterOptions{Name: FinishRunActivity})
	s.env.RegisterActivityWithOptions(s.acts.RecordSteps, activity.RegisterOptions{Name: RecordStepsActivity})
	s.env.RegisterActivityWithOptions(s.acts.CreateTask, activity.RegisterOptions{Name: CreateTaskActivity})
	s.env.RegisterActivityWithOptions(s.acts.UpdateTask, activity.RegisterOptions{Name: UpdateTaskActivity})
	s.env.RegisterActivityWithOptions(s.acts.RecordSplit, activity.RegisterOptions{Name: RecordSplitActivity})
	s.env.RegisterActivityWithOptions(s.acts.NextLocalTime, activity.RegisterOptions{Name: NextLocalTimeActivity})
	s.env.RegisterActivityWithOptions(s.acts.SettleSend, activity.RegisterOptions{Name: SettleSendActivity})
	s.env.RegisterActivityWithOptions(s.acts.RecordAnswer, activity.RegisterOptions{Name: RecordAnswerActivity})
	s.env.RegisterActivityWithOptions(s.acts.EmitEvent, activity.RegisterOptions{Name: EmitEventActivity})
}

func (s *JourneySuite) plan(yaml string) journey.Plan {
	p, diags := s.comp.Compile("test.yaml", []byte(yaml))
	s.Require().False(diags.HasErrors(), diags.Error())
	return *p
}

func trigger(order journey.Order) journey.Event {
	return journey.Event{ID: "evt_trigger", Type: "order.placed", CustomerID: "c_1", OccurredAt: time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC), Order: order}
}

// run runs a plan as runs start now (the current interpreter revision);
// replay_test.go covers runs started under earlier ones.
func (s *JourneySuite) run(p journey.Plan, order journey.Order, backlog ...journey.Event) JourneyResult {
	s.env.ExecuteWorkflow(JourneyWorkflowName, JourneyInput{Plan: p, CustomerID: "c_1", EntryKey: "evt_trigger", Trigger: trigger(order), Backlog: backlog, Revision: Revision})
	s.Require().True(s.env.IsWorkflowCompleted())
	s.Require().NoError(s.env.GetWorkflowError())
	var res JourneyResult
	s.Require().NoError(s.env.GetWorkflowResult(&res))
	return res
}

func (s *JourneySuite) signalAt(after time.Duration, ev journey.Event) {
	s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(EventSignal, ev) }, after)
}

func (s *JourneySuite) state() State {
	v, err := s.env.QueryWorkflow(StateQuery)
	s.Require().NoError(err)
	var st State
	s.Require().NoError(v.Get(&st))
	return st
}

const thankYou = `
journey: thank-you
purpose: transactional
trigger: {event: order.placed}
steps:
  - id: thanks
    send: {channel: email, template: thank-you}
`

// thankYouReadingFacts is thankYou with an exit_when that reads the
// customer's facts: its runs read them before their first step, which
// from revision 7 only such runs do.
const thankYouReadingFacts = thankYou + `exit_when: event.type == "customer.erased" && customer.orders_count >= 0
`

func (s *JourneySuite) TestThankYouSendsOnceAndCompletes() {
	res := s.run(s.plan(thankYou), journey.Order{ID: "o1", Total: 20})
	s.Equal(Completed, res.Outcome)
	s.Equal([]string{"thanks"}, res.StepsDone)
	s.Require().Len(s.acts.sends, 1)
	req := s.acts.sends[0]
	s.Equal("thank-you", req.Template)
	s.Equal("o1", req.OrderID)
	s.Equal(journey.Transactional, req.Purpose)
	s.Equal(journey.Email, req.Channel)
	s.Require().Len(s.acts.finished, 1)
	s.Equal(FinishRunRequest{WorkflowID: req.WorkflowID, Outcome: Completed, Steps: s.acts.finished[0].Steps}, s.acts.finished[0])
	s.Equal([]string{"thanks"}, s.acts.reachedSteps(), "the step reached goes with the end of a run that never rested")
	st := s.state()
	s.Equal("completed", st.Status)
	s.Require().Len(st.Sends, 1)
	s.Equal(SendSent, st.Sends[0].Status)
}

const winback = `
journey: winback
topic: offers
trigger: {event: customer.lapsed}
exit_when: event.type == "order.placed"
steps:
  - id: offer
    send: {channel: email, template: winback-offer}
  - id: wait_for_reply
    wait:
      until_event: event.type == "survey.answered"
      timeout: 14d
  - id: route
    branch:
      - when: event.type == "survey.answered" && event.data.score <= 2
        steps:
          - {id: sorry, send: {channel: email, template: sorry}}
      - when: event.type == "survey.answered"
        steps:
          - {id: thanks, send: {channel: email, template: thanks}}
      - otherwise:
          - {id: nudge, send: {channel: [sms, email], template: nudge}}
  - id: cool_off
    wait: {for: 7d}
  - id: last
    send: {channel: email, template: last}
`

func survey(id string, score float64) journey.Event {
	return journey.Event{ID: id, Type: "survey.answered", CustomerID: "c_1", Data: map[string]any{"score": score}}
}

func (s *JourneySuite) TestWaitEndsEarlyWhenTheEventArrives() {
	var waitingAt State
	s.env.RegisterDelayedCallback(func() { waitingAt = s.state() }, 2*24*time.Hour)
	s.signalAt(3*24*time.Hour, survey("evt_s", 1))
	start := s.env.Now()
	res := s.run(s.plan(winback), journey.Order{})

	s.Equal(Completed, res.Outcome)
	s.Equal([]string{"offer", "sorry", "last"}, s.acts.sentSteps())
	s.Equal([]string{"offer", "wait_for_reply", "sorry", "route", "cool_off", "last"}, res.StepsDone)
	s.WithinDuration(start.Add(10*24*time.Hour), s.env.Now(), time.Minute, "3 days of waiting, then 7")

	s.Equal("wait_for_reply", waitingAt.CurrentStep)
	s.Require().NotNil(waitingAt.PendingWait)
	s.Equal(`event.type == "survey.answered"`, waitingAt.PendingWait.ForEvent)
	s.WithinDuration(start.Add(14*24*time.Hour), waitingAt.PendingWait.Until, time.Minute)
	s.Equal([]string{"offer"}, waitingAt.StepsDone)
}

func (s *JourneySuite) TestWaitTimesOutAndTheJourneyGoesOn() {
	s.acts.answers[journey.SMS] = SendSkipped // no phone number: falls back to email
	start := s.env.Now()
	res := s.run(s.plan(winback), journey.Order{})

	s.Equal(Completed, res.Outcome)
	s.WithinDuration(start.Add(21*24*time.Hour), s.env.Now(), time.Minute, "the full 14 days, then 7")
	var channels []journey.Channel
	for _, r := range s.acts.sends {
		if r.StepID == "nudge" {
			channels = append(channels, r.Channel)
		}
	}
	s.Equal([]journey.Channel{journey.SMS, journey.Email}, channels, "sms first, then email")
	s.Equal([]string{"offer", "nudge", "last"}, s.acts.sentSteps())
	st := s.state()
	s.Contains(st.Notes, "wait_for_reply: no matching event within 14d")
}

func (s *JourneySuite) TestExitWhenFiresMidWait() {
	s.signalAt(5*24*time.Hour, survey("evt_noise", 5))
	s.signalAt(8*24*time.Hour, journey.Event{ID: "evt_order", Type: "order.placed", CustomerID: "c_1"})
	p := s.plan(winback)
	// Make the first wait ignore surveys so the run is still waiting when
	// the order comes in.
	p.Steps[1].Wait.UntilEvent = `event.type == "never"`
	start := s.env.Now()
	res := s.run(p, journey.Order{})

	s.Equal(Exited, res.Outcome)
	s.Equal("exit_when matched order.placed event evt_order", res.Reason)
	s.Equal([]string{"offer"}, s.acts.sentSteps(), "nothing after the purchase")
	s.WithinDuration(start.Add(8*24*time.Hour), s.env.Now(), time.Minute, "exits the moment the order arrives")
	s.Require().Len(s.acts.finished, 1)
	s.Equal(Exited, s.acts.finished[0].Outcome)
	st := s.state()
	s.Equal("exited", st.Status)
	s.Equal(2, st.EventsReceived)
}

func (s *JourneySuite) TestEventDuringSendCountsForTheNextWait() {
	// The survey answer arrives at once, before the wait has begun.
	s.signalAt(time.Millisecond, survey("evt_fast", 5))
	res := s.run(s.plan(winback), journey.Order{})
	s.Equal(Completed, res.Outcome)
	s.Equal([]string{"offer", "thanks", "last"}, s.acts.sentSteps())
}

func (s *JourneySuite) TestRepeatedAndTriggerEventsAreIgnored() {
	s.signalAt(time.Hour, trigger(journey.Order{})) // SignalWithStart delivers the trigger too
	s.signalAt(2*time.Hour, survey("evt_dup", 1))
	s.signalAt(3*time.Hour, survey("evt_dup", 1))
	s.run(s.plan(winback), journey.Order{})
	s.Equal(1, s.state().EventsReceived)
}

func (s *JourneySuite) TestBranchOnCustomerAndOrder() {
	p := s.plan(`
journey: gifts
purpose: transactional
trigger: {event: order.placed}
steps:
  - branch:
      - when: order.gift && customer.attributes.tier == "gold"
        steps: [{id: gold_gift, send: {channel: email, template: a}}]
      - when: order.gift
        steps: [{id: gift, send: {channel: email, template: b}}]
      - otherwise:
          - exit: not a gift
  - {id: after, send: {channel: email, template: c}}
`)
	for _, tc := range []struct {
		tier    string
		gift    bool
		sent    []string
		outcome Outcome
	}{
		{"gold", true, []string{"gold_gift", "after"}, Completed},
		{"silver", true, []string{"gift", "after"}, Completed},
		{"gold", false, nil, Exited},
	} {
		s.SetupTest()
		s.acts.facts.Attributes = map[string]any{"tier": tc.tier}
		res := s.run(p, journey.Order{ID: "o", Gift: tc.gift})
		s.Equal(tc.outcome, res.Outcome, "%+v", tc)
		s.Equal(tc.sent, s.acts.sentSteps(), "%+v", tc)
	}
}

func (s *JourneySuite) TestBranchConditionErrorsCountAsFalse() {
	p := s.plan(`
journey: attrs
purpose: transactional
trigger: {event: order.placed}
steps:
  - branch:
      - when: customer.attributes.missing == "x"
        steps: [{id: never, send: {channel: email, template: a}}]
      - otherwise: [{id: fallback, send: {channel: email, template: b}}]
`)
	res := s.run(p, journey.Order{})
	s.Equal(Completed, res.Outcome)
	s.Equal([]string{"fallback"}, s.acts.sentSteps())
	s.Contains(s.state().Notes[0], "could not be evaluated")
}

func (s *JourneySuite) TestNothingSentIsNotedAndTheJourneyGoesOn() {
	s.acts.answers[journey.Email] = SendFailed
	s.acts.answers[journey.SMS] = SendSkipped
	p := s.plan(`
journey: both
purpose: transactional
trigger: {event: order.placed}
steps:
  - {id: a, send: {channel: [email, sms], template: t}}
  - {id: b, wait: 1h}
`)
	res := s.run(p, journey.Order{})
	s.Equal(Completed, res.Outcome)
	s.Equal([]string{"a", "b"}, res.StepsDone)
	s.Equal([]string{"a: nothing sent (email failed: failed by test; sms skipped: skipped by test)"}, s.state().Notes)
}

func (s *JourneySuite) TestUnknownCustomerExitsTheRun() {
	s.acts.missing = true // erased, say: the run exits, it has not failed
	res := s.run(s.plan(thankYouReadingFacts), journey.Order{})
	s.Equal(Exited, res.Outcome)
	s.Equal(CustomerGoneReason, res.Reason)
	s.Empty(s.acts.sends)
}

func (s *JourneySuite) TestSendRetriesThenFallsBack() {
	attempts := 0
	s.env.OnActivity(SendMessageActivity, mock.Anything, mock.Anything).Return(func(_ context.Context, req SendRequest) (SendResult, error) {
		if req.Channel == journey.Email {
			attempts++
			return SendResult{}, temporal.NewApplicationError("sendgrid answered 503", "ProviderUnavailable")
		}
		return SendResult{Channel: req.Channel, Status: SendSent}, nil
	})
	p := s.plan(`
journey: retry
purpose: transactional
trigger: {event: order.placed}
steps:
  - {id: a, send: {channel: [email, sms], template: t}}
`)
	res := s.run(p, journey.Order{})
	s.Equal(Completed, res.Outcome)
	s.Greater(attempts, 5, "retried with backoff for the whole schedule-to-close time")
	st := s.state()
	s.Require().Len(st.Sends, 2)
	s.Equal(SendFailed, st.Sends[0].Status)
	s.Contains(st.Sends[0].Reason, "gave up")
	s.Equal(SendSent, st.Sends[1].Status)
}

func TestWorkflowIDs(t *testing.T) {
	assert.Equal(t, "rapport/thank-you/c_123/evt_9", WorkflowID("thank-you", "c_123", "evt_9"))
	assert.True(t, ValidIDPart("c_123"))
	assert.True(t, ValidIDPart("8f14e45f-ceea-467a-9575-95d16a2bf5e3"))
	assert.False(t, ValidIDPart("ada@example.com"), "no email addresses in workflow ids")
	assert.False(t, ValidIDPart("a/b"))
	assert.False(t, ValidIDPart(""))
}

func TestRootCause(t *testing.T) {
	require.Equal(t, "inner", rootCause(fmt.Errorf("outer: %w", errors.New("inner"))))
}

// A purchase stored while the win-back was being entered reaches it as
// backlog: the run ends before its first send.
func (s *JourneySuite) TestBacklogEndsTheRunBeforeItSends() {
	purchase := journey.Event{ID: "evt_order", Type: "order.placed", CustomerID: "c_1", OccurredAt: time.Date(2026, 1, 5, 10, 1, 0, 0, time.UTC)}
	res := s.run(s.plan(winback), journey.Order{}, purchase)
	s.Equal(Exited, res.Outcome)
	s.Equal("exit_when matched order.placed event evt_order", res.Reason)
	s.Empty(s.acts.sends, "nothing is sent to a customer who just bought")
	s.Equal([]FinishRunRequest{{WorkflowID: "default-test-workflow-id", Outcome: Exited, Reason: res.Reason}}, s.acts.finished)
	s.Equal(1, s.state().EventsReceived)
}

// An event in the backlog that is also signalled counts once.
func (s *JourneySuite) TestBacklogAndSignalCountOnce() {
	answer := journey.Event{ID: "evt_answer", Type: "survey.answered", CustomerID: "c_1", Data: map[string]any{"score": 5}}
	s.signalAt(time.Minute, answer)
	res := s.run(s.plan(winback), journey.Order{}, answer)
	s.Equal(Completed, res.Outcome)
	s.Equal(1, s.state().EventsReceived)
	s.Contains(s.state().Notes, "wait_for_reply: ended by survey.answered event evt_answer")
}

// TestTriggerAndOrdersInConditions: after a wait took in another event,
// `event` is that event while `trigger` is still the one that started the
// run; `customer.orders` are the facts' recent orders; a send on a
// fallback channel says which channel it falls back from and why, and
// every send names the trigger and the pinned template version.
func (s *JourneySuite) TestTriggerAndOrdersInConditions() {
	s.acts.facts = journey.Customer{HasEmail: true, Orders: []journey.Order{
		{ID: "o2", Total: 30, Gift: true, Items: []journey.Item{{ProductID: "mug", Name: "Mug", Quantity: 1, Price: 30}}},
		{ID: "o1", Total: 20, Gift: true},
	}}
	s.acts.answers[journey.SMS] = SendSkipped
	p := s.plan(`
journey: cart
purpose: transactional
trigger: {event: cart.abandoned}
steps:
  - wait: {until_event: event.type == "email.opened", timeout: 2d}
  - branch:
      - when: >-
          event.type == "email.opened" && trigger.type == "cart.abandoned" &&
          trigger.data.items.exists(i, i.sku == "tea") &&
          customer.orders.size() == 2 && customer.orders.all(o, o.gift) && customer.orders[0].items[0].product_id == "mug"
        steps:
          - {id: remind, send: {channel: [sms, email], template: cart}}
      - otherwise:
          - exit: conditions did not see the data
`)
	p.Templates = map[string]string{"cart": "c0ffee"} // as a compiler with the template files pins them
	s.signalAt(time.Hour, journey.Event{ID: "evt_open", Type: "email.opened", CustomerID: "c_1"})
	ev := journey.Event{ID: "evt_cart", Type: "cart.abandoned", CustomerID: "c_1", Data: map[string]any{"items": []any{map[string]any{"sku": "tea"}}}}
	s.env.ExecuteWorkflow(JourneyWorkflowName, JourneyInput{Plan: p, CustomerID: "c_1", EntryKey: ev.ID, Trigger: ev, Revision: Revision})
	s.Require().True(s.env.IsWorkflowCompleted())
	s.Require().NoError(s.env.GetWorkflowError())
	var res JourneyResult
	s.Require().NoError(s.env.GetWorkflowResult(&res))
	s.Equal(Completed, res.Outcome, res.Reason)
	s.Require().Len(s.acts.sends, 2)
	s.Equal(journey.SMS, s.acts.sends[0].Channel)
	s.Nil(s.acts.sends[0].Fallback, "the first channel falls back from nothing")
	s.Equal("evt_cart", s.acts.sends[0].TriggerEventID)
	s.Equal(journey.Email, s.acts.sends[1].Channel)
	s.Equal(&Fallback{From: journey.SMS, Reason: "not sent: skipped by test"}, s.acts.sends[1].Fallback)
	s.Equal("evt_cart", s.acts.sends[1].TriggerEventID)
	s.Equal("c0ffee", s.acts.sends[0].TemplateVersion, "the pinned template version")
	s.Equal("c0ffee", s.acts.sends[1].TemplateVersion)
}

// TestRecordAndEmit: an SMS reply "2" becomes a recorded survey answer
// (from sms) and an event for the customer's other journeys, with data
// evaluated from the run's variables; a reply that is not a score records
// nothing and says why.
func (s *JourneySuite) TestRecordAndEmit() {
	p := s.plan(`
journey: rate-by-text
topic: surveys
trigger: {event: order.delivered}
steps:
  - id: wait_reply
    wait: {until_event: event.type == "sms.replied", timeout: 2d}
  - id: answer
    record: {survey: satisfaction, score: int(event.data.body), comment: "'by text: ' + event.data.body", source: sms}
  - id: tell
    emit:
      event: care.needed
      data: {order_id: trigger.data.order_id, score: int(event.data.body), unhappy: int(event.data.body) <= 2}
`)
	s.signalAt(time.Hour, journey.Event{ID: "sms-1", Type: "sms.replied", CustomerID: "c_1", Data: map[string]any{"body": "2"}})
	ev := journey.Event{ID: "evt_del", Type: "order.delivered", CustomerID: "c_1", Data: map[string]any{"order_id": "o-7"}}
	s.env.ExecuteWorkflow(JourneyWorkflowName, JourneyInput{Plan: p, CustomerID: "c_1", EntryKey: ev.ID, Trigger: ev, Revision: Revision})
	s.Require().True(s.env.IsWorkflowCompleted())
	s.Require().NoError(s.env.GetWorkflowError())

	s.Require().Len(s.acts.recorded, 1)
	a := s.acts.recorded[0]
	s.Equal("satisfaction", a.Survey)
	s.Equal(2, a.Score)
	s.Equal("by text: 2", a.Comment)
	s.Equal("sms", a.Source)
	s.Equal("answer", a.StepID)
	s.Equal("o-7", a.OrderID, "the answer keeps the order of the delivery that started the run")
	s.NotEmpty(a.SurveyID)

	s.Require().Len(s.acts.emitted, 1)
	e := s.acts.emitted[0].Event
	s.Equal("care.needed", e.Type)
	s.Equal("c_1", e.CustomerID)
	s.Equal(EmittedEventID("default-test-workflow-id", "tell"), e.ID, "one id per run and step: emitting again changes nothing")
	s.Equal(map[string]any{"order_id": "o-7", "score": float64(2), "unhappy": true, EmitDepthKey: float64(1)}, e.Data)
	st := s.state()
	s.Contains(st.Notes, "answer: recorded satisfaction answer 2 (sms)")
}

// TestRecordRefusesANonScore: a reply that is not a score from 1 to 5
// records nothing, and the run says why and goes on.
func (s *JourneySuite) TestRecordRefusesANonScore() {
	p := s.plan(`
journey: rate-by-text
topic: surveys
trigger: {event: order.delivered}
steps:
  - id: answer
    record: {score: double(trigger.data.body)}
  - id: tell
    emit: {event: rated}
`)
	ev := journey.Event{ID: "evt_del", Type: "order.delivered", CustomerID: "c_1", Data: map[string]any{"body": "9"}}
	s.env.ExecuteWorkflow(JourneyWorkflowName, JourneyInput{Plan: p, CustomerID: "c_1", EntryKey: ev.ID, Trigger: ev, Revision: Revision})
	s.Require().True(s.env.IsWorkflowCompleted())
	s.Require().NoError(s.env.GetWorkflowError())
	s.Empty(s.acts.recorded)
	s.Contains(s.state().Notes, "answer: no answer recorded: the score is 9, not a whole number from 1 to 5")
	s.Require().Len(s.acts.emitted, 1, "the journey goes on")

	// An event at the end of a chain of emits is not emitted again.
	s.SetupTest()
	deep := journey.Event{ID: "emit-deep", Type: "order.delivered", CustomerID: "c_1", Data: map[string]any{"body": "3", EmitDepthKey: float64(5)}}
	s.env.ExecuteWorkflow(JourneyWorkflowName, JourneyInput{Plan: p, CustomerID: "c_1", EntryKey: deep.ID, Trigger: deep, Revision: Revision})
	s.Require().NoError(s.env.GetWorkflowError())
	s.Len(s.acts.recorded, 1)
	s.Empty(s.acts.emitted, "a chain of emits stops")
}

// TestNowInConditions: `now` is the workflow's time where a condition is
// evaluated (the same on replay), with CEL's date functions in a zone.
func (s *JourneySuite) TestNowInConditions() {
	p := s.plan(`
journey: timing
purpose: transactional
trigger: {event: order.placed}
steps:
  - wait: 3h
  - branch:
      - when: now - trigger.occurred_at >= duration("3h") && now.getHours("Asia/Tokyo") == 22
        steps: [{id: late, send: {channel: email, template: t}}]
      - otherwise: [{exit: now is not the workflow's time}]
`)
	start := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC) // 19:00 in Tokyo
	s.env.SetStartTime(start)
	ev := trigger(journey.Order{})
	ev.OccurredAt = start
	s.env.ExecuteWorkflow(JourneyWorkflowName, JourneyInput{Plan: p, CustomerID: "c_1", EntryKey: ev.ID, Trigger: ev, Revision: Revision})
	s.Require().True(s.env.IsWorkflowCompleted())
	s.Require().NoError(s.env.GetWorkflowError())
	var res JourneyResult
	s.Require().NoError(s.env.GetWorkflowResult(&res))
	s.Equal(Completed, res.Outcome, res.Reason)
	s.Equal([]string{"late"}, s.acts.sentSteps())
}

// TestDevClockKeepsJourneyTime: at --day=1s, sends that take real time
// (0.6 s, 14 journey hours each) do not push later steps: the second send
// is decided a journey day after the first, as the journey says, not a
// day and a half.
func (s *JourneySuite) TestDevClockKeepsJourneyTime() {
	p := s.plan(`
journey: paced
purpose: transactional
trigger: {event: order.placed}
steps:
  - {id: first, send: {channel: email, template: t}}
  - wait: 1d
  - {id: second, send: {channel: email, template: t}}
  - wait: 1d
  - {id: third, send: {channel: email, template: t}}
`)
	start := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	s.env.SetStartTime(start)
	scaled := *p.Scaled(time.Second, start)
	var mu sync.Mutex
	var at []time.Time
	s.env.OnActivity(SendMessageActivity, mock.Anything, mock.Anything).After(600 * time.Millisecond).Return(
		func(_ context.Context, req SendRequest) (SendResult, error) {
			mu.Lock()
			defer mu.Unlock()
			at = append(at, req.PolicyAt)
			return SendResult{Channel: req.Channel, Status: SendSent}, nil
		})
	s.env.ExecuteWorkflow(JourneyWorkflowName, JourneyInput{Plan: scaled, CustomerID: "c_1", EntryKey: "e", Trigger: trigger(journey.Order{}), Revision: Revision})
	s.Require().True(s.env.IsWorkflowCompleted())
	s.Require().NoError(s.env.GetWorkflowError())
	s.Require().Len(at, 3)
	for i, want := range []time.Time{start, start.Add(24 * time.Hour), start.Add(48 * time.Hour)} {
		s.WithinDuration(want, at[i], 5*time.Minute, "send %d at journey time %s", i+1, at[i])
	}
}

// TestDevClockAfterATask: a staff task moves a scaled run's journey clock
// on by the time it took, so a wait after it still lasts its length.
func (s *JourneySuite) TestDevClockAfterATask() {
	p := s.plan(`
journey: call-then-wait
purpose: transactional
trigger: {event: order.placed}
steps:
  - task: {kind: call, queue: care, due_in: 1d}
  - wait: 1d
  - {id: after, send: {channel: email, template: t}}
`)
	start := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	s.env.SetStartTime(start)
	scaled := *p.Scaled(time.Second, start)
	s.env.ExecuteWorkflow(JourneyWorkflowName, JourneyInput{Plan: scaled, CustomerID: "c_1", EntryKey: "e", Trigger: trigger(journey.Order{}), Revision: Revision})
	s.Require().True(s.env.IsWorkflowCompleted())
	s.Require().NoError(s.env.GetWorkflowError())
	s.Require().Len(s.acts.sends, 1)
	s.WithinDuration(start.Add(48*time.Hour), s.acts.sends[0].PolicyAt, 5*time.Minute, "a day for the task, then a day's wait")
}
