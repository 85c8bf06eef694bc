package app

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/store/storetest"
)

// testConfig is the configuration of a worker or API on the database at
// dbURL and the Temporal server at temporalAddr, logging errors only.
func testConfig(t *testing.T, dbURL, temporalAddr string) Config {
	t.Helper()
	cfg, err := ConfigFromEnv(testEnv(t, map[string]string{
		"DATABASE_URL":      dbURL,
		"TEMPORAL_ADDRESS":  temporalAddr,
		"RAPPORT_SECRET":    testSecret,
		"RAPPORT_LOG_LEVEL": "error",
	}))
	require.NoError(t, err)
	return cfg
}

// Connect fails with what to fix, before it connects to what it need not.
func TestConnectFailures(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := Connect(ctx, testConfig(t, "", "127.0.0.1:1"), "testdata/journeys")
	require.EqualError(t, err, "DATABASE_URL is not set; it names the PostgreSQL database, such as postgres://rapport@localhost:5432/rapport")

	_, dbURL := storetest.New(t)
	cfg := testConfig(t, dbURL, "127.0.0.1:1")
	_, err = Connect(ctx, cfg, "testdata/none")
	require.ErrorContains(t, err, "journeys folder: ")
	_, err = Connect(ctx, cfg, "testdata/journeys/welcome.yaml")
	require.EqualError(t, err, "journeys folder testdata/journeys/welcome.yaml is not a folder")
	_, err = Connect(ctx, cfg, "testdata/broken")
	var diags journey.Diagnostics
	require.True(t, errors.As(err, &diags), "every diagnostic: %v", err)
	assert.Contains(t, err.Error(), `there is no template "no-such-template"`)

	_, err = Connect(ctx, cfg, "testdata/journeys")
	require.ErrorContains(t, err, "connect to Temporal at 127.0.0.1:1 (namespace default): ")
	require.ErrorContains(t, err, "Its address is TEMPORAL_ADDRESS, or --temporal-address on the command line")
}

// RunWorker and RunAPI need RAPPORT_SECRET before they connect to anything.
func TestRunNeedsTheSecret(t *testing.T) {
	cfg := testConfig(t, "postgres://nowhere.invalid/rapport", "127.0.0.1:1")
	cfg.Secret = ""
	err := RunWorker(t.Context(), cfg, "testdata/journeys", WorkerTuning{}, nil)
	require.ErrorContains(t, err, "RAPPORT_SECRET is not set")
	err = RunAPI(t.Context(), cfg, "testdata/journeys", APIOptions{Addr: "127.0.0.1:0", OpsAddr: "off"})
	require.ErrorContains(t, err, "RAPPORT_SECRET is not set")
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// status GETs url and returns its status code (0 when nothing answers).
func status(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
