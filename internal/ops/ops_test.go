package ops

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

func TestProbes(t *testing.T) {
	dbDown := false
	h := &Health{Checks: []Check{
		{Name: "database", Check: func(context.Context) error {
			if dbDown {
				return errors.New("connection refused")
			}
			return nil
		}},
		{Name: "temporal", Check: func(context.Context) error { return nil }},
		{Name: "sweeper", Degraded: true, Check: func(context.Context) error {
			if dbDown {
				return errors.New("behind")
			}
			return nil
		}},
	}}
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("rapport_up 1\n")) })
	srv := h.Handler(metrics)

	code, body := get(t, srv, "/healthz")
	assert.Equal(t, http.StatusOK, code, "live while starting")
	assert.Equal(t, "ok\n", body)

	code, body = get(t, srv, "/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code, "not ready before Ready")
	assert.Contains(t, body, `"reason":"starting"`)

	h.Ready()
	code, body = get(t, srv, "/readyz")
	require.Equal(t, http.StatusOK, code, body)
	var st Status
	require.NoError(t, json.Unmarshal([]byte(body), &st))
	assert.Equal(t, Status{Ready: true, Checks: map[string]string{"database": "ok", "temporal": "ok", "sweeper": "ok"}}, st)

	dbDown = true
	code, body = get(t, srv, "/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	require.NoError(t, json.Unmarshal([]byte(body), &st))
	assert.Equal(t, "database is not answering", st.Reason)
	assert.Equal(t, "failing", st.Checks["database"], "the error itself is only logged")
	assert.Equal(t, "failing", st.Checks["sweeper"], "a degraded check is reported")
	assert.Equal(t, "connection refused", h.Readiness(context.Background()).Checks["database"])

	h.Checks = h.Checks[1:] // the database is back; only the degraded check fails
	code, body = get(t, srv, "/readyz")
	assert.Equal(t, http.StatusOK, code, "a degraded check does not fail readiness")
	require.NoError(t, json.Unmarshal([]byte(body), &st))
	assert.Equal(t, "failing", st.Checks["sweeper"])

	dbDown = false
	h.Drain()
	code, body = get(t, srv, "/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, body, "draining")
	code, _ = get(t, srv, "/healthz")
	assert.Equal(t, http.StatusOK, code, "still live while draining")

	code, body = get(t, srv, "/metrics")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "rapport_up 1\n", body)
}
