//go:build !production

package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/apikey"
	"github.com/rapporthq/rapport/internal/devstack/devmode"
)

// TestAPIKeysGuardV1 drives the keys as an operator and a shop would: the
// dev stack's admin key, keys made and revoked with `rapport keys`, and the
// CLI finding its key in the environment or in .rapport/api-key.
func TestAPIKeysGuardV1(t *testing.T) {
	s := startStack(t, "../../journeys")
	status, body := s.post("/v1/customers", customer("c_1", "ada@example.com"))
	require.Equal(t, http.StatusCreated, status, body)

	get := func(key string) *http.Response {
		req, err := http.NewRequest(http.MethodGet, s.APIURL+"/v1/customers/c_1", nil)
		require.NoError(t, err)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}
	resp := get("")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "no key")
	assert.Equal(t, `Bearer realm="rapport"`, resp.Header.Get("WWW-Authenticate"))
	assert.Equal(t, http.StatusOK, get(s.APIKey).StatusCode, "the dev admin key")

	// A second rapport dev on the same state folder is refused before it
	// starts anything (it would share Temporal's SQLite file).
	_, err := startDev(context.Background(), s.opts)
	require.Error(t, err)
	assert.Contains(t, err.Error(), fmt.Sprintf("another rapport dev (process %d) is using the state folder %s", os.Getpid(), s.opts.StateDir))

	// The dev key is in the state folder, for this user only.
	keyFile := filepath.Join(s.opts.StateDir, apikey.DevKeyFile)
	info, err := os.Stat(keyFile)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	b, err := os.ReadFile(keyFile)
	require.NoError(t, err)
	assert.Equal(t, s.APIKey+"\n", string(b))

	// An operator makes a key for the shop's backend: it may post events
	// but not read customers.
	t.Setenv("DATABASE_URL", s.DatabaseURL)
	out, errOut, err := run("keys", "create", "--name", "shop-backend", "--scopes", "events:write,customers:write")
	require.NoError(t, err, errOut)
	token := regexp.MustCompile(`rk_[A-Za-z0-9_-]+`).FindString(out)
	require.NotEmpty(t, token, out)
	assert.Contains(t, out, "only time the key is shown")
	resp = get(token)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "events:write does not read customers")

	_, _, err = run("keys", "create", "--name", "shop-backend", "--scopes", "admin")
	assert.ErrorContains(t, err, "exists already")
	_, _, err = run("keys", "create", "--name", "x", "--scopes", "everything")
	assert.ErrorContains(t, err, `unknown scope "everything"`)

	out, _, err = run("keys", "list")
	require.NoError(t, err)
	assert.Regexp(t, `shop-backend\s+customers:write,events:write\s+\d{4}-\d\d-\d\d \d\d:\d\d\s+\d{4}-\d\d-\d\d \d\d:\d\d\s+-`, out, "used once, not revoked")
	assert.Contains(t, out, "dev-admin")
	assert.NotContains(t, out, token[10:], "list never shows a secret")

	out, _, err = run("keys", "revoke", "shop-backend")
	require.NoError(t, err)
	assert.Contains(t, out, "revoked key shop-backend")
	assert.Equal(t, http.StatusUnauthorized, get(token).StatusCode, "a revoked key")
	_, _, err = run("keys", "revoke", "nobody")
	assert.ErrorContains(t, err, `no key named "nobody"`)

	// The CLI: with no key anywhere it says where keys come from; it finds
	// the dev key in ./.rapport/api-key, and RAPPORT_API_KEY wins over it.
	t.Chdir(t.TempDir())
	t.Setenv("RAPPORT_API_KEY", "")
	_, _, err = run("customers", "show", "--api="+s.APIURL, "c_1")
	assert.ErrorContains(t, err, "RAPPORT_API_KEY")
	require.NoError(t, os.MkdirAll(".rapport", 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(".rapport", apikey.DevKeyFile), []byte(s.APIKey+"\n"), 0o600))
	out, _, err = run("customers", "show", "--api="+s.APIURL, "c_1")
	require.NoError(t, err)
	assert.Contains(t, out, "ada@example.com")
	t.Setenv("RAPPORT_API_KEY", token)
	_, _, err = run("customers", "show", "--api="+s.APIURL, "c_1")
	assert.ErrorContains(t, err, "revoked", "the environment's key is the one sent")

	// Starting dev again keeps the key its state folder holds; a lost file
	// means a new key.
	ctx := context.Background()
	again, err := devmode.APIKey(ctx, s.store, s.opts.StateDir)
	require.NoError(t, err)
	assert.Equal(t, s.APIKey, again)
	require.NoError(t, os.Remove(keyFile))
	fresh, err := devmode.APIKey(ctx, s.store, s.opts.StateDir)
	require.NoError(t, err)
	assert.NotEqual(t, s.APIKey, fresh)
	assert.Equal(t, http.StatusOK, get(fresh).StatusCode)
}
