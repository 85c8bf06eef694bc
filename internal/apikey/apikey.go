// Package apikey makes and checks the API keys the shop's systems and staff
// tools present to Rapport's /v1 API, and names the scopes a key may hold.
//
// A key reads "rk_<id>_<secret>": the id (10 characters) finds the key's
// row, the secret (256 random bits) proves it. Only a SHA-256 hash of the
// secret is stored, and it is compared in constant time, so neither a copy
// of the database nor the timing of answers gives a key away.
package apikey

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// DevKeyFile is the file in rapport dev's state folder (.rapport) that
// holds its admin key, for the command line to find.
const DevKeyFile = "api-key"

// Scope is what a key may do.
type Scope string

// The scopes. Admin holds every other scope.
const (
	EventsWrite       Scope = "events:write"       // post events and orders
	CustomersRead     Scope = "customers:read"     // read customers, their preferences and exports
	CustomersWrite    Scope = "customers:write"    // create and update customers
	PreferencesWrite  Scope = "preferences:write"  // change a customer's consent, topics and settings
	SuppressionsWrite Scope = "suppressions:write" // add and lift suppressions
	TasksRead         Scope = "tasks:read"         // list and read staff tasks
	TasksWrite        Scope = "tasks:write"        // claim and complete staff tasks
	CatalogWrite      Scope = "catalog:write"      // replace products and their complements
	VouchersWrite     Scope = "vouchers:write"     // read and redeem vouchers
	AudiencesRun      Scope = "audiences:run"      // preview and run a journey's audience
	ReportsRead       Scope = "reports:read"       // read journeys' reports and open their report pages
	Erase             Scope = "erase"              // erase a customer
	SegmentWrite      Scope = "segment:write"      // send Segment-spec calls (track, identify, page, batch)
	Admin             Scope = "admin"              // everything
)

// Scopes lists every scope, in the order help texts show them.
var Scopes = []Scope{EventsWrite, CustomersRead, CustomersWrite, PreferencesWrite, SuppressionsWrite,
	TasksRead, TasksWrite, CatalogWrite, VouchersWrite, AudiencesRun, ReportsRead, Erase, SegmentWrite, Admin}

// ParseScopes reads a comma-separated list of scopes ("events:write,
// customers:read"). Unknown scopes are errors naming the known ones.
func ParseScopes(s string) ([]Scope, error) {
	var out []Scope
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		sc := Scope(part)
		if !slices.Contains(Scopes, sc) {
			return nil, fmt.Errorf("unknown scope %q; scopes are %s", part, scopeList())
		}
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("a key needs at least one scope; scopes are %s", scopeList())
	}
	slices.Sort(out)
	return out, nil
}

func scopeList() string {
	names := make([]string, len(Scopes))
	for i, s := range Scopes {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

// Allows reports whether a key holding scopes may act with scope need.
func Allows(scopes []Scope, need Scope) bool {
	return slices.Contains(scopes, Admin) || slices.Contains(scopes, need)
}

const (
	prefix    = "rk_"
	idLen     = 10 // characters of base64url: 60 bits, to find the row
	secretLen = 32 // bytes: 256 bits, the proof
)

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// CheckName says what is wrong with a key name, or nil. Names are what
// staff actions record as who did them, so they must be readable.
func CheckName(name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("key name %q: use 1-64 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit (such as shop-backend or support-desk)", name)
	}
	return nil
}

// Key is a newly made key: Token is shown once to whoever created it;
// ID and Hash are what is stored.
type Key struct {
	ID    string
	Token string
	Hash  []byte
}

// New makes a key with a random id and secret.
func New() (Key, error) {
	idBytes := make([]byte, idLen*6/8)
	secret := make([]byte, secretLen)
	if _, err := rand.Read(idBytes); err != nil {
		return Key{}, fmt.Errorf("make API key: %w", err)
	}
	if _, err := rand.Read(secret); err != nil {
		return Key{}, fmt.Errorf("make API key: %w", err)
	}
	id := base64.RawURLEncoding.EncodeToString(idBytes)
	// The id must not contain the separator, or a token could not be split.
	id = strings.NewReplacer("_", "A", "-", "B").Replace(id)
	s := base64.RawURLEncoding.EncodeToString(secret)
	return Key{ID: id, Token: prefix + id + "_" + s, Hash: hash(s)}, nil
}

// ErrMalformed says a presented token is not shaped like a Rapport key.
var ErrMalformed = errors.New("not a Rapport API key (they start with rk_)")

// Parse splits a presented token into the id that finds its row and the
// secret that proves it. The secret must be exactly the canonical base64url
// of 32 bytes (strict decoding refuses set spare bits in the last
// character), so no two strings are the same key.
func Parse(token string) (id, secret string, err error) {
	rest, ok := strings.CutPrefix(token, prefix)
	if !ok || len(rest) != idLen+1+43 || rest[idLen] != '_' {
		return "", "", ErrMalformed
	}
	id, secret = rest[:idLen], rest[idLen+1:]
	raw, err := base64.RawURLEncoding.Strict().DecodeString(secret)
	if err != nil || len(raw) != secretLen {
		return "", "", ErrMalformed
	}
	return id, secret, nil
}

// Verify reports, in constant time, whether secret matches a stored hash.
func Verify(secret string, stored []byte) bool {
	return subtle.ConstantTimeCompare(hash(secret), stored) == 1
}

func hash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// Principal is the key a request was made with.
type Principal struct {
	// KeyID is the key's public id; Name is what actions record as who
	// did them ("key shop-backend").
	KeyID  string
	Name   string
	Scopes []Scope
}

// Who is how records name the principal: "key NAME".
func (p Principal) Who() string { return "key " + p.Name }

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal of an authenticated request.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
