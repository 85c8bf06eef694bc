package activities

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/api"
	"github.com/rapporthq/rapport/internal/channels/sendgrid"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

// patience bounds a test's wait for something to happen (a webhook to
// settle a message): a detector of what never happens, not a speed the
// machine must keep.
const patience = 3 * time.Minute

// A gateway that forwards the request to SendGrid and then answers 504:
// SendGrid took the email. The email is not sent twice, and SendGrid's
// signed event webhook (the fake's, through the API's real handler)
// settles the unknown message as sent.
func TestGateway504EmailNotSentTwiceAndSettledByWebhook(t *testing.T) {
	h := newHarness(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	apiSrv := httptest.NewServer((&api.Server{Store: h.store, Webhooks: api.WebhookKeys{SendGrid: &key.PublicKey}, Metrics: h.acts.Metrics}).Handler())
	t.Cleanup(apiSrv.Close)
	// The webhook is let through once the attempt has recorded its answer
	// (unknown) and an activity retry has found it so, so this test
	// settles a row already in doubt; a webhook that comes first is
	// TestWebhookBeforeTheAnswerSettlesAsSent's.
	release := make(chan struct{})
	hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		r2, _ := http.NewRequestWithContext(r.Context(), r.Method, apiSrv.URL+"/webhooks/sendgrid", r.Body)
		r2.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(r2)
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
	}))
	t.Cleanup(hooks.Close)
	letThrough := sync.OnceFunc(func() { close(release) })
	t.Cleanup(letThrough) // before hooks.Close, should the test end early
	h.fakes.SendGrid.PostEvents(hooks.URL, key)

	gateway := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.fakes.ServeHTTP(httptest.NewRecorder(), r)
		http.Error(w, "<html>504 Gateway Time-out</html>", http.StatusGatewayTimeout)
	}))
	t.Cleanup(gateway.Close)
	h.acts.Email = sendgrid.New(sendgrid.Config{APIKey: "SG.test", BaseURL: gateway.URL})

	res, err := h.send(request())
	require.NoError(t, err, "in doubt is a result, not an error Temporal would retry")
	assert.Equal(t, workflows.SendUnknown, res.Status)
	assert.Equal(t, 1.0, h.metric(t, "rapport_messages_in_doubt_total", "channel", "email"))

	again, err := h.send(request())
	require.NoError(t, err)
	assert.Equal(t, workflows.SendUnknown, again.Status, "an activity retry does not send again")
	letThrough() // now the delivery webhook may come

	var m store.Message
	require.Eventually(t, func() bool {
		m, err = h.store.GetMessage(context.Background(), res.MessageID)
		return err == nil && m.Status == store.MessageSent
	}, patience, 50*time.Millisecond, "the delivery webhook settles the message")
	assert.Contains(t, m.Reason, "settled as sent by the provider's delivery webhook")
	assert.Equal(t, "delivered", waitDelivery(t, h, res.MessageID))
	assert.Len(t, h.fakes.Recorder.Messages(), 1, "exactly one email went out")
	assert.Equal(t, 1.0, h.metric(t, "rapport_messages_in_doubt_settled_total", "channel", "email", "how", "webhook", "result", "sent"))

	settled, err := h.send(request())
	require.NoError(t, err)
	assert.Equal(t, workflows.SendSent, settled.Status, "a later attempt reports the settled outcome")
	assert.Len(t, h.fakes.Recorder.Messages(), 1)
}

func waitDelivery(t *testing.T, h *harness, id string) string {
	t.Helper()
	var m store.Message
	require.Eventually(t, func() bool {
		var err error
		m, err = h.store.GetMessage(context.Background(), id)
		return err == nil && m.DeliveryStatus == "delivered"
	}, patience, 50*time.Millisecond)
	return m.DeliveryStatus
}

// A provider that answers only after the send activity's deadline would
// have passed: the client gives up first and the attempt is recorded in
// doubt (not lost, not pending to be sent again).
func TestProviderHangingPastTheTimeoutIsRecordedInDoubt(t *testing.T) {
	h := newHarness(t)
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.fakes.ServeHTTP(httptest.NewRecorder(), r)
		<-release
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(release) })
	h.acts.Email = sendgrid.New(sendgrid.Config{APIKey: "SG.test", BaseURL: hang.URL, HTTPClient: &http.Client{Timeout: time.Second}}) // long enough to send on a busy machine
	res, err := h.send(request())
	require.NoError(t, err)
	assert.Equal(t, workflows.SendUnknown, res.Status)
	again, err := h.send(request())
	require.NoError(t, err)
	assert.Equal(t, workflows.SendUnknown, again.Status)
	assert.Len(t, h.fakes.Recorder.Messages(), 1, "sent once")
}

// SendGrid's webhook may arrive before the gateway's 504 does: the answer
// in doubt is then recorded as sent, on the webhook's evidence.
func TestWebhookBeforeTheAnswerSettlesAsSent(t *testing.T) {
	h := newHarness(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	apiSrv := httptest.NewServer((&api.Server{Store: h.store, Webhooks: api.WebhookKeys{SendGrid: &key.PublicKey}, Metrics: h.acts.Metrics}).Handler())
	t.Cleanup(apiSrv.Close)
	h.fakes.SendGrid.PostEvents(apiSrv.URL+"/webhooks/sendgrid", key)
	gateway := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.fakes.ServeHTTP(httptest.NewRecorder(), r)
		// The 504 comes after the webhook was taken, however long that
		// takes (the client's own timeout bounds it).
		for r.Context().Err() == nil {
			if msgs, _ := h.store.MessagesFor(r.Context(), "c_1"); len(msgs) == 1 && msgs[0].DeliveryStatus == "delivered" {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		http.Error(w, "<html>504 Gateway Time-out</html>", http.StatusGatewayTimeout)
	}))
	t.Cleanup(gateway.Close)
	h.acts.Email = sendgrid.New(sendgrid.Config{APIKey: "SG.test", BaseURL: gateway.URL})
	res, err := h.send(request())
	require.NoError(t, err)
	assert.Equal(t, workflows.SendSent, res.Status)
	assert.Contains(t, res.Reason, "settled as sent by the provider's delivery webhook")
	assert.Len(t, h.fakes.Recorder.Messages(), 1)
	assert.Equal(t, 1.0, h.metric(t, "rapport_messages_in_doubt_total", "channel", "email"))
	assert.Equal(t, 1.0, h.metric(t, "rapport_messages_in_doubt_settled_total", "channel", "email", "how", "webhook", "result", "sent"))
}
