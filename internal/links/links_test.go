package links

import (
	"encoding/base64"
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

// alphabet is base64url's.
const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// TestOneSpellingPerToken: a token whose signature is written another way
// (unused trailing bits set, a line break inserted) decodes to the same
// bytes under lenient base64, but is refused.
func TestOneSpellingPerToken(t *testing.T) {
	s, err := NewSigner([]byte(strings.Repeat("k", 32)))
	require.NoError(t, err)
	now := time.Now()
	// A token whose signature has a character that standard base64 writes
	// otherwise (- or _), so that spelling can be tried too.
	var tok, payload, sig string
	for i := 0; !strings.ContainsAny(sig, "-_"); i++ {
		tok, err = s.Sign(SurveyPurpose, claims{"c_1", "sv1"}, now.Add(time.Hour+time.Duration(i)*time.Second))
		require.NoError(t, err)
		payload, sig, _ = strings.Cut(tok, ".")
	}
	require.Len(t, sig, 43, "32 bytes in 43 characters: the last one has 2 unused bits")

	last := strings.IndexByte(alphabet, sig[len(sig)-1])
	altered := sig[:len(sig)-1] + string(alphabet[last^1])
	lenientA, errA := base64.RawURLEncoding.DecodeString(sig)
	lenientB, errB := base64.RawURLEncoding.DecodeString(altered)
	require.NoError(t, errA)
	require.NoError(t, errB)
	require.Equal(t, lenientA, lenientB, "the altered signature is the same bytes to a lenient decoder")
	require.NotEqual(t, sig, altered)

	var got claims
	require.NoError(t, s.Verify(tok, SurveyPurpose, now, &got))
	assert.ErrorIs(t, s.Verify(payload+"."+altered, SurveyPurpose, now, &got), ErrInvalid, "trailing bits altered")
	assert.ErrorIs(t, s.Verify(payload+"."+sig[:10]+"\n"+sig[10:], SurveyPurpose, now, &got), ErrInvalid, "a line break in the signature")
	assert.ErrorIs(t, s.Verify(payload+"."+sig+"=", SurveyPurpose, now, &got), ErrInvalid, "padding")
	assert.ErrorIs(t, s.Verify(payload+"."+strings.NewReplacer("-", "+", "_", "/").Replace(sig), SurveyPurpose, now, &got), ErrInvalid, "standard base64")

	short := s.SignSubject(PreferencesPurpose, "c_ada", now.Add(time.Hour))
	_, err = s.VerifySubject(short, PreferencesPurpose, now)
	require.NoError(t, err)
	i := strings.LastIndexByte(short, '.')
	for _, bad := range []string{short[:i+3] + "\r\n" + short[i+3:], short + "=", short[:i] + ".\n" + short[i+1:]} {
		_, err = s.VerifySubject(bad, PreferencesPurpose, now)
		assert.ErrorIs(t, err, ErrInvalid, "%q", bad)
	}
}
