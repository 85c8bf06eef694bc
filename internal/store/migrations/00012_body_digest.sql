-- +goose Up

-- A digest of what was sent (an SMS's body), so a message whose outcome
-- is in doubt can be found in the provider's records without keeping the
-- text itself. Cleared with the content by erasure and retention.
ALTER TABLE messages ADD COLUMN body_digest text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE messages DROP COLUMN body_digest;
