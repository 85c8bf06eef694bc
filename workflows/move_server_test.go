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
// lasts 8 s) resting in a 3-day wait takes the move-plan update with the
// new plan as compiled: it scales it to its own clock, continues as new on
// it with RapportPlanHash changed, ends its wait a day after it began,
// and sends the new plan's steps. Both executions replay, and are kept
// for the replay test.
func TestRunMovesOnARealServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
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
	const day = 8 * time.Second
	scaled := old.Scaled(day, time.Now())

	acts := &fakeActivities{answers: map[journey.Channel]SendStatus{}}
	w := worker.New(c, "move-test", worker.Options{})
	in := NewInterpreter(comp.Env())
	in.Register(w)
	w.RegisterActivityWithOptions(acts.CustomerFacts, activity.RegisterOptions{Name: CustomerFactsActivity})
	w.RegisterActivityWithOptions(acts.SendMessage, activity.RegisterOptions{Name: SendMessageActivity})
	w.RegisterActivityWithOptions(acts.FinishRun, activity.RegisterOptions{Name: FinishRunActivity})
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
	var began time.Time
	require.Eventually(t, func() bool { // the run rests in its wait
		v, err := c.QueryWorkflow(ctx, id, "", StateQuery)
		var st State
		if err != nil || v.Get(&st) != nil || st.PendingWait == nil || st.PendingWait.Step != "wait_for_return" {
			return false
		}
		began = st.PendingWait.Until.Add(-3 * day)
		return true
	}, 30*time.Second, 50*time.Millisecond)

	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: id, UpdateName: MovePlanUpdate, WaitForStage: client.WorkflowUpdateStageCompleted,
		Args: []any{Move{Plan: *updated, Listens: false, By: "test"}},
	})
	require.NoError(t, err)
	var answer MoveAnswer
	require.NoError(t, h.Get(ctx, &answer))
	assert.Equal(t, MoveAnswer{Step: "wait_for_return", Now: true}, answer)

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
	nudgeAt := st.Sends[1].At
	t.Logf("wait began %s; nudge sent %s after it (a day is %s)", began.Format(time.TimeOnly), nudgeAt.Sub(began), day)
	assert.InDelta(t, day.Seconds(), nudgeAt.Sub(began).Seconds(), 3, "the wait lasts the new plan's day, counted from when it began")
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
