package api_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/api"
	"github.com/rapporthq/rapport/internal/store"
)

// message puts a message in the outbox as sent (or in doubt, status
// unknown), as a journey's send would, and returns its id.
func (s *shop) message(customerID, channel, topic, recipient string, status store.MessageStatus) string {
	s.t.Helper()
	ctx := context.Background()
	key := fmt.Sprintf("%s-%s-%s-%d", customerID, channel, topic, time.Now().UnixNano())
	m := store.Message{IdempotencyKey: key, WorkflowID: "rapport/j/" + customerID + "/e", Journey: "j", StepID: key, CustomerID: customerID,
		Channel: channel, Template: "t", Purpose: "marketing", Topic: topic, Recipient: recipient}
	claim, _, err := s.st.ClaimWithGate(ctx, m, false, time.Now(), func(store.GateInput) store.Gate { return store.Gate{Allow: true} })
	require.NoError(s.t, err)
	require.True(s.t, claim.Send)
	out, err := s.st.FinishSend(ctx, key, store.Outcome{Status: status, Provider: "p", ProviderMessageID: "pm-" + key})
	require.NoError(s.t, err)
	require.Equal(s.t, status, out.Status)
	return out.ID
}

func (s *shop) outboxRow(id string) store.Message {
	s.t.Helper()
	m, err := s.st.GetMessage(context.Background(), id)
	require.NoError(s.t, err)
	return m
}

// suppressed says whether the address is on the channel's list, and why.
func (s *shop) suppressed(channel, address string) (bool, string) {
	s.t.Helper()
	sup, err := s.st.Suppressed(context.Background(), channel, address)
	if errors.Is(err, store.ErrNotFound) {
		return false, ""
	}
	require.NoError(s.t, err)
	return true, sup.Reason
}

func (s *shop) consent(customerID string) []store.ConsentEvent {
	s.t.Helper()
	h, err := s.st.ConsentHistory(context.Background(), customerID)
	require.NoError(s.t, err)
	return h
}

// sendgridSign signs a body as SendGrid's event webhook does: ECDSA P-256
// over the timestamp and the body, ASN.1 DER, base64.
func sendgridSign(t *testing.T, key *ecdsa.PrivateKey, ts string, body []byte) string {
	t.Helper()
	h := sha256.Sum256(append([]byte(ts), body...))
	r, sv, err := ecdsa.Sign(rand.Reader, key, h[:])
	require.NoError(t, err)
	der, err := asn1.Marshal(struct{ R, S *big.Int }{r, sv})
	require.NoError(t, err)
	return base64.StdEncoding.EncodeToString(der)
}

// postSendGrid posts SendGrid events signed by key at ts.
func (s *shop) postSendGrid(key *ecdsa.PrivateKey, ts string, events []map[string]any) answer {
	s.t.Helper()
	body := []byte(jsonText(s.t, events))
	return s.sendgridRaw(ts, body, sendgridSign(s.t, key, ts, body))
}

func (s *shop) sendgridRaw(ts string, body []byte, sig string) answer {
	s.t.Helper()
	req := httptest.NewRequest("POST", "/webhooks/sendgrid", bytes.NewReader(body))
	req.Header.Set("X-Twilio-Email-Event-Webhook-Signature", sig)
	req.Header.Set("X-Twilio-Email-Event-Webhook-Timestamp", ts)
	return s.serve(req)
}

func now() string { return strconv.FormatInt(time.Now().Unix(), 10) }

// SendGrid's signed events: deliveries are noted (and settle a message in
// doubt as sent), hard bounces, drops and spam reports suppress the
// address, a blocked bounce does not, an unsubscribe leaves the message's
// topic (or email, when the message is not known); each event applies
// once.
func TestSendGridEventsAreAppliedOnce(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	s.customer(`{"id": "c_1", "email": "ada@example.com"}`)
	s.customer(`{"id": "c_2", "email": "grace@example.com"}`)
	sent := s.message("c_1", "email", "offers", "ada@example.com", store.MessageSent)
	doubt := s.message("c_1", "email", "offers", "ada@example.com", store.MessageUnknown)

	a := s.postSendGrid(s.sendgrid, now(), []map[string]any{
		{"sg_event_id": "e1", "event": "delivered", "email": "ada@example.com", "message_id": sent, "timestamp": time.Now().Unix()},
		{"sg_event_id": "e2", "event": "open", "email": "ada@example.com", "message_id": doubt},
		{"event": "delivered", "email": "ada@example.com", "message_id": doubt}, // no id: ignored
	})
	require.Equal(t, http.StatusOK, a.Code, a.Body)
	assert.Equal(t, "delivered", s.outboxRow(sent).DeliveryStatus)
	settled := s.outboxRow(doubt)
	assert.Equal(t, store.MessageSent, settled.Status, "a report proves the provider took it")
	assert.Equal(t, "opened", settled.DeliveryStatus)
	assert.Contains(t, settled.Reason, "settled as sent by the provider's delivery webhook (opened)")

	a = s.postSendGrid(s.sendgrid, now(), []map[string]any{
		{"sg_event_id": "e3", "event": "bounce", "type": "blocked", "reason": "mailbox full", "email": "ada@example.com", "message_id": sent},
	})
	require.Equal(t, http.StatusOK, a.Code)
	assert.Equal(t, "blocked", s.outboxRow(sent).DeliveryStatus)
	ok, _ := s.suppressed("email", "ada@example.com")
	assert.False(t, ok, "a soft bounce leaves the address alone")

	a = s.postSendGrid(s.sendgrid, now(), []map[string]any{
		{"sg_event_id": "e4", "event": "bounce", "type": "bounce", "reason": "550 no such user", "email": "Ada@Example.com", "message_id": sent},
		{"sg_event_id": "e5", "event": "spamreport", "email": "grace@example.com"},
	})
	require.Equal(t, http.StatusOK, a.Code)
	ok, why := s.suppressed("email", "ada@example.com")
	assert.True(t, ok)
	assert.Equal(t, "hard bounce: 550 no such user", why)
	ok, why = s.suppressed("email", "grace@example.com")
	assert.True(t, ok)
	assert.Equal(t, "spam report", why)

	// An unsubscribe from a message leaves its topic; one SendGrid cannot
	// tie to a message leaves email altogether. Sent twice, each applies
	// once.
	for range 2 {
		a = s.postSendGrid(s.sendgrid, now(), []map[string]any{
			{"sg_event_id": "e6", "event": "unsubscribe", "email": "ada@example.com", "message_id": sent},
			{"sg_event_id": "e7", "event": "group_unsubscribe", "email": "grace@example.com"},
		})
		require.Equal(t, http.StatusOK, a.Code)
	}
	topics, err := s.st.TopicHistory(context.Background(), "c_1")
	require.NoError(t, err)
	require.Len(t, topics, 1)
	assert.Equal(t, "offers", topics[0].Topic)
	assert.False(t, topics[0].Subscribed)
	assert.Empty(t, s.consent("c_1"), "Ada left a topic, not email")
	grace := s.consent("c_2")
	require.Len(t, grace, 1)
	assert.Equal(t, "opted_out", grace[0].State)
	assert.Equal(t, "sendgrid_group_unsubscribe", grace[0].Source)

	signed := []byte(`{"not": "a list"}`)
	ts := now()
	assert.Equal(t, http.StatusBadRequest, s.sendgridRaw(ts, signed, sendgridSign(t, s.sendgrid, ts, signed)).Code)
}

// SendGrid's processed and deferred events prove it took an email: one
// in doubt is settled as sent, and a later processed event does not hide
// a delivery already reported.
func TestSendGridProcessedSettlesAnEmailInDoubt(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	s.customer(`{"id": "c_1", "email": "ada@example.com"}`)
	processed := s.message("c_1", "email", "offers", "ada@example.com", store.MessageUnknown)
	deferred := s.message("c_1", "email", "offers", "ada@example.com", store.MessageUnknown)
	delivered := s.message("c_1", "email", "offers", "ada@example.com", store.MessageSent)
	a := s.postSendGrid(s.sendgrid, now(), []map[string]any{
		{"sg_event_id": "p1", "event": "processed", "email": "ada@example.com", "message_id": processed},
		{"sg_event_id": "d1", "event": "deferred", "email": "ada@example.com", "message_id": deferred},
		{"sg_event_id": "v1", "event": "delivered", "email": "ada@example.com", "message_id": delivered},
		{"sg_event_id": "p2", "event": "processed", "email": "ada@example.com", "message_id": delivered}, // late
	})
	require.Equal(t, http.StatusOK, a.Code, a.Body)
	for id, want := range map[string]string{processed: "processed", deferred: "deferred"} {
		m := s.outboxRow(id)
		assert.Equal(t, store.MessageSent, m.Status, want)
		assert.Equal(t, want, m.DeliveryStatus)
		assert.Contains(t, m.Reason, "settled as sent by the provider's delivery webhook ("+want+")")
	}
	assert.Equal(t, "delivered", s.outboxRow(delivered).DeliveryStatus, "a late processed event does not undo a delivery")
}

// A SendGrid request that does not verify is refused (401) and changes
// nothing: signed with another key, a signature of another body or time,
// replayed an hour later, unsigned, or sent to a server without the key.
func TestSendGridRefusesWhatDoesNotVerify(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	s.customer(`{"id": "c_1", "email": "ada@example.com"}`)
	sent := s.message("c_1", "email", "offers", "ada@example.com", store.MessageSent)
	forger, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	bounce := []byte(jsonText(t, []map[string]any{{"sg_event_id": "e1", "event": "bounce", "type": "bounce", "email": "ada@example.com", "message_id": sent}}))
	other := []byte(jsonText(t, []map[string]any{{"sg_event_id": "e2", "event": "open", "message_id": sent}}))
	ts, old := now(), strconv.FormatInt(time.Now().Add(-time.Hour).Unix(), 10)
	for name, tc := range map[string]struct{ ts, sig string }{
		"forged":                        {ts, sendgridSign(t, forger, ts, bounce)},
		"the signature of another body": {ts, sendgridSign(t, s.sendgrid, ts, other)},
		"signed at another time":        {ts, sendgridSign(t, s.sendgrid, old, bounce)},
		"replayed an hour later":        {old, sendgridSign(t, s.sendgrid, old, bounce)},
		"unsigned":                      {ts, ""},
	} {
		a := s.sendgridRaw(tc.ts, bounce, tc.sig)
		assert.Equal(t, http.StatusUnauthorized, a.Code, name)
		assert.Equal(t, "the request's signature does not verify", a.JSON["error"], name)
	}
	// A server without SendGrid's key takes nothing, however signed.
	bare := (&api.Server{Store: s.st, Router: s.router, PublicLimit: api.PublicLimit{WebhookRate: 1000, WebhookBurst: 1000}}).Handler()
	req := httptest.NewRequest("POST", "/webhooks/sendgrid", bytes.NewReader(bounce))
	req.Header.Set("X-Twilio-Email-Event-Webhook-Signature", sendgridSign(t, s.sendgrid, ts, bounce))
	req.Header.Set("X-Twilio-Email-Event-Webhook-Timestamp", ts)
	rec := httptest.NewRecorder()
	bare.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusUnauthorized, rec.Code)

	ok, _ := s.suppressed("email", "ada@example.com")
	assert.False(t, ok, "no refused request suppressed the address")
	assert.Empty(t, s.outboxRow(sent).DeliveryStatus)
	seen, err := s.st.WebhookSeen(context.Background(), "sendgrid", "e1")
	require.NoError(t, err)
	assert.False(t, seen)
}

// twilioSign signs a request as Twilio does: HMAC-SHA1 with the auth token
// over the URL and each POST parameter's name and value, sorted by name,
// base64.
func twilioSign(token, u string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(u)
	for _, k := range keys {
		b.WriteString(k + form.Get(k))
	}
	mac := hmac.New(sha1.New, []byte(token))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// twilio posts a form to path, signed with token for the URL signedFor
// (the API's public URL and path, when "").
func (s *shop) twilio(path string, form url.Values, token, signedFor string) answer {
	s.t.Helper()
	if signedFor == "" {
		signedFor = publicURL + path
	}
	return s.twilioRaw(path, form, twilioSign(token, signedFor, form))
}

func (s *shop) twilioRaw(path string, form url.Values, sig string) answer {
	s.t.Helper()
	req := httptest.NewRequest("POST", path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", sig)
	return s.serve(req)
}

// Texts from customers, signed by Twilio: STOP opts the number out of SMS
// and suppresses it, START opts it back in, anything else is an
// sms.replied event; each message applies once. Delivery reports are noted
// on the outbox row. What does not verify is refused and changes nothing.
func TestTwilioCallbacks(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	s.customer(`{"id": "c_1", "email": "ada@example.com", "phone": "+44 7911 123456"}`)
	const number = "+447911123456"
	stop := url.Values{"From": {number}, "To": {"+15005550006"}, "Body": {" stop "}, "MessageSid": {"SM1"}}

	for name, a := range map[string]answer{
		"another token":   s.twilio("/webhooks/twilio/inbound", stop, "not-the-token", ""),
		"another address": s.twilio("/webhooks/twilio/inbound", stop, s.twilioToken, "https://elsewhere.example/webhooks/twilio/inbound"),
		"another body": s.twilioRaw("/webhooks/twilio/inbound", stop,
			twilioSign(s.twilioToken, publicURL+"/webhooks/twilio/inbound", url.Values{"From": {"+447700900123"}, "Body": {"hello"}, "MessageSid": {"SM0"}})),
		"unsigned": s.twilioRaw("/webhooks/twilio/inbound", stop, ""),
	} {
		assert.Equal(t, http.StatusUnauthorized, a.Code, name)
	}
	ok, _ := s.suppressed("sms", number)
	assert.False(t, ok, "a refused STOP changes nothing")
	assert.Empty(t, s.consent("c_1"))

	for range 2 {
		a := s.twilio("/webhooks/twilio/inbound", stop, s.twilioToken, "")
		require.Equal(t, http.StatusOK, a.Code, a.Body)
		assert.Contains(t, a.Body, "<Response></Response>")
	}
	ok, why := s.suppressed("sms", number)
	assert.True(t, ok)
	assert.Equal(t, "replied STOP", why)
	history := s.consent("c_1")
	require.Len(t, history, 1, "the repeated STOP applied once")
	assert.Equal(t, "opted_out", history[0].State)
	assert.Equal(t, "sms_reply", history[0].Source)

	a := s.twilio("/webhooks/twilio/inbound", url.Values{"From": {number}, "Body": {"Start"}, "MessageSid": {"SM2"}}, s.twilioToken, "")
	require.Equal(t, http.StatusOK, a.Code)
	ok, _ = s.suppressed("sms", number)
	assert.False(t, ok)
	history = s.consent("c_1")
	assert.Equal(t, "opted_in", history[len(history)-1].State)

	a = s.twilio("/webhooks/twilio/inbound", url.Values{"From": {number}, "Body": {"Is the teapot dishwasher safe?"}, "MessageSid": {"SM3"}}, s.twilioToken, "")
	require.Equal(t, http.StatusOK, a.Code)
	ev := s.must(http.StatusOK, "GET", "/v1/events/sms-SM3-c_1", "")
	assert.Equal(t, "sms.replied", ev["type"])
	assert.Equal(t, "Is the teapot dishwasher safe?", ev["data"].(map[string]any)["body"])
	assert.NotEmpty(t, ev["routed_at"])

	msg := s.message("c_1", "sms", "offers", number, store.MessageSent)
	path := "/webhooks/twilio/status?message_id=" + msg
	status := url.Values{"MessageSid": {"SM9"}, "MessageStatus": {"delivered"}}
	assert.Equal(t, http.StatusUnauthorized, s.twilio(path, status, "nope", "").Code)
	assert.Empty(t, s.outboxRow(msg).DeliveryStatus)
	assert.Equal(t, http.StatusNoContent, s.twilio(path, status, s.twilioToken, "").Code)
	assert.Equal(t, "delivered", s.outboxRow(msg).DeliveryStatus)
}

// lob posts a Lob event signed with secret at ts.
func (s *shop) lob(body, ts, secret string) answer {
	s.t.Helper()
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "." + body))
	req := httptest.NewRequest("POST", "/webhooks/lob", strings.NewReader(body))
	req.Header.Set("Lob-Signature", hex.EncodeToString(mac.Sum(nil)))
	req.Header.Set("Lob-Signature-Timestamp", ts)
	return s.serve(req)
}

// Lob's signed tracking events are noted on the outbox row; a piece
// returned to sender suppresses the address for post. Each event applies
// once; what does not verify is refused.
func TestLobEvents(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	s.customer(`{"id": "c_1", "email": "ada@example.com"}`)
	const address = "Ada Lovelace, 12 St James's Square, London SW1Y 4JH, GB"
	msg := s.message("c_1", "mail", "offers", address, store.MessageSent)
	event := func(id, kind string) string {
		return fmt.Sprintf(`{"id": %q, "event_type": {"id": %q}, "body": {"id": "psc_1", "metadata": {"message_id": %q}}}`, id, kind, msg)
	}
	ms := strconv.FormatInt(time.Now().UnixMilli(), 10)
	old := strconv.FormatInt(time.Now().Add(-time.Hour).UnixMilli(), 10)

	returned := event("evt_2", "postcard.returned_to_sender")
	assert.Equal(t, http.StatusUnauthorized, s.lob(returned, ms, "wrong secret").Code)
	assert.Equal(t, http.StatusUnauthorized, s.lob(returned, old, s.lobSecret).Code, "replayed an hour later")
	ok, _ := s.suppressed("mail", address)
	assert.False(t, ok)

	a := s.lob(event("evt_1", "postcard.delivered"), ms, s.lobSecret)
	require.Equal(t, http.StatusOK, a.Code, a.Body)
	assert.Equal(t, "delivered", s.outboxRow(msg).DeliveryStatus)

	secs := strconv.FormatInt(time.Now().Unix(), 10) // seconds are taken too
	for range 2 {
		require.Equal(t, http.StatusOK, s.lob(returned, secs, s.lobSecret).Code)
	}
	ok, why := s.suppressed("mail", address)
	assert.True(t, ok)
	assert.Equal(t, "returned to sender", why)
	assert.Equal(t, "returned_to_sender", s.outboxRow(msg).DeliveryStatus)
	seen, err := s.st.WebhookSeen(context.Background(), "lob", "evt_2")
	require.NoError(t, err)
	assert.True(t, seen)

	assert.Equal(t, http.StatusBadRequest, s.lob(`{"event_type": {"id": "letter.delivered"}}`, ms, s.lobSecret).Code, "signed, but no event")
}
