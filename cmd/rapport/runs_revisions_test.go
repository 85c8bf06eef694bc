//go:build !production

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/rapporthq/rapport/internal/app"
	"github.com/rapporthq/rapport/internal/devstack"
	"github.com/rapporthq/rapport/workflows"
)

// TestRunsRevisionsShowsTheFleet: rapport runs revisions lists a worker of
// this release and one of a release before the fleet rule polling the
// task queue, says new runs record revision 3 while both poll, counts a
// running run and a closed one by the revision they recorded, and says
// which revisions this release runs.
func TestRunsRevisionsShowsTheFleet(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := devstack.StartTemporal(ctx, devstack.TemporalOptions{UIPort: -1, LogLevel: 100})
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	t.Setenv("TEMPORAL_ADDRESS", srv.Address())
	c, err := client.Dial(client.Options{HostPort: srv.Address(), Namespace: srv.Namespace()})
	require.NoError(t, err)
	defer c.Close()

	// A stand-in journey workflow that records revision 4 and waits, or
	// ends at once.
	journey := func(ctx workflow.Context, wait bool) error {
		workflow.GetVersion(ctx, workflows.RevisionChange, workflow.DefaultVersion, 4)
		if !wait {
			return nil
		}
		return workflow.Sleep(ctx, time.Hour)
	}
	for _, identity := range []string{app.WorkerIdentity(), "old@host@"} {
		w := worker.New(c, workflows.TaskQueue, worker.Options{Identity: identity})
		w.RegisterWorkflowWithOptions(journey, workflow.RegisterOptions{Name: workflows.JourneyWorkflowName})
		require.NoError(t, w.Start())
		defer w.Stop()
	}
	_, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "rapport/x/c_1/k", TaskQueue: workflows.TaskQueue}, workflows.JourneyWorkflowName, true)
	require.NoError(t, err)
	ended, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "rapport/x/c_2/k", TaskQueue: workflows.TaskQueue}, workflows.JourneyWorkflowName, false)
	require.NoError(t, err)
	require.NoError(t, ended.Get(ctx, nil))

	var rep revisionsReport
	require.Eventually(t, func() bool {
		out, _, err := run("runs", "revisions", "--json")
		if err != nil || json.Unmarshal([]byte(out), &rep) != nil {
			return false
		}
		four := false
		for _, r := range rep.Running {
			four = four || (r.Revision == "4" && r.Runs == 1 && r.Closed == 1)
		}
		return len(rep.Fleet.Workers) == 2 && four
	}, time.Minute, 500*time.Millisecond, "both workers listed and the runs counted: %+v", rep)
	assert.Equal(t, 3, rep.Fleet.Record, "an older worker polls: new runs record revision 3")
	assert.Contains(t, rep.Fleet.Why, "rollout or rollback")
	assert.Equal(t, workflows.MinRevision, rep.Oldest)
	assert.Equal(t, workflows.CurrentRevision, rep.Newest)
	assert.Equal(t, revisionCount{Revision: "0-1"}, rep.Running[0], "no run without the marker")

	out, errOut, err := run("runs", "revisions")
	require.NoError(t, err, errOut)
	assert.Contains(t, out, app.WorkerIdentity())
	assert.Contains(t, out, "old@host@")
	assert.Contains(t, out, "does not say")
	assert.Contains(t, out, "new runs record revision 3")
	assert.Contains(t, out, fmt.Sprintf("this release runs revisions %d to %d", workflows.MinRevision, workflows.CurrentRevision))
	assert.Regexp(t, `(?m)^  4\s+1\s+1$`, out, "revision 4: one running, one closed")
}
