package links

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type claims struct {
	Customer string `json:"cu"`
	Survey   string `json:"sv"`
}

func TestSignAndVerify(t *testing.T) {
	s, err := NewSigner([]byte(strings.Repeat("k", 32)))
	require.NoError(t, err)
	now := time.Now()
	tok, err := s.Sign("survey", claims{"c_1", "sv1"}, now.Add(time.Hour))
	require.NoError(t, err)

	var got claims
	require.NoError(t, s.Verify(tok, "survey", now, &got))
	assert.Equal(t, claims{"c_1", "sv1"}, got)

	assert.ErrorIs(t, s.Verify(tok, "preferences", now, &got), ErrInvalid, "a token is only good for its purpose")
	assert.ErrorIs(t, s.Verify(tok, "survey", now.Add(2*time.Hour), &got), ErrExpired)

	other, _ := NewSigner([]byte(strings.Repeat("x", 32)))
	assert.ErrorIs(t, other.Verify(tok, "survey", now, &got), ErrInvalid, "another key's token is forged")

	payload, sig, _ := strings.Cut(tok, ".")
	forged, _ := s.Sign("survey", claims{"c_2", "sv1"}, now.Add(time.Hour))
	forgedPayload, _, _ := strings.Cut(forged, ".")
	assert.ErrorIs(t, s.Verify(forgedPayload+"."+sig, "survey", now, &got), ErrInvalid, "claims cannot be swapped")
	for _, bad := range []string{"", "x", payload, payload + ".", "." + sig, tok + "x", strings.Repeat("a", 5000)} {
		assert.Error(t, s.Verify(bad, "survey", now, &got), bad)
	}
	_, err = NewSigner([]byte("short"))
	assert.Error(t, err)
}
