-- +goose Up

-- Retention (RAPPORT_RETENTION_MESSAGES, RAPPORT_RETENTION_EVENTS): a
-- daily workflow removes the content of old messages (recipient, subject,
-- details) and the data of old events, and notes when. What audits and
-- frequency caps need stays: ids, channel, status, reasons, timestamps,
-- policy_at, customer_id, type, occurred_at.
ALTER TABLE messages ADD COLUMN content_removed_at timestamptz;
ALTER TABLE events ADD COLUMN data_removed_at timestamptz;

-- What retention still has to look at, oldest first.
CREATE INDEX messages_retention ON messages (created_at) WHERE content_removed_at IS NULL;
CREATE INDEX events_retention ON events (occurred_at) WHERE data_removed_at IS NULL;

-- +goose Down
DROP INDEX events_retention;
DROP INDEX messages_retention;
ALTER TABLE events DROP COLUMN data_removed_at;
ALTER TABLE messages DROP COLUMN content_removed_at;
