package api

import (
	"context"
	"errors"
	"net/http"
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
