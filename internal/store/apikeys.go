package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rapporthq/rapport/internal/apikey"
)

// APIKey is a stored API key: its name, scopes and use, never its secret.
type APIKey struct {
	ID         string         `json:"id"`
	Name       string         `json:"name"`
	Scopes     []apikey.Scope `json:"scopes"`
	CreatedAt  time.Time      `json:"created_at"`
	LastUsedAt *time.Time     `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time     `json:"revoked_at,omitempty"`
	hash       []byte
}

// ErrKeyNameTaken is returned when a key with that name exists already.
var ErrKeyNameTaken = errors.New("a key with that name exists already")

// CreateAPIKey makes a key named name with scopes and stores its hash. The
// returned token is the only copy of the key's secret: show it once.
func (s *Store) CreateAPIKey(ctx context.Context, name string, scopes []apikey.Scope) (APIKey, string, error) {
	if err := apikey.CheckName(name); err != nil {
		return APIKey{}, "", err
	}
	if len(scopes) == 0 {
		return APIKey{}, "", fmt.Errorf("create key %s: no scopes", name)
	}
	k, err := apikey.New()
	if err != nil {
		return APIKey{}, "", err
	}
	out, err := scanAPIKey(s.pool.QueryRow(ctx, `INSERT INTO api_keys (id, name, hash, scopes) VALUES ($1, $2, $3, $4)
		RETURNING `+apiKeyColumns, k.ID, name, k.Hash, scopeStrings(scopes)))
	if isUniqueViolation(err) {
		return APIKey{}, "", fmt.Errorf("create key %s: %w (names stay taken after a key is revoked, so staff actions keep their meaning); choose another name", name, ErrKeyNameTaken)
	}
	if err != nil {
		return APIKey{}, "", fmt.Errorf("create key %s: %w", name, err)
	}
	return out, k.Token, nil
}

// ListAPIKeys lists every key, revoked ones too, by name.
func (s *Store) ListAPIKeys(ctx context.Context) ([]APIKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (APIKey, error) { return scanAPIKey(r) })
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	return keys, nil
}

// RevokeAPIKey revokes the key named name at once. Revoking a revoked key
// is harmless; an unknown name is ErrNotFound.
func (s *Store) RevokeAPIKey(ctx context.Context, name string) (APIKey, error) {
	k, err := scanAPIKey(s.pool.QueryRow(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
		WHERE name = $1 RETURNING `+apiKeyColumns, name))
	if err != nil {
		return k, fmt.Errorf("revoke key %s: %w", name, err)
	}
	return k, nil
}

// Key check errors. The API answers both with 401.
var (
	ErrKeyUnknown = errors.New("the API key is not valid")
	ErrKeyRevoked = errors.New("the API key has been revoked")
)

// Authenticate finds the key a token names and checks its secret in
// constant time. It notes when the key was last used (at most once a
// minute, so a busy key costs no write per request).
func (s *Store) Authenticate(ctx context.Context, token string) (apikey.Principal, error) {
	id, secret, err := apikey.Parse(token)
	if err != nil {
		return apikey.Principal{}, ErrKeyUnknown
	}
	k, err := scanAPIKey(s.pool.QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE id = $1`, id))
	if errors.Is(err, ErrNotFound) {
		// Spend the same work as for a known key.
		apikey.Verify(secret, make([]byte, 32))
		return apikey.Principal{}, ErrKeyUnknown
	}
	if err != nil {
		return apikey.Principal{}, fmt.Errorf("check API key: %w", err)
	}
	if !apikey.Verify(secret, k.hash) {
		return apikey.Principal{}, ErrKeyUnknown
	}
	if k.RevokedAt != nil {
		return apikey.Principal{}, ErrKeyRevoked
	}
	if k.LastUsedAt == nil || time.Since(*k.LastUsedAt) > time.Minute {
		if _, err := s.pool.Exec(ctx, `UPDATE api_keys SET last_used_at = now() WHERE id = $1`, k.ID); err != nil {
			return apikey.Principal{}, fmt.Errorf("note API key use: %w", err)
		}
	}
	return apikey.Principal{KeyID: k.ID, Name: k.Name, Scopes: k.Scopes}, nil
}

const apiKeyColumns = `id, name, hash, scopes, created_at, last_used_at, revoked_at`

func scanAPIKey(row pgx.Row) (APIKey, error) {
	var k APIKey
	var scopes []string
	err := row.Scan(&k.ID, &k.Name, &k.hash, &scopes, &k.CreatedAt, &k.LastUsedAt, &k.RevokedAt)
	for _, sc := range scopes {
		k.Scopes = append(k.Scopes, apikey.Scope(sc))
	}
	return k, notFound(err)
}

func scopeStrings(scopes []apikey.Scope) []string {
	out := make([]string, len(scopes))
	for i, s := range scopes {
		out[i] = string(s)
	}
	return out
}
