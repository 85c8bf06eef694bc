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

// TestServer: Start serves the probes and metrics alone on their own
// address, "off" serves none, a taken address is named, and Stop stops.
func TestServer(t *testing.T) {
	h := &Health{}
	h.Ready()
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("rapport_up 1\n")) })
	s, err := Start("127.0.0.1:0", h, metrics)
	require.NoError(t, err)
	require.NotNil(t, s)
	base := "http://" + s.Addr()
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/metrics": 200, "/v1/customers/c_1": 404, "/": 404} {
		resp, err := http.Get(base + path)
		require.NoError(t, err, path)
		resp.Body.Close()
		assert.Equal(t, want, resp.StatusCode, path)
	}

	_, err = Start(s.Addr(), h, metrics)
	require.Error(t, err, "the address is taken")
	assert.Contains(t, err.Error(), "RAPPORT_OPS_ADDR")
	assert.Contains(t, err.Error(), s.Addr())

	s.Stop()
	_, err = http.Get(base + "/healthz")
	assert.Error(t, err, "stopped")

	for _, addr := range []string{"", "off"} {
		off, err := Start(addr, h, metrics)
		require.NoError(t, err)
		assert.Nil(t, off)
		assert.Equal(t, "", off.Addr())
		off.Stop() // a no-op on nil
	}
}
