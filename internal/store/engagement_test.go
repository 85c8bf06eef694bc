package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/store/storetest"
)

// TestEngagementFromProviderEvents: provider events noted with their
// webhook event become the customer's engagement facts, at a fixed
// clock: moments (a machine's open apart from a person's), days since
// them, hard bounces counted, and the rolling 30-day counts over the UTC
// days ending with today's. A repeated webhook event counts once; an
// event for a message of no customer, or for an unknown customer,
// changes nothing; a time after now counts as now; the days outside the
// window are deleted when the next event is written.
func TestEngagementFromProviderEvents(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 22, 9, 30, 0, 0, time.UTC)
	clock := now
	s, url := storetest.New(t, store.WithClock(func() time.Time { return clock }))
	db := storetest.DB(t, url)
	ctx := context.Background()
	for _, id := range []string{"c_1", "c_2"} {
		_, err := s.UpsertCustomer(ctx, store.Customer{ID: id, Email: id + "@example.com"})
		require.NoError(t, err)
	}
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	const day = 24 * time.Hour
	n := 0
	note := func(kind store.EngagementKind, customerID string, at time.Time) {
		t.Helper()
		n++
		require.NoError(t, s.RecordWebhook(ctx, "test", fmt.Sprint("e", n), store.Engaged{Kind: kind, CustomerID: customerID, At: at}))
	}

	// Before anything: no engagement.
	f, err := s.CustomerFacts(ctx, "c_1", now)
	require.NoError(t, err)
	assert.Equal(t, journey.NoEngagement(), f.Engagement)
	assert.Equal(t, int64(-1), f.Engagement.Email.DaysSinceEngaged)

	note(store.EmailSent, "c_1", ago(200*day))
	note(store.EmailDelivered, "c_1", ago(200*day-time.Minute))
	note(store.EmailDelivered, "c_1", ago(2*day))
	note(store.EmailOpened, "c_1", ago(30*day))             // the UTC day before the window
	note(store.EmailOpened, "c_1", ago(29*day+9*time.Hour)) // 00:30 on the window's first day
	note(store.EmailOpened, "c_1", ago(time.Hour))
	note(store.EmailMachineOpen, "c_1", ago(2*time.Hour))
	note(store.EmailMachineOpen, "c_1", ago(3*time.Hour))
	note(store.EmailClicked, "c_1", ago(3*day))
	note(store.EmailBounced, "c_1", ago(100*day))
	note(store.EmailBounced, "c_1", ago(50*day))
	note(store.SMSReplied, "c_1", now.Add(time.Hour)) // after now: counts as now
	note(store.MailReturned, "c_1", time.Time{})      // no time: now
	note(store.EmailOpened, "c_nobody", ago(time.Hour))

	// The same webhook event again changes nothing, however it is sent.
	for range 2 {
		require.NoError(t, s.RecordWebhook(ctx, "test", "e6", store.Engaged{Kind: store.EmailOpened, CustomerID: "c_1", At: ago(time.Hour)}))
	}
	// A message id that is no message of ours, or no id at all: nothing.
	require.NoError(t, s.RecordWebhook(ctx, "test", "m1", store.Engaged{Kind: store.EmailClicked, MessageID: "00000000-0000-0000-0000-000000000001"}))
	require.NoError(t, s.RecordWebhook(ctx, "test", "m2", store.Engaged{Kind: store.EmailClicked, MessageID: "not-a-uuid"}))

	f, err = s.CustomerFacts(ctx, "c_1", now)
	require.NoError(t, err)
	e := f.Engagement.Email
	assert.Equal(t, ago(200*day), e.FirstSentAt)
	assert.Equal(t, int64(200), e.DaysSinceFirstSent)
	assert.Equal(t, ago(2*day), e.LastDeliveredAt)
	assert.Equal(t, int64(2), e.DaysSinceDelivered)
	assert.Equal(t, ago(time.Hour), e.LastOpenAt, "a machine's later open is not a person's")
	assert.Equal(t, ago(2*time.Hour), e.LastMachineOpenAt)
	assert.Equal(t, ago(3*day), e.LastClickAt)
	assert.Equal(t, ago(time.Hour), e.LastEngagedAt)
	assert.Equal(t, int64(0), e.DaysSinceEngaged)
	assert.Equal(t, int64(3), e.DaysSinceClick)
	assert.Equal(t, int64(2), e.Bounces)
	assert.Equal(t, ago(50*day), e.LastBounceAt)
	assert.Equal(t, int64(2), e.Opens30d, "the open on the window's first day and today's; not the day before, nor the repeat")
	assert.Equal(t, int64(1), e.Clicks30d)
	assert.Equal(t, int64(2), e.MachineOpens30d)
	assert.Equal(t, now, f.Engagement.SMS.LastReplyAt, "a time after now counts as now")
	assert.Equal(t, int64(1), f.Engagement.SMS.Replies30d)
	assert.Equal(t, int64(-1), f.Engagement.SMS.DaysSinceDelivered)
	assert.Equal(t, now, f.Engagement.Mail.LastReturnedAt)
	assert.Equal(t, int64(1), f.Engagement.Mail.Returns)

	// A day later the window has moved on: the open of its first day is
	// out of it.
	later, err := s.CustomerFacts(ctx, "c_1", now.Add(day))
	require.NoError(t, err)
	assert.Equal(t, int64(1), later.Engagement.Email.Opens30d)
	assert.Equal(t, int64(1), later.Engagement.Email.DaysSinceEngaged)

	// The other customer has none, and the unknown one got no row.
	f, err = s.CustomerFacts(ctx, "c_2", now)
	require.NoError(t, err)
	assert.Equal(t, journey.NoEngagement(), f.Engagement)
	var rows int
	require.NoError(t, db.QueryRow(ctx, `SELECT count(*) FROM customer_engagement WHERE customer_id = 'c_nobody'`).Scan(&rows))
	assert.Zero(t, rows)

	// The table of days stays bounded: writing 40 days later deletes the
	// days out of the window.
	clock = now.Add(40 * day)
	note(store.EmailClicked, "c_1", clock)
	require.NoError(t, db.QueryRow(ctx, `SELECT count(*) FROM customer_engagement_days WHERE customer_id = 'c_1'`).Scan(&rows))
	assert.Equal(t, 1, rows)
}

// TestEngagementOfAMessage: an event names the message; the customer is
// the one it went to.
func TestEngagementOfAMessage(t *testing.T) {
	t.Parallel()
	s, _ := storetest.New(t)
	ctx := context.Background()
	_, err := s.UpsertCustomer(ctx, store.Customer{ID: "c_1", Email: "ada@example.com"})
	require.NoError(t, err)
	m := store.Message{IdempotencyKey: "k1", WorkflowID: "rapport/j/c_1/e", Journey: "j", StepID: "s", CustomerID: "c_1",
		Channel: "email", Template: "t", Purpose: "marketing", Topic: "offers", Recipient: "ada@example.com"}
	claim, _, err := s.ClaimWithGate(ctx, m, false, time.Now(), func(store.GateInput) store.Gate { return store.Gate{Allow: true} })
	require.NoError(t, err)
	require.True(t, claim.Send)
	sent, err := s.FinishSend(ctx, "k1", store.Outcome{Status: store.MessageSent, Provider: "p", ProviderMessageID: "pm-1"})
	require.NoError(t, err)

	at := time.Now().Add(-time.Hour).Truncate(time.Microsecond).UTC()
	require.NoError(t, s.RecordWebhook(ctx, "sendgrid", "c1", store.Engaged{Kind: store.EmailClicked, MessageID: sent.ID, At: at}))
	f, err := s.CustomerFacts(ctx, "c_1", time.Now())
	require.NoError(t, err)
	assert.Equal(t, at, f.Engagement.Email.LastClickAt)
	assert.Equal(t, int64(1), f.Engagement.Email.Clicks30d)
}
