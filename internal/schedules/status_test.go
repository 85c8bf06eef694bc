package schedules

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/metrics"
	"github.com/rapporthq/rapport/workflows"
)

// stuckAudience is an audience scan that does not get through until
// released (a database that answers slowly), heartbeating meanwhile, and
// notes the entry key of each run it serves.
type stuckAudience struct {
	release chan struct{}
	mu      sync.Mutex
	keys    []string
}

func (s *stuckAudience) EnterAudience(ctx context.Context, req workflows.AudienceStretchRequest) (workflows.AudienceStretch, error) {
	s.mu.Lock()
	s.keys = append(s.keys, req.EntryKey)
	s.mu.Unlock()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-s.release:
			return workflows.AudienceStretch{AudienceCounts: workflows.AudienceCounts{Scanned: 1}, Cursor: "c_1", Done: true}, nil
		case <-ctx.Done():
			return workflows.AudienceStretch{}, ctx.Err()
		case <-tick.C:
			activity.RecordHeartbeat(ctx)
		}
	}
}

func (s *stuckAudience) served() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.keys...)
}

// An hourly audience run that is still running when its next time has
// passed shows as older than its period, in `rapport schedules list`'s
// statuses and in rapport_audience_run_overdue_seconds; the run due
// meanwhile is not skipped: it waits, counted, and starts when the first
// ends. Against a real Temporal server, the runs placed in the past by
// backfilling the schedule.
func TestAudienceRunOlderThanItsPeriod(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := startTemporal(t, ctx, nil)
	stuck := &stuckAudience{release: make(chan struct{})}
	w := worker.New(c, workflows.TaskQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(workflows.AudienceWorkflow, workflow.RegisterOptions{Name: workflows.AudienceWorkflowName})
	w.RegisterActivityWithOptions(stuck.EnterAudience, activity.RegisterOptions{Name: workflows.EnterAudienceActivity})
	require.NoError(t, w.Start())
	defer w.Stop()

	hourly := audiencePlan(t, "hourly", "0 * * * *")
	cat, err := journey.NewCatalog(hourly)
	require.NoError(t, err)
	_, err = Sync(ctx, c, cat, nil)
	require.NoError(t, err)
	statuses := func() []Status {
		st, err := Statuses(ctx, c, "default", nil, time.Now())
		require.NoError(t, err)
		require.Len(t, st, 1, "no retention schedule: the audience's alone")
		return st
	}
	st := statuses()[0]
	assert.Equal(t, ID("hourly"), st.ID)
	assert.Equal(t, "hourly", st.Journey)
	assert.Equal(t, `cron "0 * * * *" in Europe/London; a run due while one runs waits for it; scans at priority 4, fairness key (scans)`, st.Spec)
	assert.True(t, st.Next.After(time.Now()))
	assert.Nil(t, st.Last)

	// The run of three hours ago is still running.
	h := c.ScheduleClient().GetHandle(ctx, ID("hourly"))
	first := time.Now().UTC().Truncate(time.Hour).Add(-3 * time.Hour)
	backfill := func(at time.Time) {
		require.NoError(t, h.Backfill(ctx, client.ScheduleBackfillOptions{Backfill: []client.ScheduleBackfill{{Start: at.Add(-time.Minute), End: at.Add(time.Minute)}}}))
	}
	backfill(first)
	require.Eventually(t, func() bool { return len(statuses()[0].Running) == 1 }, time.Minute, 50*time.Millisecond)
	st = statuses()[0]
	run := st.Running[0]
	assert.Equal(t, first, run.Scheduled.UTC())
	assert.Equal(t, "running", run.Status)
	assert.Equal(t, first.Add(time.Hour), run.OverdueSince.UTC(), "older than its period since the next hour")
	overdue, ok := st.Overdue()
	require.True(t, ok)
	assert.Equal(t, run, overdue)
	require.NotNil(t, st.Last)
	assert.Equal(t, run.WorkflowID, st.Last.WorkflowID)

	m := metrics.New()
	defer m.Close()
	now := time.Now()
	Observe(m, statuses(), now)
	assert.InDelta(t, now.Sub(first.Add(time.Hour)).Seconds(), overdueSeconds(t, m, "hourly"), 1)

	// The next hour's run comes due meanwhile: it waits, it is not skipped.
	backfill(first.Add(time.Hour))
	require.Eventually(t, func() bool { return statuses()[0].Waiting == 1 }, time.Minute, 50*time.Millisecond)
	assert.Zero(t, statuses()[0].Skipped)
	assert.Equal(t, []string{workflows.AudienceEntryKey(first)}, stuck.served())

	// The first run gets through: the one waiting starts, and gets through.
	close(stuck.release)
	second := workflows.AudienceEntryKey(first.Add(time.Hour))
	require.Eventually(t, func() bool {
		st := statuses()[0]
		return len(st.Running) == 0 && st.Last != nil && st.Last.Scheduled.Equal(first.Add(time.Hour)) && st.Last.Status == "completed"
	}, time.Minute, 50*time.Millisecond, "the waiting run ran")
	assert.Equal(t, []string{workflows.AudienceEntryKey(first), second}, stuck.served())
	st = statuses()[0]
	assert.Zero(t, st.Waiting)
	assert.Zero(t, st.Skipped)
	_, ok = st.Overdue()
	assert.False(t, ok)
	Observe(m, statuses(), time.Now())
	assert.Zero(t, overdueSeconds(t, m, "hourly"))
}

// overdueSeconds reads rapport_audience_run_overdue_seconds of a journey.
func overdueSeconds(t *testing.T, m *metrics.Metrics, journeyName string) float64 {
	t.Helper()
	fams, err := m.Registry().Gather()
	require.NoError(t, err)
	for _, f := range fams {
		if f.GetName() != "rapport_audience_run_overdue_seconds" {
			continue
		}
		for _, mt := range f.GetMetric() {
			for _, l := range mt.GetLabel() {
				if l.GetName() == "journey" && l.GetValue() == journeyName {
					return mt.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no rapport_audience_run_overdue_seconds{journey=%q}", journeyName)
	return 0
}
