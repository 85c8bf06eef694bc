package store_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/store/storetest"
)

// messageRow is what retention must keep, and what it removes, of a
// message.
type messageRow struct {
	ID, Channel, Status, Reason, CustomerID, WorkflowID, Recipient, Subject string
	Details                                                                 map[string]any
	CreatedAt                                                               time.Time
	PolicyAt, ClaimedAt, SentAt, ContentRemovedAt                           *time.Time
}

func readMessage(t *testing.T, s *store.Store, key string) messageRow {
	t.Helper()
	var m messageRow
	require.NoError(t, s.ReadOnly(context.Background(), func(q store.Querier) error {
		return q.QueryRow(context.Background(), `SELECT id::text, channel, status, reason, customer_id, workflow_id, recipient, subject, details,
			created_at, policy_at, claimed_at, sent_at, content_removed_at FROM messages WHERE idempotency_key = $1`, key).
			Scan(&m.ID, &m.Channel, &m.Status, &m.Reason, &m.CustomerID, &m.WorkflowID, &m.Recipient, &m.Subject, &m.Details,
				&m.CreatedAt, &m.PolicyAt, &m.ClaimedAt, &m.SentAt, &m.ContentRemovedAt)
	}))
	return m
}

func TestRetentionScrubsOldContentAndKeepsWhatAuditsNeed(t *testing.T) {
	t.Parallel()
	s, url := storetest.New(t)
	db := storetest.DB(t, url)
	ctx := context.Background()
	_, err := s.UpsertCustomer(ctx, store.Customer{ID: "c_1", Email: "old@example.com", Phone: "+14155550100"})
	require.NoError(t, err)

	allow := func(store.GateInput) store.Gate { return store.Gate{Allow: true} }
	send := func(key, channel, recipient string) {
		claim, _, err := s.ClaimWithGate(ctx, store.Message{IdempotencyKey: key, WorkflowID: "w_" + key, Journey: "j", StepID: "s", CustomerID: "c_1",
			Channel: channel, Template: "t", Purpose: "marketing", Topic: "offers", Recipient: recipient, Subject: "subject of " + key,
			Details: map[string]any{"voucher": "CODE-" + key}}, false, time.Now(), allow)
		require.NoError(t, err)
		require.True(t, claim.Send)
		_, err = s.FinishSend(ctx, key, store.Outcome{Status: store.MessageSent, Provider: "p", ProviderMessageID: "pm-" + key})
		require.NoError(t, err)
	}
	send("old1", "email", "old@example.com")
	send("old2", "sms", "+14155550100")
	send("new", "email", "old@example.com")
	// A message still held back: it needs its address when it goes.
	_, _, err = s.ClaimWithGate(ctx, store.Message{IdempotencyKey: "held", WorkflowID: "w_held", Journey: "j", StepID: "s", CustomerID: "c_1",
		Channel: "email", Template: "t", Purpose: "marketing", Recipient: "old@example.com", Subject: "held subject"}, false, time.Now(),
		func(store.GateInput) store.Gate {
			return store.Gate{Hold: true, Until: time.Now().Add(time.Hour), Reason: "quiet hours"}
		})
	require.NoError(t, err)

	old := time.Now().Add(-500 * 24 * time.Hour)
	_, err = db.Exec(ctx, `UPDATE messages SET created_at = $1 WHERE idempotency_key IN ('old1', 'old2', 'held')`, old)
	require.NoError(t, err)
	before1 := readMessage(t, s, "old1")

	for _, e := range []struct {
		id     string
		at     time.Time
		routed bool
	}{{"evt_old", old, true}, {"evt_old_unrouted", old, false}, {"evt_new", time.Now(), true}} {
		_, _, err := s.RecordEvent(ctx, store.Event{ID: e.id, Type: "order.placed", CustomerID: "c_1", OccurredAt: e.at,
			Data: json.RawMessage(`{"note":"gift for my wife Jane"}`)}, nil)
		require.NoError(t, err)
		if e.routed {
			require.NoError(t, s.MarkEventRouted(ctx, e.id))
		}
	}

	cutoff := time.Now().Add(-400 * 24 * time.Hour)
	// In batches of one: the first pass takes one, the loop the rest.
	n, err := s.ScrubOldMessages(ctx, cutoff, 1)
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)
	n, err = s.ScrubOldMessages(ctx, cutoff, 1)
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)
	n, err = s.ScrubOldMessages(ctx, cutoff, 1)
	require.NoError(t, err)
	assert.Zero(t, n, "the held message and the new one are left alone")

	for _, key := range []string{"old1", "old2"} {
		m := readMessage(t, s, key)
		assert.Empty(t, m.Recipient, key)
		assert.Empty(t, m.Subject, key)
		assert.Empty(t, m.Details, key)
		assert.NotNil(t, m.ContentRemovedAt, key)
		// What the audit and caps need stays.
		assert.Equal(t, "sent", m.Status, key)
		assert.Equal(t, "c_1", m.CustomerID, key)
		assert.Equal(t, "w_"+key, m.WorkflowID, key)
		assert.NotNil(t, m.PolicyAt, key)
		assert.NotNil(t, m.ClaimedAt, key)
		assert.NotNil(t, m.SentAt, key)
	}
	after1 := readMessage(t, s, "old1")
	assert.Equal(t, before1.ID, after1.ID)
	assert.Equal(t, "email", after1.Channel)
	assert.True(t, before1.CreatedAt.Equal(after1.CreatedAt))
	assert.True(t, before1.PolicyAt.Equal(*after1.PolicyAt))
	assert.True(t, before1.ClaimedAt.Equal(*after1.ClaimedAt))

	kept := readMessage(t, s, "new")
	assert.Equal(t, "old@example.com", kept.Recipient)
	assert.Equal(t, "subject of new", kept.Subject)
	assert.Nil(t, kept.ContentRemovedAt)
	held := readMessage(t, s, "held")
	assert.Equal(t, "old@example.com", held.Recipient, "a held message keeps its address until it goes")
	assert.Equal(t, "held subject", held.Subject)

	// Events: the data of old routed ones goes; type and times stay.
	n, err = s.ScrubOldEvents(ctx, cutoff, 1000)
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)
	e, err := s.GetEvent(ctx, "evt_old")
	require.NoError(t, err)
	assert.JSONEq(t, `{}`, string(e.Data))
	assert.Equal(t, "order.placed", e.Type)
	assert.Equal(t, "c_1", e.CustomerID)
	assert.WithinDuration(t, old, e.OccurredAt, time.Millisecond)
	for _, id := range []string{"evt_new", "evt_old_unrouted"} {
		e, err := s.GetEvent(ctx, id)
		require.NoError(t, err)
		assert.JSONEq(t, `{"note":"gift for my wife Jane"}`, string(e.Data), "%s keeps its data", id)
	}

	// Again: nothing more to do, nothing changes.
	stamp := *readMessage(t, s, "old1").ContentRemovedAt
	n, err = s.ScrubOldMessages(ctx, cutoff, 0)
	require.NoError(t, err)
	assert.Zero(t, n)
	n, err = s.ScrubOldEvents(ctx, cutoff, 0)
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.True(t, stamp.Equal(*readMessage(t, s, "old1").ContentRemovedAt), "a second pass leaves scrubbed rows as they are")

	// The frequency count still sees the old sends (policy time, channel).
	var counted int
	require.NoError(t, db.QueryRow(ctx, `SELECT count(*) FROM messages WHERE customer_id = 'c_1' AND purpose = 'marketing'
		AND status IN ('sending', 'sent', 'unknown') AND policy_at IS NOT NULL`).Scan(&counted))
	assert.Equal(t, 3, counted)
}
