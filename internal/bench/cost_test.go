package bench

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

func recorded(t *testing.T, file string) []*historypb.HistoryEvent {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../../workflows/testdata", file))
	require.NoError(t, err)
	h := &historypb.History{}
	require.NoError(t, protojson.Unmarshal(b, h))
	return h.GetEvents()
}

// TestCountRecordedHistories counts histories recorded from real runs
// (workflows/testdata), checked by hand event by event.
func TestCountRecordedHistories(t *testing.T) {
	for _, tc := range []struct {
		file string
		want Cost
	}{
		// Started by signal-with-start (its signal is no action); a
		// version marker and its TemporalChangeVersion upsert (no
		// actions) and the facts in the first task (1), the send (1), the
		// status upsert (1) and FinishRun in the last task (1).
		{"thank-you-r2.json", Cost{Events: 17, WorkflowTasks: 2, Activities: 1, LocalActivities: 2, Signals: 1, Upserts: 1, Actions: 5}},
		// Two signals after the start's, four timers, an update, a task
		// whose only marker is a version marker (no action).
		{"satisfaction-care-task-r2.json", Cost{Events: 64, WorkflowTasks: 9, Activities: 4, LocalActivities: 3, Timers: 4, Signals: 3,
			Updates: 1, Upserts: 5, Actions: 20}},
		// Started without a signal; the postcard took two attempts (a
		// retry is one more action); the last task records two local
		// activities (one action).
		{"lapse-winback-completed-r2.json", Cost{Events: 57, WorkflowTasks: 8, Activities: 4, LocalActivities: 4, Timers: 3, Updates: 1,
			Upserts: 4, Actions: 17}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			assert.Equal(t, tc.want, CountHistory(recorded(t, tc.file)))
		})
	}
}

// TestCountActionRules covers the rules the recorded histories do not.
func TestCountActionRules(t *testing.T) {
	id := int64(0)
	ev := func(typ enumspb.EventType, set func(*historypb.HistoryEvent)) *historypb.HistoryEvent {
		id++
		e := &historypb.HistoryEvent{EventId: id, EventType: typ}
		if set != nil {
			set(e)
		}
		return e
	}
	started := func(attempt int32, scheduled bool, first, run string) *historypb.HistoryEvent {
		return ev(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, func(e *historypb.HistoryEvent) {
			a := &historypb.WorkflowExecutionStartedEventAttributes{Attempt: attempt, FirstExecutionRunId: first, OriginalExecutionRunId: run}
			if scheduled {
				a.SearchAttributes = &commonpb.SearchAttributes{IndexedFields: map[string]*commonpb.Payload{scheduledByAttr: {}}}
			}
			e.Attributes = &historypb.HistoryEvent_WorkflowExecutionStartedEventAttributes{WorkflowExecutionStartedEventAttributes: a}
		})
	}
	taskDone := func(retriedLocal uint32) *historypb.HistoryEvent {
		return ev(enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, func(e *historypb.HistoryEvent) {
			e.Attributes = &historypb.HistoryEvent_WorkflowTaskCompletedEventAttributes{WorkflowTaskCompletedEventAttributes: &historypb.WorkflowTaskCompletedEventAttributes{
				MeteringMetadata: &commonpb.MeteringMetadata{NonfirstLocalActivityExecutionAttempts: retriedLocal}}}
		})
	}
	marker := func(name string, task int64) *historypb.HistoryEvent {
		return ev(enumspb.EVENT_TYPE_MARKER_RECORDED, func(e *historypb.HistoryEvent) {
			e.Attributes = &historypb.HistoryEvent_MarkerRecordedEventAttributes{MarkerRecordedEventAttributes: &historypb.MarkerRecordedEventAttributes{
				MarkerName: name, WorkflowTaskCompletedEventId: task}}
		})
	}
	count := func(events ...*historypb.HistoryEvent) Cost { id = 0; return CountHistory(events) }

	// A workflow retry starts no new action; a schedule's first run costs 3.
	assert.Equal(t, 0, count(started(2, false, "a", "b")).Actions)
	assert.Equal(t, 3, count(started(1, true, "a", "a")).Actions)
	assert.Equal(t, 1, count(started(1, true, "a", "b")).Actions, "a later run of a scheduled workflow")

	// A signal that is not event 2 counts; a signal-with-start's does not.
	c := count(started(1, false, "a", "a"), ev(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED, nil), ev(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED, nil))
	assert.Equal(t, Cost{Events: 3, Signals: 2, Actions: 2}, c)

	// Markers of one task are one action, version markers none, and the
	// local activity retries the task reports are added (at most 100).
	c = count(started(1, false, "a", "a"), taskDone(2), marker(versionMarker, 2), marker(localActivityMarker, 2), marker(localActivityMarker, 2),
		marker("SideEffect", 2), taskDone(500), marker(patchMarker, 7), marker(localActivityMarker, 7))
	assert.Equal(t, Cost{Events: 9, WorkflowTasks: 2, LocalActivities: 3, Actions: 1 + 1 + 2 + 1 + 100}, c)

	// Children cost 2; a task failed by a reset 1; other failures none.
	c = count(ev(enumspb.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED, nil),
		ev(enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED, func(e *historypb.HistoryEvent) {
			e.Attributes = &historypb.HistoryEvent_WorkflowTaskFailedEventAttributes{WorkflowTaskFailedEventAttributes: &historypb.WorkflowTaskFailedEventAttributes{
				Cause: enumspb.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW}}
		}),
		ev(enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED, nil),
		ev(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_REJECTED, nil))
	assert.Equal(t, 4, c.Actions)

	// An upsert of TemporalChangeVersion with another attribute counts.
	c = count(ev(enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES, func(e *historypb.HistoryEvent) {
		e.Attributes = &historypb.HistoryEvent_UpsertWorkflowSearchAttributesEventAttributes{UpsertWorkflowSearchAttributesEventAttributes: &historypb.UpsertWorkflowSearchAttributesEventAttributes{
			SearchAttributes: &commonpb.SearchAttributes{IndexedFields: map[string]*commonpb.Payload{changeVersionAttr: {}, "RapportStep": {}}}}}
	}))
	assert.Equal(t, Cost{Events: 1, Upserts: 1, Actions: 1}, c)
}
