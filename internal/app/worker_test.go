//go:build !race

// Left out of -race builds: see connect_server_test.go.

package app

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
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

// TestOldWorkerLeavesNewerSchedulesAlone: a worker started with older
// journeys, after a release added a scheduled journey and its worker
// synced, leaves the new journey's schedule alone; the workers of the
// newest journeys sync them when they start.
func TestOldWorkerLeavesNewerSchedulesAlone(t *testing.T) {
	srv := startTemporal(t, SearchAttributeTypes())
	st, dbURL := storetest.New(t)
	cfg := testConfig(t, dbURL, srv.Address())
	c, err := client.Dial(client.Options{HostPort: srv.Address()})
	require.NoError(t, err)
	defer c.Close()
	ctx := context.Background()

	audience := func(name string) string {
		return "journey: " + name + "\ntopic: offers\ntrigger: {audience: days_since_last_order >= 90, schedule: \"0 9 * * *\"}\nsteps: [{exit: done}]\n"
	}
	folder := func(journeys ...string) string {
		dir := t.TempDir()
		require.NoError(t, os.CopyFS(dir, os.DirFS("testdata/journeys")))
		for _, j := range journeys {
			require.NoError(t, os.WriteFile(filepath.Join(dir, j+".yaml"), []byte(audience(j)), 0o600))
		}
		return dir
	}
	old, added := folder("winback"), folder("winback", "weekly")
	exists := func(journeyName string) bool {
		_, err := c.ScheduleClient().GetHandle(ctx, "rapport-audience-"+journeyName).Describe(ctx)
		return err == nil
	}
	// dbNow is the database's clock, which stamps the folders seen.
	dbNow := func() time.Time {
		var now time.Time
		require.NoError(t, storetest.DB(t, dbURL).QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&now))
		return now
	}
	// start runs a worker of dir until its start has recorded its
	// folder (with weekly or not), which it commits once it has synced
	// the schedules or decided to leave them alone.
	start := func(dir string, withWeekly bool) {
		t.Helper()
		before := dbNow()
		wctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- RunWorker(wctx, cfg, dir, WorkerTuning{OpsAddr: "off", Drain: time.Second}, nil) }()
		require.Eventually(t, func() bool {
			cats, err := st.Catalogs(ctx, 10)
			if err != nil {
				return false
			}
			for _, cat := range cats {
				if _, ok := cat.Plans["weekly"]; ok == withWeekly && cat.LastSeen.After(before) {
					return true
				}
			}
			return false
		}, 3*time.Minute, 100*time.Millisecond, "the worker's start syncs")
		stop()
		require.NoError(t, <-done)
	}

	start(old, false)
	assert.True(t, exists("winback"))
	assert.False(t, exists("weekly"))
	start(added, true)
	assert.True(t, exists("weekly"), "the release that added it synced it")
	start(old, false)
	assert.True(t, exists("weekly"), "the old worker left the new journey's schedule alone")
	assert.True(t, exists("winback"))

	// Every worker watches the audience runs: none is older than its
	// period.
	ops := freeAddr(t)
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- RunWorker(wctx, cfg, old, WorkerTuning{OpsAddr: ops, Drain: time.Second}, nil) }()
	require.Eventually(t, func() bool {
		body := fetchBody("http://" + ops + "/metrics")
		return strings.Contains(body, `rapport_audience_run_overdue_seconds{journey="weekly"} 0`) &&
			strings.Contains(body, `rapport_audience_run_overdue_seconds{journey="winback"} 0`)
	}, 3*time.Minute, 100*time.Millisecond, "the metric of audience runs older than their period")
	stop()
	require.NoError(t, <-done)
}

// fetchBody returns the body at url ("" when nothing answers).
func fetchBody(url string) string {
	resp, err := http.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
