// Package codec encrypts the payloads Rapport hands to Temporal (workflow
// inputs and results, activity arguments, signals, memos, failure messages)
// so that the Temporal service and its database only ever hold ciphertext,
// and serves the Temporal codec-server protocol so that the Temporal UI and
// CLI can show those payloads to staff who hold a token.
//
// Keys come from RAPPORT_CODEC_KEYS or RAPPORT_CODEC_KEYS_FILE (see FromEnv).
// Payloads are sealed with AES-256-GCM under the newest key; any key in the
// ring opens the payloads it sealed, so keys can be rotated by appending a
// new one and keeping the old ones for as long as histories that use them
// are kept.
package codec

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Environment variables FromEnv reads.
const (
	// EnvKeys holds the key ring inline: "id1:BASE64,id2:BASE64", newest last.
	EnvKeys = "RAPPORT_CODEC_KEYS"
	// EnvKeysFile names a file holding one "id:BASE64" per line, newest last.
	EnvKeysFile = "RAPPORT_CODEC_KEYS_FILE"
)

// KeySize is the length in bytes of every key: AES-256.
const KeySize = 32

// MaxKeyIDLength is the longest key id allowed.
const MaxKeyIDLength = 64

// maxKeysFileSize bounds what LoadKeysFile reads, so a mistaken path (a log,
// /dev/zero) fails fast instead of filling memory.
const maxKeysFileSize = 1 << 20

// generateHint is appended to errors about a key's bytes.
const generateHint = "generate one with `openssl rand -base64 32`"

// Key is one AES-256 key and the id payloads name it by. Formatting a Key
// with any fmt verb prints its id only, never the secret.
type Key struct {
	// ID names the key in the encryption-key-id metadata of the payloads
	// it seals: 1-64 letters, digits, '_', '.' or '-'.
	ID string
	// Secret is the 32-byte AES-256 key.
	Secret []byte
}

// Format implements fmt.Formatter so that logging or printing a Key, with
// any verb, never shows the secret.
func (k Key) Format(f fmt.State, _ rune) {
	_, _ = io.WriteString(f, k.ID+":<redacted>")
}

// KeyRing is an ordered set of AES-256 keys, oldest first. The newest key
// encrypts; every key decrypts what it encrypted. A KeyRing is immutable
// and safe for concurrent use. Create one with ParseKeys, LoadKeysFile,
// FromEnv or NewKeyRing; the zero value holds no keys and cannot be used.
type KeyRing struct {
	ids   []string // oldest first
	aeads map[string]cipher.AEAD
}

// NewKeyRing builds a key ring from keys given oldest first (the last one
// encrypts). Each secret must be 32 bytes and each id valid and unique.
// The secrets are not retained beyond the ciphers built from them.
func NewKeyRing(keys ...Key) (*KeyRing, error) {
	if len(keys) == 0 {
		return nil, errors.New("the key ring is empty: give at least one key")
	}
	b := newRingBuilder()
	for i, k := range keys {
		where := "key " + strconv.Itoa(i+1)
		if err := b.add(where, k.ID, k.Secret); err != nil {
			return nil, err
		}
	}
	return b.ring, nil
}

// ParseKeys parses a key ring written as in RAPPORT_CODEC_KEYS: entries
// "id:BASE64" separated by commas, newest last. Spaces around entries are
// ignored. Each key is standard base64 (URL-safe and unpadded forms are
// accepted too) of exactly 32 bytes. Errors name the entry by position and
// id and never include key material.
func ParseKeys(s string) (*KeyRing, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("%s is empty: set it to id:BASE64, or several separated by commas with the newest last; %s", EnvKeys, generateHint)
	}
	b := newRingBuilder()
	for i, entry := range strings.Split(s, ",") {
		where := fmt.Sprintf("%s: key %d", EnvKeys, i+1)
		entry = strings.TrimSpace(entry)
		if entry == "" {
			return nil, fmt.Errorf("%s is empty (two commas in a row, or a comma at the start or end?)", where)
		}
		id, secret, err := parseEntry(where, entry)
		if err != nil {
			return nil, err
		}
		if err := b.add(where, id, secret); err != nil {
			return nil, err
		}
	}
	return b.ring, nil
}

// LoadKeysFile reads a key ring from a file as named by
// RAPPORT_CODEC_KEYS_FILE: one "id:BASE64" per line, newest last. Blank
// lines are skipped and '#' starts a comment that runs to the end of the
// line. Errors name the file and line number and never include key
// material.
func LoadKeysFile(path string) (*KeyRing, error) {
	label := fmt.Sprintf("%s (%s)", EnvKeysFile, path)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvKeysFile, err)
	}
	defer func() { _ = f.Close() }()
	data, err := io.ReadAll(io.LimitReader(f, maxKeysFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: read: %w", label, err)
	}
	if len(data) > maxKeysFileSize {
		return nil, fmt.Errorf("%s is larger than %d bytes; is it the right file? It should hold one id:BASE64 per line", label, maxKeysFileSize)
	}
	b := newRingBuilder()
	for i, line := range strings.Split(string(data), "\n") {
		if before, _, found := strings.Cut(line, "#"); found {
			line = before
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		where := fmt.Sprintf("%s: line %d", label, i+1)
		id, secret, err := parseEntry(where, line)
		if err != nil {
			return nil, err
		}
		if err := b.add(where, id, secret); err != nil {
			return nil, err
		}
	}
	if len(b.ring.ids) == 0 {
		return nil, fmt.Errorf("%s has no keys: add a line id:BASE64 (newest last); %s", label, generateHint)
	}
	return b.ring, nil
}

// FromEnv loads the key ring named by the environment: RAPPORT_CODEC_KEYS
// (inline, see ParseKeys) or RAPPORT_CODEC_KEYS_FILE (a path, see
// LoadKeysFile). It returns nil, nil when neither is set (payloads are not
// encrypted) and an error when both are set, since it could not tell which
// is meant. A nil getenv means os.Getenv.
func FromEnv(getenv func(string) string) (*KeyRing, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	inline := strings.TrimSpace(getenv(EnvKeys))
	file := strings.TrimSpace(getenv(EnvKeysFile))
	switch {
	case inline != "" && file != "":
		return nil, fmt.Errorf("both %s and %s are set; set only one (the file is better: it keeps keys out of the process environment)", EnvKeys, EnvKeysFile)
	case inline != "":
		return ParseKeys(inline)
	case file != "":
		return LoadKeysFile(file)
	default:
		return nil, nil
	}
}

// IDs returns the key ids, oldest first; the last one encrypts.
func (r *KeyRing) IDs() []string {
	if r == nil {
		return nil
	}
	return append([]string(nil), r.ids...)
}

// Current returns the id of the key that encrypts: the newest one. It is
// empty for an empty ring.
func (r *KeyRing) Current() string {
	if r == nil || len(r.ids) == 0 {
		return ""
	}
	return r.ids[len(r.ids)-1]
}

// Len returns the number of keys in the ring.
func (r *KeyRing) Len() int {
	if r == nil {
		return 0
	}
	return len(r.ids)
}

// String describes the ring by its key ids, marking the one that encrypts;
// it never shows key material.
func (r *KeyRing) String() string {
	if r.Len() == 0 {
		return "codec.KeyRing{}"
	}
	ids := r.IDs()
	ids[len(ids)-1] += " (current)"
	return "codec.KeyRing{" + strings.Join(ids, ", ") + "}"
}

// aead returns the cipher for a key id.
func (r *KeyRing) aead(id string) (cipher.AEAD, bool) {
	if r == nil {
		return nil, false
	}
	a, ok := r.aeads[id]
	return a, ok
}

// ringBuilder accumulates keys, checking ids and sizes.
type ringBuilder struct {
	ring  *KeyRing
	where map[string]string // id -> where it was first seen
}

func newRingBuilder() *ringBuilder {
	return &ringBuilder{
		ring:  &KeyRing{aeads: map[string]cipher.AEAD{}},
		where: map[string]string{},
	}
}

// add checks one key and appends it to the ring. where names its position
// for error messages ("RAPPORT_CODEC_KEYS: key 2").
func (b *ringBuilder) add(where, id string, secret []byte) error {
	if err := checkID(where, id); err != nil {
		return err
	}
	if first, dup := b.where[id]; dup {
		return fmt.Errorf("%s (%q) has the same id as %s; ids must be unique", where, id, shortWhere(first))
	}
	if len(secret) != KeySize {
		return fmt.Errorf("%s (%q) is %d bytes; AES-256 needs %d: %s", where, id, len(secret), KeySize, generateHint)
	}
	block, err := aes.NewCipher(secret)
	if err != nil {
		return fmt.Errorf("%s (%q): %w", where, id, err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return fmt.Errorf("%s (%q): %w", where, id, err)
	}
	b.where[id] = where
	b.ring.ids = append(b.ring.ids, id)
	b.ring.aeads[id] = gcm
	return nil
}

// shortWhere drops the source from a position: "RAPPORT_CODEC_KEYS: key 1"
// becomes "key 1", so a duplicate's message names its source once.
func shortWhere(where string) string {
	if i := strings.LastIndex(where, ": "); i >= 0 {
		return where[i+2:]
	}
	return where
}

// parseEntry splits "id:BASE64" and decodes the key. where names the entry
// for error messages. Nothing from the secret part ever reaches an error.
func parseEntry(where, entry string) (string, []byte, error) {
	idPart, secretPart, found := strings.Cut(entry, ":")
	if !found {
		return "", nil, fmt.Errorf("%s has no id: write each key as id:BASE64 (ids are 1-%d letters, digits, _ . -); %s", where, MaxKeyIDLength, generateHint)
	}
	id := strings.TrimSpace(idPart)
	secretText := strings.TrimSpace(secretPart)
	if looksLikeKey(id) {
		// Written the wrong way round (BASE64:id): do not echo the key.
		return "", nil, fmt.Errorf("%s: the part before ':' looks like a key, not an id; write each key as id:BASE64 (if it is meant as an id, use a shorter one)", where)
	}
	if err := checkID(where, id); err != nil {
		return "", nil, err
	}
	if secretText == "" {
		return "", nil, fmt.Errorf("%s (%q) has no key after ':'; %s", where, id, generateHint)
	}
	if isHex(secretText) && len(secretText) == 2*KeySize {
		return "", nil, fmt.Errorf("%s (%q) looks like %d hex digits; the key must be base64: convert it with `xxd -r -p | base64`, or %s", where, id, 2*KeySize, generateHint)
	}
	secret, err := decodeBase64(secretText)
	if err != nil {
		return "", nil, fmt.Errorf("%s (%q) is not valid base64 (%v); %s", where, id, err, generateHint)
	}
	return id, secret, nil
}

// checkID reports whether id is 1-64 of [A-Za-z0-9_.-]. Invalid ids are
// described, not echoed: they may be key material pasted in the wrong place.
func checkID(where, id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%s has an empty id: write each key as id:BASE64 (ids are 1-%d letters, digits, _ . -)", where, MaxKeyIDLength)
	case len(id) > MaxKeyIDLength:
		return fmt.Errorf("%s has an id of %d characters; ids are at most %d", where, len(id), MaxKeyIDLength)
	}
	for _, c := range []byte(id) {
		if !validIDByte(c) {
			return fmt.Errorf("%s has an id with a character other than letters, digits, _ . -", where)
		}
	}
	return nil
}

func validIDByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-'
}

// looksLikeKey reports whether s decodes as base64 to exactly one key:
// such a string is a secret, not an id, and must not be printed.
func looksLikeKey(s string) bool {
	if len(s) < 40 { // 32 bytes are at least 43 base64 characters
		return false
	}
	b, err := decodeBase64(s)
	return err == nil && len(b) == KeySize
}

// decodeBase64 accepts standard and URL-safe base64, padded or not. The
// error it returns describes the position of a bad character only.
func decodeBase64(s string) ([]byte, error) {
	var first error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		b, err := enc.DecodeString(s)
		if err == nil {
			return b, nil
		}
		if first == nil {
			first = err
		}
	}
	return nil, first
}

func isHex(s string) bool {
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return s != ""
}
