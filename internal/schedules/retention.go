package schedules

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/rapporthq/rapport/internal/lanes"
	"github.com/rapporthq/rapport/workflows"
)

// RetentionCron is when the retention workflow runs: every day at 03:17
// UTC, away from the hour marks other jobs crowd.
const RetentionCron = "17 3 * * *"

// SyncRetention makes the retention schedule (workflows.RetentionScheduleID)
// match the retention the worker is configured with: created when
// retention is set, recreated when it changed, removed when it is unset
// (nothing is removed any more). It says which it did: created, updated,
// unchanged, deleted or none. dc is the client's data converter (nil:
// Temporal's default).
func SyncRetention(ctx context.Context, c client.Client, in workflows.RetentionInput, dc converter.DataConverter) (string, error) {
	for name, v := range map[string]string{"RAPPORT_RETENTION_MESSAGES": in.Messages, "RAPPORT_RETENTION_EVENTS": in.Events} {
		if _, err := workflows.ParseRetention(v); err != nil {
			return "", fmt.Errorf("%s: %w", name, err)
		}
	}
	if dc == nil {
		dc = converter.GetDefaultDataConverter()
	}
	sc := c.ScheduleClient()
	id := workflows.RetentionScheduleID
	h := sc.GetHandle(ctx, id)
	desc, err := h.Describe(ctx)
	exists := err == nil
	if err != nil && !isNotFound(err) {
		return "", fmt.Errorf("describe schedule %s: %w", id, err)
	}
	if !in.Enabled() {
		if !exists {
			return "none", nil
		}
		if err := h.Delete(ctx); err != nil && !isNotFound(err) {
			return "", fmt.Errorf("delete schedule %s: %w", id, err)
		}
		return "deleted", nil
	}
	want := retentionSpec(in)
	what := "created"
	if exists {
		var have string
		if pl := desc.Memo.GetFields()[specMemo]; pl != nil {
			_ = dc.FromPayload(pl, &have) // the client's converter wrote it
		}
		if have == want {
			return "unchanged", nil
		}
		// The memo and arguments are replaced by recreating the schedule.
		if err := h.Delete(ctx); err != nil && !isNotFound(err) {
			return "", fmt.Errorf("replace schedule %s: %w", id, err)
		}
		what = "updated"
	}
	_, err = sc.Create(ctx, client.ScheduleOptions{
		ID:   id,
		Spec: client.ScheduleSpec{CronExpressions: []string{RetentionCron}},
		Action: &client.ScheduleWorkflowAction{
			ID:            id,
			Workflow:      workflows.RetentionWorkflowName,
			Args:          []any{in},
			TaskQueue:     workflows.TaskQueue,
			StaticSummary: "retention: " + in.String(),
			Priority:      lanes.Maintenance(),
		},
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		Memo:    map[string]any{specMemo: want},
		Note:    "Removes old message content and event data: " + in.String() + ". Managed by the Rapport worker (RAPPORT_RETENTION_MESSAGES, RAPPORT_RETENTION_EVENTS).",
	})
	if errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return "unchanged", nil // another worker starting at the same time made it
	}
	if err != nil {
		return "", fmt.Errorf("create schedule %s: %w", id, err)
	}
	return what, nil
}

// TriggerRetention runs the retention workflow now, as its schedule would.
func TriggerRetention(ctx context.Context, c client.Client) error {
	id := workflows.RetentionScheduleID
	err := c.ScheduleClient().GetHandle(ctx, id).Trigger(ctx, client.ScheduleTriggerOptions{Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP})
	if err != nil {
		return fmt.Errorf("trigger schedule %s: %w", id, err)
	}
	return nil
}

func retentionSpec(in workflows.RetentionInput) string {
	lane := lanes.Maintenance()
	return fmt.Sprintf("cron %q UTC; messages %q, events %q; priority %d, fairness key %s", RetentionCron, in.Messages, in.Events, lane.PriorityKey, lane.FairnessKey)
}
