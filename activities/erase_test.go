package activities

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/mocks"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/store/storetest"
	"github.com/rapporthq/rapport/workflows"
)

// eraseActivities runs the erasure activities over a database, with or
// without the hashing key.
func eraseActivities(t *testing.T, st *store.Store) *testsuite.TestActivityEnvironment {
	t.Helper()
	a := &Activities{Store: st, Temporal: &mocks.Client{}, Namespace: "default"}
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	a.RegisterErasure(env)
	return env
}

func impossible(t *testing.T, err error) {
	t.Helper()
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "%v", err)
	assert.Equal(t, workflows.ErrErasureImpossible, appErr.Type())
	assert.True(t, appErr.NonRetryable(), "retrying cannot mend it")
}

func TestErasureWithoutTheKeyIsRefused(t *testing.T) {
	_, url := storetest.New(t)
	ctx := context.Background()
	bare, err := store.Open(ctx, url)
	require.NoError(t, err)
	defer bare.Close()
	env := eraseActivities(t, bare)
	_, err = env.ExecuteActivity(workflows.BeginErasureActivity, workflows.EraseInput{CustomerID: "c_1", ErasureID: 1})
	impossible(t, err)
	assert.Contains(t, err.Error(), "RAPPORT_SECRET")
	_, err = env.ExecuteActivity(workflows.RemoveCustomerDataActivity, workflows.RemoveDataRequest{ErasureID: 1, CustomerID: "c_1"})
	impossible(t, err)
}

func TestBeginErasureChecksTheRecord(t *testing.T) {
	st, _ := storetest.New(t)
	ctx := context.Background()
	env := eraseActivities(t, st)
	_, err := env.ExecuteActivity(workflows.BeginErasureActivity, workflows.EraseInput{CustomerID: "c_1", ErasureID: 99})
	impossible(t, err)
	assert.Contains(t, err.Error(), "not recorded")

	// Runs entered before the erasure was asked for (none can enter after).
	require.NoError(t, st.RegisterRun(ctx, store.Run{WorkflowID: "w1", Journey: "j", CustomerID: "c_1", PlanHash: "h"}))
	require.NoError(t, st.RegisterRun(ctx, store.Run{WorkflowID: "w2", Journey: "j", CustomerID: "c_1", PlanHash: "h"}))
	require.NoError(t, st.FinishRun(ctx, "w1", store.RunCompleted, ""))
	er, _, err := st.BeginErasure(ctx, "c_1", "rapport-erase/x", "key dpo", "asked")
	require.NoError(t, err)
	_, err = env.ExecuteActivity(workflows.BeginErasureActivity, workflows.EraseInput{CustomerID: "c_2", ErasureID: er.ID})
	impossible(t, err)
	assert.Contains(t, err.Error(), "another customer")
	_, err = env.ExecuteActivity(workflows.BeginErasureActivity, workflows.EraseInput{CustomerID: "c_1", ErasureID: er.ID})
	require.NoError(t, err)
	got, err := st.GetErasure(ctx, er.ID)
	require.NoError(t, err)
	assert.Equal(t, store.ErasureExiting, got.Stage)

	v, err := env.ExecuteActivity(workflows.CustomerRunsActivity, "c_1")
	require.NoError(t, err)
	var runs workflows.CustomerRuns
	require.NoError(t, v.Get(&runs))
	assert.Equal(t, []string{"w2"}, runs.Running)
	assert.ElementsMatch(t, []string{"w1", "w2"}, runs.All)

	v, err = env.ExecuteActivity(workflows.RemoveCustomerDataActivity, workflows.RemoveDataRequest{ErasureID: er.ID, CustomerID: "c_1", Deleted: []string{"w1"}})
	require.NoError(t, err)
	var removed workflows.RemoveDataResult
	require.NoError(t, v.Get(&removed))
	assert.Equal(t, []string{"w2"}, removed.Waiting, "a running run holds the removal back")

	_, err = env.ExecuteActivity(workflows.FinishErasureActivity, workflows.FinishErasureRequest{ErasureID: er.ID, RunsExited: 1, ExecutionsDeleted: 2})
	require.NoError(t, err)
	got, err = st.GetErasure(ctx, er.ID)
	require.NoError(t, err)
	assert.True(t, got.Done())
	assert.Equal(t, 1, got.RunsExited)
	assert.Equal(t, 2, got.ExecutionsDeleted)
}
