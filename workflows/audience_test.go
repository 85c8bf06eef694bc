package workflows

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

// fakeAudience hands out stretches of 10 customers, 3 of whom match, over
// a population of total customers.
type fakeAudience struct {
	total    int
	requests []AudienceStretchRequest
}

func (f *fakeAudience) EnterAudience(_ context.Context, req AudienceStretchRequest) (AudienceStretch, error) {
	f.requests = append(f.requests, req)
	var from int
	if req.Cursor != "" {
		fmt.Sscanf(req.Cursor, "c_%d", &from)
	}
	n := min(10, f.total-from)
	return AudienceStretch{
		AudienceCounts: AudienceCounts{Scanned: int64(n), Matched: 3, Started: 2, Skipped: 1},
		Cursor:         fmt.Sprintf("c_%03d", from+n),
		Done:           from+n >= f.total,
	}, nil
}

func audienceEnv(t *testing.T, f *fakeAudience) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(AudienceWorkflow, workflow.RegisterOptions{Name: AudienceWorkflowName})
	env.RegisterActivityWithOptions(f.EnterAudience, activity.RegisterOptions{Name: EnterAudienceActivity})
	return env
}

func TestAudienceWorkflowWalksEveryStretch(t *testing.T) {
	f := &fakeAudience{total: 35}
	env := audienceEnv(t, f)
	asOf := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	env.ExecuteWorkflow(AudienceWorkflowName, AudienceInput{Journey: "lapse-winback", EntryKey: "audience-20261122", AsOf: asOf})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var res AudienceResult
	require.NoError(t, env.GetWorkflowResult(&res))
	assert.Equal(t, AudienceCounts{Scanned: 35, Matched: 12, Started: 8, Skipped: 4}, res.Counts)
	require.Len(t, f.requests, 4)
	assert.Equal(t, "", f.requests[0].Cursor)
	assert.Equal(t, "c_030", f.requests[3].Cursor, "each stretch starts where the last stopped")
	for _, r := range f.requests {
		assert.Equal(t, "audience-20261122", r.EntryKey)
		assert.Equal(t, asOf, r.AsOf)
	}
}

func TestAudienceWorkflowContinuesAsNew(t *testing.T) {
	f := &fakeAudience{total: 100}
	env := audienceEnv(t, f)
	env.ExecuteWorkflow(AudienceWorkflowName, AudienceInput{Journey: "lapse-winback", EntryKey: "k", AsOf: time.Now(), StretchesPerRun: 2})
	require.True(t, env.IsWorkflowCompleted())
	var can *workflow.ContinueAsNewError
	require.True(t, errors.As(env.GetWorkflowError(), &can), "after two stretches it continues as new")
	var next AudienceInput
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	assert.Equal(t, "c_020", next.Cursor)
	assert.Equal(t, int64(20), next.Counts.Scanned)
	assert.Equal(t, "k", next.EntryKey)
}

func TestAudienceEntryKey(t *testing.T) {
	// Started by hand: keyed by its start, to the minute.
	f := &fakeAudience{total: 5}
	env := audienceEnv(t, f)
	env.SetStartTime(time.Date(2026, 11, 22, 9, 0, 3, 0, time.UTC))
	env.ExecuteWorkflow(AudienceWorkflowName, AudienceInput{Journey: "lapse-winback"})
	require.NoError(t, env.GetWorkflowError())
	require.Len(t, f.requests, 1)
	assert.Equal(t, "audience-20261122T0900Z", f.requests[0].EntryKey)

	// Started by its schedule: keyed by the scheduled time, however late
	// it starts, so a retried action enters nobody twice.
	f = &fakeAudience{total: 5}
	env = audienceEnv(t, f)
	scheduled := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	env.SetStartTime(scheduled.Add(3 * time.Minute))
	require.NoError(t, env.SetTypedSearchAttributesOnStart(temporal.NewSearchAttributes(scheduledStartAttr.ValueSet(scheduled))))
	env.ExecuteWorkflow(AudienceWorkflowName, AudienceInput{Journey: "lapse-winback"})
	require.NoError(t, env.GetWorkflowError())
	require.Len(t, f.requests, 1)
	assert.Equal(t, "audience-20261122T0900Z", f.requests[0].EntryKey)
	assert.Equal(t, scheduled, f.requests[0].AsOf)
}

// flakyAudience fails its first failures attempts, as a database that is
// down would, then hands out every customer at once.
type flakyAudience struct {
	failures, attempts int
}

func (f *flakyAudience) EnterAudience(_ context.Context, req AudienceStretchRequest) (AudienceStretch, error) {
	f.attempts++
	if f.attempts <= f.failures {
		return AudienceStretch{}, errors.New("dial tcp 10.0.0.5:5432: connection refused")
	}
	return AudienceStretch{AudienceCounts: AudienceCounts{Scanned: 5, Matched: 1, Started: 1}, Cursor: "c_005", Done: true}, nil
}

func flakyEnv(f *flakyAudience) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(AudienceWorkflow, workflow.RegisterOptions{Name: AudienceWorkflowName})
	env.RegisterActivityWithOptions(f.EnterAudience, activity.RegisterOptions{Name: EnterAudienceActivity})
	return env
}

// A stretch whose activity keeps failing gives up when its budget is
// spent (two hours, skipped through here), and the run fails saying why
// and where, so that it ends instead of retrying for ever while its
// schedule's later runs wait. An outage shorter than the budget costs
// only time.
func TestAudienceStretchHasATimeBudget(t *testing.T) {
	f := &flakyAudience{failures: 1 << 30}
	env := flakyEnv(f)
	start := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	env.SetStartTime(start)
	env.ExecuteWorkflow(AudienceWorkflowName, AudienceInput{Journey: "lapse-winback", EntryKey: "audience-20261122T0900Z", AsOf: start, Cursor: "c_100"})
	require.True(t, env.IsWorkflowCompleted())
	err := env.GetWorkflowError()
	require.Error(t, err)
	assert.Contains(t, err.Error(), `the lapse-winback audience run audience-20261122T0900Z gave up after customer "c_100": its stretch kept failing for 2h0m0s`)
	assert.Contains(t, err.Error(), "the schedule's next run scans them all again")
	var actErr *temporal.ActivityError
	require.ErrorAs(t, err, &actErr, "the activity's error is kept")
	assert.Contains(t, err.Error(), "connection refused", "the last failure is kept")
	elapsed := env.Now().Sub(start)
	assert.GreaterOrEqual(t, elapsed, AudienceStretchBudget-time.Minute)
	assert.Less(t, elapsed, AudienceStretchBudget+5*time.Minute, "it ends when the budget is spent")
	assert.Greater(t, f.attempts, 10, "retried meanwhile, at most a minute apart")
	v, err := env.QueryWorkflow("__temporal_workflow_metadata")
	require.NoError(t, err)
	var meta sdkpb.WorkflowMetadata
	require.NoError(t, v.Get(&meta))
	assert.Contains(t, meta.GetCurrentDetails(), "**gave up: the stretch after `c_100` kept failing for 2h0m0s**", "the Temporal UI says so")

	f = &flakyAudience{failures: 30} // about half an hour down
	env = flakyEnv(f)
	env.SetStartTime(start)
	env.ExecuteWorkflow(AudienceWorkflowName, AudienceInput{Journey: "lapse-winback", EntryKey: "k", AsOf: start})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var res AudienceResult
	require.NoError(t, env.GetWorkflowResult(&res))
	assert.Equal(t, int64(5), res.Counts.Scanned)
	assert.Equal(t, 31, f.attempts)
}
