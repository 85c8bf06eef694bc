-- +goose Up

-- A message's priority under frequency caps (high 1, normal 0, low -1):
-- when a cap holds a customer's marketing messages, the next free slot
-- goes to the highest priority, then to the message held longest.
ALTER TABLE messages ADD COLUMN priority smallint NOT NULL DEFAULT 0;
CREATE INDEX messages_held ON messages (customer_id) WHERE status = 'held';

-- +goose Down
DROP INDEX messages_held;
ALTER TABLE messages DROP COLUMN priority;
