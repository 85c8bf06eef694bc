package app

import (
	"context"
	"errors"
	"maps"
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

// With a provider key set, RunWorker and RunAPI refuse the demo's public
// URL and sender identity before they connect to anything, naming each
// variable missing; with them set, both start (on a real database and
// Temporal server) and stop when told.
func TestRunRefusesDemoDefaultsWithProviderKeys(t *testing.T) {
	env := map[string]string{
		"RAPPORT_SECRET":     testSecret,
		"RAPPORT_LOG_LEVEL":  "error",
		"SENDGRID_API_KEY":   "SG.key",
		"SENDGRID_BASE_URL":  "http://127.0.0.1:1",
		"TWILIO_ACCOUNT_SID": "ACsid", "TWILIO_AUTH_TOKEN": "token", "TWILIO_FROM": "+15005550006", "TWILIO_BASE_URL": "http://127.0.0.1:1",
		"DATABASE_URL":     "postgres://nowhere.invalid/rapport",
		"TEMPORAL_ADDRESS": "127.0.0.1:1",
	}
	cfg, err := ConfigFromEnv(testEnv(t, env))
	require.NoError(t, err)
	for what, run := range map[string]func(Config) error{
		"worker": func(cfg Config) error {
			return RunWorker(t.Context(), cfg, "testdata/journeys", WorkerTuning{OpsAddr: "off"}, nil)
		},
		"api": func(cfg Config) error {
			return RunAPI(t.Context(), cfg, "testdata/journeys", APIOptions{Addr: "127.0.0.1:0", OpsAddr: "off"})
		},
	} {
		err := run(cfg)
		require.Error(t, err, what)
		for _, v := range []string{"SENDGRID_API_KEY and TWILIO_ACCOUNT_SID are set", "RAPPORT_PUBLIC_URL", "RAPPORT_EMAIL_FROM", "RAPPORT_SHOP_NAME", "RAPPORT_SHOP_URL", "RAPPORT_SUPPORT_EMAIL"} {
			assert.Contains(t, err.Error(), v, what)
		}
	}

	srv := startTemporal(t, SearchAttributeTypes())
	_, dbURL := storetest.New(t)
	maps.Copy(env, map[string]string{
		"DATABASE_URL": dbURL, "TEMPORAL_ADDRESS": srv.Address(),
		"RAPPORT_PUBLIC_URL": "https://rapport.shop.test", "RAPPORT_EMAIL_FROM": "news@shop.test",
		"RAPPORT_SHOP_NAME": "Teapot & Co", "RAPPORT_SHOP_URL": "https://shop.test", "RAPPORT_SUPPORT_EMAIL": "care@shop.test",
	})
	cfg, err = ConfigFromEnv(testEnv(t, env))
	require.NoError(t, err)
	require.NoError(t, cfg.CheckNoDemoDefaults())
	for what, run := range map[string]func(context.Context, string) error{
		"worker": func(ctx context.Context, ops string) error {
			return RunWorker(ctx, cfg, "testdata/journeys", WorkerTuning{OpsAddr: ops}, nil)
		},
		"api": func(ctx context.Context, ops string) error {
			return RunAPI(ctx, cfg, "testdata/journeys", APIOptions{Addr: "127.0.0.1:0", OpsAddr: ops})
		},
	} {
		ctx, stop := context.WithCancel(t.Context())
		ops := freeAddr(t)
		done := make(chan error, 1)
		go func() { done <- run(ctx, ops) }()
		waitFor(t, "the "+what+" to be ready", time.Minute, func() bool {
			select {
			case err := <-done:
				t.Fatalf("the %s stopped: %v", what, err)
			default:
			}
			return status("http://"+ops+"/readyz") == http.StatusOK
		})
		stop()
		select {
		case err := <-done:
			require.NoError(t, err, what)
		case <-time.After(time.Minute):
			t.Fatalf("the %s did not stop", what)
		}
	}
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
