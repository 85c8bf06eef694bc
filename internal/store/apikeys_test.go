package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/apikey"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/store/storetest"
)

func TestAPIKeysAuthenticateUntilRevoked(t *testing.T) {
	t.Parallel()
	s, url := storetest.New(t)
	db := storetest.DB(t, url)
	ctx := context.Background()

	k, token, err := s.CreateAPIKey(ctx, "shop-backend", []apikey.Scope{apikey.EventsWrite, apikey.CustomersWrite})
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(token, "rk_"+k.ID+"_"), token)

	p, err := s.Authenticate(ctx, token)
	require.NoError(t, err)
	assert.Equal(t, "shop-backend", p.Name)
	assert.ElementsMatch(t, []apikey.Scope{apikey.EventsWrite, apikey.CustomersWrite}, p.Scopes)
	keys, err := s.ListAPIKeys(ctx)
	require.NoError(t, err)
	require.Len(t, keys, 1)
	assert.NotNil(t, keys[0].LastUsedAt, "use is noted")

	// Only the hash is stored: the secret half of the token is nowhere in
	// the table.
	_, secret, err := apikey.Parse(token)
	require.NoError(t, err)
	var found int
	require.NoError(t, db.QueryRow(ctx, `SELECT count(*) FROM api_keys WHERE hash::text LIKE '%' || $1 || '%' OR name = $1 OR id = $1`, secret).Scan(&found))
	assert.Zero(t, found)

	// A token with the right id and a wrong secret, a shortened token, and
	// an unknown id are all refused the same way.
	wrong := token[:len(token)-4] + flip(token[len(token)-4:])
	for _, bad := range []string{wrong, token[:len(token)-1], "rk_AAAAAAAAAA_" + secret, "", "Bearer " + token} {
		_, err := s.Authenticate(ctx, bad)
		assert.ErrorIs(t, err, store.ErrKeyUnknown, "%q", bad)
	}

	_, _, err = s.CreateAPIKey(ctx, "shop-backend", []apikey.Scope{apikey.Admin})
	assert.ErrorIs(t, err, store.ErrKeyNameTaken)
	_, _, err = s.CreateAPIKey(ctx, "Shop Backend!", []apikey.Scope{apikey.Admin})
	assert.ErrorContains(t, err, "lower-case")

	revoked, err := s.RevokeAPIKey(ctx, "shop-backend")
	require.NoError(t, err)
	assert.NotNil(t, revoked.RevokedAt)
	_, err = s.Authenticate(ctx, token)
	assert.ErrorIs(t, err, store.ErrKeyRevoked)
	_, err = s.RevokeAPIKey(ctx, "nobody")
	assert.ErrorIs(t, err, store.ErrNotFound)
}

// flip changes every character of s to another valid base64url character.
func flip(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
	}
	return string(b)
}
