package fleet

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/rapporthq/rapport/internal/devstack"
)

func TestIdentitySaysTheRevision(t *testing.T) {
	for _, tc := range []struct {
		identity string
		rev      int
		reported bool
	}{
		{Identity("123@host", 4), 4, true},
		{Identity("123@host", 12), 12, true},
		{"123@host@", LegacyRevision, false},
		{"123@host rapport-r", LegacyRevision, false},
		{"123@host rapport-r0", LegacyRevision, false},
		{"rapport-r5", LegacyRevision, false}, // not a suffix of an identity
		{"123@host rapport-r5 and more", LegacyRevision, false},
	} {
		rev, reported := RevisionOf(tc.identity)
		assert.Equal(t, tc.rev, rev, tc.identity)
		assert.Equal(t, tc.reported, reported, tc.identity)
	}
}

func TestRecordedRevisionIsTheFleetsNewestCommon(t *testing.T) {
	w := &Watcher{TaskQueue: "q", Own: 4}
	assert.Equal(t, 3, w.Revision(), "before the fleet is read: what every release since revisions runs")
	for _, tc := range []struct {
		common, pin, want int
	}{
		{4, 0, 4}, // every worker runs this release
		{3, 0, 3}, // an older worker polls: a rollout or a rollback
		{5, 0, 4}, // newer workers: this one records what it runs
		{0, 0, 3}, // nobody listed yet
		{4, 2, 2}, // pinned lower
		{3, 4, 3}, // a pin never raises it
	} {
		w.Pin = tc.pin
		assert.Equal(t, tc.want, w.decide(tc.common, true).Record, "common %d pin %d", tc.common, tc.pin)
	}
	w = &Watcher{TaskQueue: "q", Own: 2}
	assert.Equal(t, 2, w.Revision(), "a worker never records past its own")
}

// fakeFleet answers DescribeTaskQueue with the pollers it is given.
type fakeFleet struct{ identities []string }

func (f *fakeFleet) DescribeTaskQueueEnhanced(context.Context, client.DescribeTaskQueueEnhancedOptions) (client.TaskQueueDescription, error) {
	var pollers []client.TaskQueuePollerInfo
	for _, id := range f.identities {
		pollers = append(pollers, client.TaskQueuePollerInfo{Identity: id, LastAccessTime: time.Now()})
	}
	return client.TaskQueueDescription{VersionsInfo: map[string]client.TaskQueueVersionInfo{
		"": {TypesInfo: map[client.TaskQueueType]client.TaskQueueTypeInfo{client.TaskQueueTypeWorkflow: {Pollers: pollers}}},
	}}, nil
}

func (f *fakeFleet) DescribeTaskQueue(context.Context, string, enumspb.TaskQueueType) (*workflowservice.DescribeTaskQueueResponse, error) {
	return nil, errors.New("not used")
}

// TestGoingBackIsImmediateGoingForwardWaits: a worker missing from one
// reading (a slow poll) must not let a run record a revision an older
// worker cannot run, so a newer revision is recorded only once the fleet
// has allowed it for RaiseAfter; an older worker showing up lowers it at
// once.
func TestGoingBackIsImmediateGoingForwardWaits(t *testing.T) {
	ctx := context.Background()
	f := &fakeFleet{identities: []string{Identity("a", 4), "b@host@"}}
	w := &Watcher{Client: f, TaskQueue: "q", Own: 4, RaiseAfter: time.Hour}
	require.NoError(t, w.Refresh(ctx))
	assert.Equal(t, 3, w.Revision())
	f.identities = []string{Identity("a", 4)} // b missed one reading
	require.NoError(t, w.Refresh(ctx))
	assert.Equal(t, 3, w.Revision(), "not raised on one reading")
	assert.Contains(t, w.View().Why, "once the fleet has allowed it for 1h0m0s")
	w.raiseSince = time.Now().Add(-2 * time.Hour) // as if an hour passed
	require.NoError(t, w.Refresh(ctx))
	assert.Equal(t, 4, w.Revision(), "raised once allowed for RaiseAfter")
	f.identities = []string{Identity("a", 4), Identity("c", 3)}
	require.NoError(t, w.Refresh(ctx))
	assert.Equal(t, 3, w.Revision(), "lowered at once")
}

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
	until(LegacyRevision, "an old worker polls")
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
