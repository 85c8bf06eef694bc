package inspect

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/store/storetest"
	"github.com/rapporthq/rapport/workflows"
)

// TestInspectShowsWhatStaffDidToARunsTasks: rapport inspect adds to each
// run the claims, assignments, unclaims and notes of its tasks, read from
// the database, beside the staff actions the run itself records.
func TestInspectShowsWhatStaffDidToARunsTasks(t *testing.T) {
	st, _ := storetest.New(t)
	ctx := context.Background()
	wf := "rapport/lapse-winback/c_1/a1"
	_, err := st.CreateTask(ctx, store.Task{ID: "task_w", WorkflowID: wf, Journey: "lapse-winback", StepID: "call", CustomerID: "c_1",
		Kind: "phone_call", Queue: "retention", Outcomes: []string{"reached"}, DueAt: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	_, err = st.CreateTask(ctx, store.Task{ID: "task_other", WorkflowID: "rapport/care/c_1/e1", Journey: "care", StepID: "call", CustomerID: "c_1",
		Kind: "phone_call", Queue: "care", Outcomes: []string{"reached"}, DueAt: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	_, err = st.ClaimTask(ctx, "task_w", "sam", "sam (key desk)", "desk")
	require.NoError(t, err)
	_, err = st.AssignTask(ctx, "task_w", "alex", "kim (key lead)", "lead")
	require.NoError(t, err)
	_, err = st.UnclaimTask(ctx, "task_w", "alex (key desk)", "desk")
	require.NoError(t, err)
	_, err = st.NoteTask(ctx, "task_w", "Call after 6pm.\nMobile only.", "alex (key desk)", "desk")
	require.NoError(t, err)

	in := Inspection{CustomerID: "c_1", Runs: []Run{
		{WorkflowID: wf, Journey: "lapse-winback", Status: "running", State: &workflows.State{Status: "running", CurrentStep: "call",
			Actions: []workflows.StaffAction{{Kind: workflows.SkipWaitUpdate, By: "sam", Step: "wait", At: time.Now()}}}},
		{WorkflowID: "rapport/other/c_1/x", Journey: "other", Status: "running", StateError: "no answer within 10s: is a worker running?"},
	}}
	in.AttachTasks(ctx, st)
	require.Empty(t, in.TasksError)
	require.Len(t, in.Runs[0].Tasks, 1, "only the run's own task")
	assert.Empty(t, in.Runs[1].Tasks)

	var out bytes.Buffer
	in.Print(&out)
	for _, want := range []string{
		"  skip-wait by sam at wait, ",
		"  task claim by sam (key desk) at call, ",
		"  task assign by kim (key lead) at call, ",
		": to alex (from sam)\n",
		"  task unclaim by alex (key desk) at call, ",
		": from alex\n",
		"  task note by alex (key desk) at call, ",
		": Call after 6pm. Mobile only.\n",
	} {
		assert.Contains(t, out.String(), want)
	}
	assert.Less(t, bytes.Index(out.Bytes(), []byte("task claim")), bytes.Index(out.Bytes(), []byte("task note")), "oldest first")
}

// TestInspectPrintsATaskActionTheRunRecordedOnce: a run of revision 6
// records its task's claims, assignments, unclaims and notes among its
// staff actions; inspect prints each once, as the task's actions are
// printed, and the task's actions the run did not record (a note after
// the run went on, say) from the database.
func TestInspectPrintsATaskActionTheRunRecordedOnce(t *testing.T) {
	st, _ := storetest.New(t)
	ctx := context.Background()
	wf := "rapport/care/c_1/e1"
	_, err := st.CreateTask(ctx, store.Task{ID: "task_c", WorkflowID: wf, Journey: "care", StepID: "call", CustomerID: "c_1",
		Kind: "phone_call", Queue: "care", Outcomes: []string{"reached"}, DueAt: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	_, err = st.ClaimTask(ctx, "task_c", "sam", "sam (key desk)", "desk")
	require.NoError(t, err)
	_, err = st.AssignTask(ctx, "task_c", "alex", "kim (key lead)", "lead")
	require.NoError(t, err)
	_, err = st.NoteTask(ctx, "task_c", "Reached; sending a refund.", "alex (key desk)", "desk")
	require.NoError(t, err)

	at := time.Date(2026, 5, 3, 10, 0, 0, 0, time.UTC)
	in := Inspection{CustomerID: "c_1", Runs: []Run{{WorkflowID: wf, Journey: "care", Status: "running",
		State: &workflows.State{Status: "running", CurrentStep: "after", Actions: []workflows.StaffAction{
			{Kind: workflows.HandoverClaim, By: "sam (key desk)", Reason: "to sam", Step: "call", At: at},
			{Kind: workflows.HandoverAssign, By: "kim (key lead)", Reason: "to alex (from sam)", Step: "call", At: at.Add(time.Minute)},
			{Kind: workflows.CompleteTaskUpdate, By: "alex", Reason: "reached", Step: "call", At: at.Add(2 * time.Minute)},
		}}}}}
	in.AttachTasks(ctx, st)
	var out bytes.Buffer
	in.Print(&out)
	got := out.String()
	assert.Contains(t, got, "  task claim by sam (key desk) at call, 2026-05-03 10:00: to sam\n")
	assert.Contains(t, got, "  task assign by kim (key lead) at call, 2026-05-03 10:01: to alex (from sam)\n")
	assert.Contains(t, got, "  complete-task by alex at call, 2026-05-03 10:02: reached\n")
	assert.Contains(t, got, "  task note by alex (key desk) at call, ", "the note the run did not record, from the database")
	assert.Equal(t, 1, strings.Count(got, "task claim by sam"), got)
	assert.Equal(t, 1, strings.Count(got, "task assign by kim"), got)
}
