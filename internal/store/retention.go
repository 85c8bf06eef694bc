package store

import (
	"context"
	"fmt"
	"time"
)

// Retention (RAPPORT_RETENTION_MESSAGES, RAPPORT_RETENTION_EVENTS) removes
// what old messages said and to whom, and what old events carried, in
// batches, keeping what the contact audit and frequency caps need: a
// message keeps its ids, customer, journey, step, channel, template,
// purpose, topic, status, reason, provider and timestamps (policy_at
// included); an event keeps its id, type, customer and times. Each row
// scrubbed is stamped (content_removed_at, data_removed_at), so running
// retention again passes over it.

// ContentRemovedReason is how the audit and exports describe a message
// whose content retention removed.
const ContentRemovedReason = "content removed by retention"

// DefaultRetentionBatch is how many rows one retention statement changes.
const DefaultRetentionBatch = 1000

// ScrubOldMessages removes the recipient, subject and details of at most
// batch messages created before cutoff whose outcome is final (sent,
// failed, skipped, unknown: a pending or held message still needs its
// address), and returns how many it changed. Call it until it returns
// fewer than batch. Rows being changed by a send at the same moment are
// left for the next pass.
func (s *Store) ScrubOldMessages(ctx context.Context, cutoff time.Time, batch int) (int64, error) {
	if batch <= 0 {
		batch = DefaultRetentionBatch
	}
	tag, err := s.pool.Exec(ctx, `
		UPDATE messages SET recipient = '', subject = '', details = '{}', body_digest = '', content_removed_at = clock_timestamp()
		WHERE id IN (
			SELECT id FROM messages
			WHERE content_removed_at IS NULL AND created_at < $1 AND status IN ('sent', 'failed', 'skipped', 'unknown')
			ORDER BY created_at LIMIT $2
			FOR UPDATE SKIP LOCKED)`, cutoff, batch)
	if err != nil {
		return 0, fmt.Errorf("retention: remove the content of messages created before %s: %w", cutoff.UTC().Format(time.RFC3339), err)
	}
	return tag.RowsAffected(), nil
}

// ScrubOldEvents replaces the data of at most batch events that occurred
// before cutoff with {}, and returns how many it changed. Events not yet
// routed keep their data until they are (routing reads it). Call it until
// it returns fewer than batch.
func (s *Store) ScrubOldEvents(ctx context.Context, cutoff time.Time, batch int) (int64, error) {
	if batch <= 0 {
		batch = DefaultRetentionBatch
	}
	tag, err := s.pool.Exec(ctx, `
		UPDATE events SET data = '{}', data_removed_at = clock_timestamp()
		WHERE id IN (
			SELECT id FROM events
			WHERE data_removed_at IS NULL AND occurred_at < $1 AND routed_at IS NOT NULL
			ORDER BY occurred_at LIMIT $2
			FOR UPDATE SKIP LOCKED)`, cutoff, batch)
	if err != nil {
		return 0, fmt.Errorf("retention: remove the data of events that occurred before %s: %w", cutoff.UTC().Format(time.RFC3339), err)
	}
	return tag.RowsAffected(), nil
}
