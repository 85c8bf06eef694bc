package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/store"
)

const day = 24 * time.Hour

// engagement is the customer's engagement as journeys see it at ref.
func (s *shop) engagement(customerID string, at time.Time) journey.Engagement {
	s.t.Helper()
	f, err := s.st.CustomerFacts(context.Background(), customerID, at)
	require.NoError(s.t, err)
	return f.Engagement
}

// SendGrid's signed events become the engagement of the message's
// customer: processed and delivered, a person's opens apart from a
// machine's (sg_machine_open), clicks, hard bounces (not a blocked one)
// and spam reports. The same batch posted again counts nothing twice;
// what does not verify counts nothing.
func TestSendGridEventsUpdateEngagementOnce(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	s.customer(`{"id": "c_1", "email": "ada@example.com"}`)
	s.customer(`{"id": "c_2", "email": "grace@example.com"}`)
	first := s.message("c_1", "email", "offers", "ada@example.com", store.MessageSent)
	latest := s.message("c_1", "email", "offers", "ada@example.com", store.MessageSent)
	other := s.message("c_2", "email", "offers", "grace@example.com", store.MessageSent)
	ref := time.Now().Truncate(time.Second)
	at := func(d time.Duration) int64 { return ref.Add(-d).Unix() }
	events := []map[string]any{
		{"sg_event_id": "p1", "event": "processed", "message_id": first, "timestamp": at(200 * day)},
		{"sg_event_id": "v1", "event": "delivered", "message_id": first, "timestamp": at(200*day - time.Minute)},
		{"sg_event_id": "p2", "event": "processed", "message_id": latest, "timestamp": at(3 * time.Hour)},
		{"sg_event_id": "v2", "event": "delivered", "message_id": latest, "timestamp": at(3 * time.Hour)},
		{"sg_event_id": "m1", "event": "open", "sg_machine_open": true, "message_id": latest, "timestamp": at(2 * time.Hour)},
		{"sg_event_id": "m2", "event": "open", "sg_machine_open": "true", "message_id": latest, "timestamp": at(2 * time.Hour)},
		{"sg_event_id": "o1", "event": "open", "sg_machine_open": false, "message_id": latest, "timestamp": at(time.Hour)},
		{"sg_event_id": "k1", "event": "click", "url": "https://shop.example/teas", "message_id": latest, "timestamp": at(50 * time.Minute)},
		{"sg_event_id": "b1", "event": "bounce", "type": "blocked", "email": "ada@example.com", "message_id": latest, "timestamp": at(40 * time.Minute)},
		{"sg_event_id": "b2", "event": "bounce", "type": "bounce", "email": "ada@example.com", "message_id": latest, "timestamp": at(30 * time.Minute)},
		{"sg_event_id": "s1", "event": "spamreport", "email": "grace@example.com", "message_id": other, "timestamp": at(time.Hour)},
		{"sg_event_id": "u1", "event": "open", "message_id": "not-ours", "timestamp": at(time.Hour)},
	}
	for range 2 {
		a := s.postSendGrid(s.sendgrid, now(), events)
		require.Equal(t, http.StatusOK, a.Code, a.Body)
	}

	e := s.engagement("c_1", ref).Email
	assert.Equal(t, ref.Add(-200*day).UTC(), e.FirstSentAt)
	assert.Equal(t, int64(200), e.DaysSinceFirstSent)
	assert.Equal(t, ref.Add(-3*time.Hour).UTC(), e.LastDeliveredAt)
	assert.Equal(t, ref.Add(-time.Hour).UTC(), e.LastOpenAt, "the machine's opens are not a person's")
	assert.Equal(t, ref.Add(-2*time.Hour).UTC(), e.LastMachineOpenAt)
	assert.Equal(t, ref.Add(-50*time.Minute).UTC(), e.LastClickAt)
	assert.Equal(t, e.LastClickAt, e.LastEngagedAt)
	assert.Equal(t, int64(0), e.DaysSinceEngaged)
	assert.Equal(t, int64(1), e.Opens30d, "posted twice, counted once")
	assert.Equal(t, int64(2), e.MachineOpens30d)
	assert.Equal(t, int64(1), e.Clicks30d)
	assert.Equal(t, int64(1), e.Bounces, "the blocked email is no bounce")
	assert.Equal(t, ref.Add(-30*time.Minute).UTC(), e.LastBounceAt)
	assert.Zero(t, e.SpamReports)

	g := s.engagement("c_2", ref).Email
	assert.Equal(t, int64(1), g.SpamReports)
	assert.Equal(t, int64(-1), g.DaysSinceEngaged)

	// A forged post counts nothing.
	forged := []map[string]any{{"sg_event_id": "k9", "event": "click", "message_id": latest, "timestamp": at(time.Minute)}}
	body := []byte(jsonText(t, forged))
	ts := now()
	assert.Equal(t, http.StatusUnauthorized, s.sendgridRaw(ts, body, sendgridSign(t, s.sendgrid, ts, []byte("[]"))).Code)
	assert.Equal(t, int64(1), s.engagement("c_1", ref).Email.Clicks30d)
}

// Twilio's replies (not STOP nor START) and delivery reports, and Lob's
// deliveries and returns, become the customer's engagement, each once
// however often it is posted.
func TestTwilioAndLobUpdateEngagementOnce(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	s.customer(`{"id": "c_1", "email": "ada@example.com", "phone": "+44 7911 123456"}`)
	const number = "+447911123456"
	before := time.Now().Truncate(time.Microsecond)
	for range 2 {
		for _, form := range []url.Values{
			{"From": {number}, "Body": {"Is the teapot dishwasher safe?"}, "MessageSid": {"SM1"}},
			{"From": {number}, "Body": {"STOP"}, "MessageSid": {"SM2"}},
			{"From": {number}, "Body": {"start"}, "MessageSid": {"SM3"}},
		} {
			require.Equal(t, http.StatusOK, s.twilio("/webhooks/twilio/inbound", form, s.twilioToken, "").Code)
		}
	}
	sms := s.message("c_1", "sms", "offers", number, store.MessageSent)
	path := "/webhooks/twilio/status?message_id=" + sms
	assert.Equal(t, http.StatusUnauthorized, s.twilio(path, url.Values{"MessageSid": {"SM9"}, "MessageStatus": {"delivered"}}, "nope", "").Code)
	assert.True(t, s.engagement("c_1", time.Now()).SMS.LastDeliveredAt.IsZero(), "a refused report counts nothing")
	for _, status := range []string{"sent", "delivered", "delivered"} {
		require.Equal(t, http.StatusNoContent, s.twilio(path, url.Values{"MessageSid": {"SM9"}, "MessageStatus": {status}}, s.twilioToken, "").Code)
	}

	const address = "Ada Lovelace, 12 St James's Square, London SW1Y 4JH, GB"
	letter := s.message("c_1", "mail", "offers", address, store.MessageSent)
	delivered := time.Now().Add(-2 * day).UTC().Truncate(time.Second)
	event := func(id, kind string, created time.Time) string {
		return fmt.Sprintf(`{"id": %q, "date_created": %q, "event_type": {"id": %q}, "body": {"id": "ltr_1", "metadata": {"message_id": %q}}}`,
			id, created.Format(time.RFC3339), kind, letter)
	}
	ms := strconv.FormatInt(time.Now().UnixMilli(), 10)
	for range 2 {
		require.Equal(t, http.StatusOK, s.lob(event("evt_1", "letter.delivered", delivered), ms, s.lobSecret).Code)
		require.Equal(t, http.StatusOK, s.lob(event("evt_2", "letter.returned_to_sender", delivered.Add(day)), ms, s.lobSecret).Code)
	}
	assert.Equal(t, http.StatusUnauthorized, s.lob(event("evt_3", "letter.returned_to_sender", delivered), ms, "wrong").Code)

	after := time.Now()
	g := s.engagement("c_1", after)
	assert.Equal(t, int64(1), g.SMS.Replies30d, "one reply, posted twice; STOP and START are no replies")
	assert.False(t, g.SMS.LastReplyAt.Before(before) || g.SMS.LastReplyAt.After(after), "replied when it was posted: %s", g.SMS.LastReplyAt)
	assert.Equal(t, int64(0), g.SMS.DaysSinceReply)
	assert.False(t, g.SMS.LastDeliveredAt.Before(before), "delivered when reported: %s", g.SMS.LastDeliveredAt)
	assert.Equal(t, delivered, g.Mail.LastDeliveredAt)
	assert.Equal(t, int64(2), g.Mail.DaysSinceDelivered)
	assert.Equal(t, delivered.Add(day), g.Mail.LastReturnedAt)
	assert.Equal(t, int64(1), g.Mail.Returns, "posted twice, counted once; the forged one not at all")
	assert.True(t, g.Email.LastOpenAt.IsZero())
}
