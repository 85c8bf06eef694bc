package workflows

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/rapporthq/rapport/internal/journey"
)

// eraseActs stands in for the erasure's activities, recording what the
// workflow asked, in order.
type eraseActs struct {
	calls []string
	// rounds are what CustomerRuns answers, in turn (the last one again
	// when they run out).
	rounds  []CustomerRuns
	waiting [][]string // what RemoveCustomerData answers, in turn
	removed []RemoveDataRequest
	failDel int // DeleteExecutions fails this many times first
	noKey   bool
}

func (a *eraseActs) Begin(_ context.Context, in EraseInput) error {
	a.calls = append(a.calls, "begin")
	if a.noKey {
		return temporal.NewNonRetryableApplicationError("erasure needs RAPPORT_SECRET", ErrErasureImpossible, nil)
	}
	return nil
}

func (a *eraseActs) Runs(_ context.Context, id string) (CustomerRuns, error) {
	a.calls = append(a.calls, "runs")
	r := a.rounds[0]
	if len(a.rounds) > 1 {
		a.rounds = a.rounds[1:]
	}
	return r, nil
}

func (a *eraseActs) Exit(_ context.Context, req ExitRunRequest) (ExitRunResult, error) {
	a.calls = append(a.calls, "exit "+req.WorkflowID+" by "+req.By)
	return ExitRunResult{Exited: true, Ended: "exited"}, nil
}

func (a *eraseActs) Delete(_ context.Context, req DeleteExecutionsRequest) (DeleteExecutionsResult, error) {
	if a.failDel > 0 {
		a.failDel--
		a.calls = append(a.calls, "delete failed")
		return DeleteExecutionsResult{}, errors.New("temporal unavailable")
	}
	a.calls = append(a.calls, "delete")
	return DeleteExecutionsResult{Deleted: len(req.WorkflowIDs)}, nil
}

func (a *eraseActs) Remove(_ context.Context, req RemoveDataRequest) (RemoveDataResult, error) {
	a.calls = append(a.calls, "remove")
	a.removed = append(a.removed, req)
	var w []string
	if len(a.waiting) > 0 {
		w, a.waiting = a.waiting[0], a.waiting[1:]
	}
	if len(w) > 0 {
		return RemoveDataResult{Waiting: w}, nil
	}
	return RemoveDataResult{Rows: 12}, nil
}

func (a *eraseActs) Finish(_ context.Context, req FinishErasureRequest) error {
	a.calls = append(a.calls, fmt.Sprintf("finish %d exited %d deleted", req.RunsExited, req.ExecutionsDeleted))
	return nil
}

func eraseEnv(t *testing.T, a *eraseActs) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(EraseWorkflow, workflow.RegisterOptions{Name: EraseWorkflowName})
	env.RegisterActivityWithOptions(a.Begin, activity.RegisterOptions{Name: BeginErasureActivity})
	env.RegisterActivityWithOptions(a.Runs, activity.RegisterOptions{Name: CustomerRunsActivity})
	env.RegisterActivityWithOptions(a.Exit, activity.RegisterOptions{Name: ExitRunForErasureActivity})
	env.RegisterActivityWithOptions(a.Delete, activity.RegisterOptions{Name: DeleteExecutionsActivity})
	env.RegisterActivityWithOptions(a.Remove, activity.RegisterOptions{Name: RemoveCustomerDataActivity})
	env.RegisterActivityWithOptions(a.Finish, activity.RegisterOptions{Name: FinishErasureActivity})
	return env
}

func TestEraseExitsRunsThenDeletesThenRemoves(t *testing.T) {
	a := &eraseActs{rounds: []CustomerRuns{{Running: []string{"r1"}, All: []string{"r0", "r1"}}}, failDel: 2}
	env := eraseEnv(t, a)
	env.ExecuteWorkflow(EraseWorkflowName, EraseInput{CustomerID: "c_1", ErasureID: 7, By: "key dpo"})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError(), "an infrastructure failure is retried, not the end")
	var res EraseResult
	require.NoError(t, env.GetWorkflowResult(&res))
	assert.Equal(t, EraseResult{RunsExited: 1, ExecutionsDeleted: 2, RowsRemoved: 12, Rounds: 1}, res)
	assert.Equal(t, []string{"begin", "runs", "exit r1 by key dpo", "delete failed", "delete failed", "delete", "remove", "finish 1 exited 2 deleted"}, a.calls,
		"runs end before their executions are deleted, and both before the data goes")
	assert.Equal(t, []string{"r0", "r1"}, a.removed[0].Deleted)
}

func TestEraseGoesRoundAgainForARunThatStartedMeanwhile(t *testing.T) {
	a := &eraseActs{
		rounds:  []CustomerRuns{{Running: []string{"r1"}, All: []string{"r1"}}, {Running: []string{"r2"}, All: []string{"r1", "r2"}}},
		waiting: [][]string{{"r2"}},
	}
	env := eraseEnv(t, a)
	env.ExecuteWorkflow(EraseWorkflowName, EraseInput{CustomerID: "c_1", ErasureID: 7, By: "key dpo"})
	require.NoError(t, env.GetWorkflowError())
	var res EraseResult
	require.NoError(t, env.GetWorkflowResult(&res))
	assert.Equal(t, 2, res.Rounds)
	assert.Equal(t, 2, res.RunsExited)
	assert.Equal(t, []string{"begin", "runs", "exit r1 by key dpo", "delete", "remove", "runs", "exit r2 by key dpo", "delete", "remove", "finish 2 exited 3 deleted"}, a.calls)
	require.Len(t, a.removed, 2)
	assert.Equal(t, []string{"r1", "r2"}, a.removed[1].Deleted)
}

func TestEraseWithoutAKeyStopsSayingWhy(t *testing.T) {
	a := &eraseActs{noKey: true}
	env := eraseEnv(t, a)
	env.ExecuteWorkflow(EraseWorkflowName, EraseInput{CustomerID: "c_1", ErasureID: 7})
	err := env.GetWorkflowError()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "RAPPORT_SECRET")
	assert.Equal(t, []string{"begin"}, a.calls, "nothing is done without the key, and it is not retried forever")
}

// TestCustomerGoneAtABranchExits: a run whose customer is erased while
// it waits ends as exited when it next looks at the customer.
func (s *JourneySuite) TestCustomerGoneAtABranchExits() {
	p := s.plan(`
journey: gone
purpose: transactional
trigger: {event: order.placed}
steps:
  - {id: a, send: {channel: email, template: t}}
  - {id: w, wait: 1h}
  - id: b
    branch:
      - when: customer.has_email
        steps:
          - {id: c, send: {channel: email, template: t}}
`)
	s.env.RegisterDelayedCallback(func() { s.acts.missing = true }, 30*time.Minute)
	res := s.run(p, journey.Order{})
	s.Equal(Exited, res.Outcome)
	s.Equal(CustomerGoneReason, res.Reason)
	s.Equal([]string{"a"}, s.acts.sentSteps(), "nothing after the customer is gone")
	s.Equal([]string{"a", "w"}, res.StepsDone)
}
