package workflows

import (
	"time"

	"github.com/rapporthq/rapport/internal/journey"
)

// nudgeWithGoal sends, waits a week, sends again; its goal (a purchase
// within 10 days of entry) ends the run.
const nudgeWithGoal = `
journey: nudge
topic: offers
trigger: {event: order.placed}
goal: {when: event.type == "order.placed", within: 10d, exit: true}
steps:
  - id: first
    send: {channel: email, template: nudge}
  - id: pause
    wait: 7d
  - id: second
    send: {channel: email, template: nudge-again}
`

func purchase(id string, at time.Time) journey.Event {
	return journey.Event{ID: id, Type: "order.placed", CustomerID: "c_1", OccurredAt: at, Order: journey.Order{ID: "o-" + id, Total: 30}}
}

// TestStepsReachedAreRecordedAtRestAndAtTheEnd: a run records the steps
// it reached when it comes to rest (before its wait) and the rest when it
// ends, each once: from revision 7 the first send records the first step,
// the rest the wait, and the last send the last step and the run's end.
func (s *JourneySuite) TestStepsReachedAreRecordedAtRestAndAtTheEnd() {
	var atRest []string
	s.env.RegisterDelayedCallback(func() { atRest = s.acts.reachedSteps() }, 24*time.Hour)
	res := s.run(s.plan(nudgeWithGoal), journey.Order{ID: "o1"})
	s.Equal(Completed, res.Outcome)
	s.Equal([]string{"first", "pause"}, atRest, "recorded when the run rested in its wait")
	s.Equal([]string{"first", "pause", "second"}, s.acts.reachedSteps())
	s.Require().Len(s.acts.finished, 1)
	s.Empty(s.acts.finished[0].Steps, "the end carries only what was not recorded yet")
	s.Require().Len(s.acts.sends, 2)
	s.Equal(&Record{Steps: []StepReached{s.acts.sends[0].Record.Steps[0]}}, s.acts.sends[0].Record, "the first send records the first step, not the end")
	s.Equal(&FinishRunRequest{WorkflowID: s.acts.sends[1].WorkflowID, Outcome: Completed}, s.acts.sends[1].Record.End, "the last send records the end")
}

// TestStepsReachedBeforeRevision7: a run of revision 6 records them with
// local activities of its own, at its rest and at its end.
func (s *JourneySuite) TestStepsReachedBeforeRevision7() {
	s.withBudget(0, 6)
	res := s.run(s.plan(nudgeWithGoal), journey.Order{ID: "o1"})
	s.Equal(Completed, res.Outcome)
	s.Equal([]string{"first", "pause", "second"}, s.acts.reachedSteps())
	s.Require().Len(s.acts.finished, 1)
	s.Len(s.acts.finished[0].Steps, 1, "the end carries only what was not recorded yet")
	for _, req := range s.acts.sends {
		s.Nil(req.Record)
	}
}

// TestGoalExitEndsTheRunWithinItsWindow: a purchase inside the goal's
// window ends a run whose goal says exit, before its second message.
func (s *JourneySuite) TestGoalExitEndsTheRunWithinItsWindow() {
	start := s.env.Now()
	s.signalAt(3*24*time.Hour, purchase("p1", start.Add(3*24*time.Hour)))
	res := s.run(s.plan(nudgeWithGoal), journey.Order{ID: "o1"})
	s.Equal(Exited, res.Outcome)
	s.Equal("converted: order.placed event p1 met the goal", s.state().Reason)
	s.Equal([]string{"first"}, s.acts.sentSteps(), "the second message never goes")
}

// TestGoalExitIgnoresEventsOutsideItsWindow: a purchase that says it
// happened before the run started, or one that comes after the window,
// does not end it.
func (s *JourneySuite) TestGoalExitIgnoresEventsOutsideItsWindow() {
	p := s.plan(nudgeWithGoal)
	p.Steps[1].Wait.For = journey.Duration{D: 12 * 24 * time.Hour, Text: "12d"}
	start := s.env.Now()
	s.signalAt(time.Hour, purchase("before", start.Add(-time.Hour)))
	s.signalAt(11*24*time.Hour, purchase("late", start.Add(11*24*time.Hour)))
	res := s.run(p, journey.Order{ID: "o1"})
	s.Equal(Completed, res.Outcome)
	s.Equal([]string{"first", "second"}, s.acts.sentSteps())
}

// TestGoalFromTheLastMessage: the window counts from the latest message
// sent before the event.
func (s *JourneySuite) TestGoalFromTheLastMessage() {
	p := s.plan(`
journey: nudge
topic: offers
trigger: {event: order.placed}
goal: {when: event.type == "order.placed", within: 2d, from: last_message, exit: true}
steps:
  - id: pause
    wait: 5d
  - id: first
    send: {channel: email, template: nudge}
  - id: longer
    wait: 10d
  - id: second
    send: {channel: email, template: nudge-again}
`)
	start := s.env.Now()
	// Four days in, nothing was sent and the window from entry (2d) is
	// closed: the purchase does not end the run. A day after the first
	// message, it does.
	s.signalAt(4*24*time.Hour, purchase("early", start.Add(4*24*time.Hour)))
	s.signalAt(6*24*time.Hour, purchase("after", start.Add(6*24*time.Hour)))
	res := s.run(p, journey.Order{ID: "o1"})
	s.Equal(Exited, res.Outcome)
	s.Equal("converted: order.placed event after met the goal", s.state().Reason)
	s.Equal([]string{"first"}, s.acts.sentSteps())
}

// TestRevisionFourRunsIgnoreGoalsAndRecordNoSteps: runs recorded at
// revision 4 (a fleet mid-rollout) behave as that revision did.
func (s *JourneySuite) TestRevisionFourRunsIgnoreGoalsAndRecordNoSteps() {
	s.withBudget(0, 4)
	start := s.env.Now()
	s.signalAt(3*24*time.Hour, purchase("p1", start.Add(3*24*time.Hour)))
	res := s.run(s.plan(nudgeWithGoal), journey.Order{ID: "o1"})
	s.Equal(Completed, res.Outcome, "no goal exit at revision 4")
	s.Equal([]string{"first", "second"}, s.acts.sentSteps())
	s.Empty(s.acts.reachedSteps())
}

// TestRecordKeepsTheOrderTheStepNames: a record step may say which order
// its answer is about.
func (s *JourneySuite) TestRecordKeepsTheOrderTheStepNames() {
	p := s.plan(`
journey: rate
topic: surveys
trigger: {event: call.logged}
steps:
  - id: answer
    record: {score: int(trigger.data.score), order: trigger.data.about}
`)
	ev := journey.Event{ID: "evt_call", Type: "call.logged", CustomerID: "c_1", Data: map[string]any{"score": "4", "about": "o-9"}}
	s.env.ExecuteWorkflow(JourneyWorkflowName, JourneyInput{Plan: p, CustomerID: "c_1", EntryKey: ev.ID, Trigger: ev, Revision: Revision})
	s.Require().True(s.env.IsWorkflowCompleted())
	s.Require().NoError(s.env.GetWorkflowError())
	s.Require().Len(s.acts.recorded, 1)
	s.Equal("o-9", s.acts.recorded[0].OrderID)
}
