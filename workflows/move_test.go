package workflows

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/rapporthq/rapport/internal/journey"
)

const movingHead = `
journey: moving-winback
topic: offers
on_edit: restart-at-step
trigger: {event: customer.lapsed}
steps:
`

// moveResult is how one move-plan update went.
type moveResult struct {
	sent     bool
	rejected error
	answer   MoveAnswer
}

// moveAt sends a move-plan update after d in env.
func moveAt(env *testsuite.TestWorkflowEnvironment, d time.Duration, id string, m Move) *moveResult {
	res := &moveResult{}
	env.RegisterDelayedCallback(func() {
		res.sent = true
		env.UpdateWorkflow(MovePlanUpdate, id, &testsuite.TestUpdateCallback{
			OnAccept: func() {},
			OnReject: func(err error) { res.rejected = err },
			OnComplete: func(v any, err error) {
				if a, ok := v.(MoveAnswer); ok {
					res.answer = a
				}
			},
		}, m)
	}, d)
	return res
}

func compileMoving(t *testing.T, comp *journey.Compiler, steps string) *journey.Plan {
	t.Helper()
	plan, diags := comp.Compile("moving.yaml", []byte(movingHead+steps))
	require.False(t, diags.HasErrors(), diags.Error())
	return plan
}

// TestRunMovesToTheNewPlanAtItsWait: a run three days into a 14-day wait
// moves to a plan that waits 10 days and then sends a new nudge: it
// continues as new on the new plan, its wait ends 10 days after it began,
// it sends the new step and nothing twice, the registry learns the new
// plan, and it refuses what cannot apply (the plan it is on, another
// journey, a step that no longer waits, another clock, the plan it left).
func TestRunMovesToTheNewPlanAtItsWait(t *testing.T) {
	comp, err := journey.NewCompiler(journey.Options{})
	require.NoError(t, err)
	old := compileMoving(t, comp, `
  - {id: offer, send: {channel: email, template: winback-offer}}
  - {id: wait_for_return, wait: 14d}
  - {id: postcard, send: {channel: mail, template: winback-postcard}}
`)
	updated := compileMoving(t, comp, `
  - {id: offer, send: {channel: email, template: winback-offer}}
  - {id: wait_for_return, wait: 10d}
  - {id: nudge, send: {channel: email, template: winback-nudge}}
  - {id: postcard, send: {channel: mail, template: winback-postcard-2}}
`)
	noWait := compileMoving(t, comp, `
  - {id: offer, send: {channel: email, template: winback-offer}}
  - {id: wait_for_return, send: {channel: email, template: winback-nudge}}
`)
	other := *updated
	other.Journey = "another"
	dev := *updated
	dev.Scale = 1.0 / 86400

	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	acts := &fakeActivities{answers: map[journey.Channel]SendStatus{}}
	c := &chain{t: t, acts: acts, env: comp.Env(), start: start}
	var first []*moveResult
	var back *moveResult
	c.feed = func(env *testsuite.TestWorkflowEnvironment) {
		if c.execs == 1 {
			first = []*moveResult{
				moveAt(env, time.Hour, "same", Move{Plan: *old}),
				moveAt(env, 2*time.Hour, "other", Move{Plan: other}),
				moveAt(env, 3*time.Hour, "no-wait", Move{Plan: *noWait}),
				moveAt(env, 4*time.Hour, "dev", Move{Plan: dev}),
				moveAt(env, 3*24*time.Hour, "move", Move{Plan: *updated, Listens: true, ListensFor: []string{"order.placed"}, By: "rapport"}),
			}
			return
		}
		back = moveAt(env, time.Hour, "back", Move{Plan: *old})
	}
	res, st := c.run(JourneyInput{Plan: *old, CustomerID: "c_1", EntryKey: "k", Trigger: journey.Event{ID: "evt_lapsed", Type: "customer.lapsed", CustomerID: "c_1"}, Revision: Revision})

	require.Len(t, first, 5)
	for _, m := range first {
		require.True(t, m.sent)
	}
	assert.EqualError(t, first[0].rejected, "this run is already on plan "+old.ShortHash())
	assert.EqualError(t, first[1].rejected, "this run is of journey moving-winback, not another")
	assert.EqualError(t, first[2].rejected, fmt.Sprintf("step wait_for_return is a send step in the new plan %s, not a wait step", noWait.ShortHash()))
	assert.ErrorContains(t, first[3].rejected, "is scaled (rapport dev --day); send the plan as compiled")
	require.NoError(t, first[4].rejected)
	assert.Equal(t, MoveAnswer{Step: "wait_for_return", Now: true}, first[4].answer)
	require.NotNil(t, back)
	assert.EqualError(t, back.rejected, fmt.Sprintf("this run moved away from plan %s; it does not go back", old.ShortHash()))

	require.Equal(t, 2, c.execs, "one continue: the move")
	next := c.inputs[0]
	assert.Equal(t, updated.Hash, next.Plan.Hash)
	assert.Equal(t, []int{1}, next.Resume.Path)
	assert.Equal(t, start.Add(10*24*time.Hour), next.Resume.Until.UTC(), "the wait keeps the 3 days it waited")

	assert.Equal(t, Completed, res.Outcome)
	assert.Equal(t, []string{"offer", "wait_for_return", "nudge", "postcard"}, res.StepsDone)
	require.Len(t, acts.sends, 3, "nothing sent twice")
	assert.Equal(t, []string{"winback-offer", "winback-nudge", "winback-postcard-2"}, []string{acts.sends[0].Template, acts.sends[1].Template, acts.sends[2].Template})
	require.Len(t, st.Sends, 3)
	assert.Equal(t, start.Add(10*24*time.Hour), st.Sends[1].At.UTC())
	assert.Equal(t, []MoveRunRequest{{WorkflowID: acts.moved[0].WorkflowID, PlanHash: updated.Hash, Listens: true, ListensFor: []string{"order.placed"}}}, acts.moved)
	assert.Equal(t, updated.Hash, st.PlanHash)
	assert.Equal(t, []string{old.Hash}, st.PlansLeft)
	assert.Contains(t, strings.Join(st.Notes, "\n"), fmt.Sprintf("wait_for_return: moved from plan %s to plan %s (on_edit: restart-at-step)", old.ShortHash(), updated.ShortHash()))
	require.NotEmpty(t, st.Actions)
	assert.Equal(t, MovePlanUpdate, st.Actions[0].Kind)
	assert.Equal(t, "rapport", st.Actions[0].By)
}

// TestRunMovesWhileWaitingForATask: a run waiting for staff moves to a
// plan whose task step has one more outcome and a new step after it: the
// task is not created again, keeps its due time, takes the new outcome,
// and the new step runs.
func TestRunMovesWhileWaitingForATask(t *testing.T) {
	comp, err := journey.NewCompiler(journey.Options{})
	require.NoError(t, err)
	old := compileMoving(t, comp, `
  - {id: call, task: {kind: phone_call, queue: retention, due_in: 5d, outcomes: [reached, declined]}}
  - {id: thanks, send: {channel: email, template: thanks}}
`)
	updated := compileMoving(t, comp, `
  - {id: call, task: {kind: phone_call, queue: retention, due_in: 3d, outcomes: [reached, declined, callback]}}
  - id: after_call
    branch:
      - when: task.outcome == "callback"
        steps:
          - {id: call_back, send: {channel: email, template: call-back}}
      - otherwise:
          - {id: thanks, send: {channel: email, template: thanks}}
`)
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	acts := &fakeActivities{answers: map[journey.Channel]SendStatus{}}
	c := &chain{t: t, acts: acts, env: comp.Env(), start: start}
	var move *moveResult
	completed := false
	c.feed = func(env *testsuite.TestWorkflowEnvironment) {
		if c.execs == 1 {
			move = moveAt(env, 24*time.Hour, "move", Move{Plan: *updated})
			return
		}
		env.RegisterDelayedCallback(func() {
			env.UpdateWorkflow(CompleteTaskUpdate, "done", &testsuite.TestUpdateCallback{
				OnAccept: func() {}, OnReject: func(err error) { t.Errorf("complete-task refused: %v", err) },
				OnComplete: func(any, error) { completed = true },
			}, CompleteTask{Outcome: "callback", By: "sam"})
		}, 24*time.Hour)
	}
	res, st := c.run(JourneyInput{Plan: *old, CustomerID: "c_1", EntryKey: "k", Trigger: journey.Event{ID: "evt_lapsed", Type: "customer.lapsed", CustomerID: "c_1"}, Revision: Revision})

	require.NotNil(t, move)
	require.NoError(t, move.rejected)
	assert.Equal(t, MoveAnswer{Step: "call", Now: true}, move.answer)
	assert.True(t, completed, "the open task takes an outcome only the new plan has")
	assert.Equal(t, 2, c.execs)
	require.NotNil(t, c.inputs[0].Resume.OpenTask)
	assert.Equal(t, start.Add(5*24*time.Hour), c.inputs[0].Resume.Until.UTC(), "the open task keeps its due time")
	assert.Len(t, acts.tasks, 1, "the task is not created again")
	assert.Equal(t, Completed, res.Outcome)
	assert.Equal(t, []string{"call", "call_back", "after_call"}, res.StepsDone)
	require.Len(t, acts.sends, 1)
	assert.Equal(t, "call-back", acts.sends[0].Template)
	assert.Equal(t, updated.Hash, st.PlanHash)
}

// TestAMoveTheNextWaitCannotTakeIsDropped: a move accepted while the run
// was busy elsewhere is dropped, with a note, at a wait the new plan does
// not have.
func TestAMoveTheNextWaitCannotTakeIsDropped(t *testing.T) {
	comp, err := journey.NewCompiler(journey.Options{})
	require.NoError(t, err)
	old := compileMoving(t, comp, "  - {id: hold_on, wait: 2d}\n")
	updated := compileMoving(t, comp, "  - {id: other, wait: 2d}\n")
	r := &run{plan: old, moveTo: &Move{Plan: *updated}}
	r.keepOrMove(nil, "hold_on") // nothing recorded yet: no activity to run
	assert.Nil(t, r.moveTo)
	assert.Equal(t, []string{fmt.Sprintf("hold_on: keeps plan %s rather than move to %s: step hold_on is not in the new plan %s", old.ShortHash(), updated.ShortHash(), updated.ShortHash())}, r.state.Notes)

	kept := compileMoving(t, comp, "  - {id: hold_on, wait: 1d}\n")
	r = &run{plan: old, moveTo: &Move{Plan: *kept}}
	r.keepOrMove(nil, "hold_on")
	assert.NotNil(t, r.moveTo, "a step the new plan waits at keeps the move")
}

// TestAnExitWhileTheMoveIsRecordedEndsTheRun: the database is down for
// two hours as the run records its move; a purchase that matches
// exit_when meanwhile ends the run, rather than being lost in the move.
func TestAnExitWhileTheMoveIsRecordedEndsTheRun(t *testing.T) {
	comp, err := journey.NewCompiler(journey.Options{})
	require.NoError(t, err)
	head := strings.Replace(movingHead, "steps:\n", "exit_when: event.type == \"order.placed\"\nsteps:\n", 1)
	compile := func(steps string) *journey.Plan {
		plan, diags := comp.Compile("moving.yaml", []byte(head+steps))
		require.False(t, diags.HasErrors(), diags.Error())
		return plan
	}
	old := compile("  - {id: wait_for_return, wait: 14d}\n  - {id: last_word, send: {channel: email, template: winback-last}}\n")
	updated := compile("  - {id: wait_for_return, wait: 10d}\n  - {id: last_word, send: {channel: email, template: winback-last-2}}\n")

	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	var now func() time.Time
	acts := &fakeActivities{answers: map[journey.Channel]SendStatus{}}
	acts.down = func() bool { return now != nil && now().Before(start.Add(24*time.Hour+2*time.Hour)) }
	c := &chain{t: t, acts: acts, env: comp.Env(), start: start}
	var move *moveResult
	c.feed = func(env *testsuite.TestWorkflowEnvironment) {
		now = env.Now
		move = moveAt(env, 24*time.Hour, "move", Move{Plan: *updated})
		env.RegisterDelayedCallback(func() {
			env.SignalWorkflow(EventSignal, journey.Event{ID: "order-1", Type: "order.placed", CustomerID: "c_1", OccurredAt: env.Now()})
		}, 25*time.Hour)
	}
	res, st := c.run(JourneyInput{Plan: *old, CustomerID: "c_1", EntryKey: "k", Trigger: journey.Event{ID: "evt_lapsed", Type: "customer.lapsed", CustomerID: "c_1"}, Revision: Revision})
	require.NoError(t, move.rejected)
	assert.Equal(t, 1, c.execs, "no continue: the run ended")
	assert.Equal(t, Exited, res.Outcome)
	assert.Contains(t, res.Reason, "exit_when matched order.placed event order-1")
	assert.Empty(t, acts.sends)
	assert.Equal(t, old.Hash, st.PlanHash)
}

// TestAnEventWhileTheMoveIsRecordedComesFirst: the database is down as
// the run records its move; the answer the run waits for arrives
// meanwhile. The wait ends on the old plan, the registry is set back
// (hearing every event), and the run moves at its next wait.
func TestAnEventWhileTheMoveIsRecordedComesFirst(t *testing.T) {
	comp, err := journey.NewCompiler(journey.Options{})
	require.NoError(t, err)
	old := compileMoving(t, comp, `
  - {id: wait_for_answer, wait: {until_event: event.type == "survey.answered", timeout: 14d}}
  - {id: pause, wait: 3d}
  - {id: last_word, send: {channel: email, template: winback-last}}
`)
	updated := compileMoving(t, comp, `
  - {id: wait_for_answer, wait: {until_event: event.type == "survey.answered", timeout: 14d}}
  - {id: pause, wait: 3d}
  - {id: last_word, send: {channel: email, template: winback-last-2}}
`)
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	var now func() time.Time
	acts := &fakeActivities{answers: map[journey.Channel]SendStatus{}}
	acts.down = func() bool {
		return now != nil && !now().Before(start.Add(24*time.Hour)) && now().Before(start.Add(26*time.Hour))
	}
	c := &chain{t: t, acts: acts, env: comp.Env(), start: start}
	var move *moveResult
	c.feed = func(env *testsuite.TestWorkflowEnvironment) {
		now = env.Now
		if c.execs > 1 {
			return
		}
		move = moveAt(env, 24*time.Hour, "move", Move{Plan: *updated, Listens: true, ListensFor: []string{"survey.answered"}})
		env.RegisterDelayedCallback(func() {
			env.SignalWorkflow(EventSignal, journey.Event{ID: "answer-1", Type: "survey.answered", CustomerID: "c_1", OccurredAt: env.Now()})
		}, 25*time.Hour)
	}
	res, st := c.run(JourneyInput{Plan: *old, CustomerID: "c_1", EntryKey: "k", Trigger: journey.Event{ID: "evt_lapsed", Type: "customer.lapsed", CustomerID: "c_1"}, Revision: Revision})
	require.NoError(t, move.rejected)
	assert.Contains(t, strings.Join(st.Notes, "\n"), "wait_for_answer: ended by survey.answered event answer-1", "the event ended the wait on the old plan")
	// The test environment's clock jumps while the database is down, so it
	// repeats local activities it then finds late: the writes, each once.
	var writes []string
	for _, m := range acts.moved {
		w := m.PlanHash + " " + strings.Join(m.ListensFor, ",")
		if len(writes) == 0 || writes[len(writes)-1] != w {
			writes = append(writes, w)
		}
	}
	assert.Equal(t, []string{updated.Hash + " survey.answered", old.Hash + " *", updated.Hash + " survey.answered"}, writes,
		"recorded, set back (hearing every event) when the answer ended the wait first, recorded again at the next wait")
	assert.Equal(t, 2, c.execs)
	assert.Equal(t, Completed, res.Outcome)
	require.Len(t, acts.sends, 1)
	assert.Equal(t, "winback-last-2", acts.sends[0].Template)
	assert.Equal(t, updated.Hash, st.PlanHash)
}
