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
	Data       json.RawMessage `json:"data,omitempty"` // nil in a listing
	// Cursor is the id of the last customer scanned ("" before the
	// first page).
	Cursor string `json:"cursor"`
	// Scanned counts the customers scanned, Matched those the condition
	// selected, Started those entered and Skipped those the entry rules
	// refused (or who had entered for this event before).
	Scanned int64 `json:"scanned"`
	Matched int64 `json:"matched"`
	Started int64 `json:"started"`
	Skipped int64 `json:"skipped"`
	// Attempts counts the claims of the fan-out since it was stored (or
	// an operator retried it); a claim given back when its runner stops
	// is not counted.
	Attempts int `json:"attempts"`
	// Error is the last attempt's error while the fan-out is pending or
	// failed; once done, why it entered nobody (an event older than the
	// journey's max_event_age), if it says.
	Error string `json:"error,omitempty"`
	// DoneAt is when it was done, or when it was given up as failed.
	DoneAt *time.Time `json:"done_at,omitempty"`
	// Status is one of FanoutPending, FanoutRunning, FanoutDone and
	// FanoutFailed, as of the read.
	Status string `json:"status"`
	// NextAttemptAt, for a pending fan-out whose last attempt failed, is
	// when it may be tried again.
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
}

// The statuses of a fan-out (Fanout.Status).
const (
	// FanoutPending: waiting for a runner, for the first time or after a
	// failed attempt (until NextAttemptAt).
	FanoutPending = "pending"
	// FanoutRunning: a runner holds it and scans its customers.
	FanoutRunning = "running"
	// FanoutDone: every customer was scanned (or it concerns nobody, with
	// why in Error).
	FanoutDone = "done"
	// FanoutFailed: given up after repeated failures, with the last
	// error, until an operator retries it (RetryFailedFanout).
	FanoutFailed = "failed"
)

// FanoutStatuses are the statuses of a fan-out, in the order of its life.
var FanoutStatuses = []string{FanoutPending, FanoutRunning, FanoutDone, FanoutFailed}

// A failed fan-out is finished (done_at, when it was given up) and never
// claimed again (claimed_until is infinity); a done one has no claim. A
// pending one whose last attempt failed has its error and is claimed
// until its next attempt; a running one has no error (a claim clears it).
const (
	fanoutFailedSQL = `(done_at IS NOT NULL AND claimed_until IS NOT DISTINCT FROM 'infinity')`
	fanoutStatusSQL = `CASE WHEN ` + fanoutFailedSQL + ` THEN 'failed' WHEN done_at IS NOT NULL THEN 'done'
		WHEN claimed_until > now() AND error = '' THEN 'running' ELSE 'pending' END`
	fanoutNextSQL = `CASE WHEN done_at IS NULL AND claimed_until > now() AND error <> '' THEN claimed_until END`
)

// fanoutColumns are a fan-out's columns for scanFanout; fanoutListColumns
// the same without its data (NULL), for listings.
const (
	fanoutColumns = `event_id, journey, type, occurred_at, received_at, data, cursor, scanned, matched, started, skipped, attempts, error, done_at,
		` + fanoutStatusSQL + `, ` + fanoutNextSQL
	fanoutListColumns = `event_id, journey, type, occurred_at, received_at, NULL::jsonb, cursor, scanned, matched, started, skipped, attempts, error, done_at,
		` + fanoutStatusSQL + ` AS status, ` + fanoutNextSQL
)

func scanFanout(row pgx.Row) (Fanout, error) {
	var f Fanout
	err := row.Scan(&f.EventID, &f.Journey, &f.Type, &f.OccurredAt, &f.ReceivedAt, &f.Data, &f.Cursor,
		&f.Scanned, &f.Matched, &f.Started, &f.Skipped, &f.Attempts, &f.Error, &f.DoneAt, &f.Status, &f.NextAttemptAt)
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
// (replicas share them, none waits on another) nor waiting for its next
// attempt, for lease, and counts the attempt; the claim clears the last
// attempt's error. It returns nil when there is none.
func (s *Store) ClaimFanout(ctx context.Context, lease time.Duration) (*Fanout, error) {
	f, err := scanFanout(s.pool.QueryRow(ctx, `
		UPDATE fanouts SET claimed_until = now() + make_interval(secs => $1), attempts = attempts + 1, error = ''
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

// FailFanout gives a fan-out up after repeated failures: it keeps its
// progress and why, is finished (done_at) as failed, and is never claimed
// again until an operator retries it (RetryFailedFanout).
func (s *Store) FailFanout(ctx context.Context, f Fanout, why string) error {
	_, err := s.pool.Exec(ctx, `UPDATE fanouts SET cursor = $3, scanned = $4, matched = $5, started = $6, skipped = $7,
			error = $8, done_at = now(), claimed_until = 'infinity'
		WHERE event_id = $1 AND journey = $2 AND done_at IS NULL`,
		f.EventID, f.Journey, f.Cursor, f.Scanned, f.Matched, f.Started, f.Skipped, why)
	if err != nil {
		return fmt.Errorf("fail fan-out %s: %w", f.EventID, err)
	}
	return nil
}

// ReleaseFanout gives a claimed fan-out back at once, with its progress,
// without counting the attempt: its runner is stopping, and another may
// take it over now rather than when the lease ends.
func (s *Store) ReleaseFanout(ctx context.Context, f Fanout) error {
	_, err := s.pool.Exec(ctx, `UPDATE fanouts SET cursor = $3, scanned = $4, matched = $5, started = $6, skipped = $7,
			attempts = greatest(attempts - 1, 0), claimed_until = NULL
		WHERE event_id = $1 AND journey = $2 AND done_at IS NULL AND claimed_until > now() AND error = ''`,
		f.EventID, f.Journey, f.Cursor, f.Scanned, f.Matched, f.Started, f.Skipped)
	if err != nil {
		return fmt.Errorf("release fan-out %s: %w", f.EventID, err)
	}
	return nil
}

// RetryFailedFanout hands a failed fan-out back to the runners with a
// fresh count of attempts, due at once; it resumes after the last
// customer it scanned, with its counts and its last error (until it is
// claimed). ErrNotFound when there is no such fan-out, ErrConflict when
// it is not failed.
func (s *Store) RetryFailedFanout(ctx context.Context, eventID, journeyName string) (Fanout, error) {
	f, err := scanFanout(s.pool.QueryRow(ctx, `UPDATE fanouts SET done_at = NULL, claimed_until = NULL, attempts = 0
		WHERE event_id = $1 AND journey = $2 AND `+fanoutFailedSQL+`
		RETURNING `+fanoutListColumns, eventID, journeyName))
	if !errors.Is(err, pgx.ErrNoRows) {
		if err != nil {
			return f, fmt.Errorf("retry fan-out %s to %s: %w", eventID, journeyName, err)
		}
		return f, nil
	}
	var status string
	err = s.pool.QueryRow(ctx, `SELECT `+fanoutStatusSQL+` FROM fanouts WHERE event_id = $1 AND journey = $2`, eventID, journeyName).Scan(&status)
	if errors.Is(err, pgx.ErrNoRows) {
		return f, ErrNotFound
	}
	if err != nil {
		return f, fmt.Errorf("retry fan-out %s to %s: %w", eventID, journeyName, err)
	}
	return f, fmt.Errorf("%w: the fan-out of %s to %s is %s, not failed; only a failed fan-out is retried", ErrConflict, eventID, journeyName, status)
}

// FanoutFilter selects fan-outs for ListFanouts: an event's (EventID
// set), of some statuses (none: any), at most Limit.
type FanoutFilter struct {
	EventID  string
	Statuses []string
	Limit    int
}

// ListFanouts returns fan-outs, the most recently received first (then
// by event and journey), without their data.
func (s *Store) ListFanouts(ctx context.Context, f FanoutFilter) ([]Fanout, error) {
	statuses := f.Statuses
	if statuses == nil {
		statuses = []string{}
	}
	rows, err := s.pool.Query(ctx, `SELECT * FROM (SELECT `+fanoutListColumns+` FROM fanouts WHERE $1 = '' OR event_id = $1) f
		WHERE cardinality($2::text[]) = 0 OR status = ANY($2)
		ORDER BY received_at DESC, event_id, journey LIMIT $3`, f.EventID, statuses, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list fan-outs: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Fanout, error) { return scanFanout(r) })
	if err != nil {
		return nil, fmt.Errorf("list fan-outs: %w", err)
	}
	return out, nil
}

// CountFailedFanouts counts the fan-outs given up as failed and not
// retried since.
func (s *Store) CountFailedFanouts(ctx context.Context) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM fanouts WHERE `+fanoutFailedSQL).Scan(&n); err != nil {
		return 0, fmt.Errorf("count failed fan-outs: %w", err)
	}
	return n, nil
}

// DeleteOldFanouts deletes at most batch fan-outs done before cutoff
// (retention: with the event data of the same age) and returns how many
// it deleted. Failed ones stay until retried, as events in the routing
// dead letter keep their data. Call it until it returns fewer than batch.
func (s *Store) DeleteOldFanouts(ctx context.Context, cutoff time.Time, batch int) (int64, error) {
	if batch <= 0 {
		batch = DefaultRetentionBatch
	}
	tag, err := s.pool.Exec(ctx, `
		DELETE FROM fanouts WHERE (event_id, journey) IN (
			SELECT event_id, journey FROM fanouts
			WHERE done_at < $1 AND NOT `+fanoutFailedSQL+`
			ORDER BY done_at LIMIT $2
			FOR UPDATE SKIP LOCKED)`, cutoff, batch)
	if err != nil {
		return 0, fmt.Errorf("retention: delete the fan-outs done before %s: %w", cutoff.UTC().Format(time.RFC3339), err)
	}
	return tag.RowsAffected(), nil
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
