package activities

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

// recordOf is a run's Record: the steps reached and, when ends, its end.
func recordOf(workflowID string, ends bool, steps ...string) *workflows.Record {
	rec := &workflows.Record{}
	for i, st := range steps {
		rec.Steps = append(rec.Steps, workflows.StepReached{Step: st, At: time.Date(2026, 1, 5, 10, i, 0, 0, time.UTC)})
	}
	if ends {
		rec.End = &workflows.FinishRunRequest{WorkflowID: workflowID, Outcome: workflows.Completed}
	}
	return rec
}

// TestASendRecordsTheStepsAndTheEndOnceSent: a send carrying a Record
// (revision 7) records the run's steps, and its end once the message is
// sent; a retry finds both recorded and says so again.
func TestASendRecordsTheStepsAndTheEndOnceSent(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	req := request()
	require.NoError(t, h.store.RegisterRun(ctx, store.Run{WorkflowID: req.WorkflowID, Journey: req.Journey, CustomerID: "c_1", PlanHash: "h"}))
	req.Record = recordOf(req.WorkflowID, true, "thank_you")

	res, err := h.send(req)
	require.NoError(t, err)
	assert.Equal(t, workflows.SendSent, res.Status)
	assert.Equal(t, workflows.Recorded{Steps: true, End: true}, res.Recorded)
	run, err := h.store.GetRun(ctx, req.WorkflowID)
	require.NoError(t, err)
	assert.Equal(t, store.RunCompleted, run.Status)
	steps, err := h.store.RunSteps(ctx, req.WorkflowID)
	require.NoError(t, err)
	require.Len(t, steps, 1)
	assert.Equal(t, "thank_you", steps[0].Step)

	again, err := h.send(req)
	require.NoError(t, err)
	assert.Equal(t, res, again, "a retry reports the same")
	assert.Len(t, h.fakes.Recorder.Messages(), 1, "and sends nothing")
}

// TestASendNotSentRecordsNoEnd: a message that does not go (no address)
// records the steps but not the run's end, which the run records.
func TestASendNotSentRecordsNoEnd(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	_, err := h.store.UpsertCustomer(ctx, store.Customer{ID: "c_2", Name: "Grace", Locale: "en-GB"})
	require.NoError(t, err)
	req := request()
	req.CustomerID, req.WorkflowID, req.OrderID = "c_2", "rapport/thank-you/c_2/e2", ""
	require.NoError(t, h.store.RegisterRun(ctx, store.Run{WorkflowID: req.WorkflowID, Journey: req.Journey, CustomerID: "c_2", PlanHash: "h"}))
	req.Record = recordOf(req.WorkflowID, true, "thank_you")

	res, err := h.send(req)
	require.NoError(t, err)
	assert.Equal(t, workflows.SendSkipped, res.Status)
	assert.Equal(t, workflows.Recorded{Steps: true}, res.Recorded)
	assert.False(t, res.CustomerGone)
	run, err := h.store.GetRun(ctx, req.WorkflowID)
	require.NoError(t, err)
	assert.Equal(t, store.RunRunning, run.Status)
}

// TestASendToACustomerGoneSaysSo: a send for a customer who no longer
// exists is skipped and says the customer is gone, for a run that has
// not read their facts.
func TestASendToACustomerGoneSaysSo(t *testing.T) {
	h := newHarness(t)
	req := request()
	req.CustomerID, req.OrderID = "c_gone", ""
	res, err := h.send(req)
	require.NoError(t, err)
	assert.Equal(t, workflows.SendSkipped, res.Status)
	assert.True(t, res.CustomerGone)
}

// TestATaskRecordsTheStepsAndItsCompletionTheEnd: a task's creation
// records the steps the run reached; its completion, carrying the end,
// records that.
func TestATaskRecordsTheStepsAndItsCompletionTheEnd(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	const wf = "rapport/care/c_1/e1"
	require.NoError(t, h.store.RegisterRun(ctx, store.Run{WorkflowID: wf, Journey: "care", CustomerID: "c_1", PlanHash: "h"}))
	taskID := workflows.TaskID(wf, "care")
	v, err := h.env.ExecuteActivity(workflows.CreateTaskActivity, workflows.CreateTaskRequest{TaskID: taskID, WorkflowID: wf, Journey: "care",
		StepID: "care", CustomerID: "c_1", Kind: "follow_up", Queue: "care", Brief: "Put it right.", Outcomes: []string{"resolved"},
		DueAt: time.Now().Add(time.Hour), Record: recordOf(wf, false, "respond", "care")})
	require.NoError(t, err)
	var created workflows.CreateTaskResult
	require.NoError(t, v.Get(&created))
	assert.True(t, created.Created)
	assert.Equal(t, workflows.Recorded{Steps: true}, created.Recorded)

	v, err = h.env.ExecuteActivity(workflows.UpdateTaskActivity, workflows.UpdateTaskRequest{TaskID: taskID, WorkflowID: wf, Status: "completed",
		Outcome: "resolved", Record: recordOf(wf, true)})
	require.NoError(t, err)
	var updated workflows.UpdateTaskResult
	require.NoError(t, v.Get(&updated))
	assert.Equal(t, workflows.Recorded{End: true}, updated.Recorded)
	run, err := h.store.GetRun(ctx, wf)
	require.NoError(t, err)
	assert.Equal(t, store.RunCompleted, run.Status)
	steps, err := h.store.RunSteps(ctx, wf)
	require.NoError(t, err)
	assert.Len(t, steps, 2)
}
