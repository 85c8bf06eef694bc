package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/store/storetest"
)

// TestContactHistoryIsKept: suppressions, their lifting and every version
// of a customer's settings stay on record for the audit.
func TestContactHistoryIsKept(t *testing.T) {
	t.Parallel()
	s, url := storetest.New(t)
	db := storetest.DB(t, url)
	ctx := context.Background()
	sup := store.Suppression{Channel: "sms", Address: "+447911123456", Reason: "replied STOP", Source: "twilio inbound"}
	require.NoError(t, s.Suppress(ctx, sup))
	require.NoError(t, s.Suppress(ctx, sup), "again: nothing new")
	require.NoError(t, s.Unsuppress(ctx, "sms", "+447911123456"))
	require.NoError(t, s.Unsuppress(ctx, "sms", "+447911123456"), "again: nothing new")
	require.NoError(t, s.Suppress(ctx, sup))
	var actions []string
	rows, err := db.Query(ctx, `SELECT action FROM suppression_events WHERE channel = 'sms' AND address = '+447911123456' ORDER BY id`)
	require.NoError(t, err)
	for rows.Next() {
		var a string
		require.NoError(t, rows.Scan(&a))
		actions = append(actions, a)
	}
	assert.Equal(t, []string{"suppress", "lift", "suppress"}, actions)

	require.NoError(t, s.SaveSettings(ctx, "c_1", nil, map[string]store.QuietHours{"sms": {Start: "22:00", End: "07:00"}}, nil))
	require.NoError(t, s.SaveSettings(ctx, "c_1", []string{"email"}, nil, []store.CapSetting{{Channel: "all", Max: 1, Per: "7d"}}))
	var versions int
	var firstQuiet map[string]store.QuietHours
	require.NoError(t, db.QueryRow(ctx, `SELECT count(*), (array_agg(quiet_hours ORDER BY id))[1] FROM settings_events WHERE customer_id = 'c_1'`).
		Scan(&versions, &firstQuiet))
	assert.Equal(t, 2, versions)
	assert.Equal(t, "22:00", firstQuiet["sms"].Start)
}

// TestPolicyTimeNeverRunsBackwards: a decision asked for at a moment
// earlier than a send already made is taken at the later moment, so a
// frequency cap counts that send; each hold is kept with its reason.
func TestPolicyTimeNeverRunsBackwards(t *testing.T) {
	t.Parallel()
	s, url := storetest.New(t)
	db := storetest.DB(t, url)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	allow := func(in store.GateInput) store.Gate { return store.Gate{Allow: true} }

	first := outboxMessage("k1")
	first.Purpose = "marketing"
	claim, _, err := s.ClaimWithGate(ctx, first, false, t0.Add(time.Minute), allow)
	require.NoError(t, err)
	require.True(t, claim.Send)

	second := outboxMessage("k2")
	second.Purpose = "marketing"
	var seen store.GateInput
	claim, gate, err := s.ClaimWithGate(ctx, second, false, t0, func(in store.GateInput) store.Gate {
		seen = in
		return store.Gate{Hold: true, Until: in.At.Add(time.Hour), Reason: "frequency cap (1 per 1d)"}
	})
	require.NoError(t, err)
	assert.Equal(t, t0.Add(time.Minute), seen.At.UTC(), "decided at the later send's moment")
	require.Len(t, seen.Recent, 1)
	assert.False(t, seen.Recent[0].At.After(seen.At), "every recent send is at or before the decision")
	assert.True(t, gate.Hold)
	assert.Equal(t, store.MessageHeld, claim.Message.Status)
	assert.Equal(t, t0.Add(time.Minute), claim.Message.PolicyAt.UTC())

	// Sent later, the message's reason is cleared; the hold stays on record.
	claim, _, err = s.ClaimWithGate(ctx, second, false, t0.Add(2*time.Hour), allow)
	require.NoError(t, err)
	require.True(t, claim.Send)
	assert.Empty(t, claim.Message.Reason)
	var reason string
	var until time.Time
	require.NoError(t, db.QueryRow(ctx, `SELECT reason, held_until FROM message_holds WHERE message_id = $1`, claim.Message.ID).Scan(&reason, &until))
	assert.Equal(t, "frequency cap (1 per 1d)", reason)
	assert.Equal(t, t0.Add(time.Minute+time.Hour), until.UTC())
}

// TestEndingARunSkipsWhatItHeld: a message held back when its journey ends
// will not go; it is skipped with the reason, not left held.
func TestEndingARunSkipsWhatItHeld(t *testing.T) {
	t.Parallel()
	s, _ := storetest.New(t)
	ctx := context.Background()
	m := outboxMessage("k1")
	require.NoError(t, s.RegisterRun(ctx, store.Run{WorkflowID: m.WorkflowID, Journey: "j", CustomerID: "c_1", PlanHash: "h"}))
	at := time.Date(2026, 11, 22, 23, 0, 0, 0, time.UTC)
	_, _, err := s.ClaimWithGate(ctx, m, false, at, func(store.GateInput) store.Gate {
		return store.Gate{Hold: true, Until: at.Add(9 * time.Hour), Reason: "quiet hours (21:00-08:00) until Mon 23 Nov 08:00 Europe/London"}
	})
	require.NoError(t, err)
	require.NoError(t, s.FinishRun(ctx, m.WorkflowID, store.RunExited, "exit_when matched order.placed event e2"))
	got, err := s.MessagesOfWorkflow(ctx, m.WorkflowID)
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, store.MessageSkipped, got[0].Status)
	assert.Equal(t, "the journey ended (exit_when matched order.placed event e2) while it was held back: quiet hours (21:00-08:00) until Mon 23 Nov 08:00 Europe/London", got[0].Reason)

	// An attempt that outlives the run (a retry it no longer waits for)
	// neither sends nor holds a message of its own.
	for i, g := range []store.Gate{{Allow: true}, {Hold: true, Until: at.Add(time.Hour), Reason: "quiet hours"}} {
		late := outboxMessage(fmt.Sprintf("late-%d", i))
		late.WorkflowID = m.WorkflowID
		claim, _, err := s.ClaimWithGate(ctx, late, false, at, func(store.GateInput) store.Gate { return g })
		require.NoError(t, err)
		assert.False(t, claim.Send)
		assert.Equal(t, store.MessageSkipped, claim.Message.Status)
		assert.Equal(t, store.JourneyEndedReason, claim.Message.Reason)
	}

	// A failed run's late attempt is skipped too; a run given up as not
	// found in Temporal may still start under its id, and sends.
	for i, outcome := range []string{"load customer c_1: boom", store.RunNotFound} {
		wid := fmt.Sprintf("rapport/j/c_1/failed-%d", i)
		require.NoError(t, s.RegisterRun(ctx, store.Run{WorkflowID: wid, Journey: "j", CustomerID: "c_1", PlanHash: "h"}))
		require.NoError(t, s.GiveUpRun(ctx, wid, outcome))
		late := outboxMessage(fmt.Sprintf("failed-%d", i))
		late.WorkflowID = wid
		claim, _, err := s.ClaimWithGate(ctx, late, false, at, func(store.GateInput) store.Gate { return store.Gate{Allow: true} })
		require.NoError(t, err)
		assert.Equal(t, outcome == store.RunNotFound, claim.Send, outcome)
	}
}
