package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/mocks"

	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

// withOpenTask is an API with an open task, task_1, for customer c_1.
func withOpenTask(t *testing.T) *eraseAPI {
	t.Helper()
	a := newEraseAPI(t)
	ctx := context.Background()
	_, err := a.st.UpsertCustomer(ctx, store.Customer{ID: "c_1", Email: "a@example.com", Name: "Ada"})
	require.NoError(t, err)
	_, err = a.st.CreateTask(ctx, store.Task{ID: "task_1", WorkflowID: "rapport/care/c_1/e1", Journey: "care", StepID: "call",
		CustomerID: "c_1", Kind: "phone_call", Queue: "care", Outcomes: []string{"reached"}, DueAt: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	return a
}

// A task completed the moment it appears, before its run has recorded
// creating it and started waiting: the run refuses ("not waiting for a
// task now"), the API sends the completion again, and it is taken.
func TestCompletingATaskTheMomentItAppears(t *testing.T) {
	t.Parallel()
	a := withOpenTask(t)

	calls := 0
	handle := &mocks.WorkflowUpdateHandle{}
	handle.On("Get", mock.Anything, mock.Anything).Return(nil)
	a.tc.On("UpdateWorkflow", mock.Anything, mock.Anything).Return(func(_ context.Context, o client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error) {
		calls++
		if calls <= 2 {
			return nil, errors.New(workflows.NotWaitingForTask)
		}
		return handle, nil
	})
	status, body := a.do("POST", "/v1/tasks/task_1/complete", map[string]any{"outcome": "reached"})
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, 3, calls, "sent again until the run waited for it")
	assert.Equal(t, "completed", body["status"])
}

// A run that refuses for another reason is not asked again.
func TestATaskRefusalForAnotherReasonStands(t *testing.T) {
	t.Parallel()
	a := withOpenTask(t)
	calls := 0
	a.tc.On("UpdateWorkflow", mock.Anything, mock.Anything).Return(func(context.Context, client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error) {
		calls++
		return nil, errors.New("this journey is waiting for task task_2, not task_1")
	})
	status, body := a.do("POST", "/v1/tasks/task_1/complete", map[string]any{"outcome": "reached"})
	assert.Equal(t, http.StatusConflict, status, body)
	assert.Equal(t, 1, calls)
}

// Temporal too busy or out of reach to take the completion (an update a
// loaded workflow has not taken in time) is a 503 saying to repeat it,
// not a 500: repeating is safe, the task is not completed twice.
func TestATaskCompletionTemporalCannotTakeNowIsUnavailable(t *testing.T) {
	t.Parallel()
	for _, err := range []error{
		serviceerror.NewDeadlineExceeded("context deadline exceeded"),
		serviceerror.NewUnavailable("connection refused"),
		serviceerror.NewResourceExhausted(enumspb.RESOURCE_EXHAUSTED_CAUSE_CONCURRENT_LIMIT, "too many updates"),
		serviceerror.NewWorkflowNotReady("workflow not ready"),
	} {
		a := withOpenTask(t)
		a.tc.On("UpdateWorkflow", mock.Anything, mock.Anything).Return(nil, err)
		status, body := a.do("POST", "/v1/tasks/task_1/complete", map[string]any{"outcome": "reached"})
		assert.Equal(t, http.StatusServiceUnavailable, status, "%T: %v", err, body)
		assert.Contains(t, body["error"], "repeating the request is safe")
	}
}

// TestTasksChangeHandsOverHTTP: Sam claims a task, Alex cannot claim it
// over him, Kim assigns it to Alex (an explicit reassign, allowed), Alex
// unclaims it and notes it; each is kept in the task's actions with who
// did it and the key. Bad input is a 400 naming the field; an unknown
// task a 404; a change that cannot apply a 409.
func TestTasksChangeHandsOverHTTP(t *testing.T) {
	t.Parallel()
	a := withOpenTask(t)
	sent := a.takeHandovers()

	status, body := a.do("POST", "/v1/tasks/task_1/claim", map[string]any{"assignee": "sam"})
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, true, body["run_recorded"], "the run took it")
	assert.Nil(t, body["run_reason"])
	status, body = a.do("POST", "/v1/tasks/task_1/claim", map[string]any{"assignee": "alex"})
	assert.Equal(t, http.StatusConflict, status, body)
	assert.Equal(t, "the task is claimed by sam", body["error"])

	status, body = a.do("POST", "/v1/tasks/task_1/assign", map[string]any{"assignee": "alex", "by": "kim"})
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, "alex", body["assignee"])
	assert.Equal(t, "claimed", body["status"])
	assert.Equal(t, "dpo-desk", body["claimed_by_key"])

	status, body = a.do("POST", "/v1/tasks/task_1/unclaim", map[string]any{"by": "alex"})
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, "open", body["status"])
	assert.Nil(t, body["assignee"])
	status, body = a.do("POST", "/v1/tasks/task_1/unclaim", map[string]any{"by": "alex"})
	assert.Equal(t, http.StatusConflict, status, body)
	assert.Equal(t, "nobody holds the task", body["error"])

	status, body = a.do("POST", "/v1/tasks/task_1/notes", map[string]any{"note": "Wants a call after 6pm.\nMobile only.", "by": "alex"})
	require.Equal(t, http.StatusOK, status, body)
	var actions []string
	for _, x := range body["actions"].([]any) {
		m := x.(map[string]any)
		actions = append(actions, fmt.Sprintf("%s|%s|%s|%v>%v|%v", m["kind"], m["by"], m["key"], m["from"], m["assignee"], m["note"]))
		_, err := time.Parse(time.RFC3339Nano, m["at"].(string))
		assert.NoError(t, err)
	}
	assert.Equal(t, []string{
		"claim|sam (key dpo-desk)|dpo-desk|<nil>>sam|<nil>",
		"assign|kim (key dpo-desk)|dpo-desk|sam>alex|<nil>",
		"unclaim|alex (key dpo-desk)|dpo-desk|alex><nil>|<nil>",
		"note|alex (key dpo-desk)|dpo-desk|<nil>><nil>|Wants a call after 6pm.\nMobile only.",
	}, actions)
	status, got := a.do("GET", "/v1/tasks/task_1", nil)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, body["actions"], got["actions"], "GET shows the same actions")
	assert.NotContains(t, got, "run_recorded", "GET answers the task alone")

	// Each change that changed the row went to the task's run, as the
	// row recorded it, under an update id naming the action.
	require.Len(t, *sent, 4, "the refused claim and unclaim sent nothing")
	var handovers []workflows.TaskHandover
	ids := map[string]bool{}
	for _, o := range *sent {
		assert.Equal(t, "rapport/care/c_1/e1", o.WorkflowID)
		assert.Equal(t, workflows.TaskHandoverUpdate, o.UpdateName)
		assert.True(t, strings.HasPrefix(o.UpdateID, "task-handover/task_1/"), o.UpdateID)
		ids[o.UpdateID] = true
		handovers = append(handovers, o.Args[0].(workflows.TaskHandover))
	}
	assert.Len(t, ids, 4, "one update id per action")
	assert.Equal(t, []workflows.TaskHandover{
		{TaskID: "task_1", Kind: "claim", By: "sam (key dpo-desk)", To: "sam"},
		{TaskID: "task_1", Kind: "assign", By: "kim (key dpo-desk)", To: "alex", From: "sam"},
		{TaskID: "task_1", Kind: "unclaim", By: "alex (key dpo-desk)", From: "alex"},
		{TaskID: "task_1", Kind: "note", By: "alex (key dpo-desk)", Note: "Wants a call after 6pm.\nMobile only."},
	}, handovers)

	// Bad input: 400 naming the field.
	for _, tc := range []struct {
		path  string
		body  any
		field string
	}{
		{"/v1/tasks/task_1/assign", map[string]any{"by": "kim"}, "assignee"},
		{"/v1/tasks/task_1/assign", map[string]any{"assignee": "  "}, "assignee"},
		{"/v1/tasks/task_1/assign", map[string]any{"assignee": "alex\nroot"}, "assignee"},
		{"/v1/tasks/task_1/assign", map[string]any{"assignee": strings.Repeat("a", 201)}, "assignee"},
		{"/v1/tasks/task_1/assign", map[string]any{"assignee": "alex", "by": "kim\r\nroot"}, "by"},
		{"/v1/tasks/task_1/assign", map[string]any{"assignee": 7}, "assignee"},
		{"/v1/tasks/task_1/unclaim", map[string]any{"by": strings.Repeat("b", 201)}, "by"},
		{"/v1/tasks/task_1/notes", map[string]any{"by": "sam"}, "note"},
		{"/v1/tasks/task_1/notes", map[string]any{"note": " \n "}, "note"},
		{"/v1/tasks/task_1/notes", map[string]any{"note": strings.Repeat("n", 2001)}, "note"},
		{"/v1/tasks/task_1/notes", map[string]any{"note": "ok", "whom": "x"}, "whom"},
	} {
		status, body := a.do("POST", tc.path, tc.body)
		assert.Equal(t, http.StatusBadRequest, status, "%s %v: %v", tc.path, tc.body, body)
		assert.Equal(t, tc.field, body["field"], "%s %v: %v", tc.path, tc.body, body)
	}
	status, _ = a.do("POST", "/v1/tasks/task_1/notes", map[string]any{"note": strings.Repeat("n", 2000)})
	assert.Equal(t, http.StatusOK, status, "2,000 characters are taken")
	require.Len(t, *sent, 5, "bad input sends nothing")
	long := (*sent)[4].Args[0].(workflows.TaskHandover).Note
	assert.Equal(t, strings.Repeat("n", workflows.MaxHandoverNote-1)+"…", long, "the run keeps the note's first 500 characters; the task all of it")

	// Unknown tasks: 404.
	for path, req := range map[string]any{
		"/v1/tasks/task_nope/assign":  map[string]any{"assignee": "alex"},
		"/v1/tasks/task_nope/unclaim": map[string]any{},
		"/v1/tasks/task_nope/notes":   map[string]any{"note": "x"},
	} {
		status, body := a.do("POST", path, req)
		assert.Equal(t, http.StatusNotFound, status, "%s: %v", path, body)
		assert.Equal(t, "no task task_nope", body["error"])
	}

	// A finished task changes hands no more: 409; a note is still taken.
	_, err := a.st.SetTaskStatus(context.Background(), "task_1", store.TaskCancelled)
	require.NoError(t, err)
	status, body = a.do("POST", "/v1/tasks/task_1/assign", map[string]any{"assignee": "alex"})
	assert.Equal(t, http.StatusConflict, status, body)
	assert.Equal(t, "the task is cancelled", body["error"])
	status, _ = a.do("POST", "/v1/tasks/task_1/unclaim", map[string]any{})
	assert.Equal(t, http.StatusConflict, status)
	status, body = a.do("POST", "/v1/tasks/task_1/notes", map[string]any{"note": "Customer called back; journey ended."})
	assert.Equal(t, http.StatusOK, status, body)
}

// takeHandovers makes the mocked Temporal take every task-handover
// update, keeping what was sent.
func (a *eraseAPI) takeHandovers() *[]client.UpdateWorkflowOptions {
	var sent []client.UpdateWorkflowOptions
	handle := &mocks.WorkflowUpdateHandle{}
	handle.On("Get", mock.Anything, mock.Anything).Return(nil)
	a.tc.On("UpdateWorkflow", mock.Anything, mock.Anything).Return(func(_ context.Context, o client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error) {
		sent = append(sent, o)
		return handle, nil
	})
	return &sent
}

// TestATaskChangeTheRunDoesNotTakeStillSucceeds: the task row is the
// record. When the run does not take the change (it has ended, it runs an
// older interpreter revision, its validator refuses, Temporal is down,
// busy or does not answer in time), the change stands and the answer is
// a success saying why the run did not record it; never a 500.
func TestATaskChangeTheRunDoesNotTakeStillSucceeds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		why  string
	}{
		{"ended", serviceerror.NewNotFound("workflow execution already completed"), "the journey run that asked for the task has ended"},
		{"older revision", errors.New("unknown update task-handover. KnownUpdates=[complete-task exit move-plan skip-wait]"),
			"the journey run started before runs recorded task changes (interpreter revision 6)"},
		{"refused", errors.New("this journey is waiting for task task_2, not task_1"), "the journey run refused it: this journey is waiting for task task_2, not task_1"},
		{"unavailable", serviceerror.NewUnavailable("connection refused"), "Temporal cannot take it just now (unavailable or busy)"},
		{"busy", serviceerror.NewResourceExhausted(enumspb.RESOURCE_EXHAUSTED_CAUSE_CONCURRENT_LIMIT, "too many updates"), "Temporal cannot take it just now (unavailable or busy)"},
		{"deadline", serviceerror.NewDeadlineExceeded("context deadline exceeded"), "the journey run did not answer within 5s (it may record it yet)"},
		{"other", serviceerror.NewInternal("boom"), "it could not be sent to the journey run"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := withOpenTask(t)
			calls := 0
			a.tc.On("UpdateWorkflow", mock.Anything, mock.Anything).Return(func(context.Context, client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error) {
				calls++
				return nil, tc.err
			})
			status, body := a.do("POST", "/v1/tasks/task_1/assign", map[string]any{"assignee": "alex", "by": "kim"})
			require.Equal(t, http.StatusOK, status, body)
			assert.Equal(t, false, body["run_recorded"])
			assert.Equal(t, tc.why, body["run_reason"])
			assert.Equal(t, "alex", body["assignee"], "the task changed all the same")
			assert.Equal(t, 1, calls, "asked once")
			got, err := a.st.GetTask(context.Background(), "task_1")
			require.NoError(t, err)
			assert.Equal(t, "alex", got.Assignee)
		})
	}
}

// A run that does not wait for its task yet (it records creating it a
// moment after the row appears) is asked again; a finished task's run is
// not: it will never wait for it again.
func TestATaskChangeWaitsForTheRunToWaitForTheTask(t *testing.T) {
	t.Parallel()
	a := withOpenTask(t)
	calls := 0
	handle := &mocks.WorkflowUpdateHandle{}
	handle.On("Get", mock.Anything, mock.Anything).Return(nil)
	a.tc.On("UpdateWorkflow", mock.Anything, mock.Anything).Return(func(_ context.Context, o client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error) {
		calls++
		if calls <= 2 || o.Args[0].(workflows.TaskHandover).Kind == workflows.HandoverNote {
			return nil, errors.New(workflows.NotWaitingForTask)
		}
		return handle, nil
	})
	status, body := a.do("POST", "/v1/tasks/task_1/claim", map[string]any{"assignee": "sam"})
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, true, body["run_recorded"], body)
	assert.Equal(t, 3, calls, "sent again until the run waited for it")

	_, err := a.st.SetTaskStatus(context.Background(), "task_1", store.TaskCancelled)
	require.NoError(t, err)
	calls = 0
	status, body = a.do("POST", "/v1/tasks/task_1/notes", map[string]any{"note": "Called back; all fine."})
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, false, body["run_recorded"])
	assert.Equal(t, "the journey run refused it: "+workflows.NotWaitingForTask, body["run_reason"])
	assert.Equal(t, 1, calls, "a cancelled task's run is not asked again")
}

// A Temporal that takes the update and never answers does not hold the
// answer past RunRecordTimeout.
func TestATaskChangeDoesNotWaitOnATemporalThatDoesNotAnswer(t *testing.T) {
	t.Parallel()
	a := withOpenTask(t)
	a.s.RunRecordTimeout = 100 * time.Millisecond
	a.tc.On("UpdateWorkflow", mock.Anything, mock.Anything).Return(func(ctx context.Context, _ client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error) {
		<-ctx.Done() // never answers
		return nil, ctx.Err()
	})
	status, body := a.do("POST", "/v1/tasks/task_1/claim", map[string]any{"assignee": "sam"})
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, false, body["run_recorded"])
	assert.Equal(t, "the journey run did not answer within 100ms (it may record it yet)", body["run_reason"])
	assert.Equal(t, "sam", body["assignee"])
}
