package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"

	"github.com/rapporthq/rapport/internal/journey"
)

// handoverJourney waits an hour, then gives staff a call and waits a day
// after it.
const handoverJourney = `
journey: handover
topic: offers
trigger: {event: customer.lapsed}
steps:
  - id: cool_off
    wait: 1h
  - id: call
    task:
      kind: phone_call
      queue: retention
      due_in: 3d
      brief: Ask why they stopped ordering.
      outcomes: [reached, voicemail]
  - id: after
    wait: 1d
`

// handoverAt sends the task-handover update after a delay, its argument
// made then (the task's id is known once the run created it).
func (s *JourneySuite) handoverAt(after time.Duration, arg func() TaskHandover) *updateOutcome {
	res := &updateOutcome{}
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(TaskHandoverUpdate, fmt.Sprintf("handover-%v", after), &testsuite.TestUpdateCallback{
			OnAccept: func() {},
			OnReject: func(err error) { res.rejected = err },
			OnComplete: func(v any, err error) {
				res.done, res.err = true, err
				if a, ok := v.(StaffAction); ok {
					res.action = a
				}
			},
		}, arg())
	}, after)
	return res
}

type updateOutcome struct {
	rejected error
	done     bool
	err      error
	action   StaffAction
}

// callTask is the id of the task the run created (empty before).
func (s *JourneySuite) callTask() string {
	s.acts.mu.Lock()
	defer s.acts.mu.Unlock()
	if len(s.acts.tasks) == 0 {
		return ""
	}
	return s.acts.tasks[0].TaskID
}

// TestTaskHandoversJoinTheStaffActions: at revision 6, a claim, an
// assignment, an unclaim and a note of the task the run waits for are
// recorded among its staff actions, in order, with who did them; the
// update is refused before the run waits for the task, for another
// task, with bad input, and once the task is done. It records only:
// the task row is changed by the API, not by the run.
func (s *JourneySuite) TestTaskHandoversJoinTheStaffActions() {
	task := func(h TaskHandover) func() TaskHandover {
		return func() TaskHandover {
			if h.TaskID == "" {
				h.TaskID = s.callTask()
			}
			return h
		}
	}
	early := s.handoverAt(30*time.Minute, func() TaskHandover {
		return TaskHandover{TaskID: TaskID("default-test-workflow-id", "call"), Kind: HandoverClaim, To: "sam"}
	})
	claim := s.handoverAt(2*time.Hour, task(TaskHandover{Kind: HandoverClaim, To: "sam", By: "sam (key desk)"}))
	assign := s.handoverAt(3*time.Hour, task(TaskHandover{Kind: HandoverAssign, To: "alex", From: "sam", By: "kim (key leads)"}))
	unclaim := s.handoverAt(4*time.Hour, task(TaskHandover{Kind: HandoverUnclaim, From: "alex", By: "alex (key desk)"}))
	note := s.handoverAt(5*time.Hour, task(TaskHandover{Kind: HandoverNote, Note: "Call after 6pm.\nMobile only.", By: "alex (key desk)"}))
	refused := map[string]*updateOutcome{
		"this journey is waiting for task ": s.handoverAt(6*time.Hour, task(TaskHandover{TaskID: "task_other", Kind: HandoverClaim, To: "sam"})),
		`unknown kind "steal"`:              s.handoverAt(6*time.Hour+time.Minute, task(TaskHandover{Kind: "steal", To: "sam"})),
		"a claim names who holds the task":  s.handoverAt(6*time.Hour+2*time.Minute, task(TaskHandover{Kind: HandoverClaim, To: "  "})),
		"a note needs its words":            s.handoverAt(6*time.Hour+3*time.Minute, task(TaskHandover{Kind: HandoverNote})),
		"the note is 501 characters; keep it under 500": s.handoverAt(6*time.Hour+4*time.Minute,
			task(TaskHandover{Kind: HandoverNote, Note: strings.Repeat("n", 501)})),
		"by is 501 characters": s.handoverAt(6*time.Hour+5*time.Minute, task(TaskHandover{Kind: HandoverUnclaim, By: strings.Repeat("b", 501)})),
		"name the task":        s.handoverAt(6*time.Hour+6*time.Minute, func() TaskHandover { return TaskHandover{Kind: HandoverUnclaim} }),
	}
	s.completeTaskAt(7*time.Hour, CompleteTask{Outcome: "reached", By: "alex"})
	late := s.handoverAt(8*time.Hour, task(TaskHandover{Kind: HandoverNote, Note: "too late"}))
	start := s.env.Now()
	res := s.run(s.plan(handoverJourney), journey.Order{})

	s.Equal(Completed, res.Outcome)
	s.ErrorContains(early.rejected, NotWaitingForTask, "the run waits at cool_off: no task yet")
	for _, u := range []*updateOutcome{claim, assign, unclaim, note} {
		s.Require().NoError(u.rejected)
		s.True(u.done)
		s.NoError(u.err)
	}
	for want, u := range refused {
		s.ErrorContains(u.rejected, want)
	}
	s.ErrorContains(late.rejected, NotWaitingForTask, "the task is done")

	st := s.state()
	s.Require().Len(st.Actions, 5)
	type seen struct{ Kind, By, Reason, Step string }
	var got []seen
	for _, a := range st.Actions {
		got = append(got, seen{a.Kind, a.By, a.Reason, a.Step})
	}
	s.Equal([]seen{
		{HandoverClaim, "sam (key desk)", "to sam", "call"},
		{HandoverAssign, "kim (key leads)", "to alex (from sam)", "call"},
		{HandoverUnclaim, "alex (key desk)", "from alex", "call"},
		{HandoverNote, "alex (key desk)", "Call after 6pm. Mobile only.", "call"},
		{CompleteTaskUpdate, "alex", "reached", "call"},
	}, got)
	s.WithinDuration(start.Add(3*time.Hour), st.Actions[1].At, time.Minute)
	s.Equal(st.Actions[1], assign.action, "the update answers with the action it recorded")
	s.Equal([]UpdateTaskRequest{{TaskID: s.callTask(), Status: "completed", Outcome: "reached"}}, s.acts.updates,
		"the handovers change nothing but the run's record")
}

// TestTaskHandoverUnknownBeforeRevision6: a run that recorded revision 5
// has no task-handover update; it answers so, and goes on as before.
func (s *JourneySuite) TestTaskHandoverUnknownBeforeRevision6() {
	s.env.SetWorkerOptions(worker.Options{PreferredVersionProvider: PinRevision(5)})
	claim := s.handoverAt(2*time.Hour, func() TaskHandover {
		return TaskHandover{TaskID: s.callTask(), Kind: HandoverClaim, To: "sam"}
	})
	s.completeTaskAt(3*time.Hour, CompleteTask{Outcome: "reached", By: "sam"})
	res := s.run(s.plan(handoverJourney), journey.Order{})

	s.Equal(Completed, res.Outcome)
	s.ErrorContains(claim.rejected, "unknown update "+TaskHandoverUpdate)
	st := s.state()
	s.Require().Len(st.Actions, 1)
	s.Equal(CompleteTaskUpdate, st.Actions[0].Kind)
}
