package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const restockJourney = `
journey: back-in-stock
topic: offers
trigger:
  event: product.restocked
  for: customer.events.exists(e, e.type == "product.viewed" && e.data.product_id == event.data.product_id)
steps:
  - send: {channel: email, template: back-in-stock}
`

// An event of a type a journey fans out on may come without a customer:
// it is stored for the fan-out and answered at once; the same event again
// is a duplicate. Other types still need their customer_id.
func TestAnEventWithoutACustomerFansOut(t *testing.T) {
	t.Parallel()
	s := newShopWith(t, restockJourney)

	a := s.must(http.StatusAccepted, "POST", "/v1/events", `{"id": "r1", "type": "product.restocked", "data": {"product_id": "teapot"}}`)
	assert.Equal(t, "accepted", a["status"])
	assert.Equal(t, "fan_out", a["routing"])
	assert.Equal(t, []any{"back-in-stock"}, a["fan_out"])
	assert.Empty(t, s.temporal.startIDs(), "customers are entered in the background")
	fs, err := s.st.Fanouts(context.Background(), "r1")
	require.NoError(t, err)
	require.Len(t, fs, 1)
	assert.Equal(t, "back-in-stock", fs[0].Journey)
	assert.JSONEq(t, `{"product_id": "teapot"}`, string(fs[0].Data))

	dup := s.must(http.StatusOK, "POST", "/v1/events", `{"id": "r1", "type": "product.restocked", "data": {"product_id": "teapot"}}`)
	assert.Equal(t, "duplicate", dup["status"])

	for _, body := range []string{
		`{"id": "x1", "type": "product.viewed", "data": {"product_id": "teapot"}}`,
		`{"id": "x2", "type": "order.placed"}`,
		`{"events": [{"id": "x3", "type": "product.restocked"}]}`,
	} {
		ans := s.call("POST", "/v1/events", body)
		if ans.Code == http.StatusOK { // a batch: its line says
			res := ans.JSON["results"].([]any)[0].(map[string]any)
			assert.Equal(t, "rejected", res["status"], body)
			assert.Equal(t, "customer_id", res["field"], body)
			continue
		}
		assert.Equal(t, http.StatusBadRequest, ans.Code, body)
		assert.Equal(t, "customer_id", ans.JSON["field"], body)
	}
	bad := s.call("POST", "/v1/events", `{"id": "r 2", "type": "product.restocked"}`)
	assert.Equal(t, http.StatusBadRequest, bad.Code)
	assert.Equal(t, "id", bad.JSON["field"])
}

// GET /v1/fanouts shows the fan-outs with their status and counts;
// POST .../retry hands back a failed one only. Bad parameters are 400s
// naming them.
func TestFanoutsAreListedAndAFailedOneRetried(t *testing.T) {
	t.Parallel()
	s := newShopWith(t, restockJourney)
	ctx := context.Background()
	s.must(http.StatusAccepted, "POST", "/v1/events", `{"id": "r1", "type": "product.restocked", "data": {"product_id": "teapot"}}`)
	s.must(http.StatusAccepted, "POST", "/v1/events", `{"id": "r2", "type": "product.restocked", "data": {"product_id": "mug"}}`)

	list := s.must(http.StatusOK, "GET", "/v1/fanouts", "")["fanouts"].([]any)
	require.Len(t, list, 2)
	first := list[0].(map[string]any)
	assert.Equal(t, "r2", first["event_id"], "the latest first")
	assert.Equal(t, "back-in-stock", first["journey"])
	assert.Equal(t, "pending", first["status"])
	assert.Equal(t, "product.restocked", first["type"])
	assert.NotContains(t, first, "data")
	one := s.must(http.StatusOK, "GET", "/v1/fanouts?event_id=r1&status=pending,running&limit=5", "")["fanouts"].([]any)
	require.Len(t, one, 1)
	assert.Equal(t, "r1", one[0].(map[string]any)["event_id"])
	assert.Empty(t, s.must(http.StatusOK, "GET", "/v1/fanouts?status=failed", "")["fanouts"])

	for query, field := range map[string]string{"event_id=r%201": "event_id", "status=stuck": "status", "limit=0": "limit", "limit=501": "limit", "limit=ten": "limit"} {
		ans := s.call("GET", "/v1/fanouts?"+query, "")
		assert.Equal(t, http.StatusBadRequest, ans.Code, query)
		assert.Equal(t, field, ans.JSON["field"], query)
	}

	ans := s.call("POST", "/v1/fanouts/r1/back-in-stock/retry", "")
	assert.Equal(t, http.StatusConflict, ans.Code)
	assert.Equal(t, "the fan-out of r1 to back-in-stock is pending, not failed; only a failed fan-out is retried", ans.JSON["error"])
	ans = s.call("POST", "/v1/fanouts/r9/back-in-stock/retry", "")
	assert.Equal(t, http.StatusNotFound, ans.Code)
	assert.Equal(t, "no fan-out of event r9 to journey back-in-stock", ans.JSON["error"])
	ans = s.call("POST", "/v1/fanouts/r%201/back-in-stock/retry", "")
	assert.Equal(t, http.StatusBadRequest, ans.Code)
	assert.Equal(t, "event_id", ans.JSON["field"])

	f, err := s.st.ClaimFanout(ctx, time.Minute)
	require.NoError(t, err)
	require.Equal(t, "r1", f.EventID)
	f.Scanned, f.Cursor = 7, "c_7"
	require.NoError(t, s.st.FailFanout(ctx, *f, "temporal is down"))
	failed := s.must(http.StatusOK, "GET", "/v1/fanouts?status=failed", "")["fanouts"].([]any)
	require.Len(t, failed, 1)
	assert.Equal(t, "temporal is down", failed[0].(map[string]any)["error"])
	assert.Contains(t, failed[0].(map[string]any), "done_at", "when it was given up")
	retried := s.must(http.StatusOK, "POST", "/v1/fanouts/r1/back-in-stock/retry", "")
	assert.Equal(t, "pending", retried["status"])
	assert.EqualValues(t, 0, retried["attempts"])
	assert.EqualValues(t, 7, retried["scanned"])
	assert.Equal(t, "c_7", retried["cursor"])
	assert.NotContains(t, retried, "done_at")
}
