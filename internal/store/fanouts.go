package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Fanout is an event posted without a customer, for one journey whose
// trigger fans out, and how far its scan of the customers has come.
type Fanout struct {
	EventID    string          `json:"event_id"`
	Journey    string          `json:"journey"`
	Type       string          `json:"type"`
	OccurredAt time.Time       `json:"occurred_at"`
	ReceivedAt time.Time       `json:"received_at"`
	Data       json.RawMessage `json:"data"`
	// Cursor is the id of the last customer scanned ("" before the
	// first page).
	Cursor                             string `json:"cursor"`
	Scanned, Matched, Started, Skipped int64
	Attempts                           int        `json:"attempts"`
	Error                              string     `json:"error,omitempty"`
	DoneAt                             *time.Time `json:"done_at,omitempty"`
}

const fanoutColumns = `event_id, journey, type, occurred_at, received_at, data, cursor, scanned, matched, started, skipped, attempts, error, done_at`

func scanFanout(row pgx.Row) (Fanout, error) {
	var f Fanout
	err := row.Scan(&f.EventID, &f.Journey, &f.Type, &f.OccurredAt, &f.ReceivedAt, &f.Data, &f.Cursor,
		&f.Scanned, &f.Matched, &f.Started, &f.Skipped, &f.Attempts, &f.Error, &f.DoneAt)
	return f, err
}

// RecordFanout stores an event without a customer for each journey it
// fans out to, in one transaction. It is idempotent on the event id:
// inserted is false when the event was stored before (for any journey).
func (s *Store) RecordFanout(ctx context.Context, e Event, journeys []string) (inserted bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var known bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM fanouts WHERE event_id = $1)`, e.ID).Scan(&known); err != nil {
			return err
		}
		if known {
			return nil
		}
		data := e.Data
		if len(data) == 0 {
			data = json.RawMessage(`{}`)
		}
		for _, j := range journeys {
			tag, err := tx.Exec(ctx, `INSERT INTO fanouts (event_id, journey, type, occurred_at, data) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT DO NOTHING`, e.ID, j, e.Type, e.OccurredAt, data)
			if err != nil {
				return err
			}
			inserted = inserted || tag.RowsAffected() > 0
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("record fan-out event %s: %w", e.ID, err)
	}
	return inserted, nil
}

// ClaimFanout claims the oldest fan-out not done nor claimed by another
// (replicas share them, none waits on another) for lease, and counts the
// attempt. It returns nil when there is none.
func (s *Store) ClaimFanout(ctx context.Context, lease time.Duration) (*Fanout, error) {
	f, err := scanFanout(s.pool.QueryRow(ctx, `
		UPDATE fanouts SET claimed_until = now() + make_interval(secs => $1), attempts = attempts + 1
		WHERE (event_id, journey) = (
			SELECT event_id, journey FROM fanouts
			WHERE done_at IS NULL AND (claimed_until IS NULL OR claimed_until <= now())
			ORDER BY received_at, event_id, journey LIMIT 1
			FOR UPDATE SKIP LOCKED)
		RETURNING `+fanoutColumns, lease.Seconds()))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("claim a fan-out: %w", err)
	}
	return &f, nil
}

// SaveFanoutProgress records how far a fan-out has come (after a page of
// customers) and extends its claim by lease.
func (s *Store) SaveFanoutProgress(ctx context.Context, f Fanout, lease time.Duration) error {
	_, err := s.pool.Exec(ctx, `UPDATE fanouts SET cursor = $3, scanned = $4, matched = $5, started = $6, skipped = $7,
			claimed_until = now() + make_interval(secs => $8)
		WHERE event_id = $1 AND journey = $2 AND done_at IS NULL`,
		f.EventID, f.Journey, f.Cursor, f.Scanned, f.Matched, f.Started, f.Skipped, lease.Seconds())
	if err != nil {
		return fmt.Errorf("save fan-out %s progress: %w", f.EventID, err)
	}
	return nil
}

// FinishFanout marks a fan-out done, with why it entered nobody (an
// event older than the journey's max_event_age, say) or the problem
// that ended it.
func (s *Store) FinishFanout(ctx context.Context, f Fanout, why string) error {
	_, err := s.pool.Exec(ctx, `UPDATE fanouts SET cursor = $3, scanned = $4, matched = $5, started = $6, skipped = $7,
			error = $8, done_at = now(), claimed_until = NULL
		WHERE event_id = $1 AND journey = $2`,
		f.EventID, f.Journey, f.Cursor, f.Scanned, f.Matched, f.Started, f.Skipped, why)
	if err != nil {
		return fmt.Errorf("finish fan-out %s: %w", f.EventID, err)
	}
	return nil
}

// RetryFanout releases a fan-out that failed for now (Temporal was down)
// until after, keeping its progress, with why.
func (s *Store) RetryFanout(ctx context.Context, f Fanout, after time.Duration, why string) error {
	_, err := s.pool.Exec(ctx, `UPDATE fanouts SET error = $3, claimed_until = now() + make_interval(secs => $4)
		WHERE event_id = $1 AND journey = $2 AND done_at IS NULL`, f.EventID, f.Journey, why, after.Seconds())
	if err != nil {
		return fmt.Errorf("release fan-out %s: %w", f.EventID, err)
	}
	return nil
}

// Fanouts returns the fan-outs of an event, by journey.
func (s *Store) Fanouts(ctx context.Context, eventID string) ([]Fanout, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+fanoutColumns+` FROM fanouts WHERE event_id = $1 ORDER BY journey`, eventID)
	if err != nil {
		return nil, fmt.Errorf("fan-outs of %s: %w", eventID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Fanout, error) { return scanFanout(r) })
	if err != nil {
		return nil, fmt.Errorf("fan-outs of %s: %w", eventID, err)
	}
	return out, nil
}

// FanoutEvent returns the event a fan-out to a journey was for, as an
// event without a customer; ErrNotFound when there is none.
func (s *Store) FanoutEvent(ctx context.Context, eventID, journeyName string) (Event, error) {
	e := Event{ID: eventID}
	err := s.pool.QueryRow(ctx, `SELECT type, occurred_at, received_at, data FROM fanouts WHERE event_id = $1 AND journey = $2`,
		eventID, journeyName).Scan(&e.Type, &e.OccurredAt, &e.ReceivedAt, &e.Data)
	if errors.Is(err, pgx.ErrNoRows) {
		return e, ErrNotFound
	}
	if err != nil {
		return e, fmt.Errorf("fan-out event %s: %w", eventID, err)
	}
	return e, nil
}
