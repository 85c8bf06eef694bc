package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/workflows"
)

func orderEvent(id, typ, data string) string {
	return fmt.Sprintf(`{"id": %q, "type": %q, "customer_id": "c_1", "data": %s}`, id, typ, data)
}

// figures are the customer's order figures as journeys read them.
func (s *shop) figures(customerID string) []any {
	s.t.Helper()
	f, err := s.st.CustomerFacts(context.Background(), customerID, time.Now())
	require.NoError(s.t, err)
	return []any{f.OrdersCount, f.LifetimeValue, f.DaysSinceLastOrder}
}

// Order events move the order they name, once however often they are
// posted, and are stored and routed as before; the answer says where the
// order stands, or why it did not move. A refund the order cannot take is
// refused, naming the field, and not stored.
func TestOrderEventsMoveTheOrderOnceAndSaySo(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	s.customer(`{"id": "c_1", "email": "ada@example.com"}`)
	s.must(http.StatusAccepted, "POST", "/v1/events", orderPlaced("evt-1", "c_1", "o-1"))
	assert.Equal(t, []any{int64(1), 48.0, int64(0)}, s.figures("c_1"))

	refund := orderEvent("ref-1", "order.refunded", `{"order_id": "o-1", "amount": "10.00", "currency": "GBP"}`)
	a := s.must(http.StatusAccepted, "POST", "/v1/events", refund)
	assert.Equal(t, map[string]any{"id": "o-1", "status": "partly_refunded", "refunded": 10.0}, a["order"])
	assert.Nil(t, a["note"])
	dup := s.must(http.StatusOK, "POST", "/v1/events", refund)
	assert.Equal(t, "duplicate", dup["status"])
	assert.Nil(t, dup["order"], "the same event again changes nothing")
	assert.Equal(t, []any{int64(1), 38.0, int64(0)}, s.figures("c_1"), "net of the refund, once")

	for _, bad := range []struct{ data, field, says string }{
		{`{"order_id": "o-1", "amount": 38.01}`, "data.amount", "would bring the refunds of order o-1 to 48.01, more than its total"},
		{`{"order_id": "o-1", "amount": 49}`, "data.amount", "more than the total of order o-1"},
		{`{"order_id": "o-1", "amount": 5, "currency": "EUR"}`, "data.currency", "order o-1 is in GBP"},
		{`{"order_id": "o-1", "amount": "5,00"}`, "data.amount", "not an amount"},
		{`{"order_id": "o-1", "amount": 0}`, "data.amount", "must be above 0"},
		{`{"order_id": "o-1", "amount": -1}`, "data.amount", "zero or more"},
		{`{"order_id": "o-1", "currency": "pounds"}`, "data.currency", "three-letter"},
		{`{"order_id": 1}`, "data.order_id", "must be a string"},
		{`{"order_id": ""}`, "data.order_id", "is empty"},
		{`{"order_id": "` + strings.Repeat("o", 129) + `"}`, "data.order_id", "at most 128"},
	} {
		res := s.call("POST", "/v1/events", orderEvent("ref-bad", "order.refunded", bad.data))
		assert.Equal(t, http.StatusBadRequest, res.Code, bad.data)
		assert.Equal(t, bad.field, res.JSON["field"], bad.data)
		assert.Contains(t, res.JSON["error"], bad.field+": ", bad.data)
		assert.Contains(t, res.JSON["error"], bad.says, bad.data)
	}
	s.must(http.StatusNotFound, "GET", "/v1/events/ref-bad", "")
	assert.Equal(t, []any{int64(1), 38.0, int64(0)}, s.figures("c_1"))

	// A cancellation still reaches the running review (exit_when), and
	// the order stops counting.
	review := workflows.WorkflowID("review", "c_1", "evt-1")
	c := s.must(http.StatusAccepted, "POST", "/v1/events", orderEvent("can-1", "order.cancelled", `{"order_id": "o-1"}`))
	assert.Equal(t, []string{review}, strs(c["delivered"]))
	assert.Equal(t, map[string]any{"id": "o-1", "status": "cancelled", "refunded": 10.0}, c["order"])
	assert.Equal(t, []any{int64(0), 0.0, int64(-1)}, s.figures("c_1"))

	// Events the order cannot take, or naming no order of theirs, are
	// stored and routed, with a note.
	for _, tc := range []struct{ id, typ, data, note string }{
		{"del-1", "order.delivered", `{"order_id": "o-1"}`, "order o-1 is cancelled, which order.delivered does not change"},
		{"del-2", "order.delivered", `{"order_id": "o-404"}`, "data.order_id: customer c_1 has no order o-404"},
		{"del-3", "order.delivered", `{}`, "data.order_id: not given"},
		{"ret-1", "order.returned", `{"order_id": "o-1", "amount": 5}`, "order o-1 is cancelled"},
	} {
		a := s.must(http.StatusAccepted, "POST", "/v1/events", orderEvent(tc.id, tc.typ, tc.data))
		assert.Contains(t, a["note"], tc.note, tc.id)
		assert.Equal(t, "done", a["routing"])
		assert.NotEmpty(t, s.must(http.StatusOK, "GET", "/v1/events/"+tc.id, "")["routed_at"], "%s is stored and routed", tc.id)
	}
	assert.Equal(t, []any{int64(0), 0.0, int64(-1)}, s.figures("c_1"))
}

// In a batch, each order event is answered on its own line: a refund
// over the total is rejected naming data.amount, and the events around it
// are stored and move their orders.
func TestABatchAnswersEachOrderEvent(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	s.customer(`{"id": "c_1", "email": "ada@example.com"}`)
	s.must(http.StatusAccepted, "POST", "/v1/events", orderPlaced("evt-1", "c_1", "o-1"))
	s.must(http.StatusAccepted, "POST", "/v1/events", orderPlaced("evt-2", "c_1", "o-2"))

	batch := `{"events": [` + strings.Join([]string{
		orderEvent("b-1", "order.refunded", `{"order_id": "o-1", "amount": 20}`),
		orderEvent("b-2", "order.refunded", `{"order_id": "o-1", "amount": 30}`), // 20 + 30 > 48
		orderEvent("b-3", "order.refunded", `{"order_id": "o-1", "amount": 28}`),
		orderEvent("b-4", "order.cancelled", `{"order_id": "o-2"}`),
		orderEvent("b-5", "order.fulfilled", `{"order_id": "o-9"}`),
		orderEvent("b-1", "order.refunded", `{"order_id": "o-1", "amount": 20}`),
		`{"id": "b-6", "type": "page.viewed", "customer_id": "c_1"}`,
	}, ", ") + `]}`
	b := s.must(http.StatusOK, "POST", "/v1/events", batch)
	assert.Equal(t, []any{5.0, 1.0, 1.0}, []any{b["accepted"], b["duplicates"], b["rejected"]})
	results := b["results"].([]any)
	line := func(i int) map[string]any { return results[i].(map[string]any) }
	assert.Equal(t, map[string]any{"id": "o-1", "status": "partly_refunded", "refunded": 20.0}, line(0)["order"])
	assert.Equal(t, "rejected", line(1)["status"])
	assert.Equal(t, "data.amount", line(1)["field"])
	assert.Contains(t, line(1)["error"], "would bring the refunds of order o-1 to 50.00, more than its total, 48.00 GBP")
	assert.Equal(t, map[string]any{"id": "o-1", "status": "refunded", "refunded": 48.0}, line(2)["order"], "refunds add up to the total")
	assert.Equal(t, map[string]any{"id": "o-2", "status": "cancelled", "refunded": 0.0}, line(3)["order"])
	assert.Equal(t, "accepted", line(4)["status"])
	assert.Contains(t, line(4)["note"], "no order o-9")
	assert.Equal(t, "duplicate", line(5)["status"])
	assert.Nil(t, line(5)["order"])
	assert.Equal(t, "accepted", line(6)["status"])
	s.must(http.StatusNotFound, "GET", "/v1/events/b-2", "")
	assert.Equal(t, []any{int64(0), 0.0, int64(-1)}, s.figures("c_1"), "one refunded, one cancelled")

	// Sent again, the batch changes nothing more: the refund refused
	// before now finds the order refunded in full, and is only noted.
	again := s.must(http.StatusOK, "POST", "/v1/events", batch)
	assert.Equal(t, []any{1.0, 6.0, 0.0}, []any{again["accepted"], again["duplicates"], again["rejected"]})
	assert.Contains(t, again["results"].([]any)[1].(map[string]any)["note"], "order o-1 is refunded, which order.refunded does not change")
	assert.Equal(t, []any{int64(0), 0.0, int64(-1)}, s.figures("c_1"))
}

// POST /v1/orders/{id}/status moves the order as its event would, by
// recording that event: journeys hear of it.
func TestOrderStatusThroughTheAPI(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	s.customer(`{"id": "c_1", "email": "ada@example.com"}`)
	s.must(http.StatusAccepted, "POST", "/v1/events", orderPlaced("evt-1", "c_1", "o-1"))

	a := s.must(http.StatusAccepted, "POST", "/v1/orders/o-1/status", `{"status": "refunded", "amount": 5}`)
	assert.Equal(t, map[string]any{"id": "o-1", "status": "partly_refunded", "refunded": 5.0}, a["order"])
	id := a["id"].(string)
	assert.True(t, strings.HasPrefix(id, "order-refunded-"), id)
	e := s.must(http.StatusOK, "GET", "/v1/events/"+id, "")
	assert.Equal(t, "order.refunded", e["type"])
	assert.Equal(t, map[string]any{"order_id": "o-1", "amount": 5.0}, e["data"])
	assert.Equal(t, "duplicate", s.must(http.StatusOK, "POST", "/v1/orders/o-1/status", `{"status": "refunded", "amount": "5.00"}`)["status"],
		"the same change without an event id is taken once")
	b := s.must(http.StatusAccepted, "POST", "/v1/orders/o-1/status", `{"status": "refunded", "amount": 5, "event_id": "refund-2"}`)
	assert.Equal(t, "refund-2", b["id"])
	assert.Equal(t, 10.0, b["order"].(map[string]any)["refunded"])
	assert.Equal(t, []any{int64(1), 38.0, int64(0)}, s.figures("c_1"))

	for _, bad := range []struct{ body, field string }{
		{`{"status": "partly_refunded", "amount": 5}`, "status"},
		{`{"status": "lost"}`, "status"},
		{`{"status": "delivered", "amount": 5}`, "amount"},
		{`{"status": "cancelled", "currency": "GBP"}`, "currency"},
		{`{"status": "refunded", "amount": 39}`, "amount"},
		{`{"status": "refunded", "amount": 5, "currency": "EUR"}`, "currency"},
		{`{"status": "refunded", "amount": 5.001}`, "amount"},
		{`{"status": "refunded", "amount": 5, "event_id": "evt-1"}`, "event_id"},
		{`{"status": "refunded", "amount": 5, "event_id": "no spaces"}`, "event_id"},
		{`{"status": "refunded", "amonut": 5}`, "amonut"},
	} {
		res := s.call("POST", "/v1/orders/o-1/status", bad.body)
		assert.Contains(t, []int{http.StatusBadRequest, http.StatusConflict}, res.Code, bad.body)
		assert.Equal(t, bad.field, res.JSON["field"], bad.body)
		assert.True(t, strings.HasPrefix(res.JSON["error"].(string), bad.field+": "), "%s: %s", bad.body, res.JSON["error"])
	}
	s.must(http.StatusNotFound, "POST", "/v1/orders/o-404/status", `{"status": "cancelled"}`)

	review := workflows.WorkflowID("review", "c_1", "evt-1")
	c := s.must(http.StatusAccepted, "POST", "/v1/orders/o-1/status", `{"status": "cancelled"}`)
	assert.Equal(t, []string{review}, strs(c["delivered"]), "the review hears of the cancellation")
	assert.Equal(t, "cancelled", c["order"].(map[string]any)["status"])
	assert.Equal(t, []any{int64(0), 0.0, int64(-1)}, s.figures("c_1"))
	d := s.must(http.StatusAccepted, "POST", "/v1/orders/o-1/status", `{"status": "delivered"}`)
	assert.Contains(t, d["note"], "order o-1 is cancelled, which order.delivered does not change")
}

// POST /v1/orders loads an order with its status: one that no longer
// counts does not count.
func TestLoadedOrdersHaveAStatus(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	s.customer(`{"id": "c_1"}`)
	order := func(id, extra string) string {
		return fmt.Sprintf(`{"id": %q, "customer_id": "c_1", "placed_at": %q, "total": 40, "currency": "GBP",
			"items": [{"product_id": "tea", "name": "Tea", "quantity": 1, "price": 40}]%s}`, id, time.Now().Add(-49*time.Hour).Format(time.RFC3339), extra)
	}
	s.must(http.StatusCreated, "POST", "/v1/orders", order("o-1", `, "status": "cancelled"`))
	s.must(http.StatusCreated, "POST", "/v1/orders", order("o-2", `, "status": "partly_refunded", "refunded": "15.50"`))
	s.must(http.StatusCreated, "POST", "/v1/orders", order("o-3", `, "status": "refunded"`))
	s.must(http.StatusCreated, "POST", "/v1/orders", order("o-4", ``))
	assert.Equal(t, []any{int64(2), 64.5, int64(2)}, s.figures("c_1"))
	for _, bad := range []struct{ extra, field string }{
		{`, "status": "lost"`, "status"},
		{`, "status": "partly_refunded"`, "refunded"},
		{`, "status": "partly_refunded", "refunded": 40`, "refunded"},
		{`, "status": "refunded", "refunded": 20`, "refunded"},
		{`, "status": "returned", "refunded": 40`, "refunded"},
		{`, "status": "delivered", "refunded": 1`, "refunded"},
		{`, "status": "cancelled", "refunded": 40.01`, "refunded"},
		{`, "refunded": 1.001`, "refunded"},
	} {
		res := s.call("POST", "/v1/orders", order("o-bad", bad.extra))
		assert.Equal(t, http.StatusBadRequest, res.Code, bad.extra)
		assert.Equal(t, bad.field, res.JSON["field"], "%s: %s", bad.extra, res.Body)
	}
}
