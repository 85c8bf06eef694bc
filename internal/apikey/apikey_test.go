package apikey

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewKeysAreRandomAndParse(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		k, err := New()
		require.NoError(t, err)
		require.False(t, seen[k.Token], "a repeated key")
		seen[k.Token] = true
		id, secret, err := Parse(k.Token)
		require.NoError(t, err, k.Token)
		assert.Equal(t, k.ID, id)
		assert.True(t, Verify(secret, k.Hash))
		assert.Len(t, secret, 43, "256 bits of secret")
		assert.NotContains(t, id, "_")
	}
}

func TestParseAcceptsOneSpellingOnly(t *testing.T) {
	k, err := New()
	require.NoError(t, err)
	_, secret, err := Parse(k.Token)
	require.NoError(t, err)
	// The last base64 character of 32 bytes carries 2 spare bits: a
	// lenient decoder would take 4 spellings of the same secret.
	want, err := base64.RawURLEncoding.DecodeString(secret)
	require.NoError(t, err)
	alphabet := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	same := 0
	for _, c := range alphabet {
		token := k.Token[:len(k.Token)-1] + string(c)
		_, got, err := Parse(token)
		if err != nil {
			continue
		}
		raw, err := base64.RawURLEncoding.DecodeString(got)
		require.NoError(t, err)
		if bytes.Equal(raw, want) {
			same++
		}
	}
	assert.Equal(t, 1, same, "one spelling per key")
	for _, bad := range []string{"", "rk_", k.Token + "A", strings.TrimPrefix(k.Token, "rk_"), strings.Replace(k.Token, "_", "-", 1)} {
		_, _, err := Parse(bad)
		assert.ErrorIs(t, err, ErrMalformed, bad)
	}
}

func TestVerifyRefusesOtherSecrets(t *testing.T) {
	a, _ := New()
	b, _ := New()
	_, sa, _ := Parse(a.Token)
	assert.True(t, Verify(sa, a.Hash))
	assert.False(t, Verify(sa, b.Hash))
	assert.False(t, Verify(sa, nil))
}

func TestScopes(t *testing.T) {
	sc, err := ParseScopes(" customers:read, events:write,customers:read ")
	require.NoError(t, err)
	assert.Equal(t, []Scope{CustomersRead, EventsWrite}, sc)
	_, err = ParseScopes("events:write,customer:read")
	assert.ErrorContains(t, err, `unknown scope "customer:read"`)
	_, err = ParseScopes(" , ")
	assert.ErrorContains(t, err, "at least one scope")

	assert.True(t, Allows([]Scope{EventsWrite}, EventsWrite))
	assert.False(t, Allows([]Scope{EventsWrite}, CustomersRead))
	assert.True(t, Allows([]Scope{Admin}, Erase), "admin holds every scope")
	assert.False(t, Allows(nil, EventsWrite))
}

func TestNames(t *testing.T) {
	assert.NoError(t, CheckName("shop-backend"))
	assert.NoError(t, CheckName("support.desk_2"))
	for _, bad := range []string{"", "-x", "Shop", "a b", strings.Repeat("a", 65)} {
		assert.Error(t, CheckName(bad), bad)
	}
}
