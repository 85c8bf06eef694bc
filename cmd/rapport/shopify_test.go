//go:build !production

package main

import (
	"context"
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

	"github.com/rapporthq/rapport/internal/store"
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
		return shopifyPost(t, s, "tea-shop.myshopify.com", "orders/create", webhookID, body)
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

// shopifyPost posts a webhook to the stack as Shopify does, signed with
// dev mode's secret, from the shop given; no API key: the signature is
// the authentication.
func shopifyPost(t *testing.T, s *stack, shop, topic, webhookID, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.APIURL+"/webhooks/shopify", strings.NewReader(body))
	require.NoError(t, err)
	m := hmac.New(sha256.New, []byte(devShopifySecret))
	m.Write([]byte(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Shopify-Hmac-Sha256", base64.StdEncoding.EncodeToString(m.Sum(nil)))
	req.Header.Set("X-Shopify-Topic", topic)
	req.Header.Set("X-Shopify-Webhook-Id", webhookID)
	req.Header.Set("X-Shopify-Shop-Domain", shop)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.Unmarshal(raw, &out), string(raw))
	return resp.StatusCode, out
}

// TestShopifyShopRedactErasesThatShopsCustomers: shop/redact, signed as
// Shopify signs it, erases on the real Temporal server the customers
// that came from that shop (one of them mid-journey) and no one else:
// not another shop's customer, not a Shopify customer of no recorded
// shop (this Rapport is not set to that shop alone), not a customer from
// elsewhere. The redaction's record says what it did.
func TestShopifyShopRedactErasesThatShopsCustomers(t *testing.T) {
	s := startStack(t, "testdata/triggers")
	ctx := context.Background()
	const shopA, shopB = "tea-shop.myshopify.com", "coffee-shop.myshopify.com"
	shopifyCustomer := func(id int64, email string) string {
		return fmt.Sprintf(`{"id": %d, "email": %q, "first_name": "Ada", "last_name": "Shop"}`, id, email)
	}
	created := time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)
	order := `{"id": 5512345678901, "name": "#1042", "currency": "GBP", "created_at": "` + created + `", "total_price": "4.25",
		"customer": {"id": 7712345001, "email": "a1@example.com", "first_name": "Ann"},
		"line_items": [{"id": 1, "product_id": 111, "title": "Earl Grey tea", "quantity": 1, "price": "4.25"}]}`
	for _, d := range []struct{ shop, topic, id, body string }{
		{shopA, "orders/create", "wh-a1", order},
		{shopA, "customers/create", "wh-a2", shopifyCustomer(7712345002, "a2@example.com")},
		{shopB, "customers/create", "wh-b1", shopifyCustomer(7712345003, "b1@example.com")},
	} {
		status, out := shopifyPost(t, s, d.shop, d.topic, d.id, d.body)
		require.Equal(t, http.StatusOK, status, out)
		require.Equal(t, "applied", out["status"], out)
	}
	for _, c := range []map[string]any{customer("shopify:7712345004", "unattributed@example.com"), customer("c_plain", "plain@example.com")} {
		status, body := s.post("/v1/customers", c)
		require.Equal(t, http.StatusCreated, status, body)
	}
	run := workflows.WorkflowID("order-care", "shopify:7712345001", "shopify:5512345678901")
	s.waitFor("the order's journey", func() bool {
		r, err := s.store.GetRun(ctx, run)
		return err == nil && r.Status == store.RunRunning
	})

	status, out := shopifyPost(t, s, shopA, "shop/redact", "wh-redact", `{"shop_id": 954889, "shop_domain": "`+shopA+`"}`)
	require.Equal(t, http.StatusOK, status, out)
	require.Equal(t, "applied", out["status"], out)

	wctx, cancel := context.WithTimeout(ctx, patience)
	defer cancel()
	var res workflows.ShopRedactResult
	require.NoError(t, s.client.GetWorkflow(wctx, workflows.ShopRedactWorkflowID("wh-redact"), "").Get(wctx, &res))
	assert.Equal(t, workflows.ShopRedactResult{Erasures: 2, UnattributedKept: 1}, res)
	for _, id := range []string{"shopify:7712345001", "shopify:7712345002"} {
		hash, err := s.store.CustomerHash(id)
		require.NoError(t, err)
		require.NoError(t, s.client.GetWorkflow(wctx, workflows.EraseWorkflowID(hash), "").Get(wctx, nil), id)
		_, err = s.store.GetCustomer(ctx, id)
		assert.ErrorIs(t, err, store.ErrNotFound, "%s of the shop was not erased", id)
		er, err := s.store.LatestErasure(ctx, id)
		require.NoError(t, err)
		assert.True(t, er.Done())
		assert.Equal(t, "shopify "+shopA, er.RequestedBy)
	}
	_, err := s.store.GetRun(ctx, run)
	assert.ErrorIs(t, err, store.ErrNotFound, "the journey of a customer of the shop was not exited and removed")
	_, err = s.store.GetOrder(ctx, "shopify:5512345678901")
	assert.ErrorIs(t, err, store.ErrNotFound)
	for _, id := range []string{"shopify:7712345003", "shopify:7712345004", "c_plain"} {
		c, err := s.store.GetCustomer(ctx, id)
		require.NoError(t, err, "%s is not the shop's and was erased", id)
		assert.NotEmpty(t, c.Email)
		erased, err := s.store.Erased(ctx, id)
		require.NoError(t, err)
		assert.False(t, erased, id)
	}
	var erasures, kept int
	var completed bool
	require.NoError(t, s.db().QueryRow(ctx, `SELECT erasures, unattributed_kept, completed_at IS NOT NULL FROM shopify_shop_redactions WHERE webhook_id = 'wh-redact'`).
		Scan(&erasures, &kept, &completed))
	assert.Equal(t, 2, erasures)
	assert.Equal(t, 1, kept)
	assert.True(t, completed)
}
