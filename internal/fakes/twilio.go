package fakes

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/nyaruka/phonenumbers"
)

// Twilio fakes POST /2010-04-01/Accounts/{sid}/Messages.json. It requires
// HTTP Basic auth with the account SID and auth token, a form-encoded body
// with To, Body and From or MessagingServiceSid, validates the number,
// answers with Twilio's message resource (201) or its error shape
// {code, message, more_info, status}, and records accepted messages.
//
// Twilio's magic test numbers fail as they do with test credentials:
// +15005550001 invalid (21211), +15005550002 cannot route (21612),
// +15005550003 no international permission (21408), +15005550004 opted
// out (21610), +15005550009 not a mobile number (21614). Numbers passed to
// Stop are opted out (21610) as if the person had replied STOP.
type Twilio struct {
	accountSID, authToken string
	rec                   *Recorder
	Failures              Failures
	mu                    sync.Mutex
	stopped               map[string]bool
}

// NewTwilio returns a Twilio fake accepting those credentials.
func NewTwilio(accountSID, authToken string, rec *Recorder) *Twilio {
	return &Twilio{accountSID: accountSID, authToken: authToken, rec: rec, stopped: map[string]bool{}}
}

// Stop makes the fake refuse a number as one that replied STOP.
func (f *Twilio) Stop(number string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopped[number] = true
}

var twilioMagic = map[string]struct {
	code   int
	status int
	msg    string
}{
	"+15005550001": {21211, 400, "The 'To' number +15005550001 is not a valid phone number."},
	"+15005550002": {21612, 400, "The 'To' phone number is not currently reachable via SMS."},
	"+15005550003": {21408, 400, "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: +15005550003."},
	"+15005550004": {21610, 400, "Attempt to send to unsubscribed recipient"},
	"+15005550009": {21614, 400, "'To' number is not a valid mobile number"},
}

func (f *Twilio) fail(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, map[string]any{
		"code": code, "message": msg, "status": status,
		"more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code),
	})
}

func (f *Twilio) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		f.fail(w, http.StatusMethodNotAllowed, 20004, "Method not allowed")
		return
	}
	user, pass, ok := r.BasicAuth()
	if !ok || user != f.accountSID || pass != f.authToken {
		f.fail(w, http.StatusUnauthorized, 20003, "Authenticate")
		return
	}
	if sid := r.PathValue("sid"); sid != f.accountSID {
		f.fail(w, http.StatusNotFound, 20404, fmt.Sprintf("The requested resource /2010-04-01/Accounts/%s/Messages.json was not found", sid))
		return
	}
	if status, ok := f.Failures.next(); ok {
		code := 20500
		if status == http.StatusTooManyRequests {
			code = 20429
		} else if status < 500 {
			code = 21211
		}
		f.fail(w, status, code, fmt.Sprintf("forced failure %d", status))
		return
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		f.fail(w, http.StatusBadRequest, 21600, "The request must be form-encoded")
		return
	}
	if err := r.ParseForm(); err != nil {
		f.fail(w, http.StatusBadRequest, 21600, "The request body could not be read")
		return
	}
	form := r.PostForm
	to, body, from, service := form.Get("To"), form.Get("Body"), form.Get("From"), form.Get("MessagingServiceSid")
	switch {
	case to == "":
		f.fail(w, http.StatusBadRequest, 21604, "A 'To' phone number is required.")
		return
	case body == "" && form.Get("MediaUrl") == "" && form.Get("ContentSid") == "":
		f.fail(w, http.StatusBadRequest, 21602, "Message body is required.")
		return
	case from == "" && service == "":
		f.fail(w, http.StatusBadRequest, 21603, "A 'From' phone number is required.")
		return
	case service != "" && !(strings.HasPrefix(service, "MG") && len(service) == 34):
		f.fail(w, http.StatusBadRequest, 21701, "The Messaging Service Sid "+service+" is invalid.")
		return
	case len([]rune(body)) > 1600:
		f.fail(w, http.StatusBadRequest, 21617, "The concatenated message body exceeds the 1600 character limit.")
		return
	}
	if cb := form.Get("StatusCallback"); cb != "" {
		if u, err := url.Parse(cb); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			f.fail(w, http.StatusBadRequest, 21609, "The StatusCallback URL "+cb+" is not a valid URL.")
			return
		}
	}
	if m, ok := twilioMagic[to]; ok {
		f.fail(w, m.status, m.code, m.msg)
		return
	}
	if n, err := phonenumbers.Parse(to, ""); err != nil || !strings.HasPrefix(to, "+") || !phonenumbers.IsValidNumber(n) {
		f.fail(w, http.StatusBadRequest, 21211, fmt.Sprintf("The 'To' number %s is not a valid phone number.", to))
		return
	}
	f.mu.Lock()
	stopped := f.stopped[to]
	f.mu.Unlock()
	if stopped {
		f.fail(w, http.StatusBadRequest, 21610, "Attempt to send to unsubscribed recipient")
		return
	}

	sid := "SM" + randomHex(16)
	now := time.Now().UTC()
	m := Message{Channel: "sms", To: to, Text: body, Provider: "twilio", ProviderMessageID: sid, SentAt: now, Headers: map[string]string{}}
	if cb, err := url.Parse(form.Get("StatusCallback")); err == nil {
		m.MessageID = cb.Query().Get("message_id")
	}
	f.rec.add(m)
	writeJSON(w, http.StatusCreated, map[string]any{
		"sid": sid, "account_sid": f.accountSID, "to": to, "from": nilIfEmpty(from), "messaging_service_sid": nilIfEmpty(service),
		"body": body, "status": "queued", "num_segments": fmt.Sprint((len([]rune(body))-1)/153 + 1), "num_media": "0",
		"direction": "outbound-api", "api_version": "2010-04-01", "price": nil, "price_unit": "USD",
		"date_created": now.Format(time.RFC1123Z), "date_updated": now.Format(time.RFC1123Z), "date_sent": nil,
		"error_code": nil, "error_message": nil,
		"uri": fmt.Sprintf("/2010-04-01/Accounts/%s/Messages/%s.json", f.accountSID, sid),
	})
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
