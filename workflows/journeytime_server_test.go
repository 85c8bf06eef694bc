//go:build !race

// Left out of -race builds: see continue_server_test.go.

package workflows

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
)

// The tests on a real server do not depend on how fast the machine runs a
// journey: their runs are scaled to a slow day (an hour), so no wait ends
// while the test acts, and the test ends a wait with the skip-wait update
// once it has seen what it needs. serverPatience bounds each of their
// waits for a run to get somewhere: a detector of what never happens, not
// a speed the machine must keep.
const (
	slowDay        = time.Hour
	serverPatience = 3 * time.Minute
)

// restsAt waits until the run rests in the wait step, and returns its
// state then.
func restsAt(ctx context.Context, t *testing.T, c client.Client, id, step string) State {
	t.Helper()
	var st State
	require.Eventually(t, func() bool {
		v, err := c.QueryWorkflow(ctx, id, "", StateQuery)
		var got State
		if err != nil || v.Get(&got) != nil || got.PendingWait == nil || got.PendingWait.Step != step {
			return false
		}
		st = got
		return true
	}, serverPatience, 50*time.Millisecond, "%s to rest at %s", id, step)
	return st
}

// skipWaitOnServer ends the wait the run rests in at step with the
// skip-wait update, as staff would.
func skipWaitOnServer(ctx context.Context, t *testing.T, c client.Client, id, step string) {
	t.Helper()
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: id, UpdateName: SkipWaitUpdate, WaitForStage: client.WorkflowUpdateStageCompleted,
		Args: []any{SkipWait{Step: step, Reason: "the test moves journey time on", By: "test"}},
	})
	require.NoError(t, err, "skip-wait %s at %s", id, step)
	require.NoError(t, h.Get(ctx, nil), "skip-wait %s at %s", id, step)
}
