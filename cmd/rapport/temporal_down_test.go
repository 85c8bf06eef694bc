//go:build !production

package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/api"
	"github.com/rapporthq/rapport/internal/app"
	"github.com/rapporthq/rapport/internal/devstack"
	"github.com/rapporthq/rapport/internal/failfast"
)

// withTemporalFile keeps the embedded Temporal server's state in a file of
// the state folder, so the server can stop and start again with it.
func withTemporalFile() option {
	return func(o *devOptions) { o.InMemory = false }
}

// With the Temporal server stopped, POST /v1/events answers at once: the
// event is stored and answered "pending", its routing given up at the
// first call that found no server (not at a deadline: the route timeout
// is 5 s, the SDK would retry for 10 s and more). Once the server is
// back, the sweeper routes the event and its journey starts.
func TestEventsAreAnsweredAtOnceWhileTemporalIsStoppedAndRoutedWhenItIsBack(t *testing.T) {
	s := startStack(t, "testdata/journeys", withTemporalFile())
	ctx := context.Background()
	status, body := s.post("/v1/customers", customer("c_1", "ada@example.com"))
	require.Equal(t, http.StatusCreated, status, body)

	_, port, err := net.SplitHostPort(s.Temporal.Address())
	require.NoError(t, err)
	s.Temporal.Stop()

	start := time.Now()
	status, body = s.post("/v1/events", orderPlaced("evt-1", "c_1", false))
	took := time.Since(start)
	t.Logf("answered in %s with Temporal stopped", took)
	require.Equal(t, http.StatusAccepted, status, body)
	assert.Equal(t, "accepted", body["status"])
	assert.Equal(t, "pending", body["routing"])
	assert.Less(t, took, api.DefaultRouteTimeout, "the answer did not wait for the route timeout")
	var routingError string
	require.NoError(t, s.db().QueryRow(ctx, `SELECT routing_error FROM events WHERE id = 'evt-1'`).Scan(&routingError))
	assert.Contains(t, routingError, failfast.ErrUnreachable.Error(), "routing gave up because Temporal could not be reached")

	p, err := strconv.Atoi(port)
	require.NoError(t, err)
	restartCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	s.Temporal, err = devstack.StartTemporal(restartCtx, devstack.TemporalOptions{IP: "127.0.0.1", FrontendPort: p, UIPort: -1,
		Namespace: "default", SearchAttributes: app.SearchAttributeTypes(), DatabaseFile: filepath.Join(s.opts.StateDir, "temporal.db"),
		Logger: s.log.With("component", "temporal-server"), LogLevel: slog.LevelWarn})
	require.NoError(t, err)

	require.Eventually(t, func() bool {
		e, err := s.store.GetEvent(ctx, "evt-1")
		return err == nil && e.RoutedAt != nil
	}, time.Minute, 100*time.Millisecond, "the sweeper routes the event once Temporal is back")
	_, err = s.client.DescribeWorkflowExecution(ctx, "rapport/review-request/c_1/evt-1", "")
	assert.NoError(t, err, "the journey the event triggers has started")
}
