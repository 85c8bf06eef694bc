package main

import (
	"bytes"
	"context"
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

	in := inspection{CustomerID: "c_1", Runs: []runView{
		{WorkflowID: wf, Journey: "lapse-winback", Status: "running", State: &workflows.State{Status: "running", CurrentStep: "call",
			Actions: []workflows.StaffAction{{Kind: workflows.SkipWaitUpdate, By: "sam", Step: "wait", At: time.Now()}}}},
		{WorkflowID: "rapport/other/c_1/x", Journey: "other", Status: "running", StateError: "no answer within 10s: is a worker running?"},
	}}
	attachTasks(ctx, st, &in)
	require.Empty(t, in.TasksError)
	require.Len(t, in.Runs[0].Tasks, 1, "only the run's own task")
	assert.Empty(t, in.Runs[1].Tasks)

	var out bytes.Buffer
	printInspection(&out, in)
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
