//go:build !race

// Left out of -race builds: see connect_server_test.go.

package app

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/rapporthq/rapport/internal/store/storetest"
	"github.com/rapporthq/rapport/internal/temporalsetup"
	"github.com/rapporthq/rapport/workflows"
)

// patience bounds the test's waits for the worker to get somewhere: a
// detector of what never happens, not a speed the machine must keep.
const patience = 3 * time.Minute

// TestWorkerDrains: when the worker is told to stop (SIGTERM cancels the
// command's context), /readyz fails at once, polling stops, and an
// activity under way finishes within the grace period. It starts only on
// a namespace that has Rapport's search attributes.
func TestWorkerDrains(t *testing.T) {
	srv := startTemporal(t, nil)
	_, dbURL := storetest.New(t)
	cfg := testConfig(t, dbURL, srv.Address())

	started, release := make(chan struct{}), make(chan struct{})
	slow := func(ctx context.Context) (string, error) {
		close(started)
		<-release
		return "finished", nil
	}
	slowWorkflow := func(ctx workflow.Context) (string, error) {
		// Longer than the test may hold it, however slow the machine.
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 4 * patience})
		var out string
		err := workflow.ExecuteActivity(ctx, "Slow").Get(ctx, &out)
		return out, err
	}
	ops := freeAddr(t)
	// The grace period outlasts the test's wait for /readyz to fail, so
	// that a slow machine cannot end the drain before the test releases
	// the activity.
	tuning := WorkerTuning{Drain: 2 * patience, OpsAddr: ops, Activities: 4}

	// A namespace without Rapport's search attributes is refused, with
	// the command that fixes it.
	err := RunWorker(context.Background(), cfg, "testdata/journeys", tuning, nil)
	require.ErrorContains(t, err, "namespace default lacks Rapport's search attributes RapportCustomerId, RapportJourney, RapportOutcome, RapportPlanHash, RapportStatus, RapportStep")
	require.ErrorContains(t, err, "run `rapport setup temporal` before starting workers")
	c, err := client.Dial(client.Options{HostPort: srv.Address()})
	require.NoError(t, err)
	defer c.Close()
	_, err = temporalsetup.EnsureSearchAttributes(context.Background(), c, "default", SearchAttributeTypes())
	require.NoError(t, err, "what rapport setup temporal does")

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan error, 1)
	go func() {
		done <- RunWorker(ctx, cfg, "testdata/journeys", tuning, func(r worker.Registry) {
			r.RegisterWorkflowWithOptions(slowWorkflow, workflow.RegisterOptions{Name: "SlowWorkflow"})
			r.RegisterActivityWithOptions(slow, activity.RegisterOptions{Name: "Slow"})
		})
	}()
	require.Eventually(t, func() bool { return status("http://"+ops+"/readyz") == http.StatusOK }, patience, 50*time.Millisecond, "the worker to be ready")
	assert.Equal(t, http.StatusOK, status("http://"+ops+"/healthz"))
	assert.Equal(t, http.StatusOK, status("http://"+ops+"/metrics"))

	run, err := c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{TaskQueue: workflows.TaskQueue}, "SlowWorkflow")
	require.NoError(t, err)
	select {
	case <-started:
	case <-time.After(patience):
		t.Fatal("the activity did not start")
	}

	stop() // what SIGTERM does
	require.Eventually(t, func() bool {
		return status("http://"+ops+"/readyz") == http.StatusServiceUnavailable
	}, patience, 50*time.Millisecond, "/readyz to fail while draining")
	select {
	case err := <-done:
		t.Fatalf("the worker stopped (%v) before its activity finished", err)
	case <-time.After(500 * time.Millisecond):
	}
	close(release)
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(patience):
		t.Fatal("the worker did not stop after its activity finished")
	}
	assert.Equal(t, 0, status("http://"+ops+"/healthz"), "the ops server stops with the worker")

	// The activity's result reached Temporal before the worker went.
	hist := c.GetWorkflowHistory(context.Background(), run.GetID(), run.GetRunID(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	completed := false
	for hist.HasNext() {
		ev, err := hist.Next()
		require.NoError(t, err)
		if ev.GetEventType() == enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED {
			completed = true
		}
	}
	assert.True(t, completed, "the activity under way completed during the drain")
}
