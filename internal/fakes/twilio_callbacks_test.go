package fakes

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twilio/twilio-go/client"
)

// callback is a status callback a test endpoint received.
type callback struct {
	status, sid, messageID string
	form                   url.Values
}

// statusEndpoint serves Twilio status callbacks, verified as the API
// verifies them (internal/api verifyTwilio): twilio-go's RequestValidator
// over the URL called and the form. It answers 503 to its first failFirst
// requests, and 403 to a request whose signature does not verify.
type statusEndpoint struct {
	*httptest.Server
	mu        sync.Mutex
	failFirst int
	requests  int
	bad       int
	got       []callback
	arrived   chan struct{}
}

func newStatusEndpoint(t *testing.T, token string, failFirst int) *statusEndpoint {
	e := &statusEndpoint{failFirst: failFirst, arrived: make(chan struct{}, 100)}
	v := client.NewRequestValidator(token)
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.requests++; e.requests <= e.failFirst {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if err := r.ParseForm(); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		params := map[string]string{}
		for k, vs := range r.PostForm {
			params[k] = vs[0]
		}
		if !v.Validate(e.URL+r.URL.RequestURI(), params, r.Header.Get("X-Twilio-Signature")) {
			e.bad++
			w.WriteHeader(http.StatusForbidden)
			return
		}
		e.got = append(e.got, callback{status: r.PostForm.Get("MessageStatus"), sid: r.PostForm.Get("MessageSid"),
			messageID: r.URL.Query().Get("message_id"), form: r.PostForm})
		w.WriteHeader(http.StatusNoContent)
		e.arrived <- struct{}{}
	}))
	t.Cleanup(e.Close)
	return e
}

func (e *statusEndpoint) callbacks() []callback {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]callback(nil), e.got...)
}

// waitFor waits until n verified callbacks have arrived.
func (e *statusEndpoint) waitFor(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(time.Minute)
	for len(e.callbacks()) < n {
		select {
		case <-e.arrived:
		case <-deadline:
			e.mu.Lock()
			defer e.mu.Unlock()
			t.Fatalf("%d of %d status callbacks arrived (%d requests, %d with a bad signature)", len(e.got), n, e.requests, e.bad)
		}
	}
}

// sendSMS sends one text through the Twilio fake and returns its SID.
func sendSMS(t *testing.T, f *Fakes, to, callbackURL string) string {
	t.Helper()
	status, body := twilioPost(f, sid, "tok", url.Values{"To": {to}, "Body": {"hi"}, "From": {"+15005550006"}, "StatusCallback": {callbackURL}})
	require.Equal(t, http.StatusCreated, status, body)
	var m struct{ SID string }
	require.NoError(t, json.Unmarshal([]byte(body), &m))
	require.NotEmpty(t, m.SID)
	return m.SID
}

func TestTwilioFakePostsSignedStatusCallbacks(t *testing.T) {
	f := New(Config{TwilioAccountSID: sid, TwilioAuthToken: "tok"})
	f.Twilio.retry = fastRetry
	f.Twilio.PostStatusCallbacks(true)
	t.Cleanup(func() { f.Twilio.PostStatusCallbacks(false) })
	hook := newStatusEndpoint(t, "tok", 2) // the first two posts meet an outage
	smsSID := sendSMS(t, f, "+447911123456", hook.URL+"/webhooks/twilio/status?message_id=m-1")

	hook.waitFor(t, 2)
	got := hook.callbacks()
	require.Len(t, got, 2)
	assert.Equal(t, "sent", got[0].status, "sent comes first")
	assert.Equal(t, "delivered", got[1].status)
	for _, c := range got {
		assert.Equal(t, smsSID, c.sid)
		assert.Equal(t, "m-1", c.messageID, "the callback URL is called as given")
		assert.Equal(t, smsSID, c.form.Get("SmsSid"))
		assert.Equal(t, sid, c.form.Get("AccountSid"))
		assert.Equal(t, "+15005550006", c.form.Get("From"))
		assert.Equal(t, "+447911123456", c.form.Get("To"))
		assert.Equal(t, c.status, c.form.Get("SmsStatus"))
		assert.Equal(t, "2010-04-01", c.form.Get("ApiVersion"))
	}
	hook.mu.Lock()
	assert.Equal(t, 4, hook.requests, "two refused, then sent and delivered once each")
	assert.Zero(t, hook.bad, "every signature verifies")
	hook.mu.Unlock()

	// The signature is the auth token's: another token does not verify it.
	form := url.Values{"MessageSid": {smsSID}, "MessageStatus": {"sent"}}
	sig := twilioSignature("tok", hook.URL+"/x", form)
	v, other := client.NewRequestValidator("tok"), client.NewRequestValidator("not-the-token")
	params := map[string]string{"MessageSid": smsSID, "MessageStatus": "sent"}
	assert.True(t, v.Validate(hook.URL+"/x", params, sig))
	assert.False(t, other.Validate(hook.URL+"/x", params, sig))
	assert.False(t, v.Validate(hook.URL+"/y", params, sig), "the URL is signed")
}

func TestTwilioFakePostsNoStatusCallbacksWhenOff(t *testing.T) {
	f := New(Config{TwilioAccountSID: sid, TwilioAuthToken: "tok"})
	f.Twilio.retry = fastRetry
	hook := newStatusEndpoint(t, "tok", 0)
	quiet := sendSMS(t, f, "+447911123456", hook.URL+"/status?message_id=off")

	f.Twilio.PostStatusCallbacks(true)
	t.Cleanup(func() { f.Twilio.PostStatusCallbacks(false) })
	loud := sendSMS(t, f, "+447911123457", hook.URL+"/status?message_id=on")
	hook.waitFor(t, 2)
	for _, c := range hook.callbacks() {
		assert.Equal(t, loud, c.sid, "only the message sent with callbacks on is reported")
		assert.NotEqual(t, quiet, c.sid)
	}

	// Off again: nothing more, while the sends are still accepted.
	f.Twilio.PostStatusCallbacks(false)
	sendSMS(t, f, "+447911123458", hook.URL+"/status?message_id=off-again")
	f.Twilio.PostStatusCallbacks(true)
	last := sendSMS(t, f, "+447911123459", hook.URL+"/status?message_id=on-again")
	hook.waitFor(t, 4)
	got := hook.callbacks()
	require.Len(t, got, 4)
	assert.Equal(t, last, got[2].sid)
	assert.Equal(t, last, got[3].sid)
}
