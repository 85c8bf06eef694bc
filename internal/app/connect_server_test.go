//go:build !race

// The tests that start the embedded Temporal server are left out of -race
// builds: a race-instrumented build of the server takes minutes to build
// and to run. .ci/test runs them without -race.

package app

import (
	"context"
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
