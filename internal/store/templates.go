package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// TemplateVersion is the content of a template, by the hash a plan pins:
// its files by path inside the template's folder.
type TemplateVersion struct {
	Hash  string
	Name  string
	Files map[string]string
}

// SaveTemplateVersions stores template versions not stored yet (a hash
// names one content, so a stored one is left as it is).
func (s *Store) SaveTemplateVersions(ctx context.Context, versions []TemplateVersion) error {
	batch := &pgx.Batch{}
	for _, v := range versions {
		batch.Queue(`INSERT INTO template_versions (hash, name, files) VALUES ($1, $2, $3) ON CONFLICT (hash) DO NOTHING`, v.Hash, v.Name, v.Files)
	}
	if err := s.pool.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("save %d template versions: %w", len(versions), err)
	}
	return nil
}

// GetTemplateVersion returns a stored template version, or ErrNotFound.
func (s *Store) GetTemplateVersion(ctx context.Context, hash string) (TemplateVersion, error) {
	v := TemplateVersion{Hash: hash}
	err := s.pool.QueryRow(ctx, `SELECT name, files FROM template_versions WHERE hash = $1`, hash).Scan(&v.Name, &v.Files)
	if err != nil {
		return v, fmt.Errorf("template version %s: %w", hash, notFound(err))
	}
	return v, nil
}
