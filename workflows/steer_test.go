package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/rapporthq/rapport/internal/journey"
)

// updateAt sends an update after a delay and reports how it went.
func (s *JourneySuite) updateAt(after time.Duration, name string, arg any) *steerResult {
	res := &steerResult{}
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(name, fmt.Sprintf("%s-%v", name, after), &testsuite.TestUpdateCallback{
			OnAccept: func() {},
			OnReject: func(err error) { res.rejected = err },
			OnComplete: func(v any, err error) {
				res.done, res.err = true, err
				if st, ok := v.(State); ok {
					res.state = st
				}
			},
		}, arg)
	}, after)
	return res
}

type steerResult struct {
	rejected error
	done     bool
	err      error
	state    State
}

func (s *JourneySuite) TestStaffExitEndsTheRunMidWait() {
	noReason := s.updateAt(time.Hour, ExitUpdate, Exit{Reason: "  "})
	tooLong := s.updateAt(2*time.Hour, ExitUpdate, Exit{Reason: strings.Repeat("x", 501)})
	exit := s.updateAt(3*24*time.Hour, ExitUpdate, Exit{Reason: "customer asked by phone to stop", By: "sam"})
	start := s.env.Now()
	res := s.run(s.plan(winback), journey.Order{})

	s.ErrorContains(noReason.rejected, "give a reason")
	s.ErrorContains(tooLong.rejected, "the reason is 501 characters; keep it under 500")
	s.Require().NoError(exit.rejected)
	s.True(exit.done)
	s.NoError(exit.err)
	s.Equal("exited", exit.state.Status, "the update answers once the run has ended")

	s.Equal(Exited, res.Outcome)
	s.Equal("exited by sam: customer asked by phone to stop", res.Reason)
	s.Equal([]string{"offer"}, s.acts.sentSteps(), "nothing after staff ended it")
	s.WithinDuration(start.Add(3*24*time.Hour), s.env.Now(), time.Minute)
	s.Require().Len(s.acts.finished, 1)
	s.Equal("exited by sam: customer asked by phone to stop", s.acts.finished[0].Reason)
	st := s.state()
	s.Require().Len(st.Actions, 1)
	s.Equal(StaffAction{Kind: ExitUpdate, By: "sam", Reason: "customer asked by phone to stop", Step: "wait_for_reply", At: st.Actions[0].At}, st.Actions[0])
	s.WithinDuration(start.Add(3*24*time.Hour), st.Actions[0].At, time.Minute)
}

func (s *JourneySuite) TestStaffExitCancelsTheOpenTask() {
	s.updateAt(time.Hour, ExitUpdate, Exit{Reason: "handled in person"})
	res := s.run(s.plan(fmt.Sprintf(callJourney, "continue")), journey.Order{})
	s.Equal(Exited, res.Outcome)
	s.Equal("exited by staff: handled in person", res.Reason)
	s.Require().Len(s.acts.updates, 1)
	s.Equal("cancelled", s.acts.updates[0].Status)
}

func (s *JourneySuite) TestSkipWaitEndsTheWaitStep() {
	var waiting State
	s.env.RegisterDelayedCallback(func() { waiting = s.state() }, time.Hour)
	wrongStep := s.updateAt(2*time.Hour, SkipWaitUpdate, SkipWait{Step: "cool_off"})
	skip := s.updateAt(24*time.Hour, SkipWaitUpdate, SkipWait{Step: "wait_for_reply", Reason: "spoke to them", By: "sam"})
	skip2 := s.updateAt(25*time.Hour, SkipWaitUpdate, SkipWait{})
	start := s.env.Now()
	res := s.run(s.plan(winback), journey.Order{})

	s.Require().NotNil(waiting.PendingWait)
	s.Equal(WaitStep, waiting.PendingWait.Kind)
	s.Equal("wait 14d or until event.type == \"survey.answered\"", waiting.PendingWait.Why)
	s.ErrorContains(wrongStep.rejected, "this journey waits at step wait_for_reply, not cool_off")
	s.Require().NoError(skip.rejected)
	s.True(skip.done)
	s.Equal([]string{"offer", "wait_for_reply"}, skip.state.StepsDone, "answered once the run left the wait")
	s.Require().NoError(skip2.rejected, "the second skips cool_off")

	s.Equal(Completed, res.Outcome)
	s.Equal([]string{"offer", "nudge", "last"}, s.acts.sentSteps(), "no answer: the otherwise path")
	s.WithinDuration(start.Add(25*time.Hour), s.env.Now(), time.Minute, "both waits skipped")
	st := s.state()
	s.Contains(st.Notes, "wait_for_reply: wait skipped by staff; no matching event")
	s.Contains(st.Notes, "cool_off: wait skipped by staff")
	s.Require().Len(st.Actions, 2)
	s.Equal("sam", st.Actions[0].By)
	s.Equal("wait_for_reply", st.Actions[0].Step)
	s.Equal("staff", st.Actions[1].By)
	s.Equal("cool_off", st.Actions[1].Step)
}

func (s *JourneySuite) TestSkipWaitRefusedOutsideWaitSteps() {
	onTask := s.updateAt(time.Hour, SkipWaitUpdate, SkipWait{})
	s.completeTaskAt(2*time.Hour, CompleteTask{Outcome: "reached", By: "kim"})
	res := s.run(s.plan(fmt.Sprintf(callJourney, "continue")), journey.Order{})
	s.Equal(Completed, res.Outcome)
	s.ErrorContains(onTask.rejected, "this journey is not in a wait step now")
	st := s.state()
	s.Require().Len(st.Actions, 1)
	s.Equal(StaffAction{Kind: CompleteTaskUpdate, By: "kim", Reason: "reached", Step: "call", At: st.Actions[0].At}, st.Actions[0])
}

func (s *JourneySuite) TestHeldMessagesAreListedWithTheirReason() {
	plan := s.plan(`
journey: held
purpose: transactional
trigger: {event: order.placed}
steps:
  - {id: text, send: {channel: sms, template: t}}
`)
	p := plan.Scaled(12*time.Hour, s.env.Now())
	s.acts.holds = map[journey.Channel][]time.Duration{journey.SMS: {10 * time.Hour}}
	var held State
	s.env.RegisterDelayedCallback(func() { held = s.state() }, time.Hour)
	refused := s.updateAt(2*time.Hour, SkipWaitUpdate, SkipWait{})
	s.run(*p, journey.Order{})

	s.Require().NotNil(held.PendingWait)
	s.Equal(WaitHeld, held.PendingWait.Kind)
	s.Contains(held.PendingWait.Why, "sms t held: quiet hours")
	s.ErrorContains(refused.rejected, "a held message waits for the customer's contact rules")
	st := s.state()
	s.Require().Len(st.Sends, 2)
	s.Equal(SendHeld, st.Sends[0].Status)
	s.Contains(st.Sends[0].Reason, "quiet hours")
	s.Equal(SendSent, st.Sends[1].Status)
}
