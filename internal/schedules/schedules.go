// Package schedules keeps one Temporal Schedule per audience journey that
// declares trigger.schedule: each starts the audience workflow at the
// journey's cron times, in its time zone. Sync makes Temporal's schedules
// match the journeys: it creates, updates and removes them, and touches
// nothing that is not Rapport's.
package schedules

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/lanes"
	"github.com/rapporthq/rapport/workflows"
)

// Prefix starts the id of every schedule Rapport owns.
const Prefix = "rapport-audience-"

// specMemo is the memo key holding what a schedule was made from, to tell
// whether it needs an update.
const specMemo = "rapport-spec"

// ID is the schedule id of an audience journey.
func ID(journeyName string) string { return Prefix + journeyName }

// Report says what Sync did, schedule ids in each list.
type Report struct {
	Created   []string `json:"created"`
	Updated   []string `json:"updated"`
	Unchanged []string `json:"unchanged"`
	Deleted   []string `json:"deleted"`
}

// Sync makes the schedules match the catalog: a schedule for every
// journey with trigger.audience and trigger.schedule, and for every date
// trigger, none for others. A journey entered at customers' own times (a
// date trigger, time_zone: customer) is scanned every quarter of an hour
// (journey.LocalScanSchedule, in UTC), and the scan enters those whose
// local moment has come. dc
// is the client's data converter, which wrote the memos it compares (nil:
// Temporal's default).
func Sync(ctx context.Context, c client.Client, catalog *journey.Catalog, dc converter.DataConverter) (Report, error) {
	if dc == nil {
		dc = converter.GetDefaultDataConverter()
	}
	rep := Report{Created: []string{}, Updated: []string{}, Unchanged: []string{}, Deleted: []string{}}
	sc := c.ScheduleClient()
	wanted := map[string]*journey.Plan{}
	var ids []string
	for _, p := range catalog.Plans() {
		if (p.Trigger.Audience != "" && p.Trigger.Schedule != "") || p.Trigger.Date != "" {
			wanted[ID(p.Journey)] = p
			ids = append(ids, ID(p.Journey))
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		what, err := put(ctx, sc, wanted[id], dc)
		if err != nil {
			return rep, err
		}
		switch what {
		case "created":
			rep.Created = append(rep.Created, id)
		case "updated":
			rep.Updated = append(rep.Updated, id)
		default:
			rep.Unchanged = append(rep.Unchanged, id)
		}
	}
	existing, err := List(ctx, c)
	if err != nil {
		return rep, err
	}
	for _, id := range existing {
		if wanted[id] != nil {
			continue
		}
		if err := sc.GetHandle(ctx, id).Delete(ctx); err != nil && !isNotFound(err) {
			return rep, fmt.Errorf("delete schedule %s: %w", id, err)
		}
		rep.Deleted = append(rep.Deleted, id)
	}
	return rep, nil
}

// List returns the ids of Rapport's schedules.
func List(ctx context.Context, c client.Client) ([]string, error) {
	it, err := c.ScheduleClient().List(ctx, client.ScheduleListOptions{PageSize: 100})
	if err != nil {
		return nil, fmt.Errorf("list schedules: %w", err)
	}
	var ids []string
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("list schedules: %w", err)
		}
		if strings.HasPrefix(e.ID, Prefix) {
			ids = append(ids, e.ID)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// spec is what a schedule is made from; a change means an update.
func spec(p *journey.Plan) string {
	lane := lanes.Scan(p)
	return fmt.Sprintf("%s; scans at priority %d, fairness key %s", when(p), lane.PriorityKey, lane.FairnessKey)
}

// when says when a schedule's runs come and what a run due while one
// runs does.
func when(p *journey.Plan) string {
	if t := p.Trigger; t.LocalTime() {
		what := fmt.Sprintf("cron %q in each customer's zone", t.Schedule)
		if t.Date != "" {
			what = fmt.Sprintf("date customer.attributes.%s every %s at %s offset %dd in each customer's zone", t.Date, cmp.Or(string(t.Every), string(journey.EveryYear)), cmp.Or(t.At, journey.DefaultAt), t.Offset.Days)
		}
		return fmt.Sprintf("cron %q in UTC, entering by %s", journey.LocalScanSchedule, what)
	}
	tz := p.Trigger.TimeZone
	if tz == "" {
		tz = "UTC"
	}
	return fmt.Sprintf("cron %q in %s; a run due while one runs waits for it", p.Trigger.Schedule, tz)
}

// overlap is what a schedule does with a run due while the last one still
// runs. An audience at cron times buffers one, which starts when the last
// ends: skipped, the run of that time would never happen (its entry key is
// its scheduled time), and it would go unseen. A scan of customers' own
// times skips it: every scan enters those whose moment came in the last
// journey.CatchUp, so a scan skipped costs lateness, not entries, and
// scans do not queue up behind a slow one. Either way `rapport schedules
// list` counts what waits and what was skipped, and an audience run older
// than its period shows there and in rapport_audience_run_overdue_seconds.
func overlap(p *journey.Plan) enumspb.ScheduleOverlapPolicy {
	if p.Trigger.LocalTime() {
		return enumspb.SCHEDULE_OVERLAP_POLICY_SKIP
	}
	return enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ONE
}

// put creates the journey's schedule, or updates it when its spec
// changed. It says which it did: created, updated or unchanged.
func put(ctx context.Context, sc client.ScheduleClient, p *journey.Plan, dc converter.DataConverter) (string, error) {
	id := ID(p.Journey)
	want := spec(p)
	h := sc.GetHandle(ctx, id)
	desc, err := h.Describe(ctx)
	switch {
	case isNotFound(err):
		_, err := sc.Create(ctx, client.ScheduleOptions{
			ID:      id,
			Spec:    scheduleSpec(p),
			Action:  action(p),
			Overlap: overlap(p),
			Memo:    map[string]any{specMemo: want},
			Note:    "Enters the " + p.Journey + " audience: " + want + ". Managed by rapport schedules sync.",
		})
		if errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
			return "unchanged", nil // another worker starting at the same time made it
		}
		if err != nil {
			return "", fmt.Errorf("create schedule %s: %w", id, err)
		}
		return "created", nil
	case err != nil:
		return "", fmt.Errorf("describe schedule %s: %w", id, err)
	}
	var have string
	if pl := desc.Memo.GetFields()[specMemo]; pl != nil {
		_ = dc.FromPayload(pl, &have) // the client's converter wrote it (encrypted, with a codec)
	}
	if have == want {
		return "unchanged", nil
	}
	// The memo cannot be updated in place; recreate the schedule.
	if err := h.Delete(ctx); err != nil && !isNotFound(err) {
		return "", fmt.Errorf("replace schedule %s: %w", id, err)
	}
	if _, err := put(ctx, sc, p, dc); err != nil {
		return "", err
	}
	return "updated", nil
}

func scheduleSpec(p *journey.Plan) client.ScheduleSpec {
	if p.Trigger.LocalTime() {
		return client.ScheduleSpec{CronExpressions: []string{journey.LocalScanSchedule}}
	}
	return client.ScheduleSpec{CronExpressions: []string{p.Trigger.Schedule}, TimeZoneName: p.Trigger.TimeZone}
}

func action(p *journey.Plan) *client.ScheduleWorkflowAction {
	return &client.ScheduleWorkflowAction{
		ID:            "rapport-audience/" + p.Journey,
		Workflow:      workflows.AudienceWorkflowName,
		Args:          []any{workflows.AudienceInput{Journey: p.Journey}},
		TaskQueue:     workflows.TaskQueue,
		StaticSummary: p.Journey + " scheduled audience run",
		Priority:      lanes.Scan(p),
	}
}

// Trigger starts a journey's scheduled audience run now, or, while one
// runs, as soon as it ends.
func Trigger(ctx context.Context, c client.Client, journeyName string) error {
	err := c.ScheduleClient().GetHandle(ctx, ID(journeyName)).Trigger(ctx, client.ScheduleTriggerOptions{Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ONE})
	if err != nil {
		return fmt.Errorf("trigger schedule %s: %w", ID(journeyName), err)
	}
	return nil
}

func isNotFound(err error) bool {
	var nf *serviceerror.NotFound
	return errors.As(err, &nf)
}
