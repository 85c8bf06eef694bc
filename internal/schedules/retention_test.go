package schedules

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/rapporthq/rapport/internal/codec"
	"github.com/rapporthq/rapport/internal/devstack"
	"github.com/rapporthq/rapport/internal/lanes"
	"github.com/rapporthq/rapport/workflows"
)

// startTemporal starts an embedded Temporal server for the test and dials it
// with the data converter dc (nil: Temporal's default).
func startTemporal(t *testing.T, ctx context.Context, dc converter.DataConverter) client.Client {
	t.Helper()
	srv, err := devstack.StartTemporal(ctx, devstack.TemporalOptions{UIPort: -1, LogLevel: 100})
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	c, err := client.Dial(client.Options{HostPort: srv.Address(), Namespace: srv.Namespace(), DataConverter: dc})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// retentionSchedule describes the retention schedule; nil when there is
// none.
func retentionSchedule(t *testing.T, ctx context.Context, c client.Client) *client.ScheduleDescription {
	t.Helper()
	desc, err := c.ScheduleClient().GetHandle(ctx, workflows.RetentionScheduleID).Describe(ctx)
	var nf *serviceerror.NotFound
	if err != nil && assert.ErrorAs(t, err, &nf) {
		return nil
	}
	require.NoError(t, err)
	return desc
}

// retentionArg is the RetentionInput the schedule starts its workflow
// with.
func retentionArg(t *testing.T, desc *client.ScheduleDescription, dc converter.DataConverter) workflows.RetentionInput {
	t.Helper()
	act, ok := desc.Schedule.Action.(*client.ScheduleWorkflowAction)
	require.True(t, ok, "%T", desc.Schedule.Action)
	require.Len(t, act.Args, 1)
	var in workflows.RetentionInput
	require.NoError(t, dc.FromPayload(act.Args[0].(*commonpb.Payload), &in))
	return in
}

// SyncRetention against a real Temporal server: no schedule while
// nothing is removed; one, daily at 03:17 UTC, running the retention
// workflow with the configured periods, once they are set; left alone
// while they stay, replaced when they change, removed when unset; bad
// periods refused, naming the setting, before anything changes.
func TestSyncRetentionKeepsTheScheduleInStepWithTheSettings(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := startTemporal(t, ctx, nil)
	dc := converter.GetDefaultDataConverter()

	did, err := SyncRetention(ctx, c, workflows.RetentionInput{}, nil)
	require.NoError(t, err)
	assert.Equal(t, "none", did)
	assert.Nil(t, retentionSchedule(t, ctx, c))

	for _, bad := range []struct {
		in   workflows.RetentionInput
		name string
	}{
		{workflows.RetentionInput{Messages: "12h"}, "RAPPORT_RETENTION_MESSAGES"},
		{workflows.RetentionInput{Messages: "400d", Events: "soon"}, "RAPPORT_RETENTION_EVENTS"},
	} {
		_, err := SyncRetention(ctx, c, bad.in, nil)
		require.Error(t, err, "%+v", bad.in)
		assert.Contains(t, err.Error(), bad.name)
	}
	assert.Nil(t, retentionSchedule(t, ctx, c), "a refused setting makes nothing")

	in := workflows.RetentionInput{Messages: "400d", Events: "30d"}
	did, err = SyncRetention(ctx, c, in, nil)
	require.NoError(t, err)
	assert.Equal(t, "created", did)
	desc := retentionSchedule(t, ctx, c)
	require.NotNil(t, desc)
	require.Len(t, desc.Schedule.Spec.Calendars, 1, "%+v", desc.Schedule.Spec)
	cal := desc.Schedule.Spec.Calendars[0]
	assert.Equal(t, 17, cal.Minute[0].Start)
	assert.Equal(t, 3, cal.Hour[0].Start)
	assert.Contains(t, []string{"", "UTC"}, desc.Schedule.Spec.TimeZoneName)
	act := desc.Schedule.Action.(*client.ScheduleWorkflowAction)
	assert.Equal(t, workflows.RetentionWorkflowName, act.Workflow.(string))
	assert.Equal(t, workflows.TaskQueue, act.TaskQueue)
	assert.Equal(t, workflows.RetentionScheduleID, act.ID)
	assert.Equal(t, lanes.Maintenance(), act.Priority, "housekeeping waits behind every journey's sends")
	assert.Equal(t, in, retentionArg(t, desc, dc))
	assert.Equal(t, enumspb.SCHEDULE_OVERLAP_POLICY_SKIP, desc.Schedule.Policy.Overlap, "a slow run is never doubled")
	assert.Contains(t, desc.Schedule.State.Note, "message content kept 400d, event data kept 30d")

	did, err = SyncRetention(ctx, c, in, nil)
	require.NoError(t, err)
	assert.Equal(t, "unchanged", did)

	changed := workflows.RetentionInput{Messages: "730d"}
	did, err = SyncRetention(ctx, c, changed, nil)
	require.NoError(t, err)
	assert.Equal(t, "updated", did)
	assert.Equal(t, changed, retentionArg(t, retentionSchedule(t, ctx, c), dc))

	_, err = SyncRetention(ctx, c, workflows.RetentionInput{Messages: "0d"}, nil)
	require.Error(t, err)
	assert.Equal(t, changed, retentionArg(t, retentionSchedule(t, ctx, c), dc), "a refused setting leaves the schedule as it was")

	// Triggered, the schedule starts the retention workflow now.
	require.NoError(t, TriggerRetention(ctx, c))
	require.Eventually(t, func() bool {
		d := retentionSchedule(t, ctx, c)
		return d != nil && len(d.Info.RecentActions) == 1
	}, time.Minute, 100*time.Millisecond, "the triggered run is the schedule's one action")
	started := retentionSchedule(t, ctx, c).Info.RecentActions[0].StartWorkflowResult
	require.NotNil(t, started)
	assert.True(t, strings.HasPrefix(started.WorkflowID, workflows.RetentionScheduleID), started.WorkflowID)

	did, err = SyncRetention(ctx, c, workflows.RetentionInput{}, nil)
	require.NoError(t, err)
	assert.Equal(t, "deleted", did)
	assert.Nil(t, retentionSchedule(t, ctx, c))
	did, err = SyncRetention(ctx, c, workflows.RetentionInput{}, nil)
	require.NoError(t, err)
	assert.Equal(t, "none", did)
	assert.Error(t, TriggerRetention(ctx, c), "no schedule to trigger")

	// Two workers starting at once: one makes the schedule, the other
	// finds it made (whichever way their calls interleave).
	results := make(chan string, 2)
	for range 2 {
		go func() {
			did, err := SyncRetention(ctx, c, in, nil)
			if err != nil {
				did = "error: " + err.Error()
			}
			results <- did
		}()
	}
	assert.ElementsMatch(t, []string{"created", "unchanged"}, []string{<-results, <-results})
	assert.Equal(t, in, retentionArg(t, retentionSchedule(t, ctx, c), dc))
}

// With payloads encrypted, the schedule's memo (what it was made from) is
// written by the client's codec: SyncRetention reads it back with that
// converter and leaves the schedule alone; Temporal's default converter
// cannot read it.
func TestSyncRetentionReadsItsMemoThroughTheClientsCodec(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ring, err := codec.ParseKeys("k1:" + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32))))
	require.NoError(t, err)
	dc, err := codec.NewDataConverter(ring)
	require.NoError(t, err)
	c := startTemporal(t, ctx, dc)

	in := workflows.RetentionInput{Messages: "400d"}
	did, err := SyncRetention(ctx, c, in, dc)
	require.NoError(t, err)
	assert.Equal(t, "created", did)
	did, err = SyncRetention(ctx, c, in, dc)
	require.NoError(t, err)
	assert.Equal(t, "unchanged", did)

	desc := retentionSchedule(t, ctx, c)
	require.NotNil(t, desc)
	memo := desc.Memo.GetFields()[specMemo]
	require.NotNil(t, memo)
	var plain string
	assert.Error(t, converter.GetDefaultDataConverter().FromPayload(memo, &plain), "the memo is encrypted")
	var have string
	require.NoError(t, dc.FromPayload(memo, &have))
	assert.Equal(t, retentionSpec(in), have)
	assert.Equal(t, in, retentionArg(t, desc, dc))
}
