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
