//go:build !production

package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// logWriter sends the simulation's progress to the test log.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestSimulatedCrowdHonoursPreferences plays a thousand customers with
// random preferences, time zones and addresses through the four journeys
// at dev time, changing their minds while the journeys wait (API opt-outs,
// one-click unsubscribes, STOP replies, quieter evenings, fewer messages).
// What the providers received must be exactly what the outbox says was
// sent, and the audit, replaying each customer's preference history, must
// find no message that broke a rule and no hold without a reason.
func TestSimulatedCrowdHonoursPreferences(t *testing.T) {
	if testing.Short() {
		t.Skip("a thousand customers for minutes; skipped with -short (.ci/test runs it on its own)")
	}
	s := startStack(t, "../../journeys", withDay(200*time.Millisecond))
	// A bound on the whole crowd, within .ci/test's 25 minutes: a
	// detector of a crowd that never finishes, not a speed to keep.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	res, err := simulate(ctx, s.devStack, 1000, 20261122, logWriter{t})
	var report strings.Builder
	res.Print(&report)
	t.Log(report.String())
	require.NoError(t, err)

	assert.Empty(t, res.Mismatches, "providers and outbox agree")
	assert.Empty(t, res.Audit.Violations, "no message broke a rule")
	assert.Equal(t, 1000, res.Summary.Customers)
	assert.Zero(t, res.Audit.ByStatus["held"], "nothing is left held once the journeys end")
	assert.Zero(t, res.Audit.ByStatus["pending"]+res.Audit.ByStatus["sending"]+res.Audit.ByStatus["unknown"])

	// The crowd exercised every rule: each kind of refusal and hold
	// happened, and changes made while journeys waited stopped later sends.
	count := func(query string, args ...any) int {
		var n int
		require.NoError(t, s.db().QueryRow(ctx, query, args...).Scan(&n))
		return n
	}
	for _, reason := range []string{"opted out of email", "opted out of sms", "needs an explicit opt-in", "unsubscribed from", "address is suppressed"} {
		assert.Positive(t, count(`SELECT count(*) FROM messages WHERE status = 'skipped' AND reason LIKE '%' || $1 || '%'`, reason), "skipped: %s", reason)
	}
	for _, reason := range []string{"quiet hours", "frequency cap"} {
		assert.Positive(t, count(`SELECT count(*) FROM message_holds WHERE reason LIKE '%' || $1 || '%'`, reason), "held: %s", reason)
	}
	assert.Positive(t, count(`SELECT count(*) FROM messages WHERE status = 'sent' AND id IN (SELECT message_id FROM message_holds)`), "held messages went later")
	for _, kind := range []string{"one-click unsubscribe", "replied STOP", "opted out of email (API)"} {
		assert.Positive(t, res.Summary.MidRunChanges[kind], kind)
	}
	assert.Positive(t, count(`
		SELECT count(*) FROM messages m JOIN journey_runs r ON r.workflow_id = m.workflow_id
		WHERE m.status = 'skipped' AND (
			EXISTS (SELECT 1 FROM consent_events c WHERE c.customer_id = m.customer_id AND c.channel = m.channel AND c.state = 'opted_out'
				AND c.recorded_at > r.started_at AND c.recorded_at < m.claimed_at)
			OR EXISTS (SELECT 1 FROM topic_events e WHERE e.customer_id = m.customer_id AND e.topic = m.topic AND NOT e.subscribed
				AND e.recorded_at > r.started_at AND e.recorded_at < m.claimed_at))`),
		"an opt-out made while a journey waited stopped a later send of that journey")
	assert.Positive(t, count(`SELECT count(*) FROM suppression_events WHERE source = 'twilio inbound'`), "STOP replies suppressed numbers")

	// rapport audit, run by an operator on the same database, agrees.
	t.Setenv("DATABASE_URL", s.opts.DatabaseURL)
	out, _, err := run("audit")
	require.NoError(t, err, out)
	assert.Contains(t, out, "no message broke a rule")
}
