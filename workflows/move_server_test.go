//go:build !race

// Left out of -race builds: see continue_server_test.go.

package workflows

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/rapporthq/rapport/internal/journey"
)

// TestRunMovesOnARealServer: on a Temporal dev server, a dev run (a day
// lasts an hour) resting in a 3-day wait takes the move-plan update with
// the new plan as compiled: it scales it to its own clock, continues as
// new on it with RapportPlanHash changed, sets its wait to end a day after
// the run's clock began it (not a day after the move), and, the wait
// skipped, sends the new plan's steps. Both executions replay, and are
// kept for the replay test.
func TestRunMovesOnARealServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*serverPatience)
	defer cancel()
	c := devServer(ctx, t)

	comp, err := journey.NewCompiler(journey.Options{})
	require.NoError(t, err)
	old := compileMoving(t, comp, `
  - {id: offer, send: {channel: email, template: winback-offer}}
  - {id: wait_for_return, wait: 3d}
  - {id: last_word, send: {channel: email, template: winback-last}}
`)
	updated := compileMoving(t, comp, `
  - {id: offer, send: {channel: email, template: winback-offer}}
  - {id: wait_for_return, wait: 1d}
  - {id: nudge, send: {channel: email, template: winback-nudge}}
  - {id: last_word, send: {channel: email, template: winback-last}}
`)
	const day = slowDay
	scaled := old.Scaled(day, time.Now())

	acts := &fakeActivities{answers: map[journey.Channel]SendStatus{}}
	w := worker.New(c, "move-test", worker.Options{})
	in := NewInterpreter(comp.Env())
	in.Register(w)
	w.RegisterActivityWithOptions(acts.CustomerFacts, activity.RegisterOptions{Name: CustomerFactsActivity})
	w.RegisterActivityWithOptions(acts.SendMessage, activity.RegisterOptions{Name: SendMessageActivity})
	w.RegisterActivityWithOptions(acts.FinishRun, activity.RegisterOptions{Name: FinishRunActivity})
	w.RegisterActivityWithOptions(acts.RecordSteps, activity.RegisterOptions{Name: RecordStepsActivity})
	w.RegisterActivityWithOptions(acts.MoveRun, activity.RegisterOptions{Name: MoveRunActivity})
	require.NoError(t, w.Start())
	defer w.Stop()

	id := "rapport/moving-winback/c_1/k"
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: "move-test",
		TypedSearchAttributes: temporal.NewSearchAttributes(CustomerIDAttr.ValueSet("c_1"), JourneyAttr.ValueSet(old.Journey), PlanHashAttr.ValueSet(old.Hash), StatusAttr.ValueSet("running")),
	}, JourneyWorkflowName, JourneyInput{Plan: *scaled, CustomerID: "c_1", EntryKey: "k", Trigger: journey.Event{ID: "evt_lapsed", Type: "customer.lapsed", CustomerID: "c_1"}, Revision: Revision})
	require.NoError(t, err)
	firstRun := run.GetRunID()
	restsAt(ctx, t, c, id, "wait_for_return")
	// The run's clock starts with its first workflow task: the journey
	// time of the wait's beginning (a send takes no journey time).
	var began time.Time
	for it := c.GetWorkflowHistory(ctx, id, firstRun, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT); it.HasNext() && began.IsZero(); {
		ev, err := it.Next()
		require.NoError(t, err)
		if ev.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED {
			began = ev.GetEventTime().AsTime()
		}
	}
	require.False(t, began.IsZero())
	// Five seconds into the wait, so that a wait counted from the move
	// would end visibly later than one counted from its beginning.
	time.Sleep(time.Until(began.Add(5 * time.Second)))
	movedAt := time.Now()

	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: id, UpdateName: MovePlanUpdate, WaitForStage: client.WorkflowUpdateStageCompleted,
		Args: []any{Move{Plan: *updated, Listens: false, By: "test"}},
	})
	require.NoError(t, err)
	var answer MoveAnswer
	require.NoError(t, h.Get(ctx, &answer))
	assert.Equal(t, MoveAnswer{Step: "wait_for_return", Now: true}, answer)

	// The new execution waits on a timer that fires a day (of the new
	// plan) after the wait began: workflow.Now, the start of the workflow
	// task that set it, plus its timeout.
	var fires time.Time
	require.Eventually(t, func() bool {
		d, err := c.DescribeWorkflowExecution(ctx, id, "")
		if err != nil || d.GetWorkflowExecutionInfo().GetExecution().GetRunId() == firstRun {
			return false
		}
		lastRun := d.GetWorkflowExecutionInfo().GetExecution().GetRunId()
		var taskStarted time.Time
		for it := c.GetWorkflowHistory(ctx, id, lastRun, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT); it.HasNext(); {
			ev, err := it.Next()
			if err != nil {
				return false
			}
			switch ev.GetEventType() {
			case enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED:
				taskStarted = ev.GetEventTime().AsTime()
			case enumspb.EVENT_TYPE_TIMER_STARTED:
				fires = taskStarted.Add(ev.GetTimerStartedEventAttributes().GetStartToFireTimeout().AsDuration())
				return true
			}
		}
		return false
	}, serverPatience, 50*time.Millisecond, "the moved run to wait on a timer")
	t.Logf("wait began %s, moved %s after; the new wait ends %s after it began (a day is %s)",
		began.Format(time.TimeOnly), movedAt.Sub(began).Round(time.Millisecond), fires.Sub(began), day)
	assert.WithinDuration(t, began.Add(day), fires, time.Second, "the wait lasts the new plan's day, counted from when it began")
	restsAt(ctx, t, c, id, "wait_for_return")
	skipWaitOnServer(ctx, t, c, id, "wait_for_return")

	var res JourneyResult
	require.NoError(t, c.GetWorkflow(ctx, id, "").Get(ctx, &res)) // follows the chain
	assert.Equal(t, Completed, res.Outcome)
	assert.Equal(t, []string{"offer", "wait_for_return", "nudge", "last_word"}, res.StepsDone)
	acts.mu.Lock()
	require.Len(t, acts.sends, 3, "the offer is not sent again")
	assert.Equal(t, "winback-nudge", acts.sends[1].Template)
	require.Len(t, acts.moved, 1)
	assert.Equal(t, updated.Hash, acts.moved[0].PlanHash)
	acts.mu.Unlock()

	d, err := c.DescribeWorkflowExecution(ctx, id, "")
	require.NoError(t, err)
	last := d.GetWorkflowExecutionInfo()
	assert.NotEqual(t, firstRun, last.GetExecution().GetRunId(), "the run continued as new")
	v, err := c.QueryWorkflow(ctx, id, "", StateQuery)
	require.NoError(t, err)
	var st State
	require.NoError(t, v.Get(&st))
	require.Len(t, st.Sends, 3)
	assert.Equal(t, []string{old.Hash}, st.PlansLeft)

	hashes := map[string]bool{}
	it := c.GetWorkflowHistory(ctx, id, last.GetExecution().GetRunId(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		if a := ev.GetWorkflowExecutionStartedEventAttributes(); a != nil {
			for k, p := range a.GetSearchAttributes().GetIndexedFields() {
				if k == PlanHashAttr.GetName() {
					var h string
					require.NoError(t, converter.GetDefaultDataConverter().FromPayload(p, &h))
					hashes[h] = true
				}
			}
		}
	}
	assert.Equal(t, map[string]bool{updated.Hash: true}, hashes, "the new execution starts with the new plan's hash")

	replayAndRecord(t, c, in, id, firstRun, "moved-winback-first-r3.json")
	replayAndRecord(t, c, in, id, last.GetExecution().GetRunId(), "moved-winback-last-r3.json")
}
