package fakes

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
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
// Stop are opted out (21610) as if the person had replied STOP. With
// PostStatusCallbacks it also posts Twilio's signed status callbacks for
// what it accepts.
type Twilio struct {
	accountSID, authToken string
	rec                   *Recorder
	Failures              Failures
	mu                    sync.Mutex
	stopped               map[string]bool
	sent                  []twilioSent
	callbacks             *hookSender // nil: status callbacks off
	// retry is how status callbacks are retried (tests shorten it).
	retry hookRetry
}

// twilioSent is a message the fake accepted, for listing.
type twilioSent struct {
	sid, to, from, service, body string
	at                           time.Time
}

// NewTwilio returns a Twilio fake accepting those credentials.
func NewTwilio(accountSID, authToken string, rec *Recorder) *Twilio {
	return &Twilio{accountSID: accountSID, authToken: authToken, rec: rec, stopped: map[string]bool{}, retry: providerRetry()}
}

// PostStatusCallbacks turns Twilio's status callbacks on or off. When on,
// for every message the fake accepts with a StatusCallback URL it posts
// that URL, in the background, MessageStatus=sent and then
// MessageStatus=delivered, form-encoded with the fields Twilio sends
// (MessageSid, SmsSid, AccountSid, From and/or MessagingServiceSid, To,
// MessageStatus, SmsStatus, ApiVersion) and signed as Twilio signs: the
// X-Twilio-Signature header is the base64 HMAC-SHA1, keyed with the auth
// token, of the URL followed by each parameter's name and value, sorted
// by name. A post that fails (no answer, or not a 2xx) is retried as the
// SendGrid fake retries its event webhook (see SendGrid.PostEvents).
// Turning callbacks off ends the retries still under way.
func (f *Twilio) PostStatusCallbacks(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.callbacks != nil {
		f.callbacks.close()
		f.callbacks = nil
	}
	if on {
		f.callbacks = newHookSender(f.retry)
	}
}

// postStatus posts the status callbacks of an accepted message to cb when
// callbacks are on.
func (f *Twilio) postStatus(cb, sid, to, from, service string) {
	f.mu.Lock()
	h := f.callbacks
	f.mu.Unlock()
	if h == nil || cb == "" {
		return
	}
	post := func(status string) func() error {
		form := url.Values{
			"MessageSid": {sid}, "SmsSid": {sid}, "AccountSid": {f.accountSID}, "To": {to},
			"MessageStatus": {status}, "SmsStatus": {status}, "ApiVersion": {"2010-04-01"},
		}
		if from != "" {
			form.Set("From", from)
		}
		if service != "" {
			form.Set("MessagingServiceSid", service)
		}
		body, sig := form.Encode(), twilioSignature(f.authToken, cb, form)
		return func() error {
			req, err := http.NewRequest(http.MethodPost, cb, strings.NewReader(body))
			if err != nil {
				return fmt.Errorf("Twilio status callback: %w", err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-Twilio-Signature", sig)
			return h.do(req)
		}
	}
	h.send(post("sent"), post("delivered"))
}

// twilioSignature is X-Twilio-Signature for a POST of form to u: the
// base64 HMAC-SHA1, keyed with the auth token, of u followed by every
// parameter's name and first value, in the order of the names.
func twilioSignature(authToken, u string, form url.Values) string {
	var b strings.Builder
	b.WriteString(u)
	for _, k := range slices.Sorted(maps.Keys(form)) {
		b.WriteString(k)
		b.WriteString(form.Get(k))
	}
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
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
	if r.Method == http.MethodGet {
		f.list(w, r)
		return
	}
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
	f.mu.Lock()
	f.sent = append(f.sent, twilioSent{sid: sid, to: to, from: from, service: service, body: body, at: now})
	f.mu.Unlock()
	f.postStatus(form.Get("StatusCallback"), sid, to, from, service)
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

// list serves GET /2010-04-01/Accounts/{sid}/Messages.json as the API
// describes it: filtered by To, From, DateSent (that UTC day), DateSent<
// (on or before that day) and DateSent> (on or after), newest first, paged
// by PageSize (default 50, at most 1000) and Page, each message as sent
// (status delivered, date_sent set).
func (f *Twilio) list(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if !ok || user != f.accountSID || pass != f.authToken {
		f.fail(w, http.StatusUnauthorized, 20003, "Authenticate")
		return
	}
	if sid := r.PathValue("sid"); sid != f.accountSID {
		f.fail(w, http.StatusNotFound, 20404, fmt.Sprintf("The requested resource /2010-04-01/Accounts/%s/Messages.json was not found", sid))
		return
	}
	q := r.URL.Query()
	day := func(name string) (time.Time, bool, bool) {
		v := q.Get(name)
		if v == "" {
			return time.Time{}, false, true
		}
		for _, layout := range []string{time.RFC3339, "2006-01-02"} {
			if t, err := time.Parse(layout, v); err == nil {
				t = t.UTC()
				return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC), true, true
			}
		}
		return time.Time{}, false, false
	}
	on, hasOn, ok1 := day("DateSent")
	before, hasBefore, ok2 := day("DateSent<")
	after, hasAfter, ok3 := day("DateSent>")
	if !ok1 || !ok2 || !ok3 {
		f.fail(w, http.StatusBadRequest, 20001, "DateSent must be a date (YYYY-MM-DD) or a date-time")
		return
	}
	size, page := 50, 0
	if v := q.Get("PageSize"); v != "" {
		if size = atoiOr(v, -1); size < 1 || size > 1000 {
			f.fail(w, http.StatusBadRequest, 20001, "PageSize must be between 1 and 1000")
			return
		}
	}
	if v := q.Get("Page"); v != "" {
		if page = atoiOr(v, -1); page < 0 {
			f.fail(w, http.StatusBadRequest, 20001, "Page must be a number")
			return
		}
	}
	f.mu.Lock()
	var match []twilioSent
	for i := len(f.sent) - 1; i >= 0; i-- {
		m := f.sent[i]
		d := time.Date(m.at.Year(), m.at.Month(), m.at.Day(), 0, 0, 0, 0, time.UTC)
		switch {
		case q.Get("To") != "" && m.to != q.Get("To"), q.Get("From") != "" && m.from != q.Get("From"),
			hasOn && !d.Equal(on), hasBefore && d.After(before), hasAfter && d.Before(after):
			continue
		}
		match = append(match, m)
	}
	f.mu.Unlock()
	base := fmt.Sprintf("/2010-04-01/Accounts/%s/Messages.json", f.accountSID)
	pageURI := func(p int) string {
		v := url.Values{}
		for k, vs := range q {
			if k != "Page" && k != "PageToken" {
				v[k] = vs
			}
		}
		v.Set("PageSize", fmt.Sprint(size))
		v.Set("Page", fmt.Sprint(p))
		return base + "?" + v.Encode()
	}
	start := min(page*size, len(match))
	end := min(start+size, len(match))
	msgs := []map[string]any{}
	for _, m := range match[start:end] {
		msgs = append(msgs, map[string]any{
			"sid": m.sid, "account_sid": f.accountSID, "to": m.to, "from": nilIfEmpty(m.from), "messaging_service_sid": nilIfEmpty(m.service),
			"body": m.body, "status": "delivered", "direction": "outbound-api", "api_version": "2010-04-01", "num_media": "0",
			"num_segments": fmt.Sprint((len([]rune(m.body))-1)/153 + 1), "price": nil, "price_unit": "USD",
			"date_created": m.at.Format(time.RFC1123Z), "date_updated": m.at.Format(time.RFC1123Z), "date_sent": m.at.Format(time.RFC1123Z),
			"error_code": nil, "error_message": nil, "uri": fmt.Sprintf("%s/Messages/%s.json", strings.TrimSuffix(base, "/Messages.json"), m.sid),
		})
	}
	var next, prev any
	if end < len(match) {
		next = pageURI(page + 1)
	}
	if page > 0 {
		prev = pageURI(page - 1)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"messages": msgs, "page": page, "page_size": size, "start": start, "end": max(end-1, start),
		"uri": r.URL.RequestURI(), "first_page_uri": pageURI(0), "next_page_uri": next, "previous_page_uri": prev,
	})
}
