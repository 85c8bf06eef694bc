package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/rapporthq/rapport/internal/journey"
)

const callJourney = `
journey: call
topic: offers
trigger: {event: customer.lapsed}
exit_when: event.type == "order.placed"
steps:
  - id: call
    task:
      kind: phone_call
      queue: retention
      due_in: 3d
      brief: Ask why they stopped ordering.
      outcomes: [reached, voicemail, declined]
      on_overdue: %s
  - branch:
      - when: task.overdue
        steps: [{id: late, send: {channel: email, template: sorry-we-missed-you}}]
      - when: task.outcome == "declined"
        steps: [{exit: declined}]
      - otherwise:
          - {id: thanks, send: {channel: email, template: thanks-for-talking}}
`

// update sends complete-task after a delay and reports how it went.
type updateResult struct {
	rejected error
	done     bool
}

func (s *JourneySuite) completeTaskAt(after time.Duration, c CompleteTask) *updateResult {
	res := &updateResult{}
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(CompleteTaskUpdate, fmt.Sprintf("u-%v-%s", after, c.Outcome), &testsuite.TestUpdateCallback{
			OnAccept:   func() {},
			OnReject:   func(err error) { res.rejected = err },
			OnComplete: func(any, error) { res.done = true },
		}, c)
	}, after)
	return res
}

func (s *JourneySuite) TestTaskCompletedThroughTheUpdate() {
	var taskID string
	var open State
	s.env.RegisterDelayedCallback(func() { open = s.state() }, time.Hour)
	wrong := s.completeTaskAt(2*time.Hour, CompleteTask{Outcome: "emailed"})
	right := s.completeTaskAt(26*time.Hour, CompleteTask{Outcome: "reached", Notes: "happy to hear from us", By: "sam"})
	again := s.completeTaskAt(27*time.Hour, CompleteTask{Outcome: "reached"})
	start := s.env.Now()
	res := s.run(s.plan(fmt.Sprintf(callJourney, "continue")+"  - wait: 1d\n"), journey.Order{})

	s.Equal(Completed, res.Outcome)
	s.Require().Len(s.acts.tasks, 1)
	taskID = s.acts.tasks[0].TaskID
	s.Equal(TaskID(s.acts.tasks[0].WorkflowID, "call"), taskID)
	s.Equal("retention", s.acts.tasks[0].Queue)
	s.WithinDuration(start.Add(72*time.Hour), s.acts.tasks[0].DueAt, time.Minute)
	s.Require().NotNil(open.OpenTask)
	s.Equal(taskID, open.OpenTask.ID)

	s.ErrorContains(wrong.rejected, `unknown outcome "emailed"; this task's outcomes are reached, voicemail, declined`)
	s.True(right.done)
	s.ErrorContains(again.rejected, "this journey is not waiting for a task now")
	s.Equal([]string{"thanks"}, s.acts.sentSteps())
	s.Equal([]UpdateTaskRequest{{TaskID: taskID, Status: "completed", Outcome: "reached", Notes: "happy to hear from us"}}, s.acts.updates)
	s.Nil(s.state().OpenTask)
}

func (s *JourneySuite) TestTaskOutcomeDeclinedExits() {
	s.completeTaskAt(time.Hour, CompleteTask{Outcome: "declined"})
	res := s.run(s.plan(fmt.Sprintf(callJourney, "continue")), journey.Order{})
	s.Equal(Exited, res.Outcome)
	s.Equal("declined", res.Reason)
	s.Empty(s.acts.sends)
}

func (s *JourneySuite) TestTaskOverdueContinues() {
	start := s.env.Now()
	res := s.run(s.plan(fmt.Sprintf(callJourney, "continue")), journey.Order{})
	s.Equal(Completed, res.Outcome)
	s.Equal([]string{"late"}, s.acts.sentSteps())
	s.Equal("overdue", s.acts.updates[0].Status)
	s.WithinDuration(start.Add(72*time.Hour), s.env.Now(), time.Minute)
}

func (s *JourneySuite) TestTaskOverdueExits() {
	res := s.run(s.plan(fmt.Sprintf(callJourney, "exit")), journey.Order{})
	s.Equal(Exited, res.Outcome)
	s.Contains(res.Reason, "was not done in time")
	s.Equal("cancelled", s.acts.updates[0].Status)
}

func (s *JourneySuite) TestTaskEscalatesOnceThenCompletes() {
	right := s.completeTaskAt(100*time.Hour, CompleteTask{Outcome: "voicemail"})
	start := s.env.Now()
	res := s.run(s.plan(fmt.Sprintf(callJourney, "escalate to retention-leads")), journey.Order{})
	s.Equal(Completed, res.Outcome)
	s.True(right.done)
	s.Require().Len(s.acts.updates, 2)
	esc := s.acts.updates[0]
	s.Equal("escalated", esc.Status)
	s.Equal("retention-leads", esc.Queue)
	s.WithinDuration(start.Add(144*time.Hour), esc.DueAt, time.Second, "a fresh due time after the first one passed")
	s.Equal("voicemail", s.acts.updates[1].Outcome)
	s.Equal([]string{"thanks"}, s.acts.sentSteps())
}

func (s *JourneySuite) TestOpenTaskIsCancelledWhenTheJourneyExits() {
	s.signalAt(24*time.Hour, journey.Event{ID: "evt_order", Type: "order.placed", CustomerID: "c_1"})
	res := s.run(s.plan(fmt.Sprintf(callJourney, "continue")), journey.Order{})
	s.Equal(Exited, res.Outcome)
	s.Require().Len(s.acts.updates, 1)
	s.Equal("cancelled", s.acts.updates[0].Status, "the task leaves the staff's list")
}

const splitJourney = `
journey: split-test
topic: offers
trigger: {event: customer.lapsed}
steps:
  - id: test
    split:
      - {path: email, weight: 45, steps: [{id: by_email, send: {channel: email, template: a}}]}
      - {path: sms, weight: 45, steps: [{id: by_sms, send: {channel: sms, template: a}}]}
      - {path: control, weight: 10, holdout: true}
  - {id: after, send: {channel: email, template: b}}
`

func (s *JourneySuite) TestSplitIsDeterministicAndRecorded() {
	p := s.plan(splitJourney)
	counts := map[string]int{}
	for i := range 2000 {
		path := ChoosePath(p.Journey, "test", fmt.Sprintf("c_%d", i), p.Steps[0].Split.Paths)
		counts[path.Name]++
		s.Equal(path, ChoosePath(p.Journey, "test", fmt.Sprintf("c_%d", i), p.Steps[0].Split.Paths), "the same customer always takes the same path")
	}
	s.InDelta(900, counts["email"], 90)
	s.InDelta(900, counts["sms"], 90)
	s.InDelta(200, counts["control"], 60)

	want := ChoosePath(p.Journey, "test", "c_1", p.Steps[0].Split.Paths)
	res := s.run(p, journey.Order{})
	s.Require().Len(s.acts.splits, 1)
	s.Equal(want.Name, s.acts.splits[0].Path)
	s.Equal([]string{"test: " + want.Name}, s.state().Splits)
	if want.Holdout {
		s.Equal(Exited, res.Outcome)
		s.Empty(s.acts.sends)
	} else {
		s.Equal(Completed, res.Outcome)
		s.Len(s.acts.sends, 2)
	}
}

func (s *JourneySuite) TestHoldoutReceivesNothing() {
	p := s.plan(splitJourney)
	// Find a customer the hash puts in the control group.
	var customer string
	for i := 0; customer == ""; i++ {
		if ChoosePath(p.Journey, "test", fmt.Sprintf("c_%d", i), p.Steps[0].Split.Paths).Holdout {
			customer = fmt.Sprintf("c_%d", i)
		}
	}
	s.env.ExecuteWorkflow(JourneyWorkflowName, JourneyInput{Plan: p, CustomerID: customer, EntryKey: "e", Trigger: trigger(journey.Order{})})
	var res JourneyResult
	s.Require().NoError(s.env.GetWorkflowResult(&res))
	s.Equal(Exited, res.Outcome)
	s.Equal("holdout group control of split test", res.Reason)
	s.Empty(s.acts.sends)
	s.True(s.acts.splits[0].Holdout)
}

func (s *JourneySuite) TestWaitUntilTimeOfDay() {
	s.acts.nextAt = 19 * time.Hour
	p := s.plan(`
journey: morning
purpose: transactional
trigger: {event: order.placed}
steps:
  - wait: {until: "10:00", on: [mon, tue]}
  - {id: hello, send: {channel: email, template: t}}
`)
	start := s.env.Now()
	s.run(p, journey.Order{})
	s.WithinDuration(start.Add(19*time.Hour), s.env.Now(), time.Minute)

	s.SetupTest()
	s.acts.nextAt = 19 * time.Hour
	start = s.env.Now()
	s.run(*p.Scaled(time.Hour, s.env.Now()), journey.Order{}) // a day lasts an hour
	s.WithinDuration(start.Add(19*time.Hour/24), s.env.Now(), time.Minute, "time-of-day waits shrink with dev time")
}

func (s *JourneySuite) TestOnUndeliverableExit() {
	s.acts.answers[journey.Email] = SendSkipped
	p := s.plan(`
journey: must-reach
purpose: transactional
trigger: {event: order.placed}
steps:
  - {id: a, send: {channel: email, template: t, on_undeliverable: exit}}
  - {id: b, send: {channel: email, template: t}}
`)
	res := s.run(p, journey.Order{})
	s.Equal(Exited, res.Outcome)
	s.Contains(res.Reason, "a: nothing sent")
	s.Len(s.acts.sends, 1)
}

func (s *JourneySuite) TestSendCarriesVoucherAndRecommend() {
	p := s.plan(`
journey: offer
topic: offers
trigger: {event: order.placed}
steps:
  - {id: a, send: {channel: email, template: t, voucher: {percent: 10, valid_for: 30d}, recommend: {limit: 2}}}
`)
	s.run(p, journey.Order{ID: "o1"})
	s.Require().Len(s.acts.sends, 1)
	s.Equal(10.0, s.acts.sends[0].Voucher.Percent)
	s.Equal(2, s.acts.sends[0].Recommend.Limit)
	s.Equal("o1", s.acts.sends[0].OrderID)
}

func (s *JourneySuite) TestHeldMessagesWaitThenSend() {
	// A day lasts 12 hours: the plan runs at twice real speed.
	plan := s.plan(`
journey: held
purpose: transactional
trigger: {event: order.placed}
steps:
  - {id: text, send: {channel: sms, template: t}}
`)
	p := plan.Scaled(12*time.Hour, s.env.Now())
	s.acts.holds = map[journey.Channel][]time.Duration{journey.SMS: {10 * time.Hour, 2 * time.Hour}}
	start := s.env.Now()
	res := s.run(*p, journey.Order{})
	s.Equal(Completed, res.Outcome)
	s.Require().Len(s.acts.sends, 3, "held twice, then sent")
	s.WithinDuration(start.Add(6*time.Hour), s.env.Now(), time.Minute, "12 journey hours of holds at twice real speed")
	s.False(s.acts.sends[1].PolicyAt.IsZero())
	s.True(s.acts.sends[2].PolicyAt.After(s.acts.sends[1].PolicyAt))
	s.Contains(s.state().Notes[0], "text: sms held: quiet hours")
}

// TestHeldFiftyTimesIsGivenUp: the 50th ask tells the send activity it is
// the last (SkipIfHeld), so the outbox row is skipped rather than left
// held, and the journey goes on.
func (s *JourneySuite) TestHeldFiftyTimesIsGivenUp() {
	plan := s.plan(`
journey: held
purpose: transactional
trigger: {event: order.placed}
steps:
  - {id: text, send: {channel: sms, template: t}}
  - {id: after, send: {channel: email, template: t}}
`)
	p := plan.Scaled(24*time.Hour, s.env.Now())
	holds := make([]time.Duration, 60)
	for i := range holds {
		holds[i] = time.Hour
	}
	s.acts.holds = map[journey.Channel][]time.Duration{journey.SMS: holds}
	res := s.run(*p, journey.Order{})
	s.Equal(Completed, res.Outcome)
	var texts []SendRequest
	for _, r := range s.acts.sends {
		if r.Channel == journey.SMS {
			texts = append(texts, r)
		}
	}
	s.Require().Len(texts, maxHolds)
	for i, r := range texts {
		if i < maxHolds-1 {
			s.Empty(r.SkipIfHeld, "ask %d", i+1)
		}
	}
	s.Equal("held back 50 times in a row; given up", texts[maxHolds-1].SkipIfHeld)
	st := s.state()
	last := st.Sends[len(st.Sends)-2]
	s.Equal(SendSkipped, last.Status)
	s.Equal("held back 50 times in a row; given up (quiet hours)", last.Reason)
	s.Equal("after", st.Sends[len(st.Sends)-1].Step, "the journey goes on")
}

func (s *JourneySuite) TestPreferredChannelOrder() {
	s.acts.facts.PreferredChannels = []string{"sms"}
	p := s.plan(`
journey: order
purpose: transactional
trigger: {event: order.placed}
steps:
  - {id: hello, send: {channel: [email, mail, sms], template: t}}
`)
	s.run(p, journey.Order{})
	s.Equal(journey.SMS, s.acts.sends[0].Channel, "the customer prefers texts")
}

func (s *JourneySuite) TestNoCallForCustomersWhoOptedOut() {
	s.acts.noCalls = true
	res := s.run(s.plan(fmt.Sprintf(callJourney, "continue")), journey.Order{})
	s.Equal(Completed, res.Outcome)
	s.Empty(s.acts.updates, "no task to update")
	s.Equal([]string{"thanks"}, s.acts.sentSteps(), "task.skipped is neither declined nor overdue")
	s.Contains(s.state().Notes, "call: no task: opted out of phone")
}
