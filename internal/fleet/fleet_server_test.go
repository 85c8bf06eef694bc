//go:build !race

// The test that starts the embedded Temporal server is left out of -race
// builds: a race-instrumented build of the server takes minutes to build
// and to run. .ci/test runs it without -race.

package fleet

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/rapporthq/rapport/internal/devstack"
)

// TestWatcherFollowsTheFleetOnARealServer: on a Temporal server, a worker
// of this release records the older revision while a worker that does not
// say (an older release) polls the same task queue, and its own once that
// worker is gone; a worker saying an older revision counts as well.
func TestWatcherFollowsTheFleetOnARealServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	srv, err := devstack.StartTemporal(ctx, devstack.TemporalOptions{UIPort: -1, LogLevel: 100, Dynamic: map[string]any{
		// Stopped workers leave the poller history after 8 s, not 5 min;
		// idle pollers poll again every second.
		"matching.PollerHistoryTTL":           8 * time.Second,
		"matching.longPollExpirationInterval": time.Second,
	}})
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	c, err := client.Dial(client.Options{HostPort: srv.Address(), Namespace: srv.Namespace()})
	require.NoError(t, err)
	t.Cleanup(c.Close)

	const queue = "fleet-test"
	start := func(identity string) worker.Worker {
		w := worker.New(c, queue, worker.Options{Identity: identity})
		w.RegisterWorkflowWithOptions(func(workflow.Context) error { return nil }, workflow.RegisterOptions{Name: "Nothing"})
		require.NoError(t, w.Start())
		return w
	}
	self := Identity("new@host", 4)
	newWorker := start(self)
	defer newWorker.Stop()
	old := start("old@host@") // a release before the fleet rule says nothing

	watch := &Watcher{Client: c, TaskQueue: queue, Own: 4, Self: self, RaiseAfter: 2 * time.Second}
	until := func(want int, why string) {
		t.Helper()
		require.Eventually(t, func() bool { return watch.Refresh(ctx) == nil && watch.Revision() == want },
			time.Minute, 200*time.Millisecond, "%s: %+v", why, watch.View())
	}
	// Until both workers are listed: before any poller is, the watcher
	// says revision 3 as well (the safe one), and on a busy machine the
	// first reading can come before the workers' first polls.
	require.Eventually(t, func() bool {
		return watch.Refresh(ctx) == nil && watch.Revision() == LegacyRevision && len(watch.View().Workers) == 2
	}, time.Minute, 200*time.Millisecond, "an old worker polls: %+v", watch.View())
	v := watch.View()
	assert.True(t, v.Known)
	assert.Equal(t, "all", v.Partitions, "the server lists the pollers of every partition")
	assert.Equal(t, LegacyRevision, v.Common)
	assert.Contains(t, v.Why, "rollout or rollback")
	var identities []string
	for _, wk := range v.Workers {
		identities = append(identities, wk.Identity)
	}
	assert.ElementsMatch(t, []string{self, "old@host@"}, identities)

	old.Stop()
	until(4, "the old worker is gone")
	assert.Contains(t, watch.View().Why, "every worker polling")

	changed := watch.Changed()
	older := start(Identity("older@host", 3)) // a rollback: a release that says revision 3
	until(3, "a rollback brings an older worker back")
	select {
	case <-changed:
	default:
		t.Fatal("Changed was not closed when the recorded revision changed")
	}
	older.Stop()
	until(4, "the rollback's worker is gone again")
	require.NoError(t, watch.WaitFor(ctx, 4))
}
