package bench

import (
	"context"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
)

// Cost is what one workflow execution cost, counted from its history:
// exact numbers that no machine changes.
type Cost struct {
	// Events is the length of the history.
	Events int
	// WorkflowTasks counts completed workflow tasks: the worker's turns.
	WorkflowTasks int
	// Activities counts regular activities scheduled (each a round trip
	// through the server); LocalActivities those run in the worker within
	// a workflow task (LocalActivity markers).
	Activities, LocalActivities int
	// Timers counts timers started.
	Timers int
	// Signals counts signals received, the one a signal-with-start
	// carries included; Updates the updates accepted.
	Signals, Updates int
	// Upserts counts search attribute upserts, leaving out those of
	// TemporalChangeVersion alone (the SDK's own, for GetVersion).
	Upserts int
	// Actions are the billable actions Temporal Cloud counts for what the
	// history holds (see CountHistory).
	Actions int
}

// Marker names the Go SDK records.
const (
	localActivityMarker = "LocalActivity"
	versionMarker       = "Version"
	patchMarker         = "core_patch" // the Core-based SDKs' version marker
	changeVersionAttr   = "TemporalChangeVersion"
	scheduledByAttr     = "TemporalScheduledById"
	maxRetriedLocal     = 100 // local activity retries billed per workflow task, at most
)

// CountHistory counts what a history cost. Its actions follow Temporal
// Cloud's rules (https://docs.temporal.io/cloud/actions) as the Temporal
// UI estimates them from a history (temporalio/ui,
// src/lib/models/event-history/get-event-billable-actions.ts):
//
//   - a workflow start is 1 (a retry of the workflow is none; the first
//     run a schedule starts is 3: the schedule's 2 and the start);
//   - each activity scheduled is 1, and each retry of it 1 more (its
//     started event's attempt);
//   - each timer started, update accepted or rejected, Nexus operation
//     scheduled or cancelled and options update is 1; a child workflow
//     started is 2;
//   - each signal is 1, except the one a signal-with-start carries (event
//     2): the start counts for both;
//   - each search attribute upsert is 1, except one of
//     TemporalChangeVersion alone;
//   - markers: all those a workflow task records count as 1, version
//     markers (GetVersion) excepted; local activity retries add what the
//     task's metering reports (at most 100);
//   - a workflow task failed because the workflow was reset is 1.
//
// Queries, activity heartbeats and rejected updates leave no trace in a
// history: they are not counted.
func CountHistory(events []*historypb.HistoryEvent) Cost {
	var c Cost
	markedTasks := map[int64]bool{} // workflow tasks whose markers are counted
	for _, e := range events {
		c.Events++
		switch e.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
			a := e.GetWorkflowExecutionStartedEventAttributes()
			_, scheduled := a.GetSearchAttributes().GetIndexedFields()[scheduledByAttr]
			switch {
			case a.GetAttempt() > 1:
			case scheduled && a.GetFirstExecutionRunId() == a.GetOriginalExecutionRunId():
				c.Actions += 3
			default:
				c.Actions++
			}
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			c.WorkflowTasks++
			retried := e.GetWorkflowTaskCompletedEventAttributes().GetMeteringMetadata().GetNonfirstLocalActivityExecutionAttempts()
			c.Actions += min(int(retried), maxRetriedLocal)
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED:
			if e.GetWorkflowTaskFailedEventAttributes().GetCause() == enumspb.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW {
				c.Actions++
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			c.Activities++
			c.Actions++
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
			c.Actions += max(int(e.GetActivityTaskStartedEventAttributes().GetAttempt())-1, 0)
		case enumspb.EVENT_TYPE_TIMER_STARTED:
			c.Timers++
			c.Actions++
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
			c.Signals++
			if e.GetEventId() != 2 {
				c.Actions++
			}
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
			c.Updates++
			c.Actions++
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_REJECTED,
			enumspb.EVENT_TYPE_NEXUS_OPERATION_SCHEDULED,
			enumspb.EVENT_TYPE_NEXUS_OPERATION_CANCEL_REQUESTED,
			enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_OPTIONS_UPDATED:
			c.Actions++
		case enumspb.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
			c.Actions += 2
		case enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
			fields := e.GetUpsertWorkflowSearchAttributesEventAttributes().GetSearchAttributes().GetIndexedFields()
			if _, ok := fields[changeVersionAttr]; ok && len(fields) == 1 {
				continue
			}
			c.Upserts++
			c.Actions++
		case enumspb.EVENT_TYPE_MARKER_RECORDED:
			a := e.GetMarkerRecordedEventAttributes()
			name := a.GetMarkerName()
			if name == localActivityMarker {
				c.LocalActivities++
			}
			if name == versionMarker || name == patchMarker {
				continue
			}
			if task := a.GetWorkflowTaskCompletedEventId(); !markedTasks[task] {
				markedTasks[task] = true
				c.Actions++
			}
		}
	}
	return c
}

// History reads the whole history of a workflow execution (runID "" is
// the latest run).
func History(ctx context.Context, c client.Client, workflowID, runID string) ([]*historypb.HistoryEvent, error) {
	var events []*historypb.HistoryEvent
	it := c.GetWorkflowHistory(ctx, workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("history of %s: %w", workflowID, err)
		}
		events = append(events, e)
	}
	return events, nil
}
