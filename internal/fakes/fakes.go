// Package fakes serves HTTP fakes of the providers Rapport calls: SendGrid's
// mail send API, Twilio's Messages API and Lob's letters and postcards. They check requests as
// strictly as the real APIs, record every accepted message, and can be told
// to fail, so dev mode and tests exercise the real client libraries over
// HTTP. Like the real providers they can report deliveries: the SendGrid
// fake posts signed event webhooks (SendGrid.PostEvents) and the Twilio
// fake signed status callbacks (Twilio.PostStatusCallbacks), retried for
// a while when the receiver fails.
package fakes

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Message is a message a fake accepted, in one shape for every channel.
type Message struct {
	Channel    string `json:"channel"`
	To         string `json:"to"`
	CustomerID string `json:"customer_id"`
	Journey    string `json:"journey"`
	Step       string `json:"step"`
	Subject    string `json:"subject"`
	Text       string `json:"text"`
	HTML       string `json:"html"`
	// Back is a postcard's back, as HTML (HTML is then its front).
	Back              string            `json:"back,omitempty"`
	Headers           map[string]string `json:"headers"`
	SentAt            time.Time         `json:"sent_at"`
	Provider          string            `json:"provider"`
	ProviderMessageID string            `json:"provider_message_id"`
	// MessageID is Rapport's outbox id, when the request carried it.
	MessageID string `json:"message_id,omitempty"`
	// Seq numbers the messages in the order the fakes accepted them, from 1.
	Seq int `json:"seq"`
}

// Recorder keeps what the fakes accepted. It is safe for concurrent use.
type Recorder struct {
	mu       sync.Mutex
	messages []Message
}

func (r *Recorder) add(m Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m.Seq = len(r.messages) + 1
	r.messages = append(r.messages, m)
}

// Messages returns every accepted message, newest first.
func (r *Recorder) Messages() []Message { return r.After(0) }

// After returns the messages accepted after the one numbered seq, newest
// first.
func (r *Recorder) After(seq int) []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := slices.Clone(r.messages[min(max(seq, 0), len(r.messages)):])
	slices.Reverse(out)
	return out
}

// Failures is a queue of forced answers: the next requests get these HTTP
// statuses instead of being processed.
type Failures struct {
	mu    sync.Mutex
	queue []int
}

// Add queues status for the next n requests.
func (f *Failures) Add(status, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		f.queue = append(f.queue, status)
	}
}

func (f *Failures) next() (int, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.queue) == 0 {
		return 0, false
	}
	s := f.queue[0]
	f.queue = f.queue[1:]
	return s, true
}

// Fakes bundles every provider fake behind one handler.
type Fakes struct {
	Recorder *Recorder
	SendGrid *SendGrid
	Twilio   *Twilio
	Lob      *Lob
	mux      *http.ServeMux
}

// Config holds the credentials the fakes accept.
type Config struct {
	SendGridAPIKey   string
	TwilioAccountSID string
	TwilioAuthToken  string
	LobAPIKey        string
}

// New returns the fakes. The handler serves each provider's API paths.
func New(cfg Config) *Fakes {
	rec := &Recorder{}
	f := &Fakes{
		Recorder: rec,
		SendGrid: NewSendGrid(cfg.SendGridAPIKey, rec),
		Twilio:   NewTwilio(cfg.TwilioAccountSID, cfg.TwilioAuthToken, rec),
		Lob:      NewLob(cfg.LobAPIKey, rec),
		mux:      http.NewServeMux(),
	}
	f.mux.Handle("/v3/mail/send", f.SendGrid)
	f.mux.Handle("/2010-04-01/Accounts/{sid}/Messages.json", f.Twilio)
	f.mux.Handle("/v1/letters", f.Lob)
	f.mux.Handle("/v1/postcards", f.Lob)
	f.mux.HandleFunc("POST /_fakes/{provider}/fail", f.handleFail)
	f.mux.HandleFunc("POST /_fakes/twilio/stop", func(w http.ResponseWriter, r *http.Request) {
		f.Twilio.Stop(r.URL.Query().Get("number"))
		w.WriteHeader(http.StatusNoContent)
	})
	return f
}

// StopWebhooks turns off the delivery webhooks of every fake and ends
// their retries still under way, for when the receiver goes away.
func (f *Fakes) StopWebhooks() {
	f.SendGrid.PostEvents("", nil)
	f.Twilio.PostStatusCallbacks(false)
}

// ServeHTTP serves the providers' APIs.
func (f *Fakes) ServeHTTP(w http.ResponseWriter, r *http.Request) { f.mux.ServeHTTP(w, r) }

// handleFail lets a person make a fake fail from the command line in dev
// mode: POST /_fakes/sendgrid/fail?status=500&times=2 (sendgrid, twilio or
// lob).
func (f *Fakes) handleFail(w http.ResponseWriter, r *http.Request) {
	status, times := atoiOr(r.URL.Query().Get("status"), 500), atoiOr(r.URL.Query().Get("times"), 1)
	if status < 400 || status > 599 || times < 1 || times > 1000 {
		http.Error(w, "status must be 400-599 and times 1-1000", http.StatusBadRequest)
		return
	}
	switch r.PathValue("provider") {
	case "sendgrid":
		f.SendGrid.Failures.Add(status, times)
	case "twilio":
		f.Twilio.Failures.Add(status, times)
	case "lob":
		f.Lob.Failures.Add(status, times)
	default:
		http.Error(w, "unknown provider; use sendgrid, twilio or lob", http.StatusNotFound)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func atoiOr(s string, def int) int {
	n := 0
	if s == "" {
		return def
	}
	for _, c := range s {
		if c < '0' || c > '9' || n > 1e6 {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
