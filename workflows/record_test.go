package workflows

import (
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"

	"github.com/rapporthq/rapport/internal/journey"
)

// TestThankYouRecordsWithItsSend: a revision 7 thank-you reads no facts
// (nothing in it needs them) and records its step and its end with its
// send, running no local activity of its own.
func (s *JourneySuite) TestThankYouRecordsWithItsSend() {
	res := s.run(s.plan(thankYou), journey.Order{ID: "o1"})
	s.Equal(Completed, res.Outcome)
	s.Zero(s.acts.factsCalls, "no facts read")
	s.Zero(s.acts.finishCalls, "no end recorded by the run itself")
	s.Require().Len(s.acts.sends, 1)
	rec := s.acts.sends[0].Record
	s.Require().NotNil(rec)
	s.Equal([]string{"thanks"}, stepIDs(rec.Steps))
	s.Equal(&FinishRunRequest{WorkflowID: s.acts.sends[0].WorkflowID, Outcome: Completed}, rec.End)
	s.Equal([]string{"thanks"}, s.acts.reachedSteps())
	s.Len(s.acts.finished, 1, "the send recorded the end")
}

// TestAnOlderActivityLeavesTheRecordToTheRun: a send activity of a release
// before revision 7 ignores the request's Record and says it recorded
// nothing: the run records its steps and its end itself.
func (s *JourneySuite) TestAnOlderActivityLeavesTheRecordToTheRun() {
	s.acts.ignoreRecord = true
	res := s.run(s.plan(thankYou), journey.Order{ID: "o1"})
	s.Equal(Completed, res.Outcome)
	s.Equal(1, s.acts.finishCalls)
	s.Equal([]string{"thanks"}, stepIDs(s.acts.finished[0].Steps))
}

// TestNothingSentLeavesTheEndToTheRun: a last send that does not go
// records the step but not the end (the activity records an end only for
// a message sent); the run records it.
func (s *JourneySuite) TestNothingSentLeavesTheEndToTheRun() {
	s.acts.answers[journey.Email] = SendFailed
	res := s.run(s.plan(thankYou), journey.Order{ID: "o1"})
	s.Equal(Completed, res.Outcome)
	s.Equal(1, s.acts.finishCalls)
	s.Empty(s.acts.finished[0].Steps, "the send recorded the step")
	s.Equal([]string{"thanks"}, s.acts.reachedSteps())
}

// TestCustomerGoneAtTheSendExits: a run that read no facts learns from
// its send that the customer no longer exists, and exits as it would
// have before its first step.
func (s *JourneySuite) TestCustomerGoneAtTheSendExits() {
	s.acts.missing = true
	res := s.run(s.plan(thankYou), journey.Order{ID: "o1"})
	s.Equal(Exited, res.Outcome)
	s.Equal(CustomerGoneReason, res.Reason)
	s.Equal(1, s.acts.finishCalls, "the run records an end the send did not")
	s.Equal(Exited, s.acts.finished[0].Outcome)
}

// multiChannelLater waits, then sends on the channel the customer
// prefers.
const multiChannelLater = `
journey: later
topic: surveys
trigger: {event: order.placed}
steps:
  - {id: pause, wait: 1d}
  - {id: ask, send: {channel: [sms, email], template: survey}}
`

// TestFactsComeWithTheRestsRecord: a run whose only need of the facts is
// the order of a later step's channels reads them with its first rest's
// record of its steps, and sends on the channel the customer prefers.
func (s *JourneySuite) TestFactsComeWithTheRestsRecord() {
	s.acts.facts.PreferredChannels = []string{"email"}
	calls := -1
	s.env.RegisterDelayedCallback(func() { calls = s.acts.factsCalls }, time.Hour)
	res := s.run(s.plan(multiChannelLater), journey.Order{ID: "o1"})
	s.Equal(Completed, res.Outcome)
	s.Equal(1, calls, "read at the rest")
	s.Equal(1, s.acts.factsCalls, "and not again")
	s.Equal(journey.Email, s.acts.sends[0].Channel, "the customer's order")
}

// TestFactsComeBeforeAFirstMultiChannelSend: with no rest before it, the
// run reads the facts right before the step.
func (s *JourneySuite) TestFactsComeBeforeAFirstMultiChannelSend() {
	s.acts.facts.PreferredChannels = []string{"email"}
	res := s.run(s.plan(`
journey: first
topic: surveys
trigger: {event: order.placed}
steps:
  - {id: ask, send: {channel: [sms, email], template: survey}}
`), journey.Order{ID: "o1"})
	s.Equal(Completed, res.Outcome)
	s.Equal(1, s.acts.factsCalls)
	s.Equal(journey.Email, s.acts.sends[0].Channel)
}

// TestABranchReadsFactsWhenItsConditionsDo: a branch on the event reads
// no facts; one on the customer reads them afresh.
func (s *JourneySuite) TestABranchReadsFactsWhenItsConditionsDo() {
	onEvent := s.plan(`
journey: on-event
topic: surveys
trigger: {event: order.placed}
steps:
  - branch:
      - when: trigger.type == "order.placed"
        steps: [{id: yes, send: {channel: email, template: a}}]
`)
	s.Equal(Completed, s.run(onEvent, journey.Order{ID: "o1"}).Outcome)
	s.Zero(s.acts.factsCalls)

	s.SetupTest()
	s.acts.facts.HasPhone = true
	onCustomer := s.plan(`
journey: on-customer
topic: surveys
trigger: {event: order.placed}
steps:
  - branch:
      - when: customer.has_phone
        steps: [{id: yes, send: {channel: email, template: a}}]
`)
	s.Equal(Completed, s.run(onCustomer, journey.Order{ID: "o1"}).Outcome)
	s.Equal(1, s.acts.factsCalls)
	s.Equal([]string{"yes"}, s.acts.sentSteps())
}

// TestALastTaskRecordsTheEndWithItsCompletion: a run whose last step is a
// task records its steps with the task's creation and its end with the
// task's completion.
func (s *JourneySuite) TestALastTaskRecordsTheEndWithItsCompletion() {
	s.completeTaskAt(time.Hour, CompleteTask{Outcome: "reached"})
	res := s.run(s.plan(`
journey: call
topic: offers
trigger: {event: customer.lapsed}
steps:
  - {id: pause, wait: 10m}
  - branch:
      - when: trigger.type == "order.placed"
        steps:
          - id: call
            task: {kind: phone_call, queue: retention, due_in: 3d, brief: Call them., outcomes: [reached, voicemail]}
`), journey.Order{})
	s.Equal(Completed, res.Outcome)
	s.Zero(s.acts.finishCalls)
	s.Require().Len(s.acts.tasks, 1)
	s.Equal([]string{"branch_2", "call"}, stepIDs(s.acts.tasks[0].Record.Steps), "the task's creation records the branch and the task")
	s.Require().Len(s.acts.updates, 1)
	s.Equal(&Record{End: &FinishRunRequest{WorkflowID: s.acts.tasks[0].WorkflowID, Outcome: Completed}}, s.acts.updates[0].Record)
	s.Equal([]string{"pause", "branch_2", "call"}, s.acts.reachedSteps())
}

// TestAtLastStep: the step the run is in is last when nothing follows it
// at any depth.
func (s *JourneySuite) TestAtLastStep() {
	p := s.plan(`
journey: paths
topic: offers
trigger: {event: order.placed}
steps:
  - {id: a, send: {channel: email, template: a}}
  - branch:
      - when: trigger.type == "x"
        steps:
          - {id: b, send: {channel: email, template: b}}
          - {id: c, send: {channel: email, template: c}}
      - otherwise:
          - {id: d, send: {channel: email, template: d}}
`)
	r := &run{plan: &p, revision: 7}
	for _, tc := range []struct {
		at   []int
		last bool
	}{
		{[]int{0}, false},
		{[]int{1, 0, 0}, false},
		{[]int{1, 0, 1}, true},
		{[]int{1, 1, 0}, true},
	} {
		r.at = tc.at
		s.Equal(tc.last, r.atLastStep(), "%v", tc.at)
	}
}

// TestTheEndIsRecordedOnlyAsTheActivityRecordedIt: the run skips its own
// record of its end only when an activity recorded that very end, with
// every step.
func (s *JourneySuite) TestTheEndIsRecordedOnlyAsTheActivityRecordedIt() {
	r := &run{revision: 7, endRecorded: &FinishRunRequest{Outcome: Completed}}
	s.True(r.endIsRecorded(Completed, ""))
	s.False(r.endIsRecorded(Exited, "exit_when matched order.cancelled event e1"), "an exit that came meanwhile")
	r.stepsReached = []StepReached{{Step: "x"}}
	s.False(r.endIsRecorded(Completed, ""), "a step not recorded yet")
	s.False((&run{revision: 6, endRecorded: &FinishRunRequest{Outcome: Completed}}).endIsRecorded(Completed, ""))
}

func stepIDs(steps []StepReached) []string {
	out := []string{}
	for _, st := range steps {
		out = append(out, st.Step)
	}
	return out
}

// upserts captures the search attribute upserts of the suite's run,
// which starts showing step first in RapportStep, as the router starts
// runs.
func (s *JourneySuite) upserts(first string) *[]temporal.SearchAttributes {
	s.Require().NoError(s.env.SetTypedSearchAttributesOnStart(temporal.NewSearchAttributes(StatusAttr.ValueSet("running"), StepAttr.ValueSet(first))))
	var got []temporal.SearchAttributes
	s.env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		got = append(got, args.Get(0).(temporal.SearchAttributes))
	}).Return(nil)
	return &got
}

// TestTheStepTheStartShowsIsNotSetAgain: a run resting at the first step,
// which its start shows, sets no RapportStep there; it sets the step it
// ends at with its status.
func (s *JourneySuite) TestTheStepTheStartShowsIsNotSetAgain() {
	got := s.upserts("pause")
	res := s.run(s.plan(`
journey: later
topic: offers
trigger: {event: order.placed}
steps:
  - {id: pause, wait: 1d}
  - {id: thanks, send: {channel: email, template: thank-you}}
`), journey.Order{ID: "o1"})
	s.Equal(Completed, res.Outcome)
	s.Require().Len(*got, 1, "one upsert: the end")
	end := (*got)[0]
	step, _ := end.GetKeyword(StepAttr)
	status, _ := end.GetKeyword(StatusAttr)
	s.Equal("thanks", step)
	s.Equal("completed", status)
}

// TestARunEndedBeforeItsFirstStepShowsNone: a run that exits before its
// first step (a purchase in its backlog) sets its end in one upsert (which
// clears the first step its start showed: the server test checks what the
// server keeps).
func (s *JourneySuite) TestARunEndedBeforeItsFirstStepShowsNone() {
	got := s.upserts("offer")
	res := s.run(s.plan(`
journey: winback
topic: offers
trigger: {event: order.placed}
exit_when: event.type == "order.placed" && event.id == "p1"
steps:
  - {id: offer, send: {channel: email, template: winback-offer}}
`), journey.Order{ID: "o1"}, journey.Event{ID: "p1", Type: "order.placed", CustomerID: "c_1"})
	s.Equal(Exited, res.Outcome)
	s.Require().Len(*got, 1)
	status, _ := (*got)[0].GetKeyword(StatusAttr)
	s.Equal("exited", status)
	s.Empty(s.acts.sends)
}
