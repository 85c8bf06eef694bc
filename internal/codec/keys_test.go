package codec

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// secret returns a deterministic 32-byte key filled with b.
func secret(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

// b64 is the standard base64 of a deterministic key.
func b64(b byte) string { return base64.StdEncoding.EncodeToString(secret(b)) }

func TestParseKeys(t *testing.T) {
	ring, err := ParseKeys("k1:" + b64(1) + ", k2:" + b64(2))
	require.NoError(t, err)
	assert.Equal(t, []string{"k1", "k2"}, ring.IDs())
	assert.Equal(t, "k2", ring.Current(), "the newest key is last")
	assert.Equal(t, 2, ring.Len())
	assert.Equal(t, "codec.KeyRing{k1, k2 (current)}", ring.String())

	// URL-safe and unpadded forms are accepted, and give the same key.
	raw := secret(0xfb)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		r, err := ParseKeys("2024-06_a.b:" + enc.EncodeToString(raw))
		require.NoError(t, err)
		want, err := NewKeyRing(Key{ID: "2024-06_a.b", Secret: raw})
		require.NoError(t, err)
		assertSameKey(t, want, r, "2024-06_a.b")
	}
}

func TestParseKeysErrors(t *testing.T) {
	short := base64.StdEncoding.EncodeToString(make([]byte, 16))
	long := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xfe}, 48))
	cases := []struct {
		name, in, want string
	}{
		{"empty", "  ", "RAPPORT_CODEC_KEYS is empty: set it to id:BASE64, or several separated by commas with the newest last; generate one with `openssl rand -base64 32`"},
		{"short key", "k1:" + b64(1) + ",k2:" + short, "RAPPORT_CODEC_KEYS: key 2 (\"k2\") is 16 bytes; AES-256 needs 32: generate one with `openssl rand -base64 32`"},
		{"long key", "k1:" + long, "RAPPORT_CODEC_KEYS: key 1 (\"k1\") is 48 bytes; AES-256 needs 32: generate one with `openssl rand -base64 32`"},
		{"hex key", "k1:" + hex.EncodeToString(secret(7)), "RAPPORT_CODEC_KEYS: key 1 (\"k1\") looks like 64 hex digits; the key must be base64: convert it with `xxd -r -p | base64`, or generate one with `openssl rand -base64 32`"},
		{"no id", b64(1), "RAPPORT_CODEC_KEYS: key 1 has no id: write each key as id:BASE64 (ids are 1-64 letters, digits, _ . -); generate one with `openssl rand -base64 32`"},
		{"empty id", ":" + b64(1), "RAPPORT_CODEC_KEYS: key 1 has an empty id: write each key as id:BASE64 (ids are 1-64 letters, digits, _ . -)"},
		{"bad id", "k 1:" + b64(1), "RAPPORT_CODEC_KEYS: key 1 has an id with a character other than letters, digits, _ . -"},
		{"long id", strings.Repeat("a", 65) + ":" + b64(1), "RAPPORT_CODEC_KEYS: key 1 has an id of 65 characters; ids are at most 64"},
		{"swapped", b64(1) + ":k1", "RAPPORT_CODEC_KEYS: key 1: the part before ':' looks like a key, not an id; write each key as id:BASE64 (if it is meant as an id, use a shorter one)"},
		{"swapped url-safe", base64.RawURLEncoding.EncodeToString(secret(9)) + ":k1", "RAPPORT_CODEC_KEYS: key 1: the part before ':' looks like a key, not an id; write each key as id:BASE64 (if it is meant as an id, use a shorter one)"},
		{"no key", "k1:" + b64(1) + ",k2:", "RAPPORT_CODEC_KEYS: key 2 (\"k2\") has no key after ':'; generate one with `openssl rand -base64 32`"},
		{"not base64", "k1:not*base64", "RAPPORT_CODEC_KEYS: key 1 (\"k1\") is not valid base64 (illegal base64 data at input byte 3); generate one with `openssl rand -base64 32`"},
		{"duplicate", "k1:" + b64(1) + ",k2:" + b64(2) + ",k1:" + b64(3), "RAPPORT_CODEC_KEYS: key 3 (\"k1\") has the same id as key 1; ids must be unique"},
		{"double comma", "k1:" + b64(1) + ",,k2:" + b64(2), "RAPPORT_CODEC_KEYS: key 2 is empty (two commas in a row, or a comma at the start or end?)"},
		{"trailing comma", "k1:" + b64(1) + ",", "RAPPORT_CODEC_KEYS: key 2 is empty (two commas in a row, or a comma at the start or end?)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ring, err := ParseKeys(tc.in)
			require.Error(t, err)
			assert.Nil(t, ring)
			assert.Equal(t, tc.want, err.Error())
			assertNoKeyMaterial(t, err.Error())
		})
	}
}

// assertNoKeyMaterial checks that a message holds none of the test keys in
// any encoding.
func assertNoKeyMaterial(t *testing.T, msg string) {
	t.Helper()
	for _, b := range []byte{1, 2, 3, 7, 9} {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawURLEncoding} {
			s := enc.EncodeToString(secret(b))
			assert.NotContains(t, msg, s[:20], "the error must not show key material")
		}
		assert.NotContains(t, msg, hex.EncodeToString(secret(b))[:20])
	}
}

func TestLoadKeysFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "codec.keys")
	content := "# Rapport payload keys, newest last\n\n" +
		"k1:" + b64(1) + "   # retired 2024-01\r\n" +
		"   \n" +
		"k2:" + b64(2) + "\n"
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	ring, err := LoadKeysFile(path)
	require.NoError(t, err)
	assert.Equal(t, []string{"k1", "k2"}, ring.IDs())
	assert.Equal(t, "k2", ring.Current())
}

func TestLoadKeysFileErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	short := base64.StdEncoding.EncodeToString(make([]byte, 16))

	p := write("short", "# keys\nk1:"+b64(1)+"\n\nk2:"+short+"\n")
	_, err := LoadKeysFile(p)
	require.Error(t, err)
	assert.Equal(t, fmt.Sprintf("RAPPORT_CODEC_KEYS_FILE (%s): line 4 (\"k2\") is 16 bytes; AES-256 needs 32: generate one with `openssl rand -base64 32`", p), err.Error())

	p = write("dup", "k1:"+b64(1)+"\nk1:"+b64(2)+"\n")
	_, err = LoadKeysFile(p)
	require.Error(t, err)
	assert.Equal(t, fmt.Sprintf("RAPPORT_CODEC_KEYS_FILE (%s): line 2 (\"k1\") has the same id as line 1; ids must be unique", p), err.Error())
	assertNoKeyMaterial(t, err.Error())

	p = write("empty", "# nothing yet\n\n")
	_, err = LoadKeysFile(p)
	require.Error(t, err)
	assert.Equal(t, fmt.Sprintf("RAPPORT_CODEC_KEYS_FILE (%s) has no keys: add a line id:BASE64 (newest last); generate one with `openssl rand -base64 32`", p), err.Error())

	p = write("comma", "k1:"+b64(1)+",k2:"+b64(2)+"\n")
	_, err = LoadKeysFile(p)
	require.Error(t, err)
	assert.Equal(t, fmt.Sprintf("RAPPORT_CODEC_KEYS_FILE (%s): line 1 (\"k1\") is not valid base64 (illegal base64 data at input byte 44); generate one with `openssl rand -base64 32`", p), err.Error())
	assertNoKeyMaterial(t, err.Error())

	missing := filepath.Join(dir, "missing")
	_, err = LoadKeysFile(missing)
	require.Error(t, err)
	assert.Equal(t, "RAPPORT_CODEC_KEYS_FILE: open "+missing+": no such file or directory", err.Error())
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string {
		return func(k string) string { return m[k] }
	}

	ring, err := FromEnv(env(nil))
	require.NoError(t, err)
	assert.Nil(t, ring, "neither variable set: no encryption")

	ring, err = FromEnv(env(map[string]string{EnvKeys: "k1:" + b64(1)}))
	require.NoError(t, err)
	assert.Equal(t, []string{"k1"}, ring.IDs())

	path := filepath.Join(t.TempDir(), "keys")
	require.NoError(t, os.WriteFile(path, []byte("k1:"+b64(1)+"\nk2:"+b64(2)+"\n"), 0o600))
	ring, err = FromEnv(env(map[string]string{EnvKeysFile: path}))
	require.NoError(t, err)
	assert.Equal(t, []string{"k1", "k2"}, ring.IDs())

	_, err = FromEnv(env(map[string]string{EnvKeys: "k1:" + b64(1), EnvKeysFile: path}))
	require.Error(t, err)
	assert.Equal(t, "both RAPPORT_CODEC_KEYS and RAPPORT_CODEC_KEYS_FILE are set; set only one (the file is better: it keeps keys out of the process environment)", err.Error())

	_, err = FromEnv(env(map[string]string{EnvKeys: "k1:abc"}))
	require.Error(t, err)
	assert.Equal(t, "RAPPORT_CODEC_KEYS: key 1 (\"k1\") is 2 bytes; AES-256 needs 32: generate one with `openssl rand -base64 32`", err.Error())
}

func TestNewKeyRing(t *testing.T) {
	_, err := NewKeyRing()
	require.EqualError(t, err, "the key ring is empty: give at least one key")
	_, err = NewKeyRing(Key{ID: "k1", Secret: secret(1)}, Key{ID: "k2", Secret: secret(2)[:31]})
	require.EqualError(t, err, "key 2 (\"k2\") is 31 bytes; AES-256 needs 32: generate one with `openssl rand -base64 32`")
	_, err = NewKeyRing(Key{ID: "k1", Secret: secret(1)}, Key{ID: "k1", Secret: secret(2)})
	require.EqualError(t, err, "key 2 (\"k1\") has the same id as key 1; ids must be unique")
}

func TestKeyNeverPrintsSecret(t *testing.T) {
	k := Key{ID: "k1", Secret: secret(1)}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%d", "%q"} {
		out := fmt.Sprintf(verb, k)
		assert.Equal(t, "k1:<redacted>", out, verb)
	}
	assert.Equal(t, "[k1:<redacted>]", fmt.Sprint([]Key{k}))
}

func TestNilRing(t *testing.T) {
	var r *KeyRing
	assert.Equal(t, 0, r.Len())
	assert.Empty(t, r.Current())
	assert.Nil(t, r.IDs())
	assert.Equal(t, "codec.KeyRing{}", r.String())
}
