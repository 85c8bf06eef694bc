package fleet

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/timestamppb"
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

// fakeFleet answers DescribeTaskQueue with the pollers it is given: of
// every partition, or of the root partition alone (rootOnly: a server
// that cannot say more).
type fakeFleet struct {
	identities []string
	rootOnly   bool
}

func (f *fakeFleet) DescribeTaskQueueEnhanced(context.Context, client.DescribeTaskQueueEnhancedOptions) (client.TaskQueueDescription, error) {
	if f.rootOnly {
		return client.TaskQueueDescription{}, errors.New("enhanced mode is not supported")
	}
	var pollers []client.TaskQueuePollerInfo
	for _, id := range f.identities {
		pollers = append(pollers, client.TaskQueuePollerInfo{Identity: id, LastAccessTime: time.Now()})
	}
	//lint:ignore SA1019 the watcher reads the pollers where the server puts them (see read)
	return client.TaskQueueDescription{VersionsInfo: map[string]client.TaskQueueVersionInfo{
		"": {TypesInfo: map[client.TaskQueueType]client.TaskQueueTypeInfo{client.TaskQueueTypeWorkflow: {Pollers: pollers}}},
	}}, nil
}

func (f *fakeFleet) DescribeTaskQueue(context.Context, string, enumspb.TaskQueueType) (*workflowservice.DescribeTaskQueueResponse, error) {
	resp := &workflowservice.DescribeTaskQueueResponse{}
	for _, id := range f.identities {
		resp.Pollers = append(resp.Pollers, &taskqueuepb.PollerInfo{Identity: id, LastAccessTime: timestamppb.Now()})
	}
	return resp, nil
}

// TestGoingBackIsImmediateGoingForwardWaitsOnPartialReadings: an older
// worker showing up lowers the revision at once. A reading of every
// partition raises it at once; readings of the root partition alone
// (polls land on random partitions, so an older worker may be missing
// from one) raise it only once they have allowed it for RaiseAfter.
func TestGoingBackIsImmediateGoingForwardWaitsOnPartialReadings(t *testing.T) {
	ctx := context.Background()
	f := &fakeFleet{identities: []string{Identity("a", 4), "b@host@"}}
	w := &Watcher{Client: f, TaskQueue: "q", Own: 4, RaiseAfter: time.Hour}
	require.NoError(t, w.Refresh(ctx))
	assert.Equal(t, 3, w.Revision())
	assert.Equal(t, "all", w.View().Partitions)
	f.identities = []string{Identity("a", 4)}
	require.NoError(t, w.Refresh(ctx))
	assert.Equal(t, 4, w.Revision(), "every partition's pollers: the older worker is gone")
	f.identities = []string{Identity("a", 4), Identity("c", 3)}
	require.NoError(t, w.Refresh(ctx))
	assert.Equal(t, 3, w.Revision(), "lowered at once")

	f.rootOnly = true
	f.identities = []string{Identity("a", 4)} // c missed one reading of the root
	require.NoError(t, w.Refresh(ctx))
	assert.Equal(t, "root", w.View().Partitions)
	assert.Equal(t, 3, w.Revision(), "not raised on a reading of the root alone")
	assert.Contains(t, w.View().Why, "once readings of the task queue's root partition have allowed it for 1h0m0s")
	w.raiseSince = time.Now().Add(-2 * time.Hour) // as if they had for two hours
	require.NoError(t, w.Refresh(ctx))
	assert.Equal(t, 4, w.Revision(), "raised once the root has allowed it for RaiseAfter")
}
