package schedules

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/rapporthq/rapport/internal/metrics"
	"github.com/rapporthq/rapport/workflows"
)

// Run is a run one of Rapport's schedules started.
type Run struct {
	WorkflowID string `json:"workflow_id"`
	// Scheduled is the time it was due (what its entry key says);
	// Started when it started.
	Scheduled time.Time `json:"scheduled"`
	Started   time.Time `json:"started,omitzero"`
	// Status is running, completed, failed, terminated, canceled,
	// timed_out or continued_as_new ("" when Temporal has not said yet).
	Status string `json:"status"`
	// OverdueSince is, for a run still running, the schedule's first time
	// after Scheduled if that time has passed: the run is older than its
	// period, and the run due then waits for it (or, for a scan of
	// customers' own times, was skipped).
	OverdueSince time.Time `json:"overdue_since,omitzero"`
}

// Status is one of Rapport's schedules as an operator needs to see it.
type Status struct {
	ID string `json:"id"`
	// Journey is the audience journey it enters ("" for retention).
	Journey string `json:"journey,omitempty"`
	// Spec is what it was made from, such as cron "0 9 * * *" in
	// Europe/London.
	Spec   string `json:"spec"`
	Paused bool   `json:"paused"`
	// Next is its next time.
	Next time.Time `json:"next,omitzero"`
	// Last is the run it started last; Running those still running.
	Last    *Run  `json:"last,omitempty"`
	Running []Run `json:"running,omitempty"`
	// Waiting counts runs due while another ran, which start when it
	// ends; Skipped those that never started: due while another ran
	// (skipped, or more than one waiting), or missed while Temporal was
	// down.
	Waiting int64 `json:"waiting"`
	Skipped int64 `json:"skipped"`
}

// Overdue returns the oldest of its runs still running that is older
// than its period, if there is one.
func (s Status) Overdue() (Run, bool) {
	for _, r := range s.Running {
		if !r.OverdueSince.IsZero() {
			return r, true
		}
	}
	return Run{}, false
}

// Statuses describes Rapport's schedules (the audience schedules, then
// retention's if there is one) as of now: their next time, the last run
// each started and how it went, the runs still running and whether they
// are older than their period, and what waits or was skipped. namespace
// is the client's; dc its data converter (nil: Temporal's default).
func Statuses(ctx context.Context, c client.Client, namespace string, dc converter.DataConverter, now time.Time) ([]Status, error) {
	if dc == nil {
		dc = converter.GetDefaultDataConverter()
	}
	ids, err := List(ctx, c)
	if err != nil {
		return nil, err
	}
	ids = append(ids, workflows.RetentionScheduleID)
	var out []Status
	for _, id := range ids {
		st, err := describe(ctx, c, namespace, dc, id, now)
		if id == workflows.RetentionScheduleID && isNotFound(err) {
			continue
		}
		if err != nil {
			return out, err
		}
		out = append(out, st)
	}
	return out, nil
}

func describe(ctx context.Context, c client.Client, namespace string, dc converter.DataConverter, id string, now time.Time) (Status, error) {
	st := Status{ID: id, Journey: strings.TrimPrefix(id, Prefix)}
	if id == workflows.RetentionScheduleID {
		st.Journey = ""
	}
	desc, err := c.WorkflowService().DescribeSchedule(ctx, &workflowservice.DescribeScheduleRequest{Namespace: namespace, ScheduleId: id})
	if err != nil {
		return st, fmt.Errorf("describe schedule %s: %w", id, err)
	}
	if pl := desc.GetMemo().GetFields()[specMemo]; pl != nil {
		_ = dc.FromPayload(pl, &st.Spec) // the client's converter wrote it
	}
	info := desc.GetInfo()
	st.Paused = desc.GetSchedule().GetState().GetPaused()
	if next := info.GetFutureActionTimes(); len(next) > 0 {
		st.Next = next[0].AsTime()
	}
	st.Waiting = info.GetBufferSize()
	st.Skipped = info.GetOverlapSkipped() + info.GetBufferDropped() + info.GetMissedCatchupWindow()
	runs := map[string]Run{}
	for _, a := range info.GetRecentActions() {
		r := Run{
			WorkflowID: a.GetStartWorkflowResult().GetWorkflowId(),
			Scheduled:  a.GetScheduleTime().AsTime(),
			Started:    a.GetActualTime().AsTime(),
			Status:     statusName(a.GetStartWorkflowStatus()),
		}
		runs[r.WorkflowID] = r
		if st.Last == nil || r.Started.After(st.Last.Started) {
			st.Last = &r
		}
	}
	for _, w := range info.GetRunningWorkflows() {
		r, ok := runs[w.GetWorkflowId()]
		if !ok { // started more than ten actions ago
			if r, err = runOf(ctx, c, w.GetWorkflowId()); err != nil {
				return st, err
			}
		}
		r.Status = statusName(enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING)
		times, err := c.WorkflowService().ListScheduleMatchingTimes(ctx, &workflowservice.ListScheduleMatchingTimesRequest{
			Namespace: namespace, ScheduleId: id,
			StartTime: timestamppb.New(r.Scheduled.Add(time.Second)), EndTime: timestamppb.New(now),
		})
		if err != nil {
			return st, fmt.Errorf("the times of schedule %s: %w", id, err)
		}
		if ts := times.GetStartTime(); len(ts) > 0 {
			r.OverdueSince = ts[0].AsTime()
		}
		st.Running = append(st.Running, r)
		if st.Last != nil && st.Last.WorkflowID == r.WorkflowID {
			last := r
			st.Last = &last
		}
	}
	slices.SortFunc(st.Running, func(a, b Run) int { return a.Scheduled.Compare(b.Scheduled) })
	return st, nil
}

// scheduledStart is the search attribute Temporal sets on the runs a
// schedule starts.
const scheduledStart = "TemporalScheduledStartTime"

// runOf describes a running run the schedule's recent actions no longer
// list: its scheduled time from the search attribute Temporal sets, else
// its start.
func runOf(ctx context.Context, c client.Client, workflowID string) (Run, error) {
	d, err := c.DescribeWorkflowExecution(ctx, workflowID, "")
	if err != nil {
		return Run{}, fmt.Errorf("describe run %s: %w", workflowID, err)
	}
	info := d.GetWorkflowExecutionInfo()
	r := Run{WorkflowID: workflowID, Started: info.GetStartTime().AsTime(), Scheduled: info.GetStartTime().AsTime()}
	if pl := info.GetSearchAttributes().GetIndexedFields()[scheduledStart]; pl != nil {
		var t time.Time
		if err := converter.GetDefaultDataConverter().FromPayload(pl, &t); err == nil && !t.IsZero() {
			r.Scheduled = t
		}
	}
	return r, nil
}

// statusName is a workflow status as people say it: running, completed,
// failed, continued_as_new.
func statusName(s enumspb.WorkflowExecutionStatus) string {
	if s == enumspb.WORKFLOW_EXECUTION_STATUS_UNSPECIFIED {
		return ""
	}
	return strings.ToLower(strings.TrimPrefix(s.String(), "WORKFLOW_EXECUTION_STATUS_"))
}

// WatchInterval is how often Watch looks at the schedules.
const WatchInterval = time.Minute

// Observe sets rapport_audience_run_overdue_seconds from the schedules'
// statuses: for each audience journey, how long ago its running run
// became older than its period (0: none is).
func Observe(m *metrics.Metrics, statuses []Status, now time.Time) {
	overdue := map[string]time.Duration{}
	for _, s := range statuses {
		if s.Journey == "" {
			continue
		}
		overdue[s.Journey] = 0
		if r, ok := s.Overdue(); ok {
			overdue[s.Journey] = now.Sub(r.OverdueSince)
		}
	}
	m.SetAudienceOverdue(overdue)
}

// Watch looks at the schedules every interval (0: WatchInterval) until
// ctx ends, and sets the metric Observe does. A failure is logged at
// debug level and leaves the metric as it was.
func Watch(ctx context.Context, c client.Client, namespace string, dc converter.DataConverter, m *metrics.Metrics, interval time.Duration, log *slog.Logger) {
	if interval <= 0 {
		interval = WatchInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		statuses, err := Statuses(ctx, c, namespace, dc, time.Now())
		switch {
		case err == nil:
			Observe(m, statuses, time.Now())
		case ctx.Err() == nil && log != nil:
			log.Debug("could not look at the audience schedules", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
