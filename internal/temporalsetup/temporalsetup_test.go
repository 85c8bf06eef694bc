package temporalsetup_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/rapporthq/rapport/internal/devstack"
	"github.com/rapporthq/rapport/internal/temporalsetup"
)

// TestEnsureSearchAttributes registers attributes on a real (embedded)
// Temporal server: the missing ones are added and named, sorted; a second
// call adds nothing; one registered with another type is refused, by name.
func TestEnsureSearchAttributes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := devstack.StartTemporal(ctx, devstack.TemporalOptions{UIPort: -1})
	require.NoError(t, err)
	defer srv.Stop()
	c, err := client.Dial(client.Options{HostPort: srv.Address()})
	require.NoError(t, err)
	defer c.Close()

	attrs := map[string]enumspb.IndexedValueType{
		"RapportStep":    enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		"RapportJourney": enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	}
	missing, err := temporalsetup.MissingSearchAttributes(ctx, c, "default", attrs)
	require.NoError(t, err)
	assert.Equal(t, []string{"RapportJourney", "RapportStep"}, missing)

	added, err := temporalsetup.EnsureSearchAttributes(ctx, c, "default", attrs)
	require.NoError(t, err)
	assert.Equal(t, []string{"RapportJourney", "RapportStep"}, added)
	missing, err = temporalsetup.MissingSearchAttributes(ctx, c, "default", attrs)
	require.NoError(t, err)
	assert.Empty(t, missing, "all registered")
	list, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: "default"})
	require.NoError(t, err)
	assert.Equal(t, enumspb.INDEXED_VALUE_TYPE_KEYWORD, list.GetCustomAttributes()["RapportJourney"])
	assert.Equal(t, enumspb.INDEXED_VALUE_TYPE_KEYWORD, list.GetCustomAttributes()["RapportStep"])

	added, err = temporalsetup.EnsureSearchAttributes(ctx, c, "default", attrs)
	require.NoError(t, err)
	assert.Empty(t, added, "already registered")

	attrs["RapportStep"] = enumspb.INDEXED_VALUE_TYPE_TEXT
	_, err = temporalsetup.EnsureSearchAttributes(ctx, c, "default", attrs)
	assert.ErrorContains(t, err, "search attribute RapportStep exists with type Keyword, Rapport needs Text")
	missing, err = temporalsetup.MissingSearchAttributes(ctx, c, "default", attrs)
	require.NoError(t, err)
	assert.Equal(t, []string{"RapportStep"}, missing, "registered with another type")

	added, err = temporalsetup.EnsureSearchAttributes(ctx, c, "default", nil)
	require.NoError(t, err)
	assert.Empty(t, added)
}
