package audit_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/audit"
	"github.com/rapporthq/rapport/internal/policy"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/store/storetest"
)

// outbox writes messages as if a decision had let each one go, whatever
// the rules say: the audit must catch the ones that should not have.
type outbox struct {
	t *testing.T
	s *store.Store
	n int
}

func (o *outbox) send(customerID, channel, purpose, topic, recipient string, at time.Time) store.Message {
	o.t.Helper()
	o.n++
	m := store.Message{IdempotencyKey: fmt.Sprint("k", o.n), WorkflowID: "rapport/j/" + customerID + "/e", Journey: "j",
		StepID: fmt.Sprint("s", o.n), CustomerID: customerID, Channel: channel, Template: "t", Purpose: purpose, Topic: topic, Recipient: recipient}
	claim, _, err := o.s.ClaimWithGate(context.Background(), m, false, at, func(store.GateInput) store.Gate { return store.Gate{Allow: true} })
	require.NoError(o.t, err)
	require.True(o.t, claim.Send)
	out, err := o.s.FinishSend(context.Background(), m.IdempotencyKey, store.Outcome{Status: store.MessageSent, Provider: "p"})
	require.NoError(o.t, err)
	return out
}

func (o *outbox) customer(id, zone string) {
	o.t.Helper()
	_, err := o.s.UpsertCustomer(context.Background(), store.Customer{ID: id, Email: id + "@example.com", TimeZone: zone})
	require.NoError(o.t, err)
}

// check audits the store under the default rules, as rapport audit does:
// through a read-only transaction.
func check(t *testing.T, s *store.Store, opts audit.Options) audit.Report {
	t.Helper()
	var rep audit.Report
	require.NoError(t, s.ReadOnly(context.Background(), func(q store.Querier) error {
		var err error
		rep, err = audit.Check(context.Background(), q, policy.DefaultRules(), opts)
		return err
	}))
	return rep
}

func rulesOf(v []audit.Violation) map[string][]audit.Rule {
	out := map[string][]audit.Rule{}
	for _, x := range v {
		out[x.CustomerID] = append(out[x.CustomerID], x.Rule)
	}
	return out
}

// TestAuditFindsEveryKindOfBreach: one customer per rule, sent to as if
// nothing had been checked, and some who were sent to rightly.
func TestAuditFindsEveryKindOfBreach(t *testing.T) {
	t.Parallel()
	s, url := storetest.New(t)
	ctx := context.Background()
	o := &outbox{t: t, s: s}
	noon := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC) // 12:00 in London
	for _, id := range []string{"ok", "out", "optin", "topic", "sup", "quiet", "cap", "noreason", "later", "ownquiet", "owncap"} {
		o.customer(id, "Europe/London")
	}

	// Sent rightly: email needs no opt-in; a text with one, by day.
	o.send("ok", "email", "marketing", "offers", "ok@example.com", noon)
	_, err := s.RecordConsent(ctx, "ok", "sms", "opted_in", "checkout", store.Evidence{})
	require.NoError(t, err)
	o.send("ok", "sms", "transactional", "orders", "+447911000001", noon.Add(48*time.Hour))
	o.send("ok", "sms", "marketing", "offers", "+447911000001", noon.Add(72*time.Hour))

	_, err = s.RecordConsent(ctx, "out", "email", "opted_out", "preference_center", store.Evidence{})
	require.NoError(t, err)
	o.send("out", "email", "transactional", "orders", "out@example.com", noon)

	o.send("optin", "sms", "marketing", "offers", "+447911000002", noon)

	_, err = s.RecordTopic(ctx, "topic", "offers", false, "unsubscribe", store.Evidence{})
	require.NoError(t, err)
	o.send("topic", "email", "marketing", "offers", "topic@example.com", noon)
	o.send("topic", "email", "transactional", "orders", "topic@example.com", noon.Add(time.Hour)) // fine

	require.NoError(t, s.Suppress(ctx, store.Suppression{Channel: "email", Address: "sup@example.com", Reason: "hard bounce", Source: "sendgrid"}))
	o.send("sup", "email", "transactional", "orders", "Sup@Example.com", noon)
	require.NoError(t, s.Unsuppress(ctx, "email", "sup@example.com"))
	o.send("sup", "email", "transactional", "orders", "sup@example.com", noon.Add(time.Hour)) // fine once lifted

	o.send("quiet", "sms", "transactional", "orders", "+447911000003", time.Date(2026, 11, 23, 23, 30, 0, 0, time.UTC))
	o.send("quiet", "sms", "transactional", "orders", "+447911000003", time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)) // fine: quiet hours end at 08:00

	o.send("cap", "email", "marketing", "offers", "cap@example.com", noon)
	o.send("cap", "email", "marketing", "offers", "cap@example.com", noon.Add(23*time.Hour)) // 2 in a day
	o.send("cap", "email", "marketing", "offers", "cap@example.com", noon.Add(72*time.Hour)) // fine again

	m := o.send("noreason", "email", "marketing", "offers", "noreason@example.com", noon)
	_, err = storetest.DB(t, url).Exec(ctx, `UPDATE messages SET status = 'skipped', reason = '' WHERE id = $1`, m.ID)
	require.NoError(t, err)

	// An opt-out after the send breaks nothing.
	o.send("later", "email", "marketing", "offers", "later@example.com", noon)
	_, err = s.RecordConsent(ctx, "later", "email", "opted_out", "preference_center", store.Evidence{})
	require.NoError(t, err)

	// The customer's own settings replace the defaults.
	require.NoError(t, s.SaveSettings(ctx, "ownquiet", nil, map[string]store.QuietHours{"sms": {}, "email": {Start: "12:00", End: "13:00"}}, nil))
	o.send("ownquiet", "email", "transactional", "orders", "ownquiet@example.com", noon.Add(30*time.Minute))
	o.send("ownquiet", "sms", "transactional", "orders", "+447911000004", time.Date(2026, 11, 23, 23, 30, 0, 0, time.UTC)) // fine: no quiet hours for texts
	require.NoError(t, s.SaveSettings(ctx, "owncap", nil, nil, []store.CapSetting{{Channel: "email", Max: 1, Per: "7d"}}))
	o.send("owncap", "email", "marketing", "offers", "owncap@example.com", noon)
	o.send("owncap", "email", "marketing", "offers", "owncap@example.com", noon.Add(72*time.Hour))

	rep := check(t, s, audit.Options{Batch: 3})
	assert.Equal(t, map[string][]audit.Rule{
		"out":      {audit.Consent},
		"optin":    {audit.OptIn},
		"topic":    {audit.Topic},
		"sup":      {audit.Suppression},
		"quiet":    {audit.QuietHours},
		"cap":      {audit.Cap},
		"noreason": {audit.Reason},
		"ownquiet": {audit.QuietHours},
		"owncap":   {audit.Cap},
	}, rulesOf(rep.Violations))
	assert.Equal(t, 11, rep.Customers)
	assert.Equal(t, 20, rep.Messages)
	assert.Equal(t, 1, rep.ByStatus["skipped"])
	for _, v := range rep.Violations {
		assert.NotEmpty(t, v.Detail)
		if v.Rule == audit.QuietHours && v.CustomerID == "quiet" {
			assert.Equal(t, "sent at 23:30 local time (Europe/London), inside quiet hours 21:00-08:00", v.Detail)
		}
	}

	only := check(t, s, audit.Options{CustomerIDs: []string{"ok", "later"}})
	assert.Empty(t, only.Violations)
	assert.Equal(t, 4, only.Messages)
}

// TestAuditReadsHoldReasons: a message held without a reason is reported.
func TestAuditReadsHoldReasons(t *testing.T) {
	t.Parallel()
	s, url := storetest.New(t)
	ctx := context.Background()
	o := &outbox{t: t, s: s}
	o.customer("c", "Europe/Paris")
	m := store.Message{IdempotencyKey: "h", WorkflowID: "w", Journey: "j", StepID: "s", CustomerID: "c", Channel: "email", Template: "t", Purpose: "marketing"}
	at := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	_, _, err := s.ClaimWithGate(ctx, m, false, at, func(store.GateInput) store.Gate {
		return store.Gate{Hold: true, Until: at.Add(time.Hour), Reason: "frequency cap (1 per 1d)"}
	})
	require.NoError(t, err)
	rep := check(t, s, audit.Options{})
	assert.Empty(t, rep.Violations)
	assert.Equal(t, 1, rep.Holds)
	assert.Equal(t, 1, rep.ByStatus["held"])

	_, err = storetest.DB(t, url).Exec(ctx, `UPDATE messages SET reason = ' ' WHERE idempotency_key = 'h'`)
	require.NoError(t, err)
	rep = check(t, s, audit.Options{})
	require.Len(t, rep.Violations, 1)
	assert.Equal(t, audit.Reason, rep.Violations[0].Rule)
}

// TestAuditLegacyAndUndecidedSends: a message sent before Rapport recorded
// contact decisions is counted, not judged; one sent since without a
// decision is a violation.
func TestAuditLegacyAndUndecidedSends(t *testing.T) {
	t.Parallel()
	s, url := storetest.New(t)
	ctx := context.Background()
	o := &outbox{t: t, s: s}
	o.customer("c", "Europe/Paris")
	db := storetest.DB(t, url)
	insert := func(key string, created time.Time) {
		_, err := db.Exec(ctx, `INSERT INTO messages (idempotency_key, workflow_id, journey, step_id, customer_id, channel, template, purpose, status, created_at)
			VALUES ($1, 'w', 'j', $1, 'c', 'email', 't', 'marketing', 'sent', $2)`, key, created)
		require.NoError(t, err)
	}
	insert("old", time.Now().Add(-24*time.Hour))
	insert("new", time.Now())
	rep := check(t, s, audit.Options{})
	assert.Equal(t, 1, rep.Legacy)
	require.Len(t, rep.Violations, 1)
	assert.Equal(t, audit.Decision, rep.Violations[0].Rule)
	assert.Equal(t, "new", rep.Violations[0].Step)
}
