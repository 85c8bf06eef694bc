//go:build !production

package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

// verifyStandardWebhook checks a delivery as the Standard Webhooks
// specification says, written from the specification rather than with
// package webhook, so that the sender is checked against the spec and not
// against itself: the signed content is "{webhook-id}.{webhook-timestamp}.{body}",
// the key the bytes of the base64 after "whsec_", the header one or more
// space-separated "v1,<base64 of HMAC-SHA256>", and the timestamp within
// five minutes of now.
func verifyStandardWebhook(secret string, h http.Header, body []byte, now time.Time) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return fmt.Errorf("secret: %w", err)
	}
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return errors.New("webhook-id, webhook-timestamp or webhook-signature missing")
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("webhook-timestamp %q is not seconds", ts)
	}
	if d := now.Sub(time.Unix(secs, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return fmt.Errorf("webhook-timestamp is %s from now", d)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := []byte("v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	for _, sig := range strings.Fields(sigs) {
		if hmac.Equal([]byte(sig), want) {
			return nil
		}
	}
	return fmt.Errorf("no signature of %q matches", sigs)
}

// delivery is one request the receiver got.
type delivery struct {
	id     string
	order  string // the body's order id: which message it is, whatever its webhook-id
	body   string
	valid  error  // the signature check's error, nil when it verified
	answer string // what the receiver did: 503, held, 2xx new, 2xx duplicate
}

// killReceiver is a webhook receiver as Standard Webhooks asks one to be:
// it verifies every delivery's signature and deduplicates by webhook-id.
// It stages a worker kill in the middle of a send: it answers 503 to each
// message's first delivery; takes the first later delivery it gets (it
// records the message, as a receiver that acts and then answers) and
// holds the answer until the sender has gone, while the test kills the
// worker process; and until then answers 503 to everything else, so that
// no 2xx ever reaches the process that is killed. After the kill it
// answers 2xx: to a new id having taken it, to a taken id without taking
// it again.
type killReceiver struct {
	secret string

	mu         sync.Mutex
	deliveries []delivery
	taken      map[string]string // webhook-id → the body taken, once per id
	ok         map[string]int    // webhook-id → 2xx answers
	heldID     string            // the id whose delivery is held, once one is
	holding    int               // deliveries held now
	killing    bool              // the test is killing the worker process
	killed     bool              // a held delivery ended because its sender was killed
	// held is told each time a delivery is held; quit ends a hold when the
	// test ends early.
	held chan struct{}
	quit chan struct{}
}

func newKillReceiver(secret string) *killReceiver {
	return &killReceiver{secret: secret, taken: map[string]string{}, ok: map[string]int{},
		held: make(chan struct{}, 64), quit: make(chan struct{})}
}

func (r *killReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	d := delivery{id: req.Header.Get("webhook-id"), body: string(body), valid: verifyStandardWebhook(r.secret, req.Header, body, time.Now())}
	var v struct {
		Order string `json:"order"`
	}
	if err := json.Unmarshal(body, &v); err == nil {
		d.order = v.Order
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	first := true
	for _, prev := range r.deliveries {
		first = first && prev.id != d.id
	}
	switch {
	case d.valid != nil:
		d.answer = "401"
		http.Error(w, d.valid.Error(), http.StatusUnauthorized)
	case first:
		d.answer = "503"
		http.Error(w, "upstream failed", http.StatusServiceUnavailable)
	case !r.killed && (r.heldID == "" || r.heldID == d.id):
		d.answer = "held"
		r.deliveries = append(r.deliveries, d)
		r.hold(req.Context(), d)
		return
	case !r.killed:
		d.answer = "503"
		http.Error(w, "upstream failed", http.StatusServiceUnavailable)
	default:
		d.answer = "2xx duplicate"
		if _, ok := r.taken[d.id]; !ok {
			r.taken[d.id] = d.body
			d.answer = "2xx new"
		}
		r.ok[d.id]++
		w.WriteHeader(http.StatusNoContent)
	}
	r.deliveries = append(r.deliveries, d)
}

// hold takes the delivery and answers nothing until its sender has gone
// (the request's context ends when the connection closes). Called with
// r.mu held; returns with it held. A hold that ends before the test began
// to kill the worker (the sender's own timeout) leaves the next delivery
// of the id to be held again.
func (r *killReceiver) hold(ctx context.Context, d delivery) {
	r.heldID = d.id
	r.holding++
	if _, ok := r.taken[d.id]; !ok {
		r.taken[d.id] = d.body
	}
	r.held <- struct{}{}
	r.mu.Unlock()
	select {
	case <-ctx.Done():
	case <-r.quit:
	}
	r.mu.Lock()
	r.holding--
	if r.killing {
		r.killed = true
	}
}

// armKill says whether a delivery is held now, and if so marks that the
// test kills its sender.
func (r *killReceiver) armKill() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.killing = r.holding > 0
	return r.killing
}

// killedMidSend says whether the held delivery ended with the kill.
func (r *killReceiver) killedMidSend() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.killed
}

// buildRapport builds this module's rapport binary into a temporary
// folder, for tests that run its commands as processes.
func buildRapport(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "rapport")
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/rapporthq/rapport/cmd/rapport").CombinedOutput()
	require.NoError(t, err, "build rapport: %s", out)
	return bin
}

// sigkill kills a worker process with SIGKILL and waits until it is gone.
func sigkill(t *testing.T, w *benchWorker) {
	t.Helper()
	require.NoError(t, w.cmd.Process.Signal(syscall.SIGKILL))
	err := <-w.exited
	w.exited <- err // for stop, in the cleanup
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "%s exited: %s", w.name, logTail(w.logPath))
	status, ok := exit.Sys().(syscall.WaitStatus)
	require.True(t, ok)
	require.Equal(t, syscall.SIGKILL, status.Signal(), "%s was killed, not stopped", w.name)
}

// TestWebhookOnceAcrossA5xxAndAKilledWorkerProcess, on the Temporal dev
// server and PostgreSQL, with the worker a separate `rapport worker`
// process built from this module: three customers' order journeys each
// send a webhook to a receiver that verifies every signature from the
// spec and deduplicates by webhook-id. Each message's first delivery is
// answered 503; the first retry is taken by the receiver and held, and
// the test SIGKILLs the worker process while it waits for the answer;
// until then every other delivery is answered 503. A new worker process
// then finishes the journeys. Every message reaches the receiver, every
// delivery is signed, each message carries one webhook-id on every
// delivery (the outbox row's id, also after the kill, so the receiver
// acts on it once), each id is answered 2xx once, and every outbox row
// ends sent.
func TestWebhookOnceAcrossA5xxAndAKilledWorkerProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds rapport and runs worker processes through a SIGKILL and the send activity's 30s timeout; skipped with -short")
	}
	bin := buildRapport(t)
	key := make([]byte, 32)
	_, err := rand.Read(key)
	require.NoError(t, err)
	secret := "whsec_" + base64.StdEncoding.EncodeToString(key)
	recv := newKillReceiver(secret)
	srv := httptest.NewServer(recv)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(recv.quit) }) // before srv.Close, which waits for held requests

	// The longest timeout there is, so that the held request is still
	// waiting when the kill comes (should it not be, the receiver holds
	// the next delivery of the id, and the test kills then).
	eps, err := json.Marshal([]map[string]any{{"name": "orders-feed", "url": srv.URL + "/in", "secret": secret, "timeout": "25s", "contacts_customer": false}})
	require.NoError(t, err)
	t.Setenv("RAPPORT_WEBHOOK_ENDPOINTS", string(eps))
	dir := webhookJourney(t, `{"customer": {{json .Customer.ID}}{{with .Order}}, "order": {{json .ID}}{{end}}}`)

	s := startStack(t, dir, func(o *devOptions) { o.NoWorker = true })
	env, err := benchWorkerEnv(s.devStack, dir)
	require.NoError(t, err)
	env = append(env, "RAPPORT_WEBHOOK_ALLOW_NETWORKS=127.0.0.0/8", "RAPPORT_LOG_LEVEL=info")
	logs := t.TempDir()
	startWorker := func(name string) *benchWorker {
		ctx, cancel := context.WithTimeout(context.Background(), patience)
		defer cancel()
		w, err := startWorkerProcess(ctx, bin, env, filepath.Join(logs, name+".log"), name)
		require.NoError(t, err)
		t.Cleanup(w.stop) // before the stack stops: its database and Temporal server
		return w
	}
	first := startWorker("worker-1")

	const customers = 3
	ids := make([]string, customers)
	for i := range customers {
		c, e := fmt.Sprintf("c_%d", i+1), fmt.Sprintf("evt-%d", i+1)
		status, body := s.post("/v1/customers", customer(c, c+"@example.com"))
		require.Equal(t, http.StatusCreated, status, body)
		status, body = s.post("/v1/events", orderPlaced(e, c, false))
		require.Equal(t, http.StatusAccepted, status, body)
		ids[i] = "rapport/order-hook/" + c + "/" + e
	}

	// Kill the worker process while the receiver holds a delivery: the
	// process has posted and waits for the answer.
	for armed := false; !armed; {
		select {
		case <-recv.held:
		case <-time.After(patience):
			t.Fatalf("no delivery was held; %s", logTail(first.logPath))
		}
		armed = recv.armKill()
	}
	sigkill(t, first)
	s.waitFor("the held delivery to end with the killed process", recv.killedMidSend)
	startWorker("worker-2")

	var msgs []store.Message
	for _, id := range ids {
		res := s.waitForRun(id)
		assert.Equal(t, workflows.Completed, res.Outcome, res.Reason)
		m, err := s.store.MessagesOfWorkflow(context.Background(), id)
		require.NoError(t, err)
		require.Len(t, m, 1, id)
		msgs = append(msgs, m[0])
	}

	recv.mu.Lock()
	deliveries := append([]delivery(nil), recv.deliveries...)
	taken, ok, heldID := recv.taken, recv.ok, recv.heldID
	recv.mu.Unlock()
	for _, d := range deliveries {
		t.Logf("delivery %s (order %s): %s", d.id, d.order, d.answer)
		assert.NoError(t, d.valid, "every delivery is signed as Standard Webhooks says")
	}
	byOrder := map[string]map[string]int{} // order → webhook-id → deliveries
	for _, d := range deliveries {
		if byOrder[d.order] == nil {
			byOrder[d.order] = map[string]int{}
		}
		byOrder[d.order][d.id]++
	}
	for i, m := range msgs {
		order := fmt.Sprintf("o-evt-%d", i+1)
		assert.Equal(t, store.MessageSent, m.Status, "%s: %s", m.ID, m.Reason)
		assert.Equal(t, "orders-feed", m.Recipient)
		assert.Equal(t, m.ID, m.ProviderMessageID)
		require.Contains(t, byOrder, order, "every message reached the receiver")
		assert.Len(t, byOrder[order], 1, "%s: one webhook-id on every delivery, also after the kill", order)
		n := byOrder[order][m.ID]
		assert.GreaterOrEqual(t, n, 2, "%s: the outbox id is the webhook-id, posted again after the 503", order)
		assert.Equal(t, 1, ok[m.ID], "%s: answered 2xx once", order)
		assert.JSONEq(t, fmt.Sprintf(`{"customer": "c_%d", "order": %q}`, i+1, order), taken[m.ID], "taken once, as it was sent")
		if m.ID == heldID {
			assert.GreaterOrEqual(t, n, 3, "the held message: its 503, the delivery held through the kill, and the one after")
			assert.GreaterOrEqual(t, m.Attempts, 3, "claimed after the 503, by the killed process and by the new one")
		}
	}
	assert.Len(t, byOrder, customers, "no delivery of anything else")
	assert.Len(t, taken, customers, "the receiver acted on each message once; nothing lost")
	assert.Len(t, ok, customers)
	assert.Contains(t, taken, heldID, "the held message is one of them")
}
