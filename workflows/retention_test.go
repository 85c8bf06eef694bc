package workflows

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

// scrubActs stands in for the retention activity, recording what it was
// asked.
type scrubActs struct {
	asked []ScrubRequest
	fail  int // fails this many times first
}

func (a *scrubActs) Scrub(_ context.Context, req ScrubRequest) (ScrubResult, error) {
	if a.fail > 0 {
		a.fail--
		return ScrubResult{}, errors.New("database unavailable")
	}
	a.asked = append(a.asked, req)
	if req.Kind == ScrubMessages {
		return ScrubResult{Rows: 2500, Batches: 3}, nil
	}
	return ScrubResult{Rows: 40, Fanouts: 3, Batches: 2}, nil
}

func retentionEnv(a *scrubActs) *testsuite.TestWorkflowEnvironment {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(RetentionWorkflow, workflow.RegisterOptions{Name: RetentionWorkflowName})
	env.RegisterActivityWithOptions(a.Scrub, activity.RegisterOptions{Name: ScrubOldContentActivity})
	return env
}

func TestRetentionScrubsMessagesThenEventsAtTheirCutoffs(t *testing.T) {
	a := &scrubActs{fail: 2}
	env := retentionEnv(a)
	start := time.Date(2026, 7, 1, 3, 17, 0, 0, time.UTC)
	env.SetStartTime(start)
	env.ExecuteWorkflow(RetentionWorkflowName, RetentionInput{Messages: "400d", Events: "2w"})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError(), "a database outage is retried, not the end")
	var res RetentionResult
	require.NoError(t, env.GetWorkflowResult(&res))

	require.Len(t, a.asked, 2)
	assert.Equal(t, ScrubMessages, a.asked[0].Kind)
	assert.True(t, a.asked[0].Before.Equal(start.Add(-400*24*time.Hour)), "messages before %s, not %s", start.Add(-400*24*time.Hour), a.asked[0].Before)
	assert.Equal(t, ScrubEvents, a.asked[1].Kind)
	assert.True(t, a.asked[1].Before.Equal(start.Add(-14*24*time.Hour)))
	assert.Equal(t, int64(2500), res.Messages)
	assert.Equal(t, int64(40), res.Events)
	assert.Equal(t, int64(3), res.Fanouts, "the fan-outs deleted with the events")
	require.NotNil(t, res.MessagesBefore)
	require.NotNil(t, res.EventsBefore)
	assert.True(t, res.MessagesBefore.Equal(a.asked[0].Before))
}

func TestRetentionLeavesAKindKeptForeverAlone(t *testing.T) {
	a := &scrubActs{}
	env := retentionEnv(a)
	env.ExecuteWorkflow(RetentionWorkflowName, RetentionInput{Events: "90d"})
	require.NoError(t, env.GetWorkflowError())
	var res RetentionResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Len(t, a.asked, 1)
	assert.Equal(t, ScrubEvents, a.asked[0].Kind)
	assert.Nil(t, res.MessagesBefore, "messages are kept forever")
	assert.Zero(t, res.Messages)
}

func TestRetentionRefusesABadPeriodWithoutRetrying(t *testing.T) {
	a := &scrubActs{}
	env := retentionEnv(a)
	env.ExecuteWorkflow(RetentionWorkflowName, RetentionInput{Messages: "400 days"})
	err := env.GetWorkflowError()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "message retention")
	assert.Contains(t, err.Error(), "400 days")
	assert.Empty(t, a.asked, "nothing is removed under a period that cannot be read")
}

func TestParseRetention(t *testing.T) {
	for in, want := range map[string]time.Duration{"": 0, "400d": 400 * 24 * time.Hour, "13w": 13 * 7 * 24 * time.Hour, "1d": 24 * time.Hour, "1d12h": 36 * time.Hour} {
		got, err := ParseRetention(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for in, says := range map[string]string{"400": "not a duration", "12h": "shorter than a day", "0d": "shorter than a day", "-3d": "not a duration", "forever": "not a duration", "99999w": "too long"} {
		_, err := ParseRetention(in)
		require.Error(t, err, in)
		assert.Contains(t, err.Error(), says, in)
	}
	assert.True(t, RetentionInput{Events: "1d"}.Enabled())
	assert.False(t, RetentionInput{}.Enabled())
	assert.Equal(t, "message content kept 400d, event data kept forever", RetentionInput{Messages: "400d"}.String())
}
