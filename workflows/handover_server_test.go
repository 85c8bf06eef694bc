//go:build !race

package workflows

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/rapporthq/rapport/internal/journey"
)

// handoverServerJourney gives staff a call at once, then thanks the
// customer.
const handoverServerJourney = `
journey: handover
topic: offers
trigger: {event: customer.lapsed}
steps:
  - id: call
    task:
      kind: phone_call
      queue: retention
      due_in: 3d
      brief: Ask why they stopped ordering.
      outcomes: [reached, voicemail]
  - id: thanks
    send: {channel: email, template: thanks-for-talking}
`

// TestTaskHandoverOnARealServer: on a Temporal dev server, a revision 6
// run takes a claim, an assignment, an unclaim and a note of the task it
// waits for (the task-handover update) into its staff actions, refuses
// one for another task, and goes on when the task is completed; its
// history replays and is kept for the replay test.
func TestTaskHandoverOnARealServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*serverPatience)
	defer cancel()
	c := devServer(ctx, t)

	comp, err := journey.NewCompiler(journey.Options{})
	require.NoError(t, err)
	plan, diags := comp.Compile("handover.yaml", []byte(handoverServerJourney))
	require.False(t, diags.HasErrors(), diags.Error())
	acts := &fakeActivities{answers: map[journey.Channel]SendStatus{}}
	w := worker.New(c, "handover-test", worker.Options{})
	NewInterpreter(comp.Env()).Register(w)
	w.RegisterActivityWithOptions(acts.CustomerFacts, activity.RegisterOptions{Name: CustomerFactsActivity})
	w.RegisterActivityWithOptions(acts.SendMessage, activity.RegisterOptions{Name: SendMessageActivity})
	w.RegisterActivityWithOptions(acts.FinishRun, activity.RegisterOptions{Name: FinishRunActivity})
	w.RegisterActivityWithOptions(acts.RecordSteps, activity.RegisterOptions{Name: RecordStepsActivity})
	w.RegisterActivityWithOptions(acts.CreateTask, activity.RegisterOptions{Name: CreateTaskActivity})
	w.RegisterActivityWithOptions(acts.UpdateTask, activity.RegisterOptions{Name: UpdateTaskActivity})
	require.NoError(t, w.Start())
	defer w.Stop()

	id := "rapport/handover/c_1/evt-lapsed"
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "handover-test"}, JourneyWorkflowName,
		JourneyInput{Plan: *plan, CustomerID: "c_1", EntryKey: "evt-lapsed", Revision: Revision,
			Trigger: journey.Event{ID: "evt-lapsed", Type: "customer.lapsed", CustomerID: "c_1", OccurredAt: time.Now().UTC()}})
	require.NoError(t, err)
	st := restsAt(ctx, t, c, id, "call")
	require.NotNil(t, st.OpenTask)
	task := st.OpenTask.ID

	handover := func(h TaskHandover) (StaffAction, error) {
		h.TaskID = task
		u, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: id, UpdateName: TaskHandoverUpdate,
			WaitForStage: client.WorkflowUpdateStageCompleted, Args: []any{h}})
		if err != nil {
			return StaffAction{}, err
		}
		var a StaffAction
		return a, u.Get(ctx, &a)
	}
	for _, h := range []TaskHandover{
		{Kind: HandoverClaim, To: "sam", By: "sam (key desk)"},
		{Kind: HandoverAssign, To: "alex", From: "sam", By: "kim (key leads)"},
		{Kind: HandoverUnclaim, From: "alex", By: "alex (key desk)"},
		{Kind: HandoverNote, Note: "Call after 6pm.", By: "alex (key desk)"},
	} {
		a, err := handover(h)
		require.NoError(t, err, "%+v", h)
		assert.Equal(t, h.Kind, a.Kind)
		assert.Equal(t, "call", a.Step)
	}
	_, err = handover(TaskHandover{Kind: HandoverNote})
	require.ErrorContains(t, err, "a note needs its words", "refused: nothing reaches the history")

	v, err := c.QueryWorkflow(ctx, id, "", StateQuery)
	require.NoError(t, err)
	require.NoError(t, v.Get(&st))
	var got []string
	for _, a := range st.Actions {
		got = append(got, a.Kind+" by "+a.By+": "+a.Reason)
	}
	assert.Equal(t, []string{
		"claim by sam (key desk): to sam",
		"assign by kim (key leads): to alex (from sam)",
		"unclaim by alex (key desk): from alex",
		"note by alex (key desk): Call after 6pm.",
	}, got)

	u, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: id, UpdateName: CompleteTaskUpdate,
		WaitForStage: client.WorkflowUpdateStageCompleted, Args: []any{CompleteTask{TaskID: task, Outcome: "reached", By: "alex"}}})
	require.NoError(t, err)
	require.NoError(t, u.Get(ctx, nil))
	var res JourneyResult
	require.NoError(t, run.Get(ctx, &res))
	assert.Equal(t, Completed, res.Outcome)
	acts.mu.Lock()
	assert.Len(t, acts.updates, 1, "only the completion changes the task row")
	acts.mu.Unlock()
	replayAndRecord(t, c, NewInterpreter(comp.Env()), id, run.GetRunID(), "task-handover-r6.json")
}
