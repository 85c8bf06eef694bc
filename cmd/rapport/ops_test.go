//go:build !production

package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/app"
	"github.com/rapporthq/rapport/internal/devstack"
	"github.com/rapporthq/rapport/internal/devstack/devmode"
	"github.com/rapporthq/rapport/internal/store/storetest"
)

// startTemporal starts an embedded server with no search attributes.
func startTemporal(t *testing.T) *devstack.Temporal {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := devstack.StartTemporal(ctx, devstack.TemporalOptions{UIPort: -1, LogLevel: 100})
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	return srv
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

func status(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestSetupTemporalRegistersSearchAttributesOnce: rapport setup temporal
// adds Rapport's search attributes, and says so; run again it changes
// nothing.
func TestSetupTemporalRegistersSearchAttributesOnce(t *testing.T) {
	srv := startTemporal(t)
	t.Setenv("TEMPORAL_ADDRESS", srv.Address())
	out, errOut, err := run("setup", "temporal")
	require.NoError(t, err, errOut)
	assert.Equal(t, "namespace default: registered RapportCustomerId, RapportJourney, RapportOutcome, RapportPlanHash, RapportStatus, RapportStep\n", out)
	out, _, err = run("setup", "temporal")
	require.NoError(t, err)
	assert.Equal(t, "namespace default: Rapport's 6 search attributes are already registered\n", out)
}

// TestWorkerTuningFromEnvironment: flags default to RAPPORT_* variables,
// and bad values are named.
func TestWorkerTuningFromEnvironment(t *testing.T) {
	t.Setenv("RAPPORT_WORKER_ACTIVITIES", "200")
	t.Setenv("RAPPORT_TASK_QUEUE_ACTIVITIES_PER_SECOND", "50")
	t.Setenv("RAPPORT_WORKER_DRAIN", "45s")
	t.Setenv("RAPPORT_RETRY_BUDGET", "6h")
	cmd := &cobra.Command{Use: "worker"}
	read := tuningFlags(cmd)
	require.NoError(t, cmd.Flags().Parse([]string{"--pollers=4"}))
	tn, err := read()
	require.NoError(t, err)
	assert.Equal(t, app.WorkerTuning{Activities: 200, Pollers: 4, ActivitiesPerSecond: 50, Drain: 45 * time.Second, OpsAddr: ":9090", RetryBudget: 6 * time.Hour}, tn)
	o := tn.Options(nil)
	assert.Equal(t, 200, o.MaxConcurrentActivityExecutionSize)
	assert.Equal(t, 50.0, o.TaskQueueActivitiesPerSecond)
	assert.Equal(t, 45*time.Second, o.WorkerStopTimeout)

	t.Setenv("RAPPORT_WORKER_DRAIN", "soon")
	_, err = tuningFlags(&cobra.Command{Use: "worker"})()
	require.ErrorContains(t, err, `RAPPORT_WORKER_DRAIN="soon": time: invalid duration "soon"`)

	t.Setenv("RAPPORT_WORKER_DRAIN", "45s")
	t.Setenv("RAPPORT_RETRY_BUDGET", "5s")
	_, err = tuningFlags(&cobra.Command{Use: "worker"})()
	require.ErrorContains(t, err, "--retry-budget 5s is too short")
	t.Setenv("RAPPORT_RETRY_BUDGET", "")
	t.Setenv("RAPPORT_PIN_REVISION", "1")
	tn, err = tuningFlags(&cobra.Command{Use: "worker"})()
	require.NoError(t, err)
	assert.Equal(t, 24*time.Hour, tn.RetryBudget, "the default")
	assert.NotNil(t, tn.Options(nil).PreferredVersionProvider, "the revision is pinned")
}

// fetch GETs url and returns the status and body (0 when nothing answers).
func fetch(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// TestAPIServesProbesOnlyOnItsOpsAddr: `rapport api` serves /healthz,
// /readyz and /metrics on RAPPORT_OPS_ADDR, and its public port answers
// 404 for them, while serving the API (401 without a key); the ops port
// serves no API. On SIGTERM /readyz fails and the command stops.
func TestAPIServesProbesOnlyOnItsOpsAddr(t *testing.T) {
	srv := startTemporal(t)
	_, dbURL := storetest.New(t)
	t.Setenv("DATABASE_URL", dbURL)
	t.Setenv("TEMPORAL_ADDRESS", srv.Address())
	t.Setenv("RAPPORT_SECRET", "0123456789abcdef0123456789abcdef")
	t.Setenv("RAPPORT_LOG_LEVEL", "error")
	apiAddr, opsAddr := freeAddr(t), freeAddr(t)
	t.Setenv("RAPPORT_OPS_ADDR", opsAddr)

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	cmd := newRootCmd()
	cmd.SetArgs([]string{"api", "--journeys", "testdata/staff", "--addr", apiAddr})
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	ops, api := "http://"+opsAddr, "http://"+apiAddr
	s := &stack{t: t}
	s.waitFor("the API to be ready on its ops address", func() bool { return status(t, ops+"/readyz") == http.StatusOK })

	code, body := fetch(t, ops+"/readyz")
	assert.Equal(t, http.StatusOK, code)
	assert.JSONEq(t, `{"ready": true, "checks": {"database": "ok", "temporal": "ok"}}`, body)
	code, body = fetch(t, ops+"/healthz")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "ok\n", body)
	code, body = fetch(t, ops+"/metrics")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "rapport_temporal_metric_errors_total")
	code, _ = fetch(t, ops+"/v1/customers/c_1")
	assert.Equal(t, http.StatusNotFound, code, "the ops address serves no API")

	s.waitFor("the API to listen", func() bool { return status(t, api+"/v1/customers/c_1") != 0 })
	code, _ = fetch(t, api+"/v1/customers/c_1")
	assert.Equal(t, http.StatusUnauthorized, code, "the API is on its port")
	for _, path := range []string{"/metrics", "/healthz", "/readyz"} {
		code, body = fetch(t, api+path)
		assert.Equal(t, http.StatusNotFound, code, "%s on the API's port", path)
		assert.NotContains(t, body, "rapport_", path)
	}

	stop() // what SIGTERM does
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(patience):
		t.Fatal("rapport api did not stop")
	}
	assert.Equal(t, 0, status(t, ops+"/healthz"), "the ops server stops with the API")
}

// TestDevServesMetricsApartFromTheAPI: rapport dev serves /metrics, with
// the API's own counters, on its ops port and 404 on the API's port.
func TestDevServesMetricsApartFromTheAPI(t *testing.T) {
	s := startStack(t, "testdata/staff")
	require.NotEmpty(t, s.OpsURL)
	require.NotEqual(t, s.APIURL, s.OpsURL)
	code, _ := s.post("/v1/customers", customer("c_1", "ada@example.com"))
	require.Equal(t, http.StatusCreated, code)
	code, _ = s.post("/v1/events", orderPlaced("evt-ops-1", "c_1", false))
	require.Equal(t, http.StatusAccepted, code)

	code, body := fetch(t, s.OpsURL+"/metrics")
	require.Equal(t, http.StatusOK, code)
	assert.Regexp(t, `rapport_events_accepted_total\{[^}]*type="order.placed"[^}]*\} 1`, body, "the API's counters are on the ops port")
	assert.Equal(t, http.StatusOK, status(t, s.OpsURL+"/healthz"))
	assert.Equal(t, http.StatusOK, status(t, s.OpsURL+"/readyz"))
	for _, path := range []string{"/metrics", "/healthz", "/readyz"} {
		code, body := fetch(t, s.APIURL+path)
		assert.Equal(t, http.StatusNotFound, code, "%s on the API's port", path)
		assert.NotContains(t, body, "rapport_", path)
	}

	var out strings.Builder
	s.printReady(&out)
	assert.Contains(t, out.String(), s.OpsURL+"/metrics")
	assert.NotContains(t, out.String(), s.APIURL+"/metrics")
	// The test stack's API is not on the default port: the CLI commands
	// the banner shows say where it is.
	require.NotEqual(t, defaultAPIURL, s.APIURL)
	assert.Contains(t, out.String(), "go run ./cmd/rapport audience run lapse-winback --api "+s.APIURL+"\n")
	assert.Contains(t, out.String(), "go run ./cmd/rapport tasks list --queue retention --api "+s.APIURL+"\n")
}

// TestDevOpsPort: --ops-port defaults to 9090, a taken port is named with
// its flag, and -1 serves no probes.
func TestDevOpsPort(t *testing.T) {
	cmd := newDevCmd()
	f := cmd.Flags().Lookup("ops-port")
	require.NotNil(t, f)
	assert.Equal(t, "9090", f.DefValue)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port
	err = devmode.CheckPorts(devOptions{IP: "127.0.0.1", OpsPort: taken})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--ops-port")

	s := startStack(t, "testdata/staff", func(o *devOptions) { o.OpsPort = -1 })
	assert.Empty(t, s.OpsURL)
	assert.Equal(t, http.StatusNotFound, status(t, s.APIURL+"/metrics"))
	var out strings.Builder
	s.printReady(&out)
	assert.Contains(t, out.String(), "(disabled: --ops-port -1)")
}
