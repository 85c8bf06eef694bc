package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/api/wire"
)

// TestAudienceRunWaitsAsLongAsAsked: the API holds `audience run --wait`
// open for up to the wait; the CLI's own request timeout must not cut it
// (it did at two minutes with --wait 10m). The client's usual timeout is
// made short here and the API answers after three times it: the wait
// asked for (a minute) is what counts.
func TestAudienceRunWaitsAsLongAsAsked(t *testing.T) {
	old := apiTimeout
	apiTimeout = 100 * time.Millisecond
	t.Cleanup(func() { apiTimeout = old })
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, "/v1/journeys/lapse-winback/audience-runs", r.URL.Path)
		assert.Equal(t, "1m0s", r.URL.Query().Get("wait"))
		<-time.After(3 * apiTimeout) // longer than the usual timeout
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(wire.AudienceRun{Journey: "lapse-winback", EntryKey: "audience-20261205", WorkflowID: "w",
			Status: wire.AudienceDone, Counts: wire.AudienceCounts{Scanned: 3, Matched: 2, Started: 2}, Runs: []string{}})
	}))
	t.Cleanup(srv.Close)

	out, errOut, err := run("audience", "run", "--api="+srv.URL, "--api-key=k", "lapse-winback", "--wait=1m")
	require.NoError(t, err, errOut)
	assert.Equal(t, "lapse-winback: 3 customers scanned, 2 match, 2 entered, 0 skipped (already in it, or refused by the entry rules)\n", out)
	assert.Contains(t, errOut, "lapse-winback: audience run started; waiting up to 1m0s for it to finish\n")
	assert.Contains(t, errOut, "lapse-winback: audience run audience-20261205 finished in ")

	_, _, err = run("audience", "run", "--api="+srv.URL, "--api-key=k", "lapse-winback", "--wait=11m")
	assert.EqualError(t, err, "--wait must be from 0 to 10m0s, not 11m0s")
}
