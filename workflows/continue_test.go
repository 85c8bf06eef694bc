package workflows

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/rapporthq/rapport/internal/journey"
)

const busyWinback = `
journey: busy-winback
topic: offers
trigger: {event: customer.lapsed}
exit_when: event.type == "order.placed"
steps:
  - id: offer
    send: {channel: email, template: winback-offer}
  - id: wait_for_return
    wait: 14d
  - id: postcard
    send: {channel: mail, template: winback-postcard}
  - id: wait_for_answer
    wait:
      until_event: event.type == "survey.answered"
      timeout: 21d
  - id: last_word
    send: {channel: email, template: winback-last}
`

// chain runs a journey in the test environment as Temporal would, one
// execution after another while it continues as new. Each execution gets
// a fresh environment starting at the time the previous one ended; feed
// registers that execution's signals (it is given the environment and the
// time the run started).
type chain struct {
	t     *testing.T
	acts  *fakeActivities
	env   *journey.Env
	after int
	start time.Time
	feed  func(env *testsuite.TestWorkflowEnvironment)
	// suggest, when set, says whether Temporal suggests the execution (1
	// for the first) continue as new.
	suggest func(exec int) bool
	// budget is the interpreter's retry budget (0: the default).
	budget time.Duration
	execs  int
	states []State
	inputs []JourneyInput // the input of each execution after the first
}

func (c *chain) run(input JourneyInput) (JourneyResult, State) {
	var suite testsuite.WorkflowTestSuite
	at := c.start
	for {
		c.execs++
		env := suite.NewTestWorkflowEnvironment()
		env.SetStartTime(at)
		in := NewInterpreter(c.env)
		in.ContinueAfterEvents = c.after
		in.RetryBudget = c.budget
		in.Register(env)
		if c.suggest != nil && c.suggest(c.execs) {
			env.SetContinueAsNewSuggested(true)
		}
		env.RegisterActivityWithOptions(c.acts.CustomerFacts, activity.RegisterOptions{Name: CustomerFactsActivity})
		env.RegisterActivityWithOptions(c.acts.SendMessage, activity.RegisterOptions{Name: SendMessageActivity})
		env.RegisterActivityWithOptions(c.acts.FinishRun, activity.RegisterOptions{Name: FinishRunActivity})
		env.RegisterActivityWithOptions(c.acts.RecordSteps, activity.RegisterOptions{Name: RecordStepsActivity})
		env.RegisterActivityWithOptions(c.acts.CreateTask, activity.RegisterOptions{Name: CreateTaskActivity})
		env.RegisterActivityWithOptions(c.acts.UpdateTask, activity.RegisterOptions{Name: UpdateTaskActivity})
		env.RegisterActivityWithOptions(c.acts.RecordSplit, activity.RegisterOptions{Name: RecordSplitActivity})
		env.RegisterActivityWithOptions(c.acts.NextLocalTime, activity.RegisterOptions{Name: NextLocalTimeActivity})
		env.RegisterActivityWithOptions(c.acts.MoveRun, activity.RegisterOptions{Name: MoveRunActivity})
		env.RegisterActivityWithOptions(c.acts.SettleSend, activity.RegisterOptions{Name: SettleSendActivity})
		if c.feed != nil {
			c.feed(env)
		}
		env.ExecuteWorkflow(JourneyWorkflowName, input)
		require.True(c.t, env.IsWorkflowCompleted())
		err := env.GetWorkflowError()
		var cont *workflow.ContinueAsNewError
		if errors.As(err, &cont) {
			require.Equal(c.t, JourneyWorkflowName, cont.WorkflowType.Name)
			var next JourneyInput
			require.NoError(c.t, converter.GetDefaultDataConverter().FromPayloads(cont.Input, &next))
			require.NotNil(c.t, next.Resume)
			c.states = append(c.states, next.Resume.State)
			c.inputs = append(c.inputs, next)
			input, at = next, env.Now()
			continue
		}
		require.NoError(c.t, err)
		var res JourneyResult
		require.NoError(c.t, env.GetWorkflowResult(&res))
		v, err := env.QueryWorkflow(StateQuery)
		require.NoError(c.t, err)
		var st State
		require.NoError(c.t, v.Get(&st))
		return res, st
	}
}

// TestRunFedTwentyThousandEventsContinuesAsNew feeds one win-back run
// 20,000 events while it waits: it continues as new every 2,000, and
// behaves as a run that never did: its wait ends at the original deadline,
// nothing is sent twice, and a purchase days later still ends it.
func TestRunFedTwentyThousandEventsContinuesAsNew(t *testing.T) {
	comp, err := journey.NewCompiler(journey.Options{})
	require.NoError(t, err)
	plan, diags := comp.Compile("busy.yaml", []byte(busyWinback))
	require.False(t, diags.HasErrors(), diags.Error())

	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	const total, perBatch = 20000, 200
	fed := 0
	c := &chain{t: t, acts: &fakeActivities{answers: map[journey.Channel]SendStatus{}}, env: comp.Env(), after: 2000, start: start}
	perExec := []int{}
	c.feed = func(env *testsuite.TestWorkflowEnvironment) {
		perExec = append(perExec, 0)
		n := len(perExec) - 1
		// Page views, 200 every ten minutes from ten minutes after the
		// start, until 20,000 have reached the run (the test environment
		// takes a few callbacks only: enough for one execution).
		for i := 1; i <= 2000/perBatch+2; i++ {
			env.RegisterDelayedCallback(func() {
				for range perBatch {
					if fed >= total {
						return
					}
					env.SignalWorkflow(EventSignal, journey.Event{ID: fmt.Sprintf("view-%d", fed), Type: "page.viewed", CustomerID: "c_1", OccurredAt: env.Now()})
					fed++
					perExec[n]++
				}
			}, time.Duration(i)*10*time.Minute)
		}
		// The customer buys on day 20, while the run waits for an answer
		// to its postcard.
		if d := start.Add(20 * 24 * time.Hour).Sub(env.Now()); d > 0 {
			env.RegisterDelayedCallback(func() {
				env.SignalWorkflow(EventSignal, journey.Event{ID: "order-1", Type: "order.placed", CustomerID: "c_1", OccurredAt: env.Now()})
			}, d)
		}
	}
	res, st := c.run(JourneyInput{Plan: *plan, CustomerID: "c_1", EntryKey: "k", Trigger: journey.Event{ID: "evt_lapsed", Type: "customer.lapsed", CustomerID: "c_1"}, Revision: Revision})

	t.Logf("continue-as-new: %d events over %d executions (%d continues); events per execution: %v", fed, c.execs, c.execs-1, perExec)
	assert.Equal(t, total, fed)
	assert.GreaterOrEqual(t, c.execs-1, total/2000-1, "the run continues as new about every 2,000 events")
	for _, n := range perExec {
		assert.LessOrEqual(t, n, 2000+perBatch, "no execution takes in much more than 2,000 events")
	}

	assert.Equal(t, Exited, res.Outcome)
	assert.Contains(t, res.Reason, "exit_when matched order.placed event order-1")
	assert.Equal(t, []string{"offer", "wait_for_return", "postcard"}, res.StepsDone)
	require.Len(t, c.acts.sends, 2, "nothing is sent again after continuing as new")
	assert.Equal(t, "offer", c.acts.sends[0].StepID)
	assert.Equal(t, "postcard", c.acts.sends[1].StepID)
	require.Len(t, st.Sends, 2)
	assert.Equal(t, start.Add(14*24*time.Hour), st.Sends[1].At.UTC(), "the wait ends at its original deadline")
	assert.Equal(t, total+1, st.EventsReceived, "the count carries over")
	assert.Len(t, c.acts.finished, 1)
	for i, s := range c.states {
		assert.Equal(t, "wait_for_return", s.CurrentStep, "execution %d continued while waiting", i+1)
		assert.Equal(t, start.Add(14*24*time.Hour), s.PendingWait.Until.UTC())
	}
}

const callInABranch = `
journey: call-in-a-branch
topic: offers
trigger: {event: customer.lapsed}
steps:
  - id: offer
    send: {channel: email, template: winback-offer}
  - id: pick
    split:
      - path: call
        weight: 99
        steps:
          - id: maybe_call
            branch:
              - when: customer.has_phone
                steps:
                  - id: call
                    task: {kind: phone_call, queue: retention, due_in: 5d, brief: Call them., outcomes: [reached, declined]}
              - otherwise:
                  - exit: no phone
      - path: control
        weight: 1
        holdout: true
  - id: thanks
    send: {channel: email, template: thanks}
`

// TestRunContinuesAsNewWhileWaitingForATask: a run waiting for staff,
// deep in a split and a branch, continues as new when events pile up,
// creates no second task, records no second split, and takes the staff's
// completion in its new execution.
func TestRunContinuesAsNewWhileWaitingForATask(t *testing.T) {
	comp, err := journey.NewCompiler(journey.Options{})
	require.NoError(t, err)
	plan, diags := comp.Compile("call.yaml", []byte(callInABranch))
	require.False(t, diags.HasErrors(), diags.Error())
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	acts := &fakeActivities{answers: map[journey.Channel]SendStatus{}, facts: journey.Customer{HasPhone: true}}
	c := &chain{t: t, acts: acts, env: comp.Env(), after: 50, start: start}
	fed, completed := 0, false
	c.feed = func(env *testsuite.TestWorkflowEnvironment) {
		env.RegisterDelayedCallback(func() {
			for range 50 {
				if fed < 120 {
					env.SignalWorkflow(EventSignal, journey.Event{ID: fmt.Sprintf("view-%d", fed), Type: "page.viewed", CustomerID: "c_1"})
					fed++
				}
			}
		}, time.Hour)
		if d := start.Add(3 * 24 * time.Hour).Sub(env.Now()); d > 0 {
			env.RegisterDelayedCallback(func() {
				env.UpdateWorkflow(CompleteTaskUpdate, "done", &testsuite.TestUpdateCallback{
					OnAccept: func() {}, OnReject: func(err error) { t.Errorf("complete-task refused: %v", err) },
					OnComplete: func(any, error) { completed = true },
				}, CompleteTask{Outcome: "reached", By: "sam"})
			}, d)
		}
	}
	res, st := c.run(JourneyInput{Plan: *plan, CustomerID: "c_1", EntryKey: "k", Trigger: journey.Event{ID: "evt_lapsed", Type: "customer.lapsed", CustomerID: "c_1"}, Revision: Revision})
	t.Logf("continue-as-new: %d events over %d executions", fed, c.execs)

	assert.Equal(t, 3, c.execs, "two continues: after 50 events, then after 50 more")
	assert.True(t, completed)
	assert.Equal(t, Completed, res.Outcome)
	assert.Equal(t, []string{"offer", "call", "maybe_call", "pick", "thanks"}, res.StepsDone)
	assert.Len(t, acts.tasks, 1, "one task, created once")
	assert.Len(t, acts.splits, 1, "the split is recorded once")
	require.Len(t, acts.sends, 2)
	assert.Equal(t, "thanks", acts.sends[1].StepID)
	require.Len(t, acts.updates, 1)
	assert.Equal(t, "completed", acts.updates[0].Status)
	assert.Equal(t, fed, st.EventsReceived)
	for _, s := range c.states {
		require.NotNil(t, s.OpenTask)
		assert.Equal(t, start.Add(5*24*time.Hour), s.OpenTask.DueAt.UTC())
	}
}

func TestNotesAndSeenAreBounded(t *testing.T) {
	r := &run{seen: map[string]bool{}}
	for i := range 5000 {
		r.note(fmt.Sprintf("n%d", i))
		r.remember(fmt.Sprintf("e%d", i))
	}
	require.Len(t, r.state.Notes, maxNotes)
	assert.Equal(t, "n0", r.state.Notes[0])
	assert.Equal(t, fmt.Sprintf("n%d", notesHead-1), r.state.Notes[notesHead-1])
	assert.Equal(t, "n4999", r.state.Notes[maxNotes-1])
	assert.Equal(t, 5000-maxNotes, r.state.NotesDropped)
	assert.Len(t, r.seen, maxSeen)
	assert.Len(t, r.seenOrder, maxSeen)
	assert.True(t, r.seen["e4999"])
	assert.False(t, r.seen["e0"])
}
