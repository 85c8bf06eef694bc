//go:build !production

package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/workflows"
)

// TestShopifyOrderStartsAJourney: an orders/create webhook, signed as
// Shopify signs it (with dev mode's secret), creates the customer and
// starts the thank-you journey on the dev stack, whose email names what
// they bought; the same delivery again starts nothing more.
func TestShopifyOrderStartsAJourney(t *testing.T) {
	s := startStack(t, "../../journeys")
	created := time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)
	body := `{"id": 5512345678901, "name": "#1042", "email": "grace@example.com", "currency": "GBP", "created_at": "` + created + `",
		"total_price": "23.50", "financial_status": "paid", "customer_locale": "en-GB",
		"customer": {"id": 7712345678, "email": "grace@example.com", "first_name": "Grace", "last_name": "Hopper",
			"email_marketing_consent": {"state": "subscribed", "opt_in_level": "single_opt_in", "consent_updated_at": "` + created + `"}},
		"line_items": [
			{"id": 1, "product_id": 111, "title": "Earl Grey tea", "name": "Earl Grey tea", "quantity": 2, "price": "4.25"},
			{"id": 2, "product_id": 222, "title": "Blue teapot", "name": "Blue teapot", "quantity": 1, "price": "15.00"}]}`
	post := func(webhookID string) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, s.APIURL+"/webhooks/shopify", strings.NewReader(body))
		require.NoError(t, err)
		m := hmac.New(sha256.New, []byte(devShopifySecret))
		m.Write([]byte(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Shopify-Hmac-Sha256", base64.StdEncoding.EncodeToString(m.Sum(nil)))
		req.Header.Set("X-Shopify-Topic", "orders/create")
		req.Header.Set("X-Shopify-Webhook-Id", webhookID)
		req.Header.Set("X-Shopify-Shop-Domain", "tea-shop.myshopify.com")
		resp, err := http.DefaultClient.Do(req) // no API key: the signature is the authentication
		require.NoError(t, err)
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		var out map[string]any
		require.NoError(t, json.Unmarshal(raw, &out), string(raw))
		return resp.StatusCode, out
	}
	status, out := post("7f1b0a52-0d36-4b4f-9f0e-0c5f3f6a1d01")
	require.Equal(t, http.StatusOK, status, out)
	require.Equal(t, "applied", out["status"], out)

	const customerID = "shopify:7712345678"
	wid := workflows.WorkflowID("thank-you", customerID, "shopify:5512345678901:placed")
	s.waitFor("the thank-you email", func() bool { return len(s.messagesTo(customerID)) > 0 })
	res := s.waitForRun(wid)
	assert.Equal(t, workflows.Completed, res.Outcome)
	msgs := s.messagesTo(customerID)
	require.Len(t, msgs, 1)
	assert.Equal(t, "grace@example.com", msgs[0].To)
	assert.Equal(t, "thank-you", msgs[0].Journey)
	assert.Contains(t, msgs[0].Text, "Grace")
	assert.Contains(t, msgs[0].Text, "Blue teapot")

	status, out = post("7f1b0a52-0d36-4b4f-9f0e-0c5f3f6a1d01")
	require.Equal(t, http.StatusOK, status, out)
	assert.Equal(t, "duplicate", out["status"], out)
	status, out = post("another-delivery-of-the-same-order")
	require.Equal(t, http.StatusOK, status, out)
	// One run per journey that starts on order.placed, however often
	// the order is delivered.
	var runs, journeys int
	require.NoError(t, s.db().QueryRow(t.Context(), `SELECT count(*), count(DISTINCT journey) FROM journey_runs WHERE customer_id = $1`, customerID).Scan(&runs, &journeys))
	assert.Equal(t, journeys, runs, fmt.Sprintf("the order started %d runs of %d journeys", runs, journeys))
}
