package apiclient

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/api/wire"
	"github.com/rapporthq/rapport/internal/apikey"
)

// TestDo: the key and the JSON body go out, the answer comes back, and an
// error answer is an error carrying the API's message.
func TestDo(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Header.Get("Authorization") == "":
			w.WriteHeader(http.StatusUnauthorized)
			_ = json.NewEncoder(w).Encode(wire.Error{Message: "no API key"})
		case r.URL.Path == "/v1/tasks/t1/claim":
			var body wire.ClaimRequest
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil || r.Header.Get("Content-Type") != "application/json" {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			_ = json.NewEncoder(w).Encode(wire.TaskChange{Task: wire.Task{ID: "t1", Assignee: body.Assignee + " (" + r.Header.Get("Authorization") + ")"}})
		case r.URL.Path == "/v1/broken":
			w.WriteHeader(http.StatusBadGateway)
		default:
			w.WriteHeader(http.StatusNotFound)
			_ = json.NewEncoder(w).Encode(wire.Error{Message: "no task " + r.URL.Query().Get("id")})
		}
	}))
	t.Cleanup(srv.Close)
	ctx := context.Background()

	c := New(srv.URL+"/", "k1", time.Minute)
	assert.Equal(t, srv.URL, c.Base, "without the trailing slash")
	var got wire.TaskChange
	status, err := c.Do(ctx, http.MethodPost, "/v1/tasks/t1/claim", nil, wire.ClaimRequest{Assignee: "sam"}, &got)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "sam (Bearer k1)", got.Assignee)

	status, err = c.Do(ctx, http.MethodGet, "/v1/nowhere", map[string][]string{"id": {"t9"}}, nil, nil)
	assert.Equal(t, http.StatusNotFound, status)
	assert.EqualError(t, err, "no task t9")
	_, err = c.Do(ctx, http.MethodGet, "/v1/broken", nil, nil, nil)
	assert.EqualError(t, err, "the API answered 502 Bad Gateway")

	t.Chdir(t.TempDir())
	t.Setenv("RAPPORT_API_KEY", "")
	_, err = New(srv.URL, "", time.Minute).Do(ctx, http.MethodGet, "/v1/tasks", nil, nil, nil)
	assert.ErrorContains(t, err, "no API key (no key was sent: set RAPPORT_API_KEY or --api-key")

	_, err = New("http://127.0.0.1:1", "k", time.Minute).Do(ctx, http.MethodGet, "/v1/tasks", nil, nil, nil)
	assert.ErrorContains(t, err, "cannot reach the Rapport API at http://127.0.0.1:1")
}

// TestFindKey: the flag, else RAPPORT_API_KEY, else the dev key in
// ./.rapport, else none.
func TestFindKey(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("RAPPORT_API_KEY", "")
	assert.Equal(t, "", FindKey(""))
	require.NoError(t, os.MkdirAll(".rapport", 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(".rapport", apikey.DevKeyFile), []byte("dev-key\n"), 0o600))
	assert.Equal(t, "dev-key", FindKey(""))
	t.Setenv("RAPPORT_API_KEY", "env-key")
	assert.Equal(t, "env-key", FindKey(""))
	assert.Equal(t, "flag-key", FindKey("flag-key"))
}

// TestSendEvents: lines go in batches, blank lines are skipped, a line
// that is not JSON is rejected unsent, and the API's rejections name
// their lines.
func TestSendEvents(t *testing.T) {
	var mu sync.Mutex
	var batches []int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b wire.EventBatch
		if !assert.NoError(t, json.NewDecoder(r.Body).Decode(&b)) {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		batches = append(batches, len(b.Events))
		mu.Unlock()
		var resp wire.BatchResponse
		for i, e := range b.Events {
			if strings.Contains(string(e), "bad") {
				resp.Results = append(resp.Results, wire.BatchResult{Index: i, Status: wire.StatusRejected, Error: "type: required"})
				continue
			}
			resp.Accepted++
			resp.Results = append(resp.Results, wire.BatchResult{Index: i, Status: wire.StatusAccepted})
		}
		_ = json.NewEncoder(w).Encode(resp)
	}))
	t.Cleanup(srv.Close)
	in := strings.Join([]string{`{"id": "1"}`, ``, `{"id": "2"}`, `not json`, `{"id": "bad"}`, `{"id": "4"}`, `{"id": "5"}`}, "\n")
	sum, err := New(srv.URL, "k", time.Minute).SendEvents(context.Background(), strings.NewReader(in), 2)
	require.NoError(t, err)
	assert.Equal(t, []int{2, 2, 1}, batches)
	assert.Equal(t, 6, sum.Read)
	assert.Equal(t, 5, sum.Sent)
	assert.Equal(t, 4, sum.Accepted)
	assert.Equal(t, []RejectedLine{{Line: 4, Message: "not a JSON object"}, {Line: 5, Message: "type: required"}}, sum.Rejected)
}

// TestExportToFile: the document is written whole, for its owner only;
// an export that fails leaves no file.
func TestExportToFile(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/customers/c_1/export" {
			w.WriteHeader(http.StatusNotFound)
			_ = json.NewEncoder(w).Encode(wire.Error{Message: "no customer"})
			return
		}
		_, _ = io.WriteString(w, `{"customer_id": "c_1"}`)
	}))
	t.Cleanup(srv.Close)
	c := New(srv.URL, "k", time.Minute)
	dir := t.TempDir()
	path := filepath.Join(dir, "c_1.json")
	n, err := c.ExportToFile(context.Background(), "c_1", path)
	require.NoError(t, err)
	assert.Equal(t, int64(22), n)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.JSONEq(t, `{"customer_id": "c_1"}`, string(b))
	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	_, err = c.ExportToFile(context.Background(), "c_2", filepath.Join(dir, "c_2.json"))
	assert.EqualError(t, err, "no customer")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "nothing left of the failed export")
}
