//go:build !production

package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/channels/webhook"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

// dedupReceiver is a webhook receiver as Standard Webhooks asks one to
// be: it verifies each delivery's signature and deduplicates by
// webhook-id, acting on each message once. Its first answer is a 503
// after it has acted on the message (a gateway failing after the
// receiver took it: the sender cannot know).
type dedupReceiver struct {
	secret string
	mu     sync.Mutex
	// deliveries are every request's webhook-id, in order; refused the
	// ones whose signature did not verify.
	deliveries []string
	refused    []string
	// acted counts what the receiver did per message id, and bodies the
	// body it acted on.
	acted  map[string]int
	bodies map[string]map[string]any
}

func (r *dedupReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	id := req.Header.Get("webhook-id")
	r.mu.Lock()
	defer r.mu.Unlock()
	r.deliveries = append(r.deliveries, id)
	if err := webhook.Verify(r.secret, req.Header, body, time.Now()); err != nil {
		r.refused = append(r.refused, id+": "+err.Error())
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	if r.acted[id] == 0 {
		var v map[string]any
		if err := json.Unmarshal(body, &v); err != nil {
			r.refused = append(r.refused, id+": body: "+err.Error())
			http.Error(w, "not JSON", http.StatusBadRequest)
			return
		}
		r.bodies[id] = v
	}
	r.acted[id]++ // verified deliveries per id: the receiver acts on an id's first only
	if len(r.deliveries) == 1 {
		http.Error(w, "upstream failed", http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (r *dedupReceiver) snapshot() (deliveries, refused []string, acted map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	acted = map[string]int{}
	for k, v := range r.acted {
		acted[k] = v
	}
	return append([]string(nil), r.deliveries...), append([]string(nil), r.refused...), acted
}

// dyingTransport stands for a worker process killed mid-call: on its
// second request it delivers the message and reads the receiver's answer,
// then never returns (ignoring its context, as a dead process records
// nothing), until the test ends.
type dyingTransport struct {
	next     http.RoundTripper
	requests atomic.Int32
	died     chan struct{}
	release  chan struct{}
}

func (d *dyingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := d.next.RoundTrip(req)
	if d.requests.Add(1) != 2 || err != nil {
		return resp, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	close(d.died)
	<-d.release
	return nil, fmt.Errorf("the worker was killed")
}

// TestWebhookIsReceivedOnceAcrossA5xxAndAWorkerKill, on the Temporal dev
// server and PostgreSQL: a journey's webhook step posts its JSON body,
// signed, to a receiver that deduplicates by webhook-id. The first post
// is answered 503 after the receiver took it (in doubt: sent again with
// the same id); on the second, the worker dies after the receiver took it
// and before the outcome was recorded (the row stays "sending"), and a new
// worker takes the attempt over once Temporal times the dead one out. The
// receiver gets at least three deliveries, all with the outbox message's
// id and a valid signature, and acts on the message once; the outbox says
// sent, and the run completes. The worker here dies in the same process;
// TestWebhookOnceAcrossA5xxAndAKilledWorkerProcess SIGKILLs a real
// worker process (a long test).
func TestWebhookIsReceivedOnceAcrossA5xxAndAWorkerKill(t *testing.T) {
	key := make([]byte, 32)
	_, err := rand.Read(key)
	require.NoError(t, err)
	secret := "whsec_" + base64.StdEncoding.EncodeToString(key)
	recv := &dedupReceiver{secret: secret, acted: map[string]int{}, bodies: map[string]map[string]any{}}
	srv := httptest.NewServer(recv)
	t.Cleanup(srv.Close)

	eps, err := json.Marshal([]map[string]any{{"name": "orders-feed", "url": srv.URL + "/in", "secret": secret, "timeout": "5s", "contacts_customer": false}})
	require.NoError(t, err)
	t.Setenv("RAPPORT_WEBHOOK_ENDPOINTS", string(eps))

	dir := webhookJourney(t, `{"customer": {{json .Customer.ID}}, "name": {{json .Customer.Name}}{{with .Order}}, "order": {{json .ID}}, "items": {{len .Items}}{{end}}}`)

	dying := &dyingTransport{died: make(chan struct{}), release: make(chan struct{})}
	s := startStack(t, dir, func(o *devOptions) {
		o.WebhookTransport = func(next http.RoundTripper) http.RoundTripper { dying.next = next; return dying }
	})
	var stopped sync.WaitGroup
	t.Cleanup(func() { close(dying.release); stopped.Wait() })

	status, body := s.post("/v1/customers", customer("c_1", "ada@example.com"))
	require.Equal(t, http.StatusCreated, status, body)
	status, body = s.post("/v1/events", orderPlaced("evt-1", "c_1", false))
	require.Equal(t, http.StatusAccepted, status, body)
	const id = "rapport/order-hook/c_1/evt-1"

	// The worker dies on its second post; a new one takes its place. (The
	// old one's Stop waits for the dead attempt, so it runs aside.)
	select {
	case <-dying.died:
	case <-time.After(patience):
		t.Fatal("the second post never came")
	}
	dead := s.Worker
	stopped.Add(1)
	go func() { defer stopped.Done(); dead.Stop() }()
	s.Worker = s.NewWorker()
	require.NoError(t, s.Worker.Start())

	res := s.waitForRun(id)
	assert.Equal(t, workflows.Completed, res.Outcome, res.Reason)

	msgs, err := s.store.MessagesOfWorkflow(context.Background(), id)
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	m := msgs[0]
	assert.Equal(t, "webhook", m.Channel)
	assert.Equal(t, store.MessageSent, m.Status, m.Reason)
	assert.Equal(t, "orders-feed", m.Recipient)
	assert.Equal(t, "webhook", m.Provider)
	assert.Equal(t, m.ID, m.ProviderMessageID)
	assert.GreaterOrEqual(t, m.Attempts, 3, "posted after the 503 and after the kill")

	deliveries, refused, acted := recv.snapshot()
	assert.Empty(t, refused, "every delivery is signed")
	require.GreaterOrEqual(t, len(deliveries), 3)
	for _, d := range deliveries {
		assert.Equal(t, m.ID, d, "every delivery carries the outbox id as webhook-id")
	}
	assert.Equal(t, map[string]int{m.ID: len(deliveries)}, acted, "one message, acted on once")
	recv.mu.Lock()
	assert.Equal(t, map[string]any{"customer": "c_1", "name": "Ada Lovelace", "order": "o-evt-1", "items": float64(2)}, recv.bodies[m.ID])
	recv.mu.Unlock()
}
