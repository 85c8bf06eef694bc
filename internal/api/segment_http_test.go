package api_test

// Contract tests of the Segment-spec routes: calls shaped as the Segment
// spec (and RudderStack, which sends the same) describes them, written
// from the spec, through the real handlers on a real database.

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/api"
	"github.com/rapporthq/rapport/internal/apikey"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/store/storetest"
	"github.com/rapporthq/rapport/workflows"
)

// segmentKey makes a key holding only segment:write.
func (s *shop) segmentKey() string {
	s.t.Helper()
	return s.keyWith("segment-source", apikey.SegmentWrite)
}

// query reads one text value straight from the API's database.
func (s *shop) query(sql string) string {
	s.t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.dbURL)
	require.NoError(s.t, err)
	defer conn.Close(ctx)
	var out string
	require.NoError(s.t, conn.QueryRow(ctx, sql).Scan(&out), sql)
	return out
}

// segment posts a call as Segment's HTTP API clients do: the key as the
// Basic auth user name, no password.
func (s *shop) segment(key, path, body string) answer {
	s.t.Helper()
	req := httptest.NewRequest("POST", path, strings.NewReader(body))
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(key+":")))
	req.Header.Set("Content-Type", "application/json")
	return s.serve(req)
}

func TestSegmentKeyInBasicOrBearerWithItsScope(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	s.customer(`{"id": "c_1"}`)
	key := s.segmentKey()
	page := `{"type": "page", "messageId": "m-auth-1", "userId": "c_1", "name": "Home"}`

	a := s.segment(key, "/v1/segment/page", page)
	require.Equal(t, http.StatusAccepted, a.Code, a.Body)

	req := httptest.NewRequest("POST", "/v1/segment", strings.NewReader(strings.Replace(page, "m-auth-1", "m-auth-2", 1)))
	req.Header.Set("Authorization", "Bearer "+key)
	assert.Equal(t, http.StatusAccepted, s.serve(req).Code, "the key as a bearer token")

	assert.Equal(t, http.StatusUnauthorized, s.segment("rk_not-a-key", "/v1/segment/page", page).Code)
	req = httptest.NewRequest("POST", "/v1/segment/page", strings.NewReader(page))
	req.Header.Set("Authorization", "Basic not-base64!")
	assert.Equal(t, http.StatusUnauthorized, s.serve(req).Code)

	_, events, err := s.st.CreateAPIKey(context.Background(), "events-only", []apikey.Scope{apikey.EventsWrite})
	require.NoError(t, err)
	a = s.segment(events, "/v1/segment/page", page)
	assert.Equal(t, http.StatusForbidden, a.Code)
	assert.Equal(t, "segment:write", a.JSON["scope"])

	// Basic auth is for the Segment routes only: elsewhere a key is a
	// bearer token.
	a = s.segment(key, "/v1/events", `{"id": "e1", "type": "x.y", "customer_id": "c_1"}`)
	assert.Equal(t, http.StatusUnauthorized, a.Code)
}

// identify fills the customer: the traits Rapport has fields for, the
// context's locale and time zone, and the other traits as attributes; a
// replay is a duplicate that changes nothing.
func TestSegmentIdentifyFillsTheCustomer(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	key := s.segmentKey()
	first := `{
	  "type": "identify", "messageId": "ajs-id-1", "userId": "u_ada", "anonymousId": "507f191e810c19729de860ea",
	  "timestamp": "2026-05-01T10:00:00.000Z",
	  "context": {"locale": "en-GB", "timezone": "Europe/London", "ip": "192.0.2.1", "library": {"name": "analytics.js", "version": "2.11.1"}},
	  "traits": {"email": "ada@example.com", "phone": "+44 20 7946 0958", "firstName": "Ada", "lastName": "Lovelace",
	    "address": {"street": "12 St James's Square", "city": "London", "postalCode": "SW1Y 4LB", "country": "gb"},
	    "plan": "premium", "logins": 5, "createdAt": "2026-01-01T00:00:00Z"}
	}`
	a := s.segment(key, "/v1/segment/identify", first)
	require.Equal(t, http.StatusAccepted, a.Code, a.Body)
	assert.Equal(t, "accepted", a.JSON["status"])
	assert.Equal(t, "created", a.JSON["customer"])
	assert.Equal(t, "segment:ajs-id-1", a.JSON["id"])
	assert.Equal(t, "customer.identified", a.JSON["event"])

	c := s.must(http.StatusOK, "GET", "/v1/customers/u_ada", "")
	assert.Equal(t, "ada@example.com", c["email"])
	assert.Equal(t, "+442079460958", c["phone_e164"])
	assert.Equal(t, "Ada Lovelace", c["name"])
	assert.Equal(t, "en-GB", c["locale"])
	assert.Equal(t, "Europe/London", c["time_zone"])
	addr := c["address"].(map[string]any)
	assert.Equal(t, "12 St James's Square", addr["line1"])
	assert.Equal(t, "SW1Y 4LB", addr["postal_code"])
	assert.Equal(t, "GB", addr["country"], "a two-letter country in capitals")
	attrs := c["attributes"].(map[string]any)
	assert.Equal(t, map[string]any{"plan": "premium", "logins": 5.0, "createdAt": "2026-01-01T00:00:00Z"}, attrs)

	// A later identify changes what it names and keeps the rest; a trait
	// of null removes the attribute.
	a = s.segment(key, "/v1/segment", `{"type": "identify", "messageId": "ajs-id-2", "userId": "u_ada",
	  "traits": {"email": "ada@lovelace.example", "logins": null, "plan": "gold"}}`)
	require.Equal(t, http.StatusAccepted, a.Code, a.Body)
	assert.Equal(t, "updated", a.JSON["customer"])
	c = s.must(http.StatusOK, "GET", "/v1/customers/u_ada", "")
	assert.Equal(t, "ada@lovelace.example", c["email"])
	assert.Equal(t, "Ada Lovelace", c["name"])
	assert.Equal(t, map[string]any{"plan": "gold", "createdAt": "2026-01-01T00:00:00Z"}, c["attributes"])

	// The first call again (a retry from the sender): a duplicate, and
	// the customer keeps what the later call set.
	a = s.segment(key, "/v1/segment/identify", first)
	require.Equal(t, http.StatusOK, a.Code, a.Body)
	assert.Equal(t, "duplicate", a.JSON["status"])
	assert.Nil(t, a.JSON["customer"])
	assert.Equal(t, "ada@lovelace.example", s.must(http.StatusOK, "GET", "/v1/customers/u_ada", "")["email"])

	// Its messageId on another call is refused, naming messageId.
	a = s.segment(key, "/v1/segment/identify", strings.Replace(first, "premium", "basic", 1))
	assert.Equal(t, http.StatusConflict, a.Code, a.Body)
	assert.Equal(t, "messageId", a.JSON["field"])
	assert.Equal(t, "gold", s.must(http.StatusOK, "GET", "/v1/customers/u_ada", "")["attributes"].(map[string]any)["plan"])
}

// Bad traits are refused with 400 naming the trait, and change nothing.
func TestSegmentIdentifyRefusesBadTraitsByName(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	key := s.segmentKey()
	for _, tc := range []struct{ traits, context, field string }{
		{`{"email": "not an address"}`, `{}`, "traits.email"},
		{`{"email": 42}`, `{}`, "traits.email"},
		{`{"phone": "call me"}`, `{}`, "traits.phone"},
		{`{"name": "Ada", "address": {"street": "1 Main St", "city": "Springfield", "postalCode": "1", "country": "United States"}}`, `{}`, "traits.address.country"},
		{`{"address": {"street": "12 St James's Square", "city": "London", "postalCode": "SW1Y 4LB", "country": "GB"}}`, `{}`, "traits.name"},
		{`{"firstName": "A\nB"}`, `{}`, "traits.firstName"},
		{`{"note": "nul \u0000 here"}`, `{}`, "traits.note"},
		{`{"big": 1e400}`, `{}`, "traits.big"},
		{`{}`, `{"timezone": "Mars/Olympus"}`, "context.timezone"},
		{`{}`, `{"locale": "!!"}`, "context.locale"},
		{`{"locale": "!!"}`, `{}`, "traits.locale"},
		{`"ada"`, `{}`, "traits"},
	} {
		body := fmt.Sprintf(`{"type": "identify", "messageId": "m-bad", "userId": "u_bad", "traits": %s, "context": %s}`, tc.traits, tc.context)
		a := s.segment(key, "/v1/segment/identify", body)
		assert.Equal(t, http.StatusBadRequest, a.Code, "%s: %s", tc.traits, a.Body)
		assert.Equal(t, tc.field, a.JSON["field"], "%s: %s", tc.traits, a.Body)
	}
	assert.Equal(t, http.StatusNotFound, s.call("GET", "/v1/customers/u_bad", "").Code, "nothing was stored")
	assert.Equal(t, http.StatusNotFound, s.call("GET", "/v1/events/segment:m-bad", "").Code)

	// Invalid UTF-8 is refused before it is read.
	a := s.segment(key, "/v1/segment/identify", "{\"type\": \"identify\", \"messageId\": \"m-utf\", \"userId\": \"u_bad\", \"traits\": {\"name\": \"\xff\"}}")
	assert.Equal(t, http.StatusBadRequest, a.Code, a.Body)
	assert.Equal(t, "traits.name", a.JSON["field"])
}

// Order Completed is order.placed: its order read exactly from the JSON
// numbers' text, starting the order journeys; Order Refunded and Order
// Cancelled move the order on.
func TestSegmentOrderCompletedIsAnOrderPlaced(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	s.customer(`{"id": "c_1", "email": "ada@example.com"}`)
	key := s.segmentKey()
	at := time.Now().UTC().Add(-time.Minute).Truncate(time.Second).Format(time.RFC3339)
	order := `{
	  "type": "track", "event": "Order Completed", "messageId": "m-order-1", "userId": "c_1",
	  "timestamp": "` + at + `",
	  "properties": {"checkout_id": "fksdjfsdjfisjf9sdfjsd9f", "order_id": "o-1", "affiliation": "Google Store",
	    "total": 1234567.89, "subtotal": 1234557.89, "revenue": 1234550.00, "shipping": 3, "tax": 2, "discount": 2.5,
	    "coupon": "hasbros", "currency": "EUR",
	    "products": [
	      {"product_id": "507f1f77bcf86cd799439011", "sku": "45790-32", "name": "Monopoly: 3rd Edition", "price": 1234560.10, "quantity": 1, "category": "Games"},
	      {"sku": "46493-32", "name": "Uno Card Game", "price": 3.895e0, "category": "Games"}
	    ]}
	}`
	// The second product's price has three places: EUR has two.
	a := s.segment(key, "/v1/segment/track", order)
	require.Equal(t, http.StatusBadRequest, a.Code, a.Body)
	assert.Equal(t, "properties.products[1].price", a.JSON["field"])

	order = strings.Replace(order, "3.895e0", "7.79", 1)
	a = s.segment(key, "/v1/segment/track", order)
	require.Equal(t, http.StatusAccepted, a.Code, a.Body)
	assert.Equal(t, "order.placed", a.JSON["event"])
	thanks, review := workflows.WorkflowID("thanks", "c_1", "segment:m-order-1"), workflows.WorkflowID("review", "c_1", "segment:m-order-1")
	assert.ElementsMatch(t, []string{thanks, review}, strs(a.JSON["started"]))
	for _, st := range s.temporal.startList() {
		assert.Equal(t, "o-1", st.Event.Order.ID)
	}
	// Stored exactly: the total, not the revenue; numbers as sent.
	assert.Equal(t, "1234567.89", s.query(`SELECT total::text FROM orders WHERE id = 'o-1'`))
	assert.Equal(t, "1234560.10 1 507f1f77bcf86cd799439011|7.79 1 46493-32",
		s.query(`SELECT string_agg(price::text || ' ' || quantity || ' ' || product_id, '|' ORDER BY price DESC) FROM order_items WHERE order_id = 'o-1'`))
	e := s.must(http.StatusOK, "GET", "/v1/events/segment:m-order-1", "")
	data := e["data"].(map[string]any)
	assert.Equal(t, "Google Store", data["affiliation"], "the properties are kept as the event's data")
	assert.Equal(t, "45790-32", data["products"].([]any)[0].(map[string]any)["sku"])
	assert.Equal(t, at, e["occurred_at"])

	// Again: a duplicate, starting nothing.
	a = s.segment(key, "/v1/segment/track", order)
	require.Equal(t, http.StatusOK, a.Code, a.Body)
	assert.Equal(t, "duplicate", a.JSON["status"])
	assert.Len(t, s.temporal.startIDs(), 2)

	// A partial refund: the spec's total is the amount refunded.
	a = s.segment(key, "/v1/segment/track", `{"type": "track", "event": "Order Refunded", "messageId": "m-refund-1", "userId": "c_1",
	  "properties": {"order_id": "o-1", "total": 7.79, "currency": "EUR"}}`)
	require.Equal(t, http.StatusAccepted, a.Code, a.Body)
	assert.Equal(t, "order.refunded", a.JSON["event"])
	assert.Equal(t, map[string]any{"id": "o-1", "status": "partly_refunded", "refunded": 7.79}, a.JSON["order"])
	// More than the total: refused naming the spec's field.
	a = s.segment(key, "/v1/segment/track", `{"type": "track", "event": "Order Refunded", "messageId": "m-refund-2", "userId": "c_1",
	  "properties": {"order_id": "o-1", "total": 99999999, "currency": "EUR"}}`)
	require.Equal(t, http.StatusBadRequest, a.Code, a.Body)
	assert.Equal(t, "properties.total", a.JSON["field"])

	a = s.segment(key, "/v1/segment/track", `{"type": "track", "event": "Order Cancelled", "messageId": "m-cancel-1", "userId": "c_1",
	  "properties": {"order_id": "o-1"}}`)
	require.Equal(t, http.StatusAccepted, a.Code, a.Body)
	assert.Equal(t, "order.cancelled", a.JSON["event"])
	assert.Equal(t, []string{review}, strs(a.JSON["delivered"]), "the review run hears of the cancellation")

	for _, tc := range []struct{ props, field string }{
		{`{"total": 10, "currency": "EUR", "products": [{"product_id": "p", "name": "P", "price": 10}]}`, "properties.order_id"},
		{`{"order_id": "o-2", "total": 10, "products": [{"product_id": "p", "name": "P", "price": 10}]}`, "properties.currency"},
		{`{"order_id": "o-2", "currency": "EUR", "products": [{"product_id": "p", "name": "P", "price": 10}]}`, "properties.total"},
		{`{"order_id": "o-2", "revenue": -1, "currency": "EUR", "products": [{"product_id": "p", "name": "P", "price": 10}]}`, "properties.revenue"},
		{`{"order_id": "o-2", "total": 10, "currency": "EUR"}`, "properties.products"},
		{`{"order_id": "o-2", "total": 10, "currency": "EUR", "products": [{"name": "P", "price": 10}]}`, "properties.products[0].product_id"},
		{`{"order_id": "o-2", "total": 10, "currency": "EUR", "products": [{"product_id": "p", "price": 10}]}`, "properties.products[0].name"},
		{`{"order_id": "o-2", "total": 10, "currency": "EUR", "products": [{"product_id": "p", "name": "P", "price": 10, "quantity": 1.5}]}`, "properties.products[0].quantity"},
		{`{"order_id": "o-2", "total": "ten", "currency": "EUR", "products": [{"product_id": "p", "name": "P", "price": 10}]}`, "properties.total"},
	} {
		a := s.segment(key, "/v1/segment/track", `{"type": "track", "event": "Order Completed", "messageId": "m-order-bad", "userId": "c_1", "properties": `+tc.props+`}`)
		assert.Equal(t, http.StatusBadRequest, a.Code, "%s: %s", tc.props, a.Body)
		assert.Equal(t, tc.field, a.JSON["field"], "%s: %s", tc.props, a.Body)
	}
}

// The e-commerce spec's browsing events take Rapport's names; any other
// event is "segment." and its name in lower snake case.
func TestSegmentEventNames(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	s.customer(`{"id": "c_1"}`)
	key := s.segmentKey()
	for i, tc := range []struct{ event, want string }{
		{"Product Viewed", "product.viewed"},
		{"Product Added", "cart.product_added"},
		{"Cart Viewed", "cart.viewed"},
		{"Checkout Started", "checkout.started"},
		{"checkout started", "checkout.started"},
		{"Signed Up", "segment.signed_up"},
		{"  Trial -- Ended (v2)!", "segment.trial_ended_v2"},
		{"Café Visited", "segment.caf_visited"},
	} {
		a := s.segment(key, "/v1/segment/track", fmt.Sprintf(`{"type": "track", "event": %q, "messageId": "m-%d", "userId": "c_1", "properties": {"product_id": "p-1"}}`, tc.event, i))
		require.Equal(t, http.StatusAccepted, a.Code, a.Body)
		assert.Equal(t, tc.want, a.JSON["event"], tc.event)
		assert.Equal(t, tc.want, s.must(http.StatusOK, "GET", fmt.Sprintf("/v1/events/segment:m-%d", i), "")["type"])
	}
	for _, event := range []string{"3D Secure Passed", "¡¿!", strings.Repeat("Long ", 30)} {
		a := s.segment(key, "/v1/segment/track", fmt.Sprintf(`{"type": "track", "event": %q, "messageId": "m-x", "userId": "c_1"}`, event))
		assert.Equal(t, http.StatusBadRequest, a.Code, a.Body)
		assert.Equal(t, "event", a.JSON["field"], a.Body)
	}
	// page and screen calls.
	a := s.segment(key, "/v1/segment/page", `{"type": "page", "messageId": "m-page", "userId": "c_1", "name": "Pricing", "category": "Docs",
	  "properties": {"path": "/pricing", "url": "https://shop.example/pricing", "title": "Pricing", "referrer": "", "search": ""}}`)
	require.Equal(t, http.StatusAccepted, a.Code, a.Body)
	assert.Equal(t, "page.viewed", a.JSON["event"])
	data := s.must(http.StatusOK, "GET", "/v1/events/segment:m-page", "")["data"].(map[string]any)
	assert.Equal(t, "Pricing", data["name"])
	assert.Equal(t, "/pricing", data["path"])
	a = s.segment(key, "/v1/segment", `{"type": "screen", "messageId": "m-screen", "userId": "c_1", "name": "Basket"}`)
	require.Equal(t, http.StatusAccepted, a.Code, a.Body)
	assert.Equal(t, "screen.viewed", a.JSON["event"])
}

// Calls Rapport does not keep: anonymous ones and alias and group are
// answered ignored and not stored; a call for an erased customer, or one
// that is not a call, is refused naming the field.
func TestSegmentAnonymousErasedAndBadCalls(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	s.customer(`{"id": "c_1"}`)
	key := s.segmentKey()

	a := s.segment(key, "/v1/segment/track", `{"type": "track", "event": "Product Viewed", "messageId": "m-anon", "anonymousId": "23adfd82-aa0f-45a7-a756-24f2a7a4c895"}`)
	require.Equal(t, http.StatusOK, a.Code, a.Body)
	assert.Equal(t, "ignored", a.JSON["status"])
	assert.Contains(t, a.JSON["reason"], "anonymous")
	assert.Equal(t, http.StatusNotFound, s.call("GET", "/v1/events/segment:m-anon", "").Code)
	a = s.segment(key, "/v1/segment", `{"type": "alias", "messageId": "m-alias", "userId": "c_1", "previousId": "anon-1"}`)
	require.Equal(t, http.StatusOK, a.Code, a.Body)
	assert.Equal(t, "ignored", a.JSON["status"])

	// An erased customer's calls are refused, identify too: a Segment
	// source still sending for them does not bring them back.
	s.customer(`{"id": "c_gone", "email": "gone@example.com"}`)
	hash, err := s.st.CustomerHash("c_gone")
	require.NoError(t, err)
	_, _, err = s.st.BeginErasure(context.Background(), "c_gone", workflows.EraseWorkflowID(hash), "key dpo", "asked by email")
	require.NoError(t, err)
	for _, body := range []string{
		`{"type": "identify", "messageId": "m-gone-1", "userId": "c_gone", "traits": {"email": "back@example.com"}}`,
		`{"type": "track", "event": "Product Viewed", "messageId": "m-gone-2", "userId": "c_gone"}`,
	} {
		a := s.segment(key, "/v1/segment", body)
		assert.Equal(t, http.StatusGone, a.Code, a.Body)
		assert.Equal(t, "userId", a.JSON["field"], a.Body)
	}
	a = s.segment(key, "/v1/segment/batch", `{"batch": [{"type": "identify", "messageId": "m-gone-3", "userId": "c_gone", "traits": {"email": "back@example.com"}},
		{"type": "page", "messageId": "m-gone-4", "userId": "c_gone", "name": "Home"}]}`)
	require.Equal(t, http.StatusOK, a.Code, a.Body)
	for i := range 2 {
		assert.Equal(t, "rejected", a.JSON["results"].([]any)[i].(map[string]any)["status"], a.Body)
		assert.Equal(t, "userId", a.JSON["results"].([]any)[i].(map[string]any)["field"], a.Body)
	}
	c, err := s.st.GetCustomer(context.Background(), "c_gone")
	require.NoError(t, err)
	assert.Equal(t, "gone@example.com", c.Email, "an erased customer's call changed them")
	// Erased and gone: a call does not register them again either.
	_, err = storetest.DB(t, s.dbURL).Exec(context.Background(), `DELETE FROM customers WHERE id = 'c_gone'`)
	require.NoError(t, err)
	a = s.segment(key, "/v1/segment/page", `{"type": "page", "messageId": "m-gone-5", "userId": "c_gone", "name": "Home"}`)
	assert.Equal(t, http.StatusGone, a.Code, a.Body)
	_, err = s.st.GetCustomer(context.Background(), "c_gone")
	assert.ErrorIs(t, err, store.ErrNotFound, "a call registered an erased customer again")

	for _, tc := range []struct{ path, body, field string }{
		{"/v1/segment/track", `{"type": "track", "event": "X", "userId": "c_1"}`, "messageId"},
		{"/v1/segment/track", `{"type": "track", "event": "X", "messageId": "has space", "userId": "c_1"}`, "messageId"},
		{"/v1/segment/track", `{"type": "track", "event": "X", "messageId": "m"}`, "userId"},
		{"/v1/segment/track", `{"type": "track", "event": "X", "messageId": "m", "userId": "ada@example.com"}`, "userId"},
		{"/v1/segment/track", `{"type": "track", "messageId": "m", "userId": "c_1"}`, "event"},
		{"/v1/segment/track", `{"type": "page", "messageId": "m", "userId": "c_1"}`, "type"},
		{"/v1/segment", `{"messageId": "m", "userId": "c_1"}`, "type"},
		{"/v1/segment", `{"type": "pageview", "messageId": "m", "userId": "c_1"}`, "type"},
		{"/v1/segment/track", `{"type": "track", "event": "X", "messageId": "m", "userId": "c_1", "properties": [1]}`, "properties"},
		{"/v1/segment/track", `{"type": "track", "event": "X", "messageId": "m", "userId": "c_1", "properties": {"a": "b\u0000"}}`, "properties.a"},
		{"/v1/segment/track", `{"type": "track", "event": "X", "messageId": "m", "userId": "c_1", "timestamp": "yesterday"}`, "timestamp"},
		{"/v1/segment/track", `{"type": "track", "event": "X", "messageId": "m", "userId": "c_1", "timestamp": "2999-01-01T00:00:00Z"}`, "timestamp"},
		{"/v1/segment/page", `{"type": "page", "messageId": "m", "userId": "c_1", "name": "` + strings.Repeat("n", 201) + `"}`, "name"},
	} {
		a := s.segment(key, tc.path, tc.body)
		assert.Equal(t, http.StatusBadRequest, a.Code, "%s: %s", tc.body, a.Body)
		assert.Equal(t, tc.field, a.JSON["field"], "%s: %s", tc.body, a.Body)
	}

	// Segment's limits: 32 KiB a call, 500 KiB a batch.
	big := fmt.Sprintf(`{"type": "track", "event": "X", "messageId": "m-big", "userId": "c_1", "properties": {"pad": %q}}`, strings.Repeat("x", 33<<10))
	assert.Equal(t, http.StatusRequestEntityTooLarge, s.segment(key, "/v1/segment/track", big).Code)
	assert.Equal(t, http.StatusRequestEntityTooLarge, s.segment(key, "/v1/segment", big).Code)
	calls := make([]string, 20)
	for i := range calls {
		calls[i] = fmt.Sprintf(`{"type": "track", "event": "X", "messageId": "m-b%d", "userId": "c_1", "properties": {"pad": %q}}`, i, strings.Repeat("x", 30<<10))
	}
	assert.Equal(t, http.StatusRequestEntityTooLarge, s.segment(key, "/v1/segment/batch", `{"batch": [`+strings.Join(calls, ",")+`]}`).Code)
}

// A batch answers per call, in order: one bad call does not hold back the
// others; its identify calls are applied first, so a track call after the
// identify of a new customer finds them; sent again, it is all duplicates.
func TestSegmentBatchAnswersPerCall(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	s.customer(`{"id": "c_1"}`)
	key := s.segmentKey()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.router.RunQueue(ctx, 2)
	batch := `{"batch": [
	  {"type": "track", "event": "Signed Up", "messageId": "b-1", "userId": "u_new", "properties": {"plan": "pro"}},
	  {"type": "identify", "messageId": "b-2", "userId": "u_new", "traits": {"email": "new@example.com", "name": "New Person"}},
	  {"type": "identify", "messageId": "b-3", "userId": "u_other", "traits": {"email": "not an address"}},
	  {"type": "page", "messageId": "b-4", "anonymousId": "anon-1", "name": "Home"},
	  {"type": "track", "event": "Product Viewed", "messageId": "b-5", "userId": "c_nobody"},
	  {"type": "track", "event": "Signed Up", "messageId": "b-1", "userId": "u_new", "properties": {"plan": "pro"}},
	  {"type": "track", "event": "Signed Up", "messageId": "b-1", "userId": "u_new", "properties": {"plan": "free"}},
	  {"type": "track", "event": "Order Completed", "messageId": "b-8", "userId": "c_1",
	    "properties": {"order_id": "o-b", "revenue": "25.00", "currency": "usd", "products": [{"product_id": "p-1", "name": "Mug", "price": 12.5, "quantity": 2}]}},
	  "not a call",
	  {"type": "group", "messageId": "b-10", "userId": "c_1", "groupId": "g-1"},
	  {"type": "track", "event": "Signed Up", "messageId": "b-11", "userId": "c_1", "properties": {"note": "nul \u0000"}}
	], "sentAt": "2026-05-01T10:00:00Z", "context": {"library": {"name": "analytics-go"}}}`
	a := s.segment(key, "/v1/segment/batch", batch)
	require.Equal(t, http.StatusOK, a.Code, a.Body)
	results := a.JSON["results"].([]any)
	require.Len(t, results, 11)
	line := func(i int) map[string]any { return results[i].(map[string]any) }
	want := []struct{ status, field string }{
		{"accepted", ""}, {"accepted", ""}, {"rejected", "traits.email"}, {"ignored", ""},
		{"accepted", ""}, // a customer Rapport did not know, registered by the id
		{"duplicate", ""}, {"rejected", "messageId"}, {"accepted", ""}, {"rejected", ""}, {"ignored", ""},
		{"rejected", "properties.note"}, // text that cannot be stored: this call alone
	}
	for i, w := range want {
		assert.Equal(t, float64(i), line(i)["index"])
		assert.Equal(t, w.status, line(i)["status"], "line %d: %v", i, line(i))
		if w.field != "" {
			assert.Equal(t, w.field, line(i)["field"], "line %d: %v", i, line(i))
		}
	}
	assert.Equal(t, 4.0, a.JSON["accepted"])
	assert.Equal(t, 1.0, a.JSON["duplicates"])
	assert.Equal(t, 4.0, a.JSON["rejected"])
	assert.Equal(t, 2.0, a.JSON["ignored"])
	assert.Equal(t, "b-1", line(0)["messageId"])
	assert.Equal(t, "segment.signed_up", line(0)["event"])
	assert.Equal(t, "order.placed", line(7)["event"])

	assert.Equal(t, "new@example.com", s.must(http.StatusOK, "GET", "/v1/customers/u_new", "")["email"])
	assert.Equal(t, http.StatusNotFound, s.call("GET", "/v1/customers/u_other", "").Code)
	assert.Equal(t, "25.00", s.query(`SELECT total::text || ' ' || currency FROM orders WHERE id = 'o-b'`)[:5])
	// Routing follows in the background, as for a batch of events.
	require.Eventually(t, func() bool {
		return len(s.temporal.startIDs()) == 2
	}, time.Minute, 20*time.Millisecond, "the order starts thanks and review")

	// The batch again: nothing new.
	a = s.segment(key, "/v1/segment", batch)
	require.Equal(t, http.StatusOK, a.Code, a.Body)
	assert.Equal(t, 0.0, a.JSON["accepted"])
	assert.Equal(t, 5.0, a.JSON["duplicates"])
	// A bare list of calls, as Segment's Webhooks (Actions) posts a batch.
	a = s.segment(key, "/v1/segment", `[{"type": "page", "messageId": "b-list-1", "userId": "c_1", "name": "Home"},
	  {"type": "track", "event": "Signed Up", "messageId": "b-1", "userId": "u_new", "properties": {"plan": "pro"}}]`)
	require.Equal(t, http.StatusOK, a.Code, a.Body)
	assert.Equal(t, 1.0, a.JSON["accepted"])
	assert.Equal(t, 1.0, a.JSON["duplicates"])
	for _, bad := range []string{`{"batch": []}`, `{"batch": {}}`, `{"nope": 1}`, `[]`} {
		a = s.segment(key, "/v1/segment/batch", bad)
		assert.Equal(t, http.StatusBadRequest, a.Code, a.Body)
		assert.Equal(t, "batch", a.JSON["field"], bad)
	}
}

// A track, page or screen call for a userId Rapport does not know (it
// raced ahead of the identify, as it often does) registers the customer
// by their id alone and is stored, alone or in a batch; the identify that
// follows fills in their details, and the events stay theirs.
func TestSegmentCallAheadOfIdentifyRegistersTheCustomer(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	ctx := context.Background()
	key := s.segmentKey()

	a := s.segment(key, "/v1/segment/track", `{"type": "track", "event": "Product Viewed", "messageId": "m-early", "userId": "c_early",
		"properties": {"product_id": "p_teapot", "name": "Teapot"}}`)
	require.Equal(t, http.StatusAccepted, a.Code, a.Body)
	assert.Equal(t, "accepted", a.JSON["status"], a.Body)
	assert.Equal(t, "created", a.JSON["customer"], a.Body)
	c, err := s.st.GetCustomer(ctx, "c_early")
	require.NoError(t, err)
	assert.Equal(t, store.Customer{ID: "c_early", Attributes: map[string]any{}}, store.Customer{ID: c.ID, Email: c.Email, Phone: c.Phone,
		Name: c.Name, Locale: c.Locale, TimeZone: c.TimeZone, Address: c.Address, Attributes: c.Attributes}, "registered by the id alone")
	e, err := s.st.GetEvent(ctx, "segment:m-early")
	require.NoError(t, err)
	assert.Equal(t, "product.viewed", e.Type)
	assert.Equal(t, "c_early", e.CustomerID)

	// Sent again (a retry): a duplicate, and the customer is not made anew.
	a = s.segment(key, "/v1/segment/track", `{"type": "track", "event": "Product Viewed", "messageId": "m-early", "userId": "c_early",
		"properties": {"product_id": "p_teapot", "name": "Teapot"}}`)
	require.Equal(t, http.StatusOK, a.Code, a.Body)
	assert.Equal(t, "duplicate", a.JSON["status"], a.Body)
	assert.Nil(t, a.JSON["customer"], a.Body)
	// Another call for the customer now known creates nobody.
	a = s.segment(key, "/v1/segment", `{"type": "screen", "messageId": "m-early-2", "userId": "c_early", "name": "Basket"}`)
	require.Equal(t, http.StatusAccepted, a.Code, a.Body)
	assert.Nil(t, a.JSON["customer"], a.Body)

	// The identify arrives: it fills in the customer, as for any other.
	a = s.segment(key, "/v1/segment/identify", `{"type": "identify", "messageId": "m-early-id", "userId": "c_early",
		"traits": {"email": "early@example.com", "firstName": "Eve", "lastName": "Early"}, "context": {"timezone": "Europe/Paris"}}`)
	require.Equal(t, http.StatusAccepted, a.Code, a.Body)
	assert.Equal(t, "updated", a.JSON["customer"], a.Body)
	c, err = s.st.GetCustomer(ctx, "c_early")
	require.NoError(t, err)
	assert.Equal(t, "early@example.com", c.Email)
	assert.Equal(t, "Eve Early", c.Name)
	assert.Equal(t, "Europe/Paris", c.TimeZone)

	// In a batch: a page and an Order Completed for two customers Rapport
	// does not know, ahead of the identify of one of them further on.
	a = s.segment(key, "/v1/segment/batch", `{"batch": [
		{"type": "page", "messageId": "m-b-page", "userId": "c_b1", "name": "Home"},
		{"type": "track", "event": "Order Completed", "messageId": "m-b-order", "userId": "c_b2",
		 "properties": {"order_id": "o-b2", "total": 12.5, "currency": "EUR", "products": [{"product_id": "cup", "name": "Cup", "price": 12.5}]}},
		{"type": "track", "event": "Signed Up", "messageId": "m-b-signup", "userId": "c_b1"},
		{"type": "identify", "messageId": "m-b-id", "userId": "c_b2", "traits": {"email": "b2@example.com"}}]}`)
	require.Equal(t, http.StatusOK, a.Code, a.Body)
	assert.EqualValues(t, 4, a.JSON["accepted"], a.Body)
	assert.EqualValues(t, 0, a.JSON["rejected"], a.Body)
	c, err = s.st.GetCustomer(ctx, "c_b1")
	require.NoError(t, err)
	assert.Empty(t, c.Email)
	c, err = s.st.GetCustomer(ctx, "c_b2")
	require.NoError(t, err)
	assert.Equal(t, "b2@example.com", c.Email, "the batch's identify is applied to the customer its track registered")
	o, err := s.st.GetOrder(ctx, "o-b2")
	require.NoError(t, err)
	assert.Equal(t, "c_b2", o.CustomerID)
	assert.Equal(t, "12.50", o.Total.String())
	var events int
	require.NoError(t, storetest.DB(t, s.dbURL).QueryRow(ctx, `SELECT count(*) FROM events WHERE customer_id IN ('c_b1', 'c_b2')`).Scan(&events))
	assert.Equal(t, 4, events)

	// A call the API refuses (a bad property) registers nobody.
	a = s.segment(key, "/v1/segment/track", `{"type": "track", "event": "Order Completed", "messageId": "m-bad", "userId": "c_never",
		"properties": {"order_id": "o-x", "currency": "EUR", "total": 1, "products": []}}`)
	require.Equal(t, http.StatusBadRequest, a.Code, a.Body)
	_, err = s.st.GetCustomer(ctx, "c_never")
	assert.ErrorIs(t, err, store.ErrNotFound, "a refused call registered its customer")
}

// segmentSign is X-Signature as Segment's Webhooks destinations send it:
// hex of HMAC-SHA1 of the raw body keyed by the shared secret.
func segmentSign(secret, body string) string {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(body))
	return hex.EncodeToString(m.Sum(nil))
}

// With a shared secret configured, a Segment call needs both the key and
// an X-Signature that verifies: unsigned, forged, tampered or signed with
// another secret it is refused with 401, stores nothing and is counted;
// signed with the secret (or the one being rotated out) it is taken.
func TestSegmentSharedSecretSignatureIsRequired(t *testing.T) {
	t.Parallel()
	const secret, oldSecret = "seg-shared-secret-new", "seg-shared-secret-old"
	s := newShopKeyed(t, func(k *api.WebhookKeys) { k.SegmentSecrets = []string{secret, oldSecret} })
	key := s.segmentKey()
	post := func(path, body, sig string) answer {
		t.Helper()
		req := httptest.NewRequest("POST", path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		if sig != "" {
			req.Header.Set("X-Signature", sig)
		}
		return s.serve(req)
	}
	page := `{"type": "page", "messageId": "m-sig-1", "userId": "c_sig", "name": "Home"}`
	for name, tc := range map[string]struct{ sig, says string }{
		"unsigned":           {"", "X-Signature is missing"},
		"another secret":     {segmentSign("not the secret", page), "does not verify"},
		"a changed body":     {segmentSign(secret, strings.Replace(page, "Home", "Away", 1)), "does not verify"},
		"SHA-256, not SHA-1": {hex.EncodeToString(hmac.New(sha256.New, []byte(secret)).Sum(nil)), "does not verify"},
		"not hex":            {"zz" + segmentSign(secret, page)[2:], "does not verify"},
		"base64, not hex":    {base64.StdEncoding.EncodeToString([]byte(segmentSign(secret, page))), "does not verify"},
	} {
		a := post("/v1/segment", page, tc.sig)
		assert.Equal(t, http.StatusUnauthorized, a.Code, "%s: %s", name, a.Body)
		assert.Contains(t, a.JSON["error"], tc.says, name)
		assert.Contains(t, a.JSON["error"], "SEGMENT_SHARED_SECRET", name)
	}
	assert.Equal(t, http.StatusNotFound, s.call("GET", "/v1/events/segment:m-sig-1", "").Code, "a refused call was stored")
	_, err := s.st.GetCustomer(context.Background(), "c_sig")
	assert.ErrorIs(t, err, store.ErrNotFound, "a refused call registered its customer")

	// The key is still needed: a signature alone is not enough.
	req := httptest.NewRequest("POST", "/v1/segment", strings.NewReader(page))
	req.Header.Set("X-Signature", segmentSign(secret, page))
	assert.Equal(t, http.StatusUnauthorized, s.serve(req).Code)

	// Signed with the secret, or with the one being rotated out: taken.
	a := post("/v1/segment", page, segmentSign(secret, page))
	require.Equal(t, http.StatusAccepted, a.Code, a.Body)
	identify := `{"type": "identify", "messageId": "m-sig-2", "userId": "c_sig", "traits": {"email": "sig@example.com"}}`
	a = post("/v1/segment/identify", identify, strings.ToUpper(segmentSign(oldSecret, identify)))
	require.Equal(t, http.StatusAccepted, a.Code, a.Body)
	batch := `{"batch": [{"type": "track", "event": "Signed Up", "messageId": "m-sig-3", "userId": "c_sig"}]}`
	a = post("/v1/segment/batch", batch, segmentSign(secret, batch))
	require.Equal(t, http.StatusOK, a.Code, a.Body)
	assert.EqualValues(t, 1, a.JSON["accepted"], a.Body)

	// A list of calls signed over its first call only, as Webhooks
	// (Actions) signs a batch, does not verify: the answer says to turn
	// batching off.
	first := `{"type": "page", "messageId": "m-sig-4", "userId": "c_sig", "name": "Home"}`
	list := `[` + first + `,{"type": "page", "messageId": "m-sig-5", "userId": "c_sig", "name": "Basket"}]`
	a = post("/v1/segment", list, segmentSign(secret, first))
	require.Equal(t, http.StatusUnauthorized, a.Code, a.Body)
	assert.Contains(t, a.JSON["error"], "batching off")
	assert.Equal(t, http.StatusNotFound, s.call("GET", "/v1/events/segment:m-sig-4", "").Code)

	// Without a secret configured, X-Signature is not read.
	plain := newShop(t)
	a = plain.segment(plain.segmentKey(), "/v1/segment/page", page)
	assert.Equal(t, http.StatusAccepted, a.Code, a.Body)
}
