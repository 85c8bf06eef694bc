package audit_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/audit"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/store/storetest"
)

// TestAuditToleratesContentRemovedByRetention: once retention removed a
// message's recipient, its suppression cannot be checked; the audit counts
// it as content removed, not as a violation, and still checks the rest
// (consent, topics, caps) from what retention keeps.
func TestAuditToleratesContentRemovedByRetention(t *testing.T) {
	t.Parallel()
	s, url := storetest.New(t)
	ctx := context.Background()
	o := &outbox{t: t, s: s}
	o.customer("old", "Europe/London")
	o.customer("out", "Europe/London")
	noon := time.Date(2024, 3, 4, 12, 0, 0, 0, time.UTC)
	require.NoError(t, s.Suppress(ctx, store.Suppression{Channel: "email", Address: "old@example.com", Reason: "hard bounce", Source: "sendgrid"}))
	o.send("old", "email", "transactional", "orders", "old@example.com", noon) // broke the suppression
	_, err := s.RecordConsent(ctx, "out", "email", "opted_out", "preference_center", store.Evidence{})
	require.NoError(t, err)
	o.send("out", "email", "transactional", "orders", "out@example.com", noon)
	o.send("out", "email", "marketing", "offers", "out@example.com", noon.Add(time.Hour))

	rep := check(t, s, audit.Options{})
	assert.Equal(t, map[string][]audit.Rule{"old": {audit.Suppression}, "out": {audit.Consent, audit.Consent}}, rulesOf(rep.Violations))
	assert.Zero(t, rep.ContentRemoved)

	_, err = storetest.DB(t, url).Exec(ctx, `UPDATE messages SET created_at = now() - interval '500 days'`)
	require.NoError(t, err)
	n, err := s.ScrubOldMessages(ctx, time.Now().Add(-400*24*time.Hour), 0)
	require.NoError(t, err)
	require.Equal(t, int64(3), n)

	rep = check(t, s, audit.Options{})
	assert.Equal(t, 3, rep.ContentRemoved, "reported as content removed by retention")
	assert.Equal(t, map[string][]audit.Rule{"out": {audit.Consent, audit.Consent}}, rulesOf(rep.Violations),
		"what retention keeps still convicts; what it removed is not a violation, nor hidden as one")
	assert.Equal(t, 3, rep.Messages)
}
