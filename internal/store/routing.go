package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// ClaimUnroutedEvents takes up to limit unrouted events received before
// cutoff whose next attempt is due, oldest first (an event that failed
// counts as received when its next attempt is due, so it queues behind
// events never tried), and leases them for
// lease: until then no other call (another API replica's sweeper) takes
// them. It claims with FOR UPDATE SKIP LOCKED in one short statement, so
// concurrent sweepers take different events and never wait on each other.
// Dead-lettered events are not taken.
func (s *Store) ClaimUnroutedEvents(ctx context.Context, cutoff time.Time, limit int, lease time.Duration) ([]Event, error) {
	rows, err := s.pool.Query(ctx, `
		UPDATE events SET claimed_until = now() + make_interval(secs => $3)
		WHERE id IN (
			SELECT id FROM events
			WHERE routed_at IS NULL AND routing_failed_at IS NULL AND received_at < $1
				AND (next_attempt_at IS NULL OR next_attempt_at <= now())
				AND (claimed_until IS NULL OR claimed_until <= now())
			ORDER BY coalesce(next_attempt_at, received_at) LIMIT $2
			FOR UPDATE SKIP LOCKED)
		RETURNING `+eventColumns, cutoff, limit, lease.Seconds())
	if err != nil {
		return nil, fmt.Errorf("claim unrouted events: %w", err)
	}
	events, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Event, error) { return scanEvent(r) })
	if err != nil {
		return nil, fmt.Errorf("claim unrouted events: %w", err)
	}
	slices.SortFunc(events, func(a, b Event) int { return a.ReceivedAt.Compare(b.ReceivedAt) }) // RETURNING has no order
	return events, nil
}

// RoutingBackoff says when a failed event is tried again: after Base, then
// twice as long after each further failure, never longer than Max; after
// MaxAttempts failures the event is dead-lettered.
type RoutingBackoff struct {
	Base, Max   time.Duration
	MaxAttempts int
}

// RoutingFailure is what recording a failed routing attempt did.
type RoutingFailure struct {
	Attempts      int
	NextAttemptAt time.Time // zero when dead-lettered
	DeadLettered  bool
}

// RecordRoutingFailure counts a failed attempt to route an event: it
// records why, releases the claim and schedules the next attempt with
// exponential backoff, or dead-letters the event once it has failed
// b.MaxAttempts times. An event routed meanwhile is left alone.
func (s *Store) RecordRoutingFailure(ctx context.Context, id, reason string, b RoutingBackoff) (RoutingFailure, error) {
	var f RoutingFailure
	var next *time.Time
	err := s.pool.QueryRow(ctx, `
		UPDATE events SET
			routing_attempts = routing_attempts + 1,
			routing_error = $2,
			claimed_until = NULL,
			routing_failed_at = CASE WHEN routing_attempts + 1 >= $3 THEN now() END,
			next_attempt_at = CASE WHEN routing_attempts + 1 < $3
				THEN now() + make_interval(secs => least($4 * power(2, least(routing_attempts, 40)), $5)) END
		WHERE id = $1 AND routed_at IS NULL
		RETURNING routing_attempts, next_attempt_at, routing_failed_at IS NOT NULL`,
		id, reason, b.MaxAttempts, b.Base.Seconds(), b.Max.Seconds()).Scan(&f.Attempts, &next, &f.DeadLettered)
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return f, nil // routed meanwhile
		}
		return f, fmt.Errorf("record routing failure of event %s: %w", id, err)
	}
	if next != nil {
		f.NextAttemptAt = *next
	}
	return f, nil
}

// FailedEvent is a dead-lettered event: routing it failed too many times.
type FailedEvent struct {
	Event
	Attempts int       `json:"attempts"`
	Error    string    `json:"error"`
	FailedAt time.Time `json:"failed_at"`
}

// FailedEvents lists dead-lettered events, oldest failure first, at most
// limit.
func (s *Store) FailedEvents(ctx context.Context, limit int) ([]FailedEvent, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+eventColumns+`, routing_attempts, routing_error, routing_failed_at FROM events
		WHERE routed_at IS NULL AND routing_failed_at IS NOT NULL ORDER BY routing_failed_at, id LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("failed events: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (FailedEvent, error) {
		var f FailedEvent
		var data []byte
		err := r.Scan(&f.ID, &f.Type, &f.CustomerID, &f.OccurredAt, &f.ReceivedAt, &data, &f.RoutedAt, &f.Seq, &f.Attempts, &f.Error, &f.FailedAt)
		f.Data = data
		return f, err
	})
	if err != nil {
		return nil, fmt.Errorf("failed events: %w", err)
	}
	return out, nil
}

// CountFailedEvents counts dead-lettered events.
func (s *Store) CountFailedEvents(ctx context.Context) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE routed_at IS NULL AND routing_failed_at IS NOT NULL`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count failed events: %w", err)
	}
	return n, nil
}

// RetryFailedEvents takes events out of the dead letter with a fresh
// count of attempts, due at once: the given ids, or every dead-lettered
// event when ids is empty. It returns the ids it took out; an id that is
// not dead-lettered is left alone.
func (s *Store) RetryFailedEvents(ctx context.Context, ids []string) ([]string, error) {
	if ids == nil {
		ids = []string{} // NULL would match nothing
	}
	rows, err := s.pool.Query(ctx, `
		UPDATE events SET routing_failed_at = NULL, routing_attempts = 0, next_attempt_at = NULL, claimed_until = NULL
		WHERE routed_at IS NULL AND routing_failed_at IS NOT NULL AND (cardinality($1::text[]) = 0 OR id = ANY($1))
		RETURNING id`, ids)
	if err != nil {
		return nil, fmt.Errorf("retry failed events: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("retry failed events: %w", err)
	}
	slices.Sort(out)
	return out, nil
}
