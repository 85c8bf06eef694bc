package journeyfiles

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// copyJourneys copies the seed journeys and their templates to a folder
// of the test's own.
func copyJourneys(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.CopyFS(dir, os.DirFS("../../journeys")))
	return dir
}

const hook = `journey: order-hook
purpose: transactional
trigger: {event: order.placed}
steps:
  - id: notify
    send: {channel: webhook, endpoint: orders-feed, template: order-feed}
  - id: again
    send: {channel: webhook, endpoint: orders-feed, template: order-feed}
  - id: crm
    send: {channel: webhook, endpoint: crm, template: order-feed}
`

// TestValidate: a folder's journeys each on their own, a file alone, and
// the webhook endpoints a journey names, checked against those given.
func TestValidate(t *testing.T) {
	dir := copyJourneys(t)
	plans, diags, err := Validate(dir, nil)
	require.NoError(t, err)
	assert.False(t, diags.HasErrors(), "%v", diags)
	assert.Len(t, plans, 4, "the seed journeys")

	require.NoError(t, os.WriteFile(filepath.Join(dir, "broken.yaml"), []byte("journey: broken\nsteps: nope\n"), 0o600))
	plans, diags, err = Validate(dir, nil)
	require.NoError(t, err)
	assert.True(t, diags.HasErrors())
	assert.Len(t, plans, 4, "one broken file leaves the others valid")

	plans, diags, err = Validate(filepath.Join(dir, "thank-you.yaml"), nil)
	require.NoError(t, err)
	require.Len(t, plans, 1)
	assert.False(t, diags.HasErrors())
	assert.Equal(t, "thank-you", plans[0].Journey)

	_, _, err = Validate(filepath.Join(dir, "nowhere.yaml"), nil)
	assert.ErrorContains(t, err, "nowhere.yaml")

	require.NoError(t, os.MkdirAll(filepath.Join(dir, "templates", "order-feed"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "templates", "order-feed", "webhook.json"), []byte(`{"customer": {{json .Customer.ID}}}`), 0o600))
	file := filepath.Join(dir, "order-hook.yaml")
	require.NoError(t, os.WriteFile(file, []byte(hook), 0o600))
	plans, diags, err = Validate(file, nil)
	require.NoError(t, err)
	require.False(t, diags.HasErrors(), "%v", diags)
	assert.Equal(t, []string{"orders-feed", "crm"}, WebhookEndpoints(plans[0]), "each once, in order")
	_, diags, err = Validate(file, []string{"crm"})
	require.NoError(t, err)
	assert.ErrorContains(t, diags, "orders-feed", "an endpoint that is not configured")
}

// TestCompile: a file with the templates beside it or a fallback's, and a
// git revision of one with its templates as they were.
func TestCompile(t *testing.T) {
	ctx := context.Background()
	dir := copyJourneys(t)
	plan, err := Compile(ctx, filepath.Join(dir, "thank-you.yaml"))
	require.NoError(t, err)
	assert.Equal(t, "thank-you", plan.Journey)

	elsewhere := filepath.Join(t.TempDir(), "old-thank-you.yaml")
	src, err := os.ReadFile(filepath.Join(dir, "thank-you.yaml"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(elsewhere, src, 0o600))
	_, err = Compile(ctx, elsewhere)
	assert.Error(t, err, "no templates beside it, and no fallback")
	again, err := Compile(ctx, elsewhere, filepath.Join(t.TempDir(), "none"), filepath.Join(dir, "templates"))
	require.NoError(t, err, "the first fallback that is a folder")
	assert.Equal(t, plan.Hash, again.Hash)

	atHead, err := Compile(ctx, "HEAD:journeys/thank-you.yaml")
	require.NoError(t, err, "git revisions need git and this repository")
	assert.Equal(t, "thank-you", atHead.Journey)
	_, err = Compile(ctx, "no-such-revision:journeys/thank-you.yaml")
	assert.ErrorContains(t, err, "git show")
}
