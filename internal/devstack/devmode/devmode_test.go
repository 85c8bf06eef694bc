package devmode

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/apikey"
	"github.com/rapporthq/rapport/internal/store/storetest"
)

// TestStartServesTheDemoAndKeepsItsKey starts the stack on a database of
// its own: the API answers with the admin key it wrote to the state
// folder, and serves the demo customers; a second stack on the same
// folder is refused; started again once stopped, it keeps its key and
// the demo data.
func TestStartServesTheDemoAndKeepsItsKey(t *testing.T) {
	_, dbURL := storetest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	opts := Options{StateDir: t.TempDir(), JourneysDir: "../../../journeys", IP: "127.0.0.1", UIPort: -1,
		DatabaseURL: dbURL, InMemory: true}
	s, err := Start(ctx, opts)
	require.NoError(t, err)
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			s.Stop()
		}
	})

	key, err := os.ReadFile(filepath.Join(opts.StateDir, apikey.DevKeyFile))
	require.NoError(t, err)
	assert.Equal(t, s.APIKey+"\n", string(key))
	assert.Equal(t, "given database", s.PostgresSource)
	assert.Equal(t, dbURL, s.DatabaseURL)
	assert.Equal(t, "Ada Lovelace", customerName(t, s, "c_ada"), "the demo customers")

	_, err = Start(ctx, opts)
	require.ErrorContains(t, err, "is using the state folder", "a second stack on the same folder")

	s.Stop()
	stopped = true
	again, err := Start(ctx, opts)
	require.NoError(t, err)
	t.Cleanup(again.Stop)
	assert.Equal(t, s.APIKey, again.APIKey, "the key the state folder holds")
	assert.Equal(t, "Ada Lovelace", customerName(t, again, "c_ada"))
}

// customerName asks the stack's API for a customer's name.
func customerName(t *testing.T, s *Stack, id string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.APIURL+"/v1/customers/"+id, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+s.APIKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var c struct {
		Name string `json:"name"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&c))
	return c.Name
}
