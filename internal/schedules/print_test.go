package schedules

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/rapporthq/rapport/internal/store"
)

// TestSchedulesListShowsRunsOlderThanTheirPeriod: rapport schedules list shows a run older than its period in the table
// and says what it means; runs in step show as they are; the journeys
// that own the schedules, and older ones that started a worker lately.
func TestSchedulesListShowsRunsOlderThanTheirPeriod(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 13, 0, 0, time.UTC)
	nine := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	late := Run{WorkflowID: "rapport-audience/hourly-2026-11-22T09:00:00Z", Scheduled: nine, Started: nine, Status: "running", OverdueSince: nine.Add(time.Hour)}
	sts := []Status{
		{ID: "rapport-audience-hourly", Journey: "hourly", Next: now.Truncate(time.Hour).Add(time.Hour), Last: &late, Running: []Run{late}, Waiting: 1},
		{ID: "rapport-audience-lapse-winback", Journey: "lapse-winback", Next: nine.Add(24 * time.Hour),
			Last: &Run{WorkflowID: "rapport-audience/lapse-winback-2026-11-22T09:00:00Z", Scheduled: nine, Started: nine, Status: "completed"}},
		{ID: "rapport-retention", Paused: true, Skipped: 2},
	}
	var b strings.Builder
	PrintStatuses(&b, sts, now)
	out := b.String()
	lines := strings.Split(out, "\n")
	assert.Regexp(t, `^SCHEDULE\s+NEXT \(UTC\)\s+LAST RUN \(UTC\)\s+RUNNING\s+WAITING\s+SKIPPED$`, lines[0])
	assert.Regexp(t, `^rapport-audience-hourly\s+2026-11-22 13:00\s+2026-11-22 09:00 running\s+since 2026-11-22 09:00 OLDER THAN ITS PERIOD\s+1\s+0$`, lines[1])
	assert.Regexp(t, `^rapport-audience-lapse-winback\s+2026-11-23 09:00\s+2026-11-22 09:00 completed\s+-\s+0\s+0$`, lines[2])
	assert.Regexp(t, `^rapport-retention\s+paused\s+-\s+-\s+0\s+2$`, lines[3])
	assert.Contains(t, out, "rapport-audience-hourly: the run of 2026-11-22 09:00 UTC (rapport-audience/hourly-2026-11-22T09:00:00Z) is older than its period: "+
		"the schedule's next time, 2026-11-22 10:00 UTC, passed 2h13m0s ago, and the run due meanwhile waits for it. A stretch that keeps failing gives up after 2h0m0s")
	assert.NotContains(t, out, "rapport-audience-lapse-winback: the run")

	b.Reset()
	PrintCatalogs(&b, []store.JourneyCatalog{
		{Hash: "1111111111111111", Plans: map[string]string{"a": "x", "b": "y"}, FirstSeen: nine, LastSeen: nine, NewestAt: nine, ClaimedAt: nine},
		{Hash: "2222222222222222", Plans: map[string]string{"a": "x", "b": "y", "c": "z"}, FirstSeen: nine.Add(-time.Hour), LastSeen: now.Add(-3 * time.Minute)},
		{Hash: "3333333333333333", Plans: map[string]string{"a": "x"}, FirstSeen: nine.Add(-72 * time.Hour), LastSeen: nine.Add(-48 * time.Hour)},
	}, now)
	assert.Equal(t, "\njourneys 1111111111111111 (2) own the schedules: synced by rapport schedules sync 2026-11-22 09:00 UTC\n"+
		"older journeys 2222222222222222 (3) started a worker 3m0s ago, which left the schedules alone (a rollback, or an old pod restarting)\n", b.String())

	b.Reset()
	PrintStatuses(&b, nil, now)
	assert.Contains(t, b.String(), "no schedules")
}

// TestOwnedPrint: what rapport schedules sync did, and who owns the
// schedules now.
func TestOwnedPrint(t *testing.T) {
	var b strings.Builder
	Owned{Catalog: "1111", Audience: Report{Created: []string{"rapport-audience-a", "rapport-audience-b"}, Deleted: []string{"rapport-audience-c"}},
		TookOver: "2222", TookOverSince: time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)}.Print(&b)
	assert.Equal(t, "created   rapport-audience-a, rapport-audience-b\n"+
		"deleted   rapport-audience-c\n"+
		"journeys 1111 are the newest now: workers of other journeys leave the schedules alone\n"+
		"they took the schedules over from journeys 2222, the newest since 2026-11-22 09:00 UTC\n", b.String())
	b.Reset()
	Owned{Catalog: "1111"}.Print(&b)
	assert.Equal(t, "no journey has trigger.schedule; nothing to do\n"+
		"journeys 1111 are the newest now: workers of other journeys leave the schedules alone\n", b.String())
}
