package activities

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/channels/webhook"
	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/templates"
	"github.com/rapporthq/rapport/workflows"
)

const testWebhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// hookReceiver answers each post with the next status of its list (then
// 204), keeping the webhook-ids it was sent and whether they verified.
type hookReceiver struct {
	mu       sync.Mutex
	statuses []int
	ids      []string
	bad      int
}

func (r *hookReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids = append(r.ids, req.Header.Get("webhook-id"))
	if webhook.Verify(testWebhookSecret, req.Header, body, time.Now()) != nil {
		r.bad++
	}
	status := http.StatusNoContent
	if len(r.statuses) > 0 {
		status, r.statuses = r.statuses[0], r.statuses[1:]
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, `{"error": "no such account"}`)
}

// useWebhooks gives the harness two endpoints on a receiver: feed, which
// does not contact the customer, and crm, which does; and templates for
// them (bad renders something that is not JSON).
func (h *harness) useWebhooks(t *testing.T) *hookReceiver {
	t.Helper()
	recv := &hookReceiver{}
	srv := httptest.NewServer(recv)
	t.Cleanup(srv.Close)
	eps, err := webhook.ParseEndpoints([]byte(`[
		{"name": "feed", "url": "` + srv.URL + `", "secret": "` + testWebhookSecret + `", "contacts_customer": false},
		{"name": "crm", "url": "` + srv.URL + `", "secret": "` + testWebhookSecret + `", "contacts_customer": true}]`))
	require.NoError(t, err)
	c, err := webhook.New(webhook.Config{Endpoints: eps, AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	require.NoError(t, err)
	h.acts.Webhook = c
	set, err := templates.Load(fstest.MapFS{
		"offer/email.txt":    {Data: []byte("Subject: For you\nHello.")},
		"offer/webhook.json": {Data: []byte(`{"customer": {{json .Customer.ID}}, "step": {{json .Step}}}`)},
		"bad/webhook.json":   {Data: []byte(`{"tier": {{.Customer.Attributes.tier}}}`)},
	}, "t")
	require.NoError(t, err)
	h.acts.Templates = set
	return recv
}

func marketingOn(ch journey.Channel, step, endpoint string) workflows.SendRequest {
	r := request()
	r.Template, r.StepID, r.Channel, r.Endpoint = "offer", step, ch, endpoint
	r.WorkflowID = "rapport/offers/c_1/" + step
	r.Purpose, r.Topic = journey.Marketing, "offers"
	r.PolicyAt = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	return r
}

// TestWebhookFollowsTheContactRulesOnlyWhenItContacts: under the default
// cap of one marketing message a day, a webhook to an endpoint that does
// not contact the customer goes and does not use the day's slot (the
// email after it goes too); one to an endpoint that does is held by the
// cap the email used.
func TestWebhookFollowsTheContactRulesOnlyWhenItContacts(t *testing.T) {
	h := newHarness(t)
	recv := h.useWebhooks(t)

	res, err := h.send(marketingOn(journey.Webhook, "feed_it", "feed"))
	require.NoError(t, err)
	assert.Equal(t, workflows.SendSent, res.Status, res.Reason)
	assert.Equal(t, "webhook", res.Provider)
	assert.Equal(t, res.MessageID, res.ProviderMessageID, "the webhook-id is the outbox id")

	res, err = h.send(marketingOn(journey.Email, "mail_it", ""))
	require.NoError(t, err)
	assert.Equal(t, workflows.SendSent, res.Status, "the feed's message used no slot of the cap: %s", res.Reason)

	res, err = h.send(marketingOn(journey.Webhook, "crm_it", "crm"))
	require.NoError(t, err)
	assert.Equal(t, workflows.SendHeld, res.Status, "an endpoint that contacts the customer is capped like any channel")
	assert.Contains(t, res.Reason, "frequency cap")

	recv.mu.Lock()
	defer recv.mu.Unlock()
	assert.Len(t, recv.ids, 1)
	assert.Zero(t, recv.bad)
}

// TestWebhookAnswers: a 5xx is retried (the row pending again) with the
// same webhook-id; a 4xx fails with the status and the answer's start; a
// template that renders no JSON fails without a post; an endpoint that is
// not configured is skipped.
func TestWebhookAnswers(t *testing.T) {
	h := newHarness(t)
	recv := h.useWebhooks(t)
	recv.statuses = []int{http.StatusBadGateway}

	req := request()
	req.Channel, req.Template, req.Endpoint = journey.Webhook, "offer", "feed"
	_, err := h.send(req)
	require.Error(t, err, "a 502 may have been taken: retried, with the same id")
	res, err := h.send(req)
	require.NoError(t, err)
	assert.Equal(t, workflows.SendSent, res.Status)
	recv.mu.Lock()
	assert.Equal(t, []string{res.MessageID, res.MessageID}, recv.ids)
	recv.mu.Unlock()

	recv.statuses = []int{http.StatusUnprocessableEntity}
	req.StepID = "second"
	res, err = h.send(req)
	require.NoError(t, err)
	assert.Equal(t, workflows.SendFailed, res.Status)
	assert.Equal(t, `webhook answered 422: {"error": "no such account"}`, res.Reason)

	req.StepID, req.Template = "third", "bad"
	_, err = h.store.UpsertCustomer(t.Context(), store.Customer{ID: "c_1", Email: "ada@example.com", Name: "Ada", Attributes: map[string]any{"tier": "gold"}})
	require.NoError(t, err)
	res, err = h.send(req)
	require.NoError(t, err)
	assert.Equal(t, workflows.SendFailed, res.Status)
	assert.Contains(t, res.Reason, "does not render valid JSON")

	req.StepID, req.Template, req.Endpoint = "fourth", "offer", "gone"
	res, err = h.send(req)
	require.NoError(t, err)
	assert.Equal(t, workflows.SendSkipped, res.Status)
	assert.Equal(t, `webhook endpoint "gone" is not configured (RAPPORT_WEBHOOK_ENDPOINTS)`, res.Reason)
	recv.mu.Lock()
	assert.Len(t, recv.ids, 3, "neither the bad template nor the unknown endpoint posted")
	assert.Zero(t, recv.bad)
	recv.mu.Unlock()
}
