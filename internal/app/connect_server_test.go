//go:build !race

// The tests that start the embedded Temporal server are left out of -race
// builds: a race-instrumented build of the server takes minutes to build
// and to run. .ci/test runs them without -race.

package app

import (
	"context"
	"maps"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/rapporthq/rapport/internal/devstack"
	"github.com/rapporthq/rapport/internal/ops"
	"github.com/rapporthq/rapport/internal/store/storetest"
)

// startTemporal starts an embedded Temporal server for one test, with
// the search attributes attrs on its default namespace (nil: none).
func startTemporal(t *testing.T, attrs map[string]enumspb.IndexedValueType) *devstack.Temporal {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := devstack.StartTemporal(ctx, devstack.TemporalOptions{UIPort: -1, LogLevel: 100, SearchAttributes: attrs})
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	return srv
}

// TestConnect: on an empty database and a namespace with Rapport's search
// attributes, Connect loads the journeys, migrates the database and dials
// Temporal; the process's health checks both.
func TestConnect(t *testing.T) {
	srv := startTemporal(t, SearchAttributeTypes())
	_, dbURL := storetest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := storetest.DB(t, dbURL).Exec(ctx, "DROP SCHEMA public CASCADE; CREATE SCHEMA public")
	require.NoError(t, err, "empty the test database, so that Connect migrates it")

	cfg := testConfig(t, dbURL, srv.Address())
	svc, err := Connect(ctx, cfg, "testdata/journeys")
	require.NoError(t, err)
	defer svc.Close()

	plan, ok := svc.Journeys.Catalog.Get("welcome")
	assert.True(t, ok, "the journeys are loaded")
	// The templates' versions are stored, for runs whose plans pinned
	// them to render after the files change.
	require.Contains(t, plan.Templates, "welcome")
	version, err := svc.Store.GetTemplateVersion(ctx, plan.Templates["welcome"])
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"email.txt": "Subject: Welcome, {{.Customer.FirstName}}\nGlad to have you.\n"}, version.Files)
	assert.Len(t, svc.Journeys.Catalog.Plans(), 1)
	keys, err := svc.Store.ListAPIKeys(ctx)
	require.NoError(t, err, "the database is migrated")
	assert.Empty(t, keys)
	_, err = svc.Temporal.CheckHealth(ctx, &client.CheckHealthRequest{})
	require.NoError(t, err)
	assert.Nil(t, svc.DataConverter, "Temporal's default without RAPPORT_CODEC_KEYS")
	require.NoError(t, CheckSearchAttributes(ctx, svc.Temporal, cfg.Temporal.Namespace, svc.Log))
	assert.NotNil(t, svc.MetricsHandler())

	h := svc.Health(false)
	assert.Equal(t, ops.Status{Reason: "starting"}, h.Readiness(ctx))
	h.Ready()
	assert.Equal(t, ops.Status{Ready: true, Checks: map[string]string{"database": "ok", "temporal": "ok"}}, h.Readiness(ctx))

	rt := svc.NewRouter(0, time.Time{})
	assert.Same(t, svc.Store, rt.Store)
	assert.Same(t, svc.Journeys.Catalog, rt.Catalog)
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
		var stopped error
		gone := false
		require.Eventually(t, func() bool {
			select {
			case err := <-done:
				stopped, gone = err, true
				return true
			default:
			}
			return status("http://"+ops+"/readyz") == http.StatusOK
		}, 3*time.Minute, 100*time.Millisecond, "the %s is ready", what)
		require.False(t, gone, "the %s stopped: %v", what, stopped)
		stop()
		select {
		case err := <-done:
			require.NoError(t, err, what)
		case <-time.After(time.Minute):
			t.Fatalf("the %s did not stop", what)
		}
	}
}
