package store_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/store/storetest"
)

// shopOf reads the Shopify shop recorded for a customer ("" for none).
func shopOf(t *testing.T, url, id string) string {
	t.Helper()
	var shop *string
	require.NoError(t, storetest.DB(t, url).QueryRow(context.Background(), `SELECT shopify_shop FROM customers WHERE id = $1`, id).Scan(&shop))
	if shop == nil {
		return ""
	}
	return *shop
}

// TestShopifyShopBackfill runs migration 00033's backfill (its UPDATE
// statements, which fill only what is empty) over customers from before
// it: a Shopify customer takes the shop their first Shopify event names,
// else the shop in the note of the consent Shopify reported; a customer
// that did not come from Shopify, or of whom nothing says, takes none.
func TestShopifyShopBackfill(t *testing.T) {
	t.Parallel()
	s, url := storetest.New(t)
	ctx := context.Background()
	for _, id := range []string{"shopify:1", "shopify:2", "shopify:3", "shopify:4", "c_segment"} {
		_, err := s.UpsertCustomer(ctx, store.Customer{ID: id})
		require.NoError(t, err)
	}
	event := func(id, customer, data string, at time.Time) {
		t.Helper()
		_, _, err := s.RecordEvent(ctx, store.Event{ID: id, Type: "cart.abandoned", CustomerID: customer, OccurredAt: at, Data: json.RawMessage(data)}, nil)
		require.NoError(t, err)
	}
	consent := func(customer, note string) {
		t.Helper()
		_, err := s.RecordConsent(ctx, customer, "email", "opted_in", "shopify", store.Evidence{Note: note})
		require.NoError(t, err)
	}
	now := time.Now().Add(-time.Hour)
	event("e-1", "shopify:1", `{"source": "shopify", "shop": "a-shop.myshopify.com"}`, now)
	event("e-1b", "shopify:1", `{"source": "shopify", "shop": "b-shop.myshopify.com"}`, now.Add(time.Minute))
	consent("shopify:2", "Shopify customers/create webhook 7f1b0a52-0d36 from b-shop.myshopify.com")
	event("e-4", "shopify:4", `{"source": "shopify", "shop": "a-shop.myshopify.com"}`, now)
	consent("shopify:4", "Shopify customers/update webhook c-9 from b-shop.myshopify.com")
	consent("shopify:3", "changed in the preference center") // says no shop
	event("e-seg", "c_segment", `{"source": "shopify", "shop": "a-shop.myshopify.com"}`, now)
	// The columns exist (the migration ran); empty them, as before it.
	_, err := storetest.DB(t, url).Exec(ctx, `UPDATE customers SET shopify_shop = NULL`)
	require.NoError(t, err)

	raw, err := os.ReadFile("migrations/00033_shopify_shops.sql")
	require.NoError(t, err)
	up, _, _ := strings.Cut(string(raw), "-- +goose Down")
	ran := 0
	for _, stmt := range strings.Split(up, ";\n") {
		var code []string
		for _, line := range strings.Split(stmt, "\n") {
			if !strings.HasPrefix(strings.TrimSpace(line), "--") {
				code = append(code, line)
			}
		}
		sql := strings.TrimSpace(strings.Join(code, "\n"))
		if strings.HasPrefix(sql, "UPDATE customers") {
			_, err := storetest.DB(t, url).Exec(ctx, sql)
			require.NoError(t, err, sql)
			ran++
		}
	}
	require.Equal(t, 2, ran, "the migration's two backfills")

	assert.Equal(t, "a-shop.myshopify.com", shopOf(t, url, "shopify:1"), "the first event's shop")
	assert.Equal(t, "b-shop.myshopify.com", shopOf(t, url, "shopify:2"), "the consent note's shop")
	assert.Equal(t, "", shopOf(t, url, "shopify:3"))
	assert.Equal(t, "a-shop.myshopify.com", shopOf(t, url, "shopify:4"), "an event outranks a consent note")
	assert.Equal(t, "", shopOf(t, url, "c_segment"), "not a Shopify customer")
}

// TestShopCustomersAreTheShopsAlone: SetShopifyShop keeps the first shop;
// ShopCustomers pages through one shop's customers in id order, the
// Shopify customers of no recorded shop only when asked, never another
// shop's nor a customer that did not come from Shopify; a shop
// redaction's record is made once per delivery and completed once.
func TestShopCustomersAreTheShopsAlone(t *testing.T) {
	t.Parallel()
	s, url := storetest.New(t)
	ctx := context.Background()
	const a, b = "a-shop.myshopify.com", "b-shop.myshopify.com"
	shops := map[string]string{"shopify:10": a, "shopify:11": a, "shopify:12": a, "shopify:20": b, "shopify:30": "", "c_plain": "", "shopify:refund:1": ""}
	for id, shop := range shops {
		_, err := s.UpsertCustomer(ctx, store.Customer{ID: id})
		require.NoError(t, err)
		if shop != "" {
			require.NoError(t, s.SetShopifyShop(ctx, id, shop))
		}
	}
	require.NoError(t, s.SetShopifyShop(ctx, "shopify:10", b))
	assert.Equal(t, a, shopOf(t, url, "shopify:10"), "the first shop keeps the customer")
	require.NoError(t, s.SetShopifyShop(ctx, "shopify:nobody", a), "a customer Rapport does not hold is left alone")

	page, err := s.ShopCustomers(ctx, a, false, "", 2)
	require.NoError(t, err)
	assert.Equal(t, []string{"shopify:10", "shopify:11"}, page)
	page, err = s.ShopCustomers(ctx, a, false, "shopify:11", 2)
	require.NoError(t, err)
	assert.Equal(t, []string{"shopify:12"}, page)
	page, err = s.ShopCustomers(ctx, a, true, "", 10)
	require.NoError(t, err)
	assert.Equal(t, []string{"shopify:10", "shopify:11", "shopify:12", "shopify:30"}, page, "with the unattributed, still not b's, c_plain or a non-customer id")
	page, err = s.ShopCustomers(ctx, "c-shop.myshopify.com", false, "", 10)
	require.NoError(t, err)
	assert.Empty(t, page)
	n, err := s.UnattributedShopifyCustomers(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n, "shopify:30 alone")

	r, err := s.BeginShopRedaction(ctx, store.ShopRedaction{Shop: a, ShopID: 954889, WebhookID: "sr-1", WorkflowID: "rapport-shop-redact/sr-1"})
	require.NoError(t, err)
	again, err := s.BeginShopRedaction(ctx, store.ShopRedaction{Shop: a, WebhookID: "sr-1", WorkflowID: "other", AllUnattributed: true})
	require.NoError(t, err)
	assert.Equal(t, r, again, "the same delivery again finds the first record")
	assert.Equal(t, int64(954889), r.ShopID)
	assert.False(t, r.AllUnattributed)
	require.NoError(t, s.RecordShopRedactionProgress(ctx, r.ID, 2))
	require.NoError(t, s.RecordShopRedactionProgress(ctx, r.ID, 1))
	got, err := s.GetShopRedaction(ctx, r.ID)
	require.NoError(t, err)
	assert.Equal(t, 2, got.Erasures, "counts only grow")
	done, err := s.FinishShopRedaction(ctx, r.ID, 3, 1)
	require.NoError(t, err)
	assert.True(t, done)
	done, err = s.FinishShopRedaction(ctx, r.ID, 9, 9)
	require.NoError(t, err)
	assert.False(t, done, "finished once")
	got, err = s.GetShopRedaction(ctx, r.ID)
	require.NoError(t, err)
	assert.Equal(t, 3, got.Erasures)
	assert.Equal(t, 1, got.UnattributedKept)
	assert.NotNil(t, got.CompletedAt)
	_, err = s.GetShopRedaction(ctx, 999)
	assert.ErrorIs(t, err, store.ErrNotFound)
}
