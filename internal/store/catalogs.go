package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// JourneyCatalog is a journey folder as a worker (or `rapport schedules
// sync`) ran it: the plan of each of its journeys, identified by a hash of
// them all.
type JourneyCatalog struct {
	Hash string `json:"hash"`
	// Plans maps each journey to its plan hash.
	Plans map[string]string `json:"plans"`
	// FirstSeen and LastSeen are when a worker (or the sync) first and
	// last started with it; NewestAt when it became the newest: first
	// seen, or claimed by `rapport schedules sync` (ClaimedAt, the last
	// claim; zero: never).
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	NewestAt  time.Time `json:"newest_at"`
	ClaimedAt time.Time `json:"claimed_at,omitzero"`
}

// ScheduleOwnership is what OwnSchedules found: the folder given, and the
// newest seen, which owns the schedules.
type ScheduleOwnership struct {
	Mine, Newest JourneyCatalog
	// Before is the newest before this call (zero Hash: none was seen).
	Before JourneyCatalog
	// Owner says the folder given is the newest (write was called).
	Owner bool
}

// OwnSchedules records a journey folder as seen (its first time now, if
// it is new) and, when claim is set, as the newest from now on. Then, if
// it is the newest seen, it calls write. It holds one advisory lock
// throughout, so that two writers of Rapport's schedules never interleave
// and a folder recorded while another writes waits its turn. An error of
// write is returned after the record is kept: the folder was still seen.
func (s *Store) OwnSchedules(ctx context.Context, hash string, plans map[string]string, claim bool, write func(context.Context) error) (ScheduleOwnership, error) {
	if hash == "" {
		return ScheduleOwnership{}, errors.New("store: a journey folder needs a hash")
	}
	if plans == nil {
		plans = map[string]string{}
	}
	var own ScheduleOwnership
	var werr error
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('rapport-schedules', 0))`); err != nil {
			return err
		}
		before, err := scanCatalog(tx.QueryRow(ctx, `SELECT `+catalogColumns+` FROM journey_catalogs ORDER BY newest_at DESC, catalog_hash DESC LIMIT 1`))
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		own.Before = before
		insert := `INSERT INTO journey_catalogs (catalog_hash, plans) VALUES ($1, $2)
			ON CONFLICT (catalog_hash) DO UPDATE SET last_seen = clock_timestamp()`
		if claim {
			insert = `INSERT INTO journey_catalogs (catalog_hash, plans, claimed_at) VALUES ($1, $2, clock_timestamp())
				ON CONFLICT (catalog_hash) DO UPDATE SET last_seen = clock_timestamp(), newest_at = clock_timestamp(), claimed_at = clock_timestamp()`
		}
		if _, err := tx.Exec(ctx, insert, hash, plans); err != nil {
			return err
		}
		if own.Mine, err = scanCatalog(tx.QueryRow(ctx, `SELECT `+catalogColumns+` FROM journey_catalogs WHERE catalog_hash = $1`, hash)); err != nil {
			return err
		}
		if own.Newest, err = scanCatalog(tx.QueryRow(ctx, `SELECT `+catalogColumns+` FROM journey_catalogs ORDER BY newest_at DESC, catalog_hash DESC LIMIT 1`)); err != nil {
			return err
		}
		own.Owner = own.Newest.Hash == hash
		if own.Owner && write != nil {
			werr = write(ctx)
		}
		return nil
	})
	if err != nil {
		return own, fmt.Errorf("record journey folder %s: %w", hash, err)
	}
	return own, werr
}

// Catalogs returns the journey folders seen, the newest first, at most
// limit of them.
func (s *Store) Catalogs(ctx context.Context, limit int) ([]JourneyCatalog, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+catalogColumns+` FROM journey_catalogs ORDER BY newest_at DESC, catalog_hash DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("the journey folders seen: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (JourneyCatalog, error) { return scanCatalog(row) })
}

// NewestCatalog returns the newest journey folder seen; ok is false when
// none has been.
func (s *Store) NewestCatalog(ctx context.Context) (c JourneyCatalog, ok bool, err error) {
	c, err = scanCatalog(s.pool.QueryRow(ctx, `SELECT `+catalogColumns+` FROM journey_catalogs ORDER BY newest_at DESC, catalog_hash DESC LIMIT 1`))
	if errors.Is(err, pgx.ErrNoRows) {
		return c, false, nil
	}
	if err != nil {
		return c, false, fmt.Errorf("the newest journey folder: %w", err)
	}
	return c, true, nil
}

const catalogColumns = `catalog_hash, plans, first_seen, last_seen, newest_at, claimed_at`

func scanCatalog(row pgx.Row) (JourneyCatalog, error) {
	var c JourneyCatalog
	var claimed *time.Time
	err := row.Scan(&c.Hash, &c.Plans, &c.FirstSeen, &c.LastSeen, &c.NewestAt, &claimed)
	if claimed != nil {
		c.ClaimedAt = *claimed
	}
	return c, err
}
