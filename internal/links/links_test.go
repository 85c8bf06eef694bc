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

func TestSubjectTokens(t *testing.T) {
	s, err := NewSigner([]byte(strings.Repeat("k", 32)))
	require.NoError(t, err)
	now := time.Now()
	tok := s.SignSubject("preferences", "c_ada", now.Add(90*24*time.Hour))
	assert.Less(t, len(tok), 40, "short enough for a text: %s", tok)
	got, err := s.VerifySubject(tok, "preferences", now)
	require.NoError(t, err)
	assert.Equal(t, "c_ada", got)

	_, err = s.VerifySubject(tok, "unsubscribe", now)
	assert.ErrorIs(t, err, ErrInvalid, "only good for its purpose")
	_, err = s.VerifySubject(tok, "preferences", now.Add(91*24*time.Hour))
	assert.ErrorIs(t, err, ErrExpired)
	other, _ := NewSigner([]byte(strings.Repeat("x", 32)))
	_, err = other.VerifySubject(tok, "preferences", now)
	assert.ErrorIs(t, err, ErrInvalid, "another key's token is forged")

	// Neither the subject nor the expiry can be changed.
	parts := strings.Split(tok, ".")
	grace := s.SignSubject("preferences", "c_grace", now.Add(90*24*time.Hour))
	later := s.SignSubject("preferences", "c_ada", now.Add(900*24*time.Hour))
	for _, bad := range []string{
		strings.Split(grace, ".")[0] + "." + parts[1] + "." + parts[2],
		parts[0] + "." + strings.Split(later, ".")[1] + "." + parts[2],
		"", "x", tok + "x", parts[0] + "." + parts[1], tok + ".x", strings.Repeat("a.", 300),
	} {
		_, err := s.VerifySubject(bad, "preferences", now)
		assert.ErrorIs(t, err, ErrInvalid, bad)
	}
	// A long token is not a short one, and the other way round.
	long, _ := s.Sign("preferences", claims{Customer: "c_ada"}, now.Add(time.Hour))
	_, err = s.VerifySubject(long, "preferences", now)
	assert.ErrorIs(t, err, ErrInvalid)
	var c claims
	assert.ErrorIs(t, s.Verify(tok, "preferences", now, &c), ErrInvalid)
}
