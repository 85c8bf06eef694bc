package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/apikey"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/store/storetest"
)

func TestExportAnswersOnlyWithCustomersReadAndOnlyForThePathsCustomer(t *testing.T) {
	st, _ := storetest.New(t)
	ctx := context.Background()
	s := &Server{Store: st}
	h := s.Handler()
	for _, c := range []store.Customer{
		{ID: "c_ada", Email: "ada.export@example.com", Name: "Ada Lovelace", Attributes: map[string]any{"tier": "gold"}},
		{ID: "c_bob", Email: "bob.private@example.com", Name: "Bob Private"},
	} {
		_, err := st.UpsertCustomer(ctx, c)
		require.NoError(t, err)
	}
	_, _, err := st.RecordEvent(ctx, store.Event{ID: "evt_ada", Type: "order.placed", CustomerID: "c_ada", OccurredAt: time.Now(),
		Data: json.RawMessage(`{"note":"ada's note"}`)}, nil)
	require.NoError(t, err)
	_, _, err = st.RecordEvent(ctx, store.Event{ID: "evt_bob", Type: "order.placed", CustomerID: "c_bob", OccurredAt: time.Now(),
		Data: json.RawMessage(`{"note":"bob's secret note"}`)}, nil)
	require.NoError(t, err)
	_, reader, err := st.CreateAPIKey(ctx, "dpo-desk", []apikey.Scope{apikey.CustomersRead})
	require.NoError(t, err)
	_, writer, err := st.CreateAPIKey(ctx, "shop-backend", []apikey.Scope{apikey.EventsWrite, apikey.CustomersWrite})
	require.NoError(t, err)

	get := func(path, key string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}

	rec := get("/v1/customers/c_ada/export", "")
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
	rec = get("/v1/customers/c_ada/export", writer)
	assert.Equal(t, http.StatusForbidden, rec.Code)
	assert.Contains(t, rec.Body.String(), "customers:read")
	assert.NotContains(t, rec.Body.String(), "ada.export@example.com")

	rec = get("/v1/customers/c_nobody/export", reader)
	assert.Equal(t, http.StatusNotFound, rec.Code)
	assert.Contains(t, rec.Body.String(), "no customer c_nobody")

	// Only the path names the customer: a query cannot point elsewhere.
	rec = get("/v1/customers/c_ada/export?customer_id=c_bob&id=c_bob", reader)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
	assert.Contains(t, rec.Header().Get("Content-Disposition"), `filename="customer-c_ada-export.json"`)
	var doc struct {
		Format        string           `json:"format"`
		ExportedAt    time.Time        `json:"exported_at"`
		CustomerID    string           `json:"customer_id"`
		Customer      map[string]any   `json:"customer"`
		Events        []map[string]any `json:"events"`
		Journeys      []any            `json:"journeys"`
		JourneysError string           `json:"journeys_error"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &doc), rec.Body.String())
	assert.Equal(t, store.ExportFormat, doc.Format)
	assert.WithinDuration(t, time.Now(), doc.ExportedAt, time.Minute)
	assert.Equal(t, "c_ada", doc.CustomerID)
	assert.Equal(t, "ada.export@example.com", doc.Customer["email"])
	assert.Equal(t, map[string]any{"tier": "gold"}, doc.Customer["attributes"])
	require.Len(t, doc.Events, 1)
	assert.Equal(t, map[string]any{"note": "ada's note"}, doc.Events[0]["data"])
	assert.NotNil(t, doc.Journeys, "an empty list, not missing")
	assert.Contains(t, doc.JourneysError, "no Temporal connection", "the document says what it could not include")
	for _, other := range []string{"c_bob", "bob.private@example.com", "Bob Private", "bob's secret note"} {
		assert.NotContains(t, rec.Body.String(), other)
	}
	assert.True(t, strings.HasSuffix(rec.Body.String(), "}\n"))
}
