package api

import (
	"context"
	"net/http"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// query reads one text value straight from the API's database.
func (a *inputAPI) query(sql string, args ...any) string {
	a.t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, a.url)
	require.NoError(a.t, err)
	defer conn.Close(ctx)
	var out string
	require.NoError(a.t, conn.QueryRow(ctx, sql, args...).Scan(&out), sql)
	return out
}

// Shops send amounts as JSON numbers or as decimal strings ("48.00", as
// Shopify and Stripe do); both are taken and stored exactly, at the
// currency's decimal places.
func TestAmountsAreTakenAsNumbersOrDecimalStringsAndStoredExactly(t *testing.T) {
	a := newInputAPI(t)
	code, body := a.send("POST", "/v1/events", `{"id": "e_1", "type": "order.placed", "customer_id": "c_1",
		"data": {"order": {"id": "o_1", "total": "48.00", "currency": "EUR",
			"items": [{"product_id": "tea", "name": "Tea", "quantity": 3, "price": "16.00"}]}}}`)
	require.Equal(t, http.StatusAccepted, code, "%s", body)
	assert.Equal(t, "48.00", a.query(`SELECT total::text FROM orders WHERE id = 'o_1'`))
	assert.Equal(t, "16.00", a.query(`SELECT price::text FROM order_items WHERE order_id = 'o_1'`))
	assert.Equal(t, "48.00", a.query(`SELECT lifetime_value::text FROM customers WHERE id = 'c_1'`))
	assert.Equal(t, "48.00", a.query(`SELECT data->'order'->>'total' FROM events WHERE id = 'e_1'`),
		"the event's data keeps the amount exactly too")
	code, body = a.send("GET", "/v1/events/e_1", "")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, string(body), `"total":48.00`, "answered as an exact JSON number")

	for _, tc := range []struct {
		id, total, currency, price, want string
	}{
		{"o_number", `48`, "EUR", `16`, "48.00"},          // a number, at the currency's places
		{"o_float", `0.3`, "GBP", `0.1`, "0.30"},          // no 0.30000000000000004
		{"o_yen", `"4800"`, "JPY", `"1600"`, "4800"},      // no decimal places
		{"o_dinar", `"12.345"`, "KWD", `4.115`, "12.345"}, // three
	} {
		code, body := a.send("POST", "/v1/orders", `{"id": "`+tc.id+`", "customer_id": "c_1", "placed_at": "2026-01-02T10:00:00Z",
			"total": `+tc.total+`, "currency": "`+tc.currency+`", "items": [{"product_id": "tea", "name": "Tea", "quantity": 3, "price": `+tc.price+`}]}`)
		require.Equal(t, http.StatusCreated, code, "%s: %s", tc.id, body)
		assert.Equal(t, tc.want, a.query(`SELECT total::text FROM orders WHERE id = $1`, tc.id), tc.id)
	}
	assert.Equal(t, "0.10", a.query(`SELECT price::text FROM order_items WHERE order_id = 'o_float'`))
	assert.Equal(t, "4.115", a.query(`SELECT price::text FROM order_items WHERE order_id = 'o_dinar'`))

	code, body = a.send("POST", "/v1/products", `{"products": [{"id": "tea", "name": "Tea", "price": "4.25", "currency": "GBP"},
		{"id": "pot", "name": "Pot", "price": 1999, "currency": "JPY"}, {"id": "cup", "name": "Cup", "price": "2.5"}]}`)
	require.Equal(t, http.StatusOK, code, "%s", body)
	assert.Equal(t, "4.25", a.query(`SELECT price::text FROM products WHERE id = 'tea'`))
	assert.Equal(t, "1999", a.query(`SELECT price::text FROM products WHERE id = 'pot'`))
	assert.Equal(t, "2.5", a.query(`SELECT price::text FROM products WHERE id = 'cup'`), "no currency: kept as given")
}

// A bad amount is refused with its path, what was wrong and both forms
// accepted.
func TestBadAmountsAreRefusedWithTheFieldAndTheAcceptedForms(t *testing.T) {
	a := newInputAPI(t)
	order := func(total, currency, price string) string {
		return `{"id": "e_bad", "type": "order.placed", "customer_id": "c_1", "data": {"order": {"id": "o_bad", "total": ` + total +
			`, "currency": "` + currency + `", "items": [{"product_id": "p", "name": "n", "quantity": 1, "price": ` + price + `}]}}}`
	}
	for _, tc := range []struct{ body, field, message string }{
		{order(`"48.00"`, "EUR", `"48,00"`), "data.order.items[0].price",
			`data.order.items[0].price: "48,00" is not an amount; give a number (48.0) or a decimal string ("48.00")`},
		{order(`"€48"`, "EUR", `1`), "data.order.total",
			`data.order.total: "€48" is not an amount; give a number (48.0) or a decimal string ("48.00")`},
		{order(`true`, "EUR", `1`), "data.order.total",
			`data.order.total: true is not an amount; give a number (48.0) or a decimal string ("48.00")`},
		{order(`"48.005"`, "EUR", `1`), "data.order.total",
			"data.order.total: 48.005 has 3 decimal places, but EUR amounts have 2"},
		{order(`"4800.5"`, "JPY", `1`), "data.order.total",
			"data.order.total: 4800.5 has 1 decimal places, but JPY amounts have 0"},
		{order(`"-1.00"`, "EUR", `1`), "data.order.total",
			"data.order.total: must be an amount of zero or more, not -1.00"},
		{order(`"1000000000000"`, "EUR", `1`), "data.order.total",
			"data.order.total: 1000000000000 is more than the most accepted, 999999999999.99"},
		{order(`1e400`, "EUR", `1`), "data.order.total",
			"data.order.total: 1e400 is out of range: an amount has at most 15 digits before the point and 6 after"},
	} {
		code, body := a.send("POST", "/v1/events", tc.body)
		require.Equal(t, http.StatusBadRequest, code, "%s: %s", tc.body, body)
		got := answer(t, body)
		assert.Equal(t, tc.field, got["field"], tc.body)
		assert.Equal(t, tc.message, got["error"], tc.body)
	}

	code, body := a.send("POST", "/v1/products", `{"products": [{"id": "tea", "name": "Tea", "price": "4,25", "currency": "GBP"}]}`)
	require.Equal(t, http.StatusBadRequest, code)
	assert.Equal(t, `products[0].price: "4,25" is not an amount; give a number (48.0) or a decimal string ("48.00")`, answer(t, body)["error"])

	// In a batch, the bad event's line says so and the others go on.
	code, body = a.send("POST", "/v1/events", `{"events": [`+order(`"48,00"`, "EUR", `1`)+`,
		{"id": "e_ok", "type": "order.placed", "customer_id": "c_1", "data": {"order": {"id": "o_ok", "total": "9.90", "currency": "GBP",
			"items": [{"product_id": "p", "name": "n", "quantity": 1, "price": "9.90"}]}}}]}`)
	require.Equal(t, http.StatusOK, code, "%s", body)
	lines := answer(t, body)["results"].([]any)
	assert.Equal(t, "data.order.total", lines[0].(map[string]any)["field"])
	assert.Contains(t, lines[0].(map[string]any)["error"], `or a decimal string ("48.00")`)
	assert.Equal(t, "accepted", lines[1].(map[string]any)["status"])
	assert.Equal(t, "9.90", a.query(`SELECT total::text FROM orders WHERE id = 'o_ok'`))
}
