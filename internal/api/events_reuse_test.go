package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/api/wire"
	"github.com/rapporthq/rapport/internal/store"
)

// postJSON posts body to the API with a key holding scope and decodes the
// answer into out.
func (a *contractAPI) postJSON(t *testing.T, scope, path string, body, out any) int {
	t.Helper()
	b, err := json.Marshal(body)
	require.NoError(t, err)
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+a.key(t, scope))
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), out), rec.Body.String())
	return rec.Code
}

// TestAnEventIDNamesOneEvent: an id sent again with the same type,
// customer and data is a duplicate; with another type, customer or data
// it is refused, naming the id and why, whether the first was sent
// earlier in the same batch, in an earlier batch or on its own. Once the
// retention schedule removed the stored event's data, only its type and
// customer are compared.
func TestAnEventIDNamesOneEvent(t *testing.T) {
	a := newContractAPI(t)
	ctx := context.Background()
	event := func(id, typ, customer, data string) json.RawMessage {
		e := map[string]any{"id": id, "type": typ, "customer_id": customer}
		if data != "" {
			e["data"] = json.RawMessage(data)
		}
		b, err := json.Marshal(e)
		require.NoError(t, err)
		return b
	}
	batch := func(events ...json.RawMessage) wire.BatchResponse {
		t.Helper()
		var resp wire.BatchResponse
		require.Equal(t, http.StatusOK, a.postJSON(t, "events:write", "/v1/events", wire.EventBatch{Events: events}, &resp))
		return resp
	}
	_, err := a.s.Store.UpsertCustomer(ctx, store.Customer{ID: "c_bob"})
	require.NoError(t, err)

	// Within one batch.
	resp := batch(
		event("e-1", "page.viewed", "c_ada", `{"page": "/teapots", "n": 1.50}`),
		event("e-1", "page.viewed", "c_ada", `{"n": 1.5, "page": "/teapots"}`), // the same, written otherwise
		event("e-1", "cart.abandoned", "c_ada", `{"page": "/teapots", "n": 1.5}`),
		event("e-1", "page.viewed", "c_bob", `{"page": "/teapots", "n": 1.5}`),
		event("e-1", "page.viewed", "c_ada", `{"page": "/cups", "n": 1.5}`),
	)
	assert.Equal(t, wire.BatchResponse{Accepted: 1, Duplicates: 1, Rejected: 3, Results: []wire.BatchResult{
		{Index: 0, ID: "e-1", Status: "accepted"},
		{Index: 1, ID: "e-1", Status: "duplicate"},
		{Index: 2, ID: "e-1", Status: "rejected", Field: "id", Error: "id: event e-1 is also at index 0 of this batch with type page.viewed, not cart.abandoned; " + reuseAdvice},
		{Index: 3, ID: "e-1", Status: "rejected", Field: "id", Error: "id: event e-1 is also at index 0 of this batch for another customer; " + reuseAdvice},
		{Index: 4, ID: "e-1", Status: "rejected", Field: "id", Error: "id: event e-1 is also at index 0 of this batch with other data; " + reuseAdvice},
	}}, resp)

	// In a later batch: the same answers, the first now stored.
	resp = batch(
		event("e-1", "page.viewed", "c_ada", `{"n": 1.5, "page": "/teapots"}`),
		event("e-1", "cart.abandoned", "c_ada", `{"page": "/teapots", "n": 1.5}`),
		event("e-1", "page.viewed", "c_ada", `{"page": "/cups", "n": 1.5}`),
	)
	assert.Equal(t, []wire.BatchResult{
		{Index: 0, ID: "e-1", Status: "duplicate"},
		{Index: 1, ID: "e-1", Status: "rejected", Field: "id", Error: "id: event e-1 is also at index 0 of this batch with type page.viewed, not cart.abandoned; " + reuseAdvice},
		{Index: 2, ID: "e-1", Status: "rejected", Field: "id", Error: "id: event e-1 is also at index 0 of this batch with other data; " + reuseAdvice},
	}, resp.Results)
	resp = batch(event("e-1", "cart.abandoned", "c_ada", `{"page": "/teapots", "n": 1.5}`))
	assert.Equal(t, []wire.BatchResult{
		{Index: 0, ID: "e-1", Status: "rejected", Field: "id", Error: "id: event e-1 was already received with type page.viewed, not cart.abandoned; " + reuseAdvice},
	}, resp.Results)
	resp = batch(event("e-1", "page.viewed", "c_ada", `{"page": "/cups"}`))
	assert.Equal(t, []wire.BatchResult{
		{Index: 0, ID: "e-1", Status: "rejected", Field: "id", Error: "id: event e-1 was already received with other data; " + reuseAdvice},
	}, resp.Results)
	resp = batch(event("e-1", "page.viewed", "c_bob", `{"page": "/teapots", "n": 1.5}`))
	assert.Equal(t, []wire.BatchResult{
		{Index: 0, ID: "e-1", Status: "rejected", Field: "id", Error: "id: event e-1 was already received for another customer; " + reuseAdvice},
	}, resp.Results)

	// On its own: 409, as for another type or customer.
	var single wire.EventResponse
	assert.Equal(t, http.StatusOK, a.postJSON(t, "events:write", "/v1/events", event("e-1", "page.viewed", "c_ada", `{"page":"/teapots","n":1.5}`), &single))
	assert.Equal(t, wire.StatusDuplicate, single.Status)
	for _, c := range []struct{ event, why string }{
		{string(event("e-1", "cart.abandoned", "c_ada", `{"page": "/teapots", "n": 1.5}`)), "with type page.viewed, not cart.abandoned"},
		{string(event("e-1", "page.viewed", "c_bob", `{"page": "/teapots", "n": 1.5}`)), "for another customer"},
		{string(event("e-1", "page.viewed", "c_ada", `{"page": "/cups", "n": 1.5}`)), "with other data"},
		{string(event("e-1", "page.viewed", "c_ada", "")), "with other data"},
	} {
		var e wire.Error
		assert.Equal(t, http.StatusConflict, a.postJSON(t, "events:write", "/v1/events", json.RawMessage(c.event), &e), c.event)
		assert.Equal(t, wire.Error{Field: "id", Message: "id: event e-1 was already received " + c.why + "; " + reuseAdvice}, e)
	}

	// The retention schedule removed the data: the id is still the same
	// event's, its data can no longer be compared.
	require.NoError(t, a.s.Store.MarkEventRouted(ctx, "e-1"))
	n, err := a.s.Store.ScrubOldEvents(ctx, time.Now().Add(time.Minute), 10)
	require.NoError(t, err)
	require.EqualValues(t, 1, n, "e-1's data removed")
	assert.Equal(t, http.StatusOK, a.postJSON(t, "events:write", "/v1/events", event("e-1", "page.viewed", "c_ada", `{"page":"/teapots","n":1.5}`), &single))
	assert.Equal(t, wire.StatusDuplicate, single.Status)
	resp = batch(event("e-1", "page.viewed", "c_ada", `{"page": "/teapots", "n": 1.5}`), event("e-1", "cart.abandoned", "c_ada", ""))
	assert.Equal(t, wire.StatusDuplicate, resp.Results[0].Status)
	assert.Equal(t, wire.StatusRejected, resp.Results[1].Status, "another type is told apart still")
}
