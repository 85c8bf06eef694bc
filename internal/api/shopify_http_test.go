package api_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/api"
	"github.com/rapporthq/rapport/internal/money"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/store/storetest"
	"github.com/rapporthq/rapport/workflows"
)

// The app's client secrets the test shop verifies Shopify's webhooks
// with: the current one and one being rotated out.
const (
	shopifySecret    = "shpss_rapport_test_secret"
	shopifyOldSecret = "shpss_rapport_old_secret"
	shopDomain       = "tea-shop.myshopify.com"
)

// shopifySign is X-Shopify-Hmac-Sha256: base64 of HMAC-SHA256 of the raw
// body under the app's client secret.
func shopifySign(secret, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(body))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// shopify posts a webhook as Shopify does, signed with secret.
func (s *shop) shopify(secret, topic, webhookID, body string) answer {
	s.t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/webhooks/shopify", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Shopify-Topic", topic)
	req.Header.Set("X-Shopify-Webhook-Id", webhookID)
	req.Header.Set("X-Shopify-Shop-Domain", shopDomain)
	req.Header.Set("X-Shopify-API-Version", "2025-10")
	req.Header.Set("X-Shopify-Hmac-Sha256", shopifySign(secret, body))
	return s.serve(req)
}

// Payloads shaped as Shopify's REST webhook payloads document them.

const shopifyCustomerJSON = `{
	"id": 706405506930370084, "email": "bob@example.com", "first_name": "Bob", "last_name": "Norman",
	"phone": "+16135551111", "state": "enabled", "currency": "USD", "tags": "",
	"email_marketing_consent": {"state": "subscribed", "opt_in_level": "confirmed_opt_in", "consent_updated_at": "2026-11-30T10:00:00-05:00"},
	"sms_marketing_consent": {"state": "not_subscribed", "opt_in_level": "single_opt_in", "consent_updated_at": null, "consent_collected_from": "OTHER"},
	"default_address": {"first_name": "Bob", "last_name": "Norman", "address1": "Chestnut Street 92", "city": "Louisville",
		"province_code": "KY", "zip": "40202", "country_code": "US", "default": true}
}`

func shopifyOrderJSON(total, price1, price2 string) string {
	return `{
	"id": 820982911946154508, "name": "#9999", "email": "bob@example.com", "currency": "USD",
	"created_at": "2026-12-01T09:00:00-05:00", "updated_at": "2026-12-01T09:00:01-05:00",
	"financial_status": "paid", "total_price": "` + total + `", "subtotal_price": "` + total + `",
	"customer_locale": "en-US",
	"customer": {"id": 706405506930370084, "email": "bob@example.com", "first_name": "Bob", "last_name": "Norman"},
	"line_items": [
		{"id": 866550311766439020, "product_id": 632910392, "variant_id": 808950810, "title": "IPod Nano - 8GB", "name": "IPod Nano - 8GB - Pink",
		 "quantity": 1, "price": "` + price1 + `", "sku": "IPOD2008PINK"},
		{"id": 141249953214522974, "product_id": 921728736, "title": "IPod Touch 8GB", "name": "IPod Touch 8GB - Black",
		 "quantity": 2, "price": "` + price2 + `"},
		{"id": 141249953214522975, "product_id": 921728737, "title": "Removed line", "quantity": 0, "price": "1.00"}
	]
}`
}

func TestShopifyForgedWebhookIsRefusedAndStoresNothing(t *testing.T) {
	s := newShop(t)
	body := shopifyOrderJSON("0.30", "0.10", "0.10")
	for name, sig := range map[string]string{
		"another secret":  shopifySign("not the secret", body),
		"a changed body":  shopifySign(shopifySecret, strings.Replace(body, "0.30", "0.03", 1)),
		"not base64":      "%%%",
		"no signature":    "",
		"a short digest:": base64.StdEncoding.EncodeToString([]byte("short")),
	} {
		req := httptest.NewRequest(http.MethodPost, "/webhooks/shopify", strings.NewReader(body))
		req.Header.Set("X-Shopify-Topic", "orders/create")
		req.Header.Set("X-Shopify-Webhook-Id", "forged-1")
		req.Header.Set("X-Shopify-Shop-Domain", shopDomain)
		if sig != "" {
			req.Header.Set("X-Shopify-Hmac-Sha256", sig)
		}
		a := s.serve(req)
		assert.Equal(t, http.StatusUnauthorized, a.Code, "%s: %s", name, a.Body)
	}
	_, err := s.st.GetCustomer(context.Background(), "shopify:706405506930370084")
	assert.ErrorIs(t, err, store.ErrNotFound, "a forged webhook created a customer")
	_, err = s.st.GetOrder(context.Background(), "shopify:820982911946154508")
	assert.ErrorIs(t, err, store.ErrNotFound, "a forged webhook stored an order")
	seen, err := s.st.WebhookSeen(context.Background(), "shopify", "forged-1")
	require.NoError(t, err)
	assert.False(t, seen, "a forged webhook was noted as applied, so the real one would be taken for a replay")

	// Signed with the secret being rotated out, it verifies.
	a := s.shopify(shopifyOldSecret, "orders/create", "real-1", body)
	assert.Equal(t, http.StatusOK, a.Code, a.Body)
}

func TestShopifyOrderCreatedIsAnExactOrderAndAReplayAppliesOnce(t *testing.T) {
	s := newShop(t)
	ctx := context.Background()
	// 0.10 + 2 x 0.10 is 0.30 exactly; in float64 it is 0.30000000000000004.
	body := shopifyOrderJSON("0.30", "0.10", "0.10")
	a := s.shopify(shopifySecret, "orders/create", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043", body)
	require.Equal(t, http.StatusOK, a.Code, a.Body)
	assert.Equal(t, "applied", a.JSON["status"], a.Body)
	assert.Equal(t, []any{"shopify:820982911946154508:placed"}, a.JSON["events"], a.Body)

	c, err := s.st.GetCustomer(ctx, "shopify:706405506930370084")
	require.NoError(t, err)
	assert.Equal(t, "bob@example.com", c.Email)
	assert.Equal(t, "Bob Norman", c.Name)
	assert.Equal(t, "en-US", c.Locale)

	o, err := s.st.GetOrder(ctx, "shopify:820982911946154508")
	require.NoError(t, err)
	assert.Equal(t, "shopify:706405506930370084", o.CustomerID)
	assert.Equal(t, "0.30", o.Total.String())
	assert.Equal(t, "USD", o.Currency)
	assert.Equal(t, store.OrderPlaced, o.Status)

	e, err := s.st.GetEvent(ctx, "shopify:820982911946154508:placed")
	require.NoError(t, err)
	assert.Equal(t, "order.placed", e.Type)
	var data struct {
		Order struct {
			Items []struct {
				ProductID string          `json:"product_id"`
				Name      string          `json:"name"`
				Quantity  int             `json:"quantity"`
				Price     json.RawMessage `json:"price"`
			} `json:"items"`
			Total json.RawMessage `json:"total"`
		} `json:"order"`
		OrderName string `json:"order_name"`
		Shop      string `json:"shop"`
	}
	require.NoError(t, json.Unmarshal(e.Data, &data))
	assert.Equal(t, "#9999", data.OrderName)
	assert.Equal(t, shopDomain, data.Shop)
	require.Len(t, data.Order.Items, 2, "the line removed by an edit (quantity 0) is left out")
	assert.Equal(t, "shopify:632910392", data.Order.Items[0].ProductID)
	assert.Equal(t, "IPod Nano - 8GB - Pink", data.Order.Items[0].Name)
	assert.Equal(t, 2, data.Order.Items[1].Quantity)
	assert.Equal(t, "0.10", string(data.Order.Items[1].Price))
	assert.Equal(t, "0.30", string(data.Order.Total))

	// The same delivery again: 200, nothing applied twice.
	a = s.shopify(shopifySecret, "orders/create", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043", body)
	require.Equal(t, http.StatusOK, a.Code, a.Body)
	assert.Equal(t, "duplicate", a.JSON["status"], a.Body)
	// Another delivery of the same order (Shopify may send one twice):
	// the event and the order are the ones stored.
	a = s.shopify(shopifySecret, "orders/create", "another-delivery", shopifyOrderJSON("0.40", "0.20", "0.10"))
	require.Equal(t, http.StatusOK, a.Code, a.Body)
	var events, orders int
	require.NoError(t, storetest.DB(t, s.dbURL).QueryRow(ctx, `SELECT count(*) FROM events WHERE customer_id = 'shopify:706405506930370084'`).Scan(&events))
	require.NoError(t, storetest.DB(t, s.dbURL).QueryRow(ctx, `SELECT count(*) FROM orders WHERE customer_id = 'shopify:706405506930370084'`).Scan(&orders))
	assert.Equal(t, 1, events)
	assert.Equal(t, 1, orders)
	o, err = s.st.GetOrder(ctx, "shopify:820982911946154508")
	require.NoError(t, err)
	assert.Equal(t, "0.30", o.Total.String())

	// A refund of part of it makes it partly refunded, by the exact
	// amount; the refund delivered again refunds once.
	refund := `{"id": 509562969, "order_id": 820982911946154508, "created_at": "2026-12-02T10:00:00-05:00", "note": "wrong size",
		"refund_line_items": [{"id": 104689539, "quantity": 1, "line_item_id": 866550311766439020}],
		"transactions": [{"id": 389404469, "amount": "0.10", "currency": "USD", "kind": "refund", "status": "success", "gateway": "bogus"},
		                 {"id": 389404470, "amount": "0.05", "currency": "USD", "kind": "refund", "status": "failure"}]}`
	for range 2 {
		a = s.shopify(shopifySecret, "refunds/create", "refund-delivery-1", refund)
		require.Equal(t, http.StatusOK, a.Code, a.Body)
	}
	o, err = s.st.GetOrder(ctx, "shopify:820982911946154508")
	require.NoError(t, err)
	assert.Equal(t, store.OrderPartlyRefunded, o.Status)
	assert.True(t, o.Refunded.Equal(money.MustParse("0.10")), "refunded %s", o.Refunded)

	// Delivered, as a fulfillment event says.
	a = s.shopify(shopifySecret, "fulfillment_events/create", "fe-1",
		`{"id": 944956395, "fulfillment_id": 255858046, "status": "delivered", "order_id": 820982911946154508, "happened_at": "2026-12-03T12:00:00-05:00"}`)
	require.Equal(t, http.StatusOK, a.Code, a.Body)
	e, err = s.st.GetEvent(ctx, "shopify:fulfillment_event:944956395")
	require.NoError(t, err)
	assert.Equal(t, "order.delivered", e.Type)
	assert.Equal(t, "shopify:706405506930370084", e.CustomerID)
}

func TestShopifyRefusesAPayloadOfTheWrongShapeNamingTheField(t *testing.T) {
	s := newShop(t)
	for name, tc := range map[string]struct{ body, field string }{
		"money not a decimal": {shopifyOrderJSON("0.30", "ten cents", "0.10"), "line_items.price"},
		"money a float":       {strings.Replace(shopifyOrderJSON("0.30", "0.10", "0.10"), `"total_price": "0.30"`, `"total_price": {"amount": 0.3}`, 1), "total_price"},
		"too many places":     {shopifyOrderJSON("0.301", "0.10", "0.10"), "total_price"},
		"id not a number":     {`{"id": "abc", "currency": "USD"}`, "id"},
	} {
		a := s.shopify(shopifySecret, "orders/create", "bad-"+strings.ReplaceAll(name, " ", "-"), tc.body)
		require.Equal(t, http.StatusBadRequest, a.Code, "%s: %s", name, a.Body)
		assert.Equal(t, tc.field, a.JSON["field"], "%s: %s", name, a.Body)
	}
	a := s.shopify(shopifySecret, "orders/create", "", shopifyOrderJSON("0.30", "0.10", "0.10"))
	require.Equal(t, http.StatusBadRequest, a.Code, a.Body)
	assert.Equal(t, "X-Shopify-Webhook-Id", a.JSON["field"], a.Body)

	// A topic Rapport does not map is taken, and ignored.
	a = s.shopify(shopifySecret, "products/update", "p-1", `{"id": 632910392, "title": "IPod Nano - 8GB"}`)
	require.Equal(t, http.StatusOK, a.Code, a.Body)
	assert.Equal(t, "ignored", a.JSON["status"], a.Body)
}

func TestShopifyConsentIsRecordedWithItsEvidenceNewestFirst(t *testing.T) {
	s := newShop(t)
	ctx := context.Background()
	id := "shopify:706405506930370084"
	a := s.shopify(shopifySecret, "customers/create", "c-1", shopifyCustomerJSON)
	require.Equal(t, http.StatusOK, a.Code, a.Body)
	c, err := s.st.GetCustomer(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, "Chestnut Street 92", c.Address.Line1)
	assert.Equal(t, "KY", c.Address.State)
	p, err := s.st.GetPreferences(ctx, id)
	require.NoError(t, err)
	email := p.Consent["email"]
	assert.Equal(t, "opted_in", email.State)
	assert.Equal(t, "shopify", email.Source)
	assert.Equal(t, "subscribed", email.Evidence.ExternalState)
	assert.Equal(t, "confirmed_opt_in", email.Evidence.OptInLevel)
	require.NotNil(t, email.Evidence.ChangedAt)
	assert.Equal(t, "2026-11-30T15:00:00Z", email.Evidence.ChangedAt.UTC().Format("2006-01-02T15:04:05Z07:00"))
	sms := p.Consent["sms"]
	assert.Equal(t, "unknown", sms.State)
	assert.Equal(t, "OTHER", sms.Evidence.CollectedFrom)

	update := func(webhookID, state, at string) {
		t.Helper()
		body := strings.Replace(shopifyCustomerJSON, `"state": "subscribed", "opt_in_level": "confirmed_opt_in", "consent_updated_at": "2026-11-30T10:00:00-05:00"`,
			`"state": "`+state+`", "opt_in_level": "single_opt_in", "consent_updated_at": "`+at+`"`, 1)
		require.NotEqual(t, shopifyCustomerJSON, body)
		a := s.shopify(shopifySecret, "customers/update", webhookID, body)
		require.Equal(t, http.StatusOK, a.Code, a.Body)
	}
	// An older update arriving late changes nothing.
	update("c-2", "unsubscribed", "2026-11-29T10:00:00-05:00")
	p, err = s.st.GetPreferences(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, "opted_in", p.Consent["email"].State, "an older consent from Shopify replaced a newer one")

	// The customer unsubscribes in Shopify: opted out, with the evidence.
	update("c-3", "unsubscribed", "2026-12-01T08:30:00Z")
	p, err = s.st.GetPreferences(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, "opted_out", p.Consent["email"].State)
	assert.Equal(t, "unsubscribed", p.Consent["email"].Evidence.ExternalState)
	assert.Contains(t, p.Consent["email"].Evidence.Note, "customers/update webhook c-3 from "+shopDomain)

	// An opt-in in Rapport's preference center later than Shopify's last
	// change outranks a Shopify update that says nothing newer.
	_, err = s.st.RecordConsent(ctx, id, "email", "opted_in", "preference_center", store.Evidence{Shown: "the preference center"})
	require.NoError(t, err)
	update("c-4", "unsubscribed", "2026-12-01T08:30:00Z")
	p, err = s.st.GetPreferences(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, "opted_in", p.Consent["email"].State)
}

func TestShopifyRedactErasesAndDataRequestIsRecorded(t *testing.T) {
	s := newShop(t)
	ctx := context.Background()
	id := "shopify:706405506930370084"
	require.Equal(t, http.StatusOK, s.shopify(shopifySecret, "customers/create", "c-1", shopifyCustomerJSON).Code)

	a := s.shopify(shopifySecret, "customers/data_request", "dr-1", `{"shop_id": 954889, "shop_domain": "`+shopDomain+`",
		"orders_requested": [299938, 280263], "customer": {"id": 706405506930370084, "email": "bob@example.com", "phone": "555-625-1199"},
		"data_request": {"id": 9999}}`)
	require.Equal(t, http.StatusOK, a.Code, a.Body)
	e, err := s.st.GetEvent(ctx, "shopify:data_request:9999")
	require.NoError(t, err)
	assert.Equal(t, "privacy.data_requested", e.Type)
	assert.Equal(t, id, e.CustomerID)
	assert.NotContains(t, string(e.Data), "bob@example.com", "the request's event keeps no address")

	redact := `{"shop_id": 954889, "shop_domain": "` + shopDomain + `",
		"customer": {"id": 706405506930370084, "email": "bob@example.com", "phone": "555-625-1199"}, "orders_to_redact": [299938, 280263]}`
	a = s.shopify(shopifySecret, "customers/redact", "r-1", redact)
	require.Equal(t, http.StatusOK, a.Code, a.Body)
	assert.Equal(t, "applied", a.JSON["status"], a.Body)
	erased, err := s.st.Erased(ctx, id)
	require.NoError(t, err)
	assert.True(t, erased, "the customer's events are not refused after customers/redact")
	var erasures int
	for _, st := range s.temporal.startList() {
		if st.Workflow == workflows.EraseWorkflowName {
			erasures++
		}
	}
	assert.Equal(t, 1, erasures, "the erasure workflow was not started once")

	// Replayed: applied once.
	a = s.shopify(shopifySecret, "customers/redact", "r-1", redact)
	require.Equal(t, http.StatusOK, a.Code, a.Body)
	assert.Equal(t, "duplicate", a.JSON["status"], a.Body)
	// A webhook naming the erased customer does not register them again.
	a = s.shopify(shopifySecret, "orders/create", "o-after", shopifyOrderJSON("0.30", "0.10", "0.10"))
	require.Equal(t, http.StatusOK, a.Code, a.Body)
	assert.Equal(t, "ignored", a.JSON["status"], a.Body)
	_, err = s.st.GetOrder(ctx, "shopify:820982911946154508")
	assert.ErrorIs(t, err, store.ErrNotFound)

}

// shopifyFrom posts a webhook as Shopify does, from the shop given.
func (s *shop) shopifyFrom(shopDomain, topic, webhookID, body string) answer {
	s.t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/webhooks/shopify", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Shopify-Topic", topic)
	req.Header.Set("X-Shopify-Webhook-Id", webhookID)
	req.Header.Set("X-Shopify-Shop-Domain", shopDomain)
	req.Header.Set("X-Shopify-Hmac-Sha256", shopifySign(shopifySecret, body))
	return s.serve(req)
}

// shopRedactStarts are the shop redaction workflows the API started.
func (s *shop) shopRedactStarts() []start {
	var out []start
	for _, st := range s.temporal.startList() {
		if st.Workflow == workflows.ShopRedactWorkflowName {
			out = append(out, st)
		}
	}
	return out
}

// TestShopifyShopRedactErasesTheShopsCustomers: every Shopify webhook
// records the shop its customer came from (the first shop keeps them);
// shop/redact, signed, records the request once and starts the
// redaction workflow for that shop's customers (and, when
// SHOPIFY_SHOP_DOMAINS names that shop alone, the Shopify customers of no
// recorded shop). A body naming another shop than the delivery's is
// refused; with Temporal down the answer is 503, and Shopify's retry
// starts it, without a second record.
func TestShopifyShopRedactErasesTheShopsCustomers(t *testing.T) {
	s := newShop(t)
	ctx := context.Background()
	const otherShop = "other-shop.myshopify.com"
	require.Equal(t, http.StatusOK, s.shopify(shopifySecret, "customers/create", "c-1", shopifyCustomerJSON).Code)
	require.Equal(t, http.StatusOK, s.shopify(shopifySecret, "orders/create", "o-1",
		strings.ReplaceAll(shopifyOrderJSON("0.30", "0.10", "0.10"), "706405506930370084", "706405506930370085")).Code)
	other := strings.Replace(shopifyCustomerJSON, "706405506930370084", "706405506930370099", 1)
	require.Equal(t, http.StatusOK, s.shopifyFrom(otherShop, "customers/create", "c-2", other).Code)
	// A later webhook of another shop naming a customer does not take them.
	require.Equal(t, http.StatusOK, s.shopifyFrom(otherShop, "customers/update", "c-3", shopifyCustomerJSON).Code)
	db := storetest.DB(t, s.dbURL)
	shops := map[string]string{}
	rows, err := db.Query(ctx, `SELECT id, coalesce(shopify_shop, '') FROM customers`)
	require.NoError(t, err)
	for rows.Next() {
		var id, shop string
		require.NoError(t, rows.Scan(&id, &shop))
		shops[id] = shop
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, map[string]string{"shopify:706405506930370084": shopDomain, "shopify:706405506930370085": shopDomain,
		"shopify:706405506930370099": otherShop}, shops)

	body := `{"shop_id": 954889, "shop_domain": "` + shopDomain + `"}`
	// The body is signed; the header is not: they must agree.
	a := s.shopifyFrom(otherShop, "shop/redact", "sr-0", body)
	require.Equal(t, http.StatusBadRequest, a.Code, a.Body)
	assert.Equal(t, "shop_domain", a.JSON["field"], a.Body)
	a = s.shopify(shopifySecret, "shop/redact", "sr-00", `{"shop_id": 954889}`)
	require.Equal(t, http.StatusBadRequest, a.Code, a.Body)
	assert.Equal(t, "shop_domain", a.JSON["field"], a.Body)
	assert.Empty(t, s.shopRedactStarts())

	s.temporal.setFail(errors.New("temporal unavailable"))
	a = s.shopify(shopifySecret, "shop/redact", "sr-1", body)
	require.Equal(t, http.StatusServiceUnavailable, a.Code, a.Body)
	seen, err := s.st.WebhookSeen(ctx, "shopify", "sr-1")
	require.NoError(t, err)
	assert.False(t, seen, "a redaction not started was noted as applied: Shopify's retry would be taken for a duplicate")
	s.temporal.setFail(nil)
	a = s.shopify(shopifySecret, "shop/redact", "sr-1", body)
	require.Equal(t, http.StatusOK, a.Code, a.Body)
	assert.Equal(t, "applied", a.JSON["status"], a.Body)
	assert.Contains(t, a.JSON["note"], "erasing the customers that came from "+shopDomain, a.Body)
	starts := s.shopRedactStarts()
	require.Len(t, starts, 1)
	assert.Equal(t, workflows.ShopRedactWorkflowID("sr-1"), starts[0].ID)
	in := starts[0].Args[0].(workflows.ShopRedactInput)
	assert.Equal(t, shopDomain, in.Shop)
	assert.Equal(t, "sr-1", in.WebhookID)
	assert.False(t, in.AllUnattributed, "SHOPIFY_SHOP_DOMAINS is not set: the customers of no recorded shop are not this shop's")
	var records int
	require.NoError(t, db.QueryRow(ctx, `SELECT count(*) FROM shopify_shop_redactions`).Scan(&records))
	assert.Equal(t, 1, records, "Shopify's retry made a second record")
	r, err := s.st.GetShopRedaction(ctx, in.RedactionID)
	require.NoError(t, err)
	assert.Equal(t, int64(954889), r.ShopID)
	assert.Equal(t, shopDomain, r.Shop)
	a = s.shopify(shopifySecret, "shop/redact", "sr-1", body)
	require.Equal(t, http.StatusOK, a.Code, a.Body)
	assert.Equal(t, "duplicate", a.JSON["status"], a.Body)
	assert.Len(t, s.shopRedactStarts(), 1)

	// A Rapport for this shop alone (SHOPIFY_SHOP_DOMAINS names it): the
	// Shopify customers of no recorded shop are its too.
	one := newShopKeyed(t, func(k *api.WebhookKeys) { k.ShopifyShops = []string{shopDomain} })
	a = one.shopify(shopifySecret, "shop/redact", "sr-2", body)
	require.Equal(t, http.StatusOK, a.Code, a.Body)
	assert.Contains(t, a.JSON["note"], "every Shopify customer of no recorded shop", a.Body)
	starts = one.shopRedactStarts()
	require.Len(t, starts, 1)
	assert.True(t, starts[0].Args[0].(workflows.ShopRedactInput).AllUnattributed)
}

func TestShopifyCheckoutIsAnAbandonedCartWithItsRecoveryLink(t *testing.T) {
	s := newShop(t)
	ctx := context.Background()
	checkout := func(completed string) string {
		return `{"id": 901414060, "token": "exuw7apwoycchjuwtiqg8nytfhphr62a", "cart_token": "68778783ad298f1c80c3bafcddeea02f",
		"email": "bob@example.com", "currency": "USD", "total_price": "398.00", "completed_at": ` + completed + `,
		"created_at": "2026-12-01T09:00:00-05:00", "updated_at": "2026-12-01T09:05:00-05:00",
		"abandoned_checkout_url": "https://tea-shop.myshopify.com/59910/checkouts/exuw7apwoycchjuwtiqg8nytfhphr62a/recover?key=abc",
		"customer": {"id": 706405506930370084, "email": "bob@example.com", "first_name": "Bob", "last_name": "Norman"},
		"line_items": [{"product_id": 632910392, "variant_id": 808950810, "title": "IPod Nano - 8GB", "quantity": 2, "price": "199.00"}]}`
	}
	a := s.shopify(shopifySecret, "checkouts/create", "co-1", checkout("null"))
	require.Equal(t, http.StatusOK, a.Code, a.Body)
	a = s.shopify(shopifySecret, "checkouts/update", "co-2", checkout("null"))
	require.Equal(t, http.StatusOK, a.Code, a.Body)
	e, err := s.st.GetEvent(ctx, "shopify:checkout:exuw7apwoycchjuwtiqg8nytfhphr62a")
	require.NoError(t, err)
	assert.Equal(t, "cart.abandoned", e.Type)
	var data map[string]any
	require.NoError(t, json.Unmarshal(e.Data, &data))
	assert.Equal(t, "https://tea-shop.myshopify.com/59910/checkouts/exuw7apwoycchjuwtiqg8nytfhphr62a/recover?key=abc", data["recovery_url"])
	assert.Len(t, data["items"], 1)
	var events int
	require.NoError(t, storetest.DB(t, s.dbURL).QueryRow(ctx, `SELECT count(*) FROM events WHERE type = 'cart.abandoned'`).Scan(&events))
	assert.Equal(t, 1, events, "an update of the checkout started another cart")

	a = s.shopify(shopifySecret, "checkouts/update", "co-3", strings.Replace(checkout(`"2026-12-01T09:10:00-05:00"`), "exuw7apwoycchjuwtiqg8nytfhphr62a", "completedtoken", -1))
	require.Equal(t, http.StatusOK, a.Code, a.Body)
	assert.Equal(t, "ignored", a.JSON["status"], a.Body)
}

func TestShopifyCancelledOrderAndARedactTemporalCannotTakeYet(t *testing.T) {
	s := newShop(t)
	ctx := context.Background()
	order := shopifyOrderJSON("0.30", "0.10", "0.10")
	require.Equal(t, http.StatusOK, s.shopify(shopifySecret, "orders/create", "o-1", order).Code)
	cancelled := strings.Replace(order, `"financial_status": "paid"`, `"financial_status": "voided", "cancelled_at": "2026-12-01T10:00:00-05:00", "cancel_reason": "customer"`, 1)
	a := s.shopify(shopifySecret, "orders/cancelled", "o-2", cancelled)
	require.Equal(t, http.StatusOK, a.Code, a.Body)
	o, err := s.st.GetOrder(ctx, "shopify:820982911946154508")
	require.NoError(t, err)
	assert.Equal(t, store.OrderCancelled, o.Status)
	e, err := s.st.GetEvent(ctx, "shopify:820982911946154508:cancelled")
	require.NoError(t, err)
	assert.Equal(t, "order.cancelled", e.Type)

	// Temporal down: the redact is answered 503 and not noted, so
	// Shopify's retry begins the erasure.
	redact := `{"shop_id": 954889, "shop_domain": "` + shopDomain + `", "customer": {"id": 706405506930370084}, "orders_to_redact": []}`
	s.temporal.setFail(errors.New("temporal unavailable"))
	a = s.shopify(shopifySecret, "customers/redact", "r-1", redact)
	require.Equal(t, http.StatusServiceUnavailable, a.Code, a.Body)
	seen, err := s.st.WebhookSeen(ctx, "shopify", "r-1")
	require.NoError(t, err)
	assert.False(t, seen, "a redact not begun was noted as applied: Shopify's retry would be taken for a duplicate")
	s.temporal.setFail(nil)
	a = s.shopify(shopifySecret, "customers/redact", "r-1", redact)
	require.Equal(t, http.StatusOK, a.Code, a.Body)
	assert.Equal(t, "applied", a.JSON["status"], a.Body)
}

// TestShopifyOrderPaidAndFulfilled: orders/paid and orders/fulfilled,
// signed as Shopify signs them, become order.paid (with the exact total,
// the order left placed) and order.fulfilled (the order fulfilled), each
// once however often it is delivered; one of an order Rapport never
// received is stored and changes no order, saying so.
func TestShopifyOrderPaidAndFulfilled(t *testing.T) {
	s := newShop(t)
	ctx := context.Background()
	const orderID, customerID = "shopify:820982911946154508", "shopify:706405506930370084"
	order := shopifyOrderJSON("0.30", "0.10", "0.10")
	require.Equal(t, http.StatusOK, s.shopify(shopifySecret, "orders/create", "o-create", order).Code)

	a := s.shopify(shopifySecret, "orders/paid", "o-paid", order)
	require.Equal(t, http.StatusOK, a.Code, a.Body)
	assert.Equal(t, "applied", a.JSON["status"], a.Body)
	assert.Equal(t, "orders/paid", a.JSON["topic"], a.Body)
	assert.Equal(t, []any{orderID + ":paid"}, a.JSON["events"], a.Body)
	e, err := s.st.GetEvent(ctx, orderID+":paid")
	require.NoError(t, err)
	assert.Equal(t, "order.paid", e.Type)
	assert.Equal(t, customerID, e.CustomerID)
	var paid map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(e.Data, &paid))
	assert.JSONEq(t, `"`+orderID+`"`, string(paid["order_id"]))
	assert.Equal(t, "0.30", string(paid["total"]), "the total is read exactly")
	assert.JSONEq(t, `"USD"`, string(paid["currency"]))
	assert.JSONEq(t, `"shopify"`, string(paid["source"]))
	assert.JSONEq(t, `"`+shopDomain+`"`, string(paid["shop"]))
	o, err := s.st.GetOrder(ctx, orderID)
	require.NoError(t, err)
	assert.Equal(t, store.OrderPlaced, o.Status, "order.paid changes no order")

	// Shopify sends orders/fulfilled with the order as it stands.
	fulfilled := strings.Replace(order, `"financial_status": "paid"`, `"financial_status": "paid", "fulfillment_status": "fulfilled"`, 1)
	a = s.shopify(shopifySecret, "orders/fulfilled", "o-fulfilled", fulfilled)
	require.Equal(t, http.StatusOK, a.Code, a.Body)
	assert.Equal(t, "applied", a.JSON["status"], a.Body)
	assert.Equal(t, []any{orderID + ":fulfilled"}, a.JSON["events"], a.Body)
	e, err = s.st.GetEvent(ctx, orderID+":fulfilled")
	require.NoError(t, err)
	assert.Equal(t, "order.fulfilled", e.Type)
	assert.Equal(t, customerID, e.CustomerID)
	o, err = s.st.GetOrder(ctx, orderID)
	require.NoError(t, err)
	assert.Equal(t, store.OrderFulfilled, o.Status)

	// Delivered again under other webhook ids (Shopify may send a topic
	// twice): the events stored are the ones there were.
	for _, topic := range []string{"orders/paid", "orders/fulfilled"} {
		a = s.shopify(shopifySecret, topic, "again-"+strings.ReplaceAll(topic, "/", "-"), order)
		require.Equal(t, http.StatusOK, a.Code, a.Body)
	}
	var paidEvents, fulfilledEvents int
	db := storetest.DB(t, s.dbURL)
	require.NoError(t, db.QueryRow(ctx, `SELECT count(*) FILTER (WHERE type = 'order.paid'), count(*) FILTER (WHERE type = 'order.fulfilled')
		FROM events WHERE customer_id = $1`, customerID).Scan(&paidEvents, &fulfilledEvents))
	assert.Equal(t, 1, paidEvents)
	assert.Equal(t, 1, fulfilledEvents)
	o, err = s.st.GetOrder(ctx, orderID)
	require.NoError(t, err)
	assert.Equal(t, store.OrderFulfilled, o.Status)

	// A forged orders/fulfilled is refused and changes nothing.
	other := strings.Replace(order, "820982911946154508", "820982911946154509", 1)
	req := httptest.NewRequest(http.MethodPost, "/webhooks/shopify", strings.NewReader(other))
	req.Header.Set("X-Shopify-Topic", "orders/fulfilled")
	req.Header.Set("X-Shopify-Webhook-Id", "forged-fulfilled")
	req.Header.Set("X-Shopify-Shop-Domain", shopDomain)
	req.Header.Set("X-Shopify-Hmac-Sha256", shopifySign("not the secret", other))
	assert.Equal(t, http.StatusUnauthorized, s.serve(req).Code)
	_, err = s.st.GetEvent(ctx, "shopify:820982911946154509:fulfilled")
	assert.ErrorIs(t, err, store.ErrNotFound)

	// The same, signed: an order Rapport never received is stored as an
	// event that changes no order, and the answer says so.
	a = s.shopify(shopifySecret, "orders/fulfilled", "o-unknown", other)
	require.Equal(t, http.StatusOK, a.Code, a.Body)
	assert.Equal(t, "applied", a.JSON["status"], a.Body)
	assert.Contains(t, a.JSON["note"], "has no order shopify:820982911946154509", a.Body)
	_, err = s.st.GetOrder(ctx, "shopify:820982911946154509")
	assert.ErrorIs(t, err, store.ErrNotFound)

	// A payload without the order's id is refused naming it.
	a = s.shopify(shopifySecret, "orders/paid", "o-no-id", `{"currency": "USD", "customer": {"id": 706405506930370084}}`)
	require.Equal(t, http.StatusBadRequest, a.Code, a.Body)
	assert.Equal(t, "id", a.JSON["field"], a.Body)
}
