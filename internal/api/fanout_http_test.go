package api_test

import (
	"context"
	"net/http"
	"testing"

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
