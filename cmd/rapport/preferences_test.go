//go:build !production

package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/links"
	"github.com/rapporthq/rapport/internal/store"
)

func (s *stack) put(path string, body any) (int, map[string]any) {
	s.t.Helper()
	b, err := json.Marshal(body)
	require.NoError(s.t, err)
	req, err := http.NewRequest(http.MethodPut, s.APIURL+path, bytes.NewReader(b))
	require.NoError(s.t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.http.Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	require.NoError(s.t, json.Unmarshal(raw, &out), string(raw))
	return resp.StatusCode, out
}

func TestPreferencesAPI(t *testing.T) {
	s := startStack(t, "../../journeys")
	c := customer("c_1", "ada@example.com")
	c["phone"] = "07911 123456"
	c["address"] = map[string]any{"country": "GB"}
	delete(c, "time_zone")
	s.post("/v1/customers", c)

	var p map[string]any
	require.Equal(t, http.StatusOK, s.get("/v1/customers/c_1/preferences", &p))
	assert.Equal(t, "Europe/London", p["time_zone"])
	assert.Equal(t, "country", p["time_zone_source"], "no time zone given: from the country")
	sms := p["channels"].(map[string]any)["sms"].(map[string]any)
	assert.Equal(t, "unknown", sms["consent"])
	assert.Equal(t, map[string]any{"start": "21:00", "end": "08:00"}, sms["quiet_hours"])
	assert.Equal(t, "default", sms["quiet_hours_source"])
	assert.Equal(t, map[string]any{"offers": true, "recommendations": true, "surveys": true}, p["topics"])

	status, body := s.put("/v1/customers/c_1/preferences", map[string]any{
		"channels": map[string]any{
			"sms":   map[string]any{"consent": "opted_in", "quiet_hours": map[string]any{"start": "22:00", "end": "07:30"}},
			"email": map[string]any{"consent": "opted_out"},
			"mail":  map[string]any{"quiet_hours": nil},
		},
		"topics":        map[string]any{"offers": false},
		"channel_order": []any{"sms", "email"},
		"time_zone":     "Europe/Paris",
		"frequency":     map[string]any{"caps": []any{map[string]any{"channel": "all", "max": 1, "per": "7d"}}},
		"evidence":      map[string]any{"source": "import", "shown": "old shop sign-up form", "ip": "198.51.100.7"},
	})
	require.Equal(t, http.StatusOK, status, body)
	ch := body["channels"].(map[string]any)
	assert.Equal(t, "opted_in", ch["sms"].(map[string]any)["consent"])
	assert.Equal(t, map[string]any{"start": "22:00", "end": "07:30"}, ch["sms"].(map[string]any)["quiet_hours"])
	assert.Nil(t, ch["mail"].(map[string]any)["quiet_hours"])
	assert.Equal(t, "opted_out", ch["email"].(map[string]any)["consent"])
	assert.Equal(t, false, body["topics"].(map[string]any)["offers"])
	assert.Equal(t, "Europe/Paris", body["time_zone"])
	assert.Equal(t, "customer", body["frequency"].(map[string]any)["source"])

	// Consent is history: a change adds a row, the old one stays.
	s.put("/v1/customers/c_1/preferences", map[string]any{"channels": map[string]any{"email": map[string]any{"consent": "opted_in"}}})
	require.Equal(t, http.StatusOK, s.get("/v1/customers/c_1/preferences?history=1", &p))
	var emailHistory []string
	for _, e := range p["history"].(map[string]any)["consent"].([]any) {
		e := e.(map[string]any)
		if e["channel"] == "email" {
			emailHistory = append(emailHistory, e["state"].(string)+" via "+e["source"].(string))
		}
	}
	assert.Equal(t, []string{"opted_out via import", "opted_in via api"}, emailHistory)
	first := p["history"].(map[string]any)["consent"].([]any)[0].(map[string]any)
	assert.Equal(t, "198.51.100.7", first["evidence"].(map[string]any)["ip"])

	for _, bad := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"channels": map[string]any{"fax": map[string]any{"consent": "opted_in"}}}, "channels.fax"},
		{map[string]any{"channels": map[string]any{"sms": map[string]any{"consent": "maybe"}}}, "channels.sms.consent"},
		{map[string]any{"channels": map[string]any{"sms": map[string]any{"quiet_hours": map[string]any{"start": "9pm", "end": "08:00"}}}}, "channels.sms.quiet_hours.start"},
		{map[string]any{"time_zone": "Mars/Olympus"}, "time_zone"},
		{map[string]any{"frequency": map[string]any{"caps": []any{map[string]any{"channel": "all", "max": 0, "per": "7d"}}}}, "frequency.caps[0].max"},
		{map[string]any{"channel_order": []any{"sms", "sms"}}, "channel_order[1]"},
	} {
		status, body := s.put("/v1/customers/c_1/preferences", bad.body)
		assert.Equal(t, http.StatusBadRequest, status, "%v", bad.body)
		assert.Equal(t, bad.field, body["field"])
	}

	out, _, err := run("customers", "show", "--api="+s.APIURL, "--api-key="+s.APIKey, "c_1")
	require.NoError(t, err)
	assert.Contains(t, out, "time zone Europe/Paris (from the customer)")
	assert.Regexp(t, `(?m)^sms +opted_in +\S+ \S+ \(import\) +22:00-07:30 \(customer\)$`, out)
	assert.Contains(t, out, "offers: no")
	assert.Contains(t, out, "opted_out via import (IP 198.51.100.7; shown: old shop sign-up form)")
}

func TestUnsubscribe(t *testing.T) {
	s := startStack(t, "../../journeys")
	s.post("/v1/customers", customer("c_1", "ada@example.com"))
	signer, err := s.Signer()
	require.NoError(t, err)
	tok, err := signer.Sign(links.UnsubscribePurpose, links.Unsubscribe{CustomerID: "c_1", Topic: "offers", Channel: "email"}, time.Now().Add(time.Hour))
	require.NoError(t, err)

	// GET only asks.
	resp, err := s.http.Get(s.APIURL + "/unsubscribe/" + tok)
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(page), "Unsubscribe from Offers and vouchers")
	assert.Contains(t, string(page), "Leave all marketing")
	prefs, _ := s.store.GetPreferences(context.Background(), "c_1")
	assert.Empty(t, prefs.Topics, "a GET changes nothing")

	// RFC 8058 one-click.
	resp, err = s.http.Post(s.APIURL+"/unsubscribe/"+tok, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	prefs, _ = s.store.GetPreferences(context.Background(), "c_1")
	assert.False(t, prefs.Topics["offers"].Subscribed)
	assert.Equal(t, "RFC 8058 one-click unsubscribe", prefs.Topics["offers"].Evidence.Shown)
	assert.Len(t, prefs.Topics, 1)

	// The page's other button leaves all marketing.
	resp, err = http.PostForm(s.APIURL+"/unsubscribe/"+tok, url.Values{"action": {"all"}})
	require.NoError(t, err)
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Contains(t, string(page), "you will get no more marketing from us")
	prefs, _ = s.store.GetPreferences(context.Background(), "c_1")
	for _, topic := range []string{"offers", "recommendations", "surveys"} {
		assert.False(t, prefs.Topics[topic].Subscribed, topic)
	}

	// Forged or expired links get a 403 page and change nothing.
	other, _ := links.NewSigner([]byte(strings.Repeat("f", 32)))
	forged, _ := other.Sign(links.UnsubscribePurpose, links.Unsubscribe{CustomerID: "c_1", Topic: "orders"}, time.Now().Add(time.Hour))
	expired, _ := signer.Sign(links.UnsubscribePurpose, links.Unsubscribe{CustomerID: "c_1", Topic: "orders"}, time.Now().Add(-time.Minute))
	for _, bad := range []string{forged, expired, tok + "x"} {
		resp, err := s.http.Post(s.APIURL+"/unsubscribe/"+bad, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	}
	prefs, _ = s.store.GetPreferences(context.Background(), "c_1")
	_, touched := prefs.Topics["orders"]
	assert.False(t, touched)
}

// sendgridSign signs a body as SendGrid's event webhook does: ECDSA P-256
// over timestamp+body, ASN.1 DER, base64.
func sendgridSign(t *testing.T, key *ecdsa.PrivateKey, ts string, body []byte) string {
	h := sha256.Sum256(append([]byte(ts), body...))
	r, sVal, err := ecdsa.Sign(rand.Reader, key, h[:])
	require.NoError(t, err)
	der, err := asn1.Marshal(struct{ R, S *big.Int }{r, sVal})
	require.NoError(t, err)
	return base64.StdEncoding.EncodeToString(der)
}

func TestSendGridWebhook(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	require.NoError(t, err)
	t.Setenv("SENDGRID_WEBHOOK_PUBLIC_KEY", base64.StdEncoding.EncodeToString(pub))
	s := startStack(t, "../../journeys")
	s.post("/v1/customers", customer("c_1", "ada@example.com"))
	s.post("/v1/events", orderPlaced("evt-1", "c_1", false))
	s.waitForRun("rapport/thank-you/c_1/evt-1")
	msgs, _ := s.store.MessagesFor(context.Background(), "c_1")
	require.Len(t, msgs, 1)

	post := func(ts string, body []byte, sig string) int {
		req, _ := http.NewRequest(http.MethodPost, s.APIURL+"/webhooks/sendgrid", bytes.NewReader(body))
		req.Header.Set("X-Twilio-Email-Event-Webhook-Signature", sig)
		req.Header.Set("X-Twilio-Email-Event-Webhook-Timestamp", ts)
		resp, err := s.http.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	now := strconv.FormatInt(time.Now().Unix(), 10)
	delivered, _ := json.Marshal([]map[string]any{{"email": "ada@example.com", "event": "delivered", "sg_event_id": "e1", "timestamp": time.Now().Unix(), "message_id": msgs[0].ID}})
	assert.Equal(t, http.StatusOK, post(now, delivered, sendgridSign(t, key, now, delivered)))
	m, _ := s.store.GetMessage(context.Background(), msgs[0].ID)
	assert.Equal(t, "delivered", m.DeliveryStatus)

	bounce, _ := json.Marshal([]map[string]any{{"email": "ada@example.com", "event": "bounce", "type": "bounce", "reason": "550 no such user", "sg_event_id": "e2", "message_id": msgs[0].ID}})
	forgedKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	assert.Equal(t, http.StatusUnauthorized, post(now, bounce, sendgridSign(t, forgedKey, now, bounce)), "forged")
	assert.Equal(t, http.StatusUnauthorized, post(now, bounce, sendgridSign(t, key, now, delivered)), "signature of another body")
	old := strconv.FormatInt(time.Now().Add(-time.Hour).Unix(), 10)
	assert.Equal(t, http.StatusUnauthorized, post(old, bounce, sendgridSign(t, key, old, bounce)), "replayed an hour later")
	_, err = s.store.Suppressed(context.Background(), "email", "ada@example.com")
	assert.ErrorIs(t, err, store.ErrNotFound, "refused requests change nothing")

	assert.Equal(t, http.StatusOK, post(now, bounce, sendgridSign(t, key, now, bounce)))
	sup, err := s.store.Suppressed(context.Background(), "email", "ada@example.com")
	require.NoError(t, err)
	assert.Equal(t, "hard bounce: 550 no such user", sup.Reason)

	unsub, _ := json.Marshal([]map[string]any{{"email": "ada@example.com", "event": "unsubscribe", "sg_event_id": "e3"}})
	assert.Equal(t, http.StatusOK, post(now, unsub, sendgridSign(t, key, now, unsub)))
	assert.Equal(t, http.StatusOK, post(now, unsub, sendgridSign(t, key, now, unsub)), "a duplicate delivery is acknowledged")
	history, _ := s.store.ConsentHistory(context.Background(), "c_1")
	require.Len(t, history, 1, "and changes nothing twice")
	assert.Equal(t, "opted_out", history[0].State)
}

func TestTwilioWebhooks(t *testing.T) {
	s := startStack(t, "testdata/journeys")
	c := customer("c_1", "ada@example.com")
	c["phone"] = "+44 7911 123456"
	s.post("/v1/customers", c)
	s.post("/v1/events", orderPlaced("evt-1", "c_1", false)) // review-request waits for events

	post := func(path string, form url.Values, token string) int {
		u := s.APIURL + path
		sig := twilioSign(token, u, form)
		req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", sig)
		resp, err := s.http.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	stop := url.Values{"From": {"+447911123456"}, "To": {devTwilioFrom}, "Body": {" stop "}, "MessageSid": {"SM1"}}
	assert.Equal(t, http.StatusUnauthorized, post("/webhooks/twilio/inbound", stop, "not-the-token"))
	_, err := s.store.Suppressed(context.Background(), "sms", "+447911123456")
	assert.ErrorIs(t, err, store.ErrNotFound)

	assert.Equal(t, http.StatusOK, post("/webhooks/twilio/inbound", stop, devTwilioToken))
	assert.Equal(t, http.StatusOK, post("/webhooks/twilio/inbound", stop, devTwilioToken), "a duplicate")
	sup, err := s.store.Suppressed(context.Background(), "sms", "+447911123456")
	require.NoError(t, err)
	assert.Equal(t, "replied STOP", sup.Reason)
	history, _ := s.store.ConsentHistory(context.Background(), "c_1")
	require.Len(t, history, 1)
	assert.Equal(t, "opted_out", history[0].State)

	start := url.Values{"From": {"+447911123456"}, "Body": {"START"}, "MessageSid": {"SM2"}}
	assert.Equal(t, http.StatusOK, post("/webhooks/twilio/inbound", start, devTwilioToken))
	_, err = s.store.Suppressed(context.Background(), "sms", "+447911123456")
	assert.ErrorIs(t, err, store.ErrNotFound)
	history, _ = s.store.ConsentHistory(context.Background(), "c_1")
	assert.Equal(t, "opted_in", history[len(history)-1].State)

	reply := url.Values{"From": {"+447911123456"}, "Body": {"Is the teapot dishwasher safe?"}, "MessageSid": {"SM3"}}
	assert.Equal(t, http.StatusOK, post("/webhooks/twilio/inbound", reply, devTwilioToken))
	e, err := s.store.GetEvent(context.Background(), "sms-SM3-c_1")
	require.NoError(t, err)
	assert.Equal(t, "sms.replied", e.Type)
	assert.Contains(t, string(e.Data), "dishwasher")

	status := url.Values{"MessageSid": {"SM9"}, "MessageStatus": {"delivered"}}
	assert.Equal(t, http.StatusNoContent, post("/webhooks/twilio/status?message_id=00000000-0000-0000-0000-000000000000", status, devTwilioToken))
	assert.Equal(t, http.StatusUnauthorized, post("/webhooks/twilio/status?message_id=x", status, "nope"))
}

func TestLobWebhook(t *testing.T) {
	s := startStack(t, "../../journeys")
	post := func(body []byte, ts, secret string) int {
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(ts + "." + string(body)))
		req, _ := http.NewRequest(http.MethodPost, s.APIURL+"/webhooks/lob", bytes.NewReader(body))
		req.Header.Set("Lob-Signature", hex.EncodeToString(mac.Sum(nil)))
		req.Header.Set("Lob-Signature-Timestamp", ts)
		resp, err := s.http.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	body := []byte(`{"id":"evt_1","event_type":{"id":"postcard.delivered"},"body":{"id":"psc_1","metadata":{"message_id":""}}}`)
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	assert.Equal(t, http.StatusOK, post(body, now, devLobWebhookSecret))
	assert.Equal(t, http.StatusUnauthorized, post(body, now, "wrong secret"))
	old := strconv.FormatInt(time.Now().Add(-time.Hour).UnixMilli(), 10)
	assert.Equal(t, http.StatusUnauthorized, post(body, old, devLobWebhookSecret))
	seen, err := s.store.WebhookSeen(context.Background(), "lob", "evt_1")
	require.NoError(t, err)
	assert.True(t, seen, "the signed event was recorded")
}

// twilioSign signs a request as Twilio does: HMAC-SHA1 with the auth token
// over the URL followed by each POST parameter's name and value, sorted by
// name, base64.
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

// TestEmailOptOutMidWait: two lapsed customers opt out of email while the
// win-back waits its two weeks. Ada gets the postcard and no more email;
// Linus's address cannot take post, and the postcard's email fallback is
// refused, with the reason recorded, rather than sent.
func TestEmailOptOutMidWait(t *testing.T) {
	// A slow day: the opt-outs must come during the two weeks' wait
	// however busy the machine; the test then ends it with skip-wait.
	s := startStack(t, "../../journeys", withDay(slowDay))
	ada := lapsedCustomer("c_ada", "ada@example.com")
	linus := lapsedCustomer("c_linus", "linus@example.com")
	linus["address"].(map[string]any)["line1"] = "1 Undeliverable Lane"
	for _, c := range []map[string]any{ada, linus} {
		status, body := s.post("/v1/customers", c)
		require.Equal(t, http.StatusCreated, status, body)
		s.post("/v1/orders", pastOrder("o-old-"+c["id"].(string), c["id"].(string), 120))
		// The skipped wait brings the postcard within a journey day of
		// the email, where the default daily cap would hold it a day.
		status, body = s.put("/v1/customers/"+c["id"].(string)+"/preferences", map[string]any{
			"frequency": weeklyCap, "evidence": map[string]any{"source": "checkout"}})
		require.Equal(t, http.StatusOK, status, body)
	}
	_, run := s.post("/v1/journeys/lapse-winback/audience-runs", nil)
	require.Len(t, run["runs"], 2)
	s.waitFor("the voucher emails", func() bool {
		return len(s.messagesTo("c_ada")) == 1 && len(s.messagesTo("c_linus")) == 1
	})
	for _, id := range []string{"c_ada", "c_linus"} {
		status, body := s.put("/v1/customers/"+id+"/preferences", map[string]any{
			"channels": map[string]any{"email": map[string]any{"consent": "opted_out"}},
			"evidence": map[string]any{"source": "support", "note": "asked on the phone: no more email"},
		})
		require.Equal(t, http.StatusOK, status, body)
	}

	wid := "rapport/lapse-winback/c_linus/" + run["entry_key"].(string)
	adaWid := "rapport/lapse-winback/c_ada/" + run["entry_key"].(string)
	s.skipWait(adaWid, "wait_for_return")
	s.skipWait(wid, "wait_for_return")
	s.waitFor("the postcard", func() bool { return len(s.messagesTo("c_ada")) == 2 })
	assert.Equal(t, "mail", s.messagesTo("c_ada")[1].Channel)

	var rows []store.Message
	s.waitFor("Linus's postcard step", func() bool {
		rows, _ = s.store.MessagesOfWorkflow(context.Background(), wid)
		return len(rows) == 3
	})
	assert.Equal(t, "email_offer", rows[0].StepID)
	assert.Equal(t, store.MessageSent, rows[0].Status)
	assert.Equal(t, "mail", rows[1].Channel)
	assert.Equal(t, store.MessageFailed, rows[1].Status)
	assert.Contains(t, rows[1].Reason, "undeliverable")
	assert.Equal(t, "email", rows[2].Channel)
	assert.Equal(t, store.MessageSkipped, rows[2].Status)
	assert.Regexp(t, `^opted out of email \(support, \d{4}-\d\d-\d\d\)$`, rows[2].Reason)

	// The journeys wait three weeks for the phone task; a purchase ends them.
	s.post("/v1/events", orderPlaced("evt-ada", "c_ada", false))
	s.post("/v1/events", orderPlaced("evt-linus", "c_linus", false))
	s.waitForRun(wid)
	s.waitForRun(adaWid)
	for _, id := range []string{"c_ada", "c_linus"} {
		for i, m := range s.messagesTo(id) {
			if i > 0 {
				assert.NotEqual(t, "email", m.Channel, "%s got email after opting out: %s", id, m.Subject)
			}
		}
	}
}

func (s *stack) delete(path string) int {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodDelete, s.APIURL+path, nil)
	require.NoError(s.t, err)
	resp, err := s.http.Do(req)
	require.NoError(s.t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// TestManualSuppression: support puts an address on the suppression list;
// even an order's thank-you is then not sent to it, until it is lifted.
func TestManualSuppression(t *testing.T) {
	s := startStack(t, "../../journeys")
	s.post("/v1/customers", customer("c_1", "Ada@Example.com"))
	status, body := s.post("/v1/suppressions", map[string]any{"channel": "email", "address": "ada@example.COM", "reason": "asked on the phone never to be emailed"})
	require.Equal(t, http.StatusCreated, status, body)
	assert.Equal(t, "ada@example.com", body["address"])
	assert.Equal(t, "manual: asked on the phone never to be emailed", body["reason"])
	status, _ = s.post("/v1/suppressions", map[string]any{"channel": "email", "address": "ada@example.com", "reason": "again"})
	assert.Equal(t, http.StatusOK, status, "already there")
	var sup map[string]any
	assert.Equal(t, http.StatusOK, s.get("/v1/suppressions/email/ADA@example.com", &sup))
	assert.Equal(t, "manual: asked on the phone never to be emailed", sup["reason"], "the first reason is kept")

	s.post("/v1/events", orderPlaced("evt-1", "c_1", false))
	s.waitForRun("rapport/thank-you/c_1/evt-1")
	assert.Empty(t, s.outbox())
	msgs, _ := s.store.MessagesFor(context.Background(), "c_1")
	require.Len(t, msgs, 1)
	assert.Equal(t, store.MessageSkipped, msgs[0].Status)
	assert.Equal(t, "the email address is suppressed: manual: asked on the phone never to be emailed", msgs[0].Reason)

	assert.Equal(t, http.StatusNoContent, s.delete("/v1/suppressions/email/ada@example.com"))
	assert.Equal(t, http.StatusNotFound, s.get("/v1/suppressions/email/ada@example.com", nil))
	s.post("/v1/events", orderPlaced("evt-2", "c_1", false))
	s.waitForRun("rapport/thank-you/c_1/evt-2")
	assert.Len(t, s.outbox(), 1, "sent once lifted")

	status, body = s.post("/v1/suppressions", map[string]any{"channel": "sms", "address": "07911 123456", "country": "GB", "reason": "wrong number"})
	require.Equal(t, http.StatusCreated, status, body)
	assert.Equal(t, "+447911123456", body["address"])
	for _, bad := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"channel": "fax", "address": "x", "reason": "r"}, "channel"},
		{map[string]any{"channel": "email", "address": "not an address", "reason": "r"}, "address"},
		{map[string]any{"channel": "sms", "address": "12", "reason": "r"}, "address"},
		{map[string]any{"channel": "email", "address": "a@example.com"}, "reason"},
	} {
		status, body := s.post("/v1/suppressions", bad.body)
		assert.Equal(t, http.StatusBadRequest, status, "%v", bad.body)
		assert.Equal(t, bad.field, body["field"])
	}
}
