-- +goose Up

-- The routing sweeper (internal/router/sweep.go) claims unrouted events
-- for a short lease (claimed_until) with FOR UPDATE SKIP LOCKED, so API
-- replicas share them; counts failed attempts with exponential backoff
-- (routing_attempts, next_attempt_at); and after too many attempts moves
-- an event to the dead letter (routing_failed_at), which `rapport events
-- failed` lists and `rapport events retry` empties.
ALTER TABLE events ADD COLUMN routing_attempts int NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN next_attempt_at timestamptz;
ALTER TABLE events ADD COLUMN claimed_until timestamptz;
ALTER TABLE events ADD COLUMN routing_failed_at timestamptz;

-- What the sweeper may take: unrouted and not dead-lettered.
DROP INDEX events_unrouted;
CREATE INDEX events_unrouted ON events (received_at) WHERE routed_at IS NULL AND routing_failed_at IS NULL;
CREATE INDEX events_routing_failed ON events (routing_failed_at) WHERE routed_at IS NULL AND routing_failed_at IS NOT NULL;

-- +goose Down
DROP INDEX events_routing_failed;
DROP INDEX events_unrouted;
CREATE INDEX events_unrouted ON events (received_at) WHERE routed_at IS NULL;
ALTER TABLE events DROP COLUMN routing_failed_at;
ALTER TABLE events DROP COLUMN claimed_until;
ALTER TABLE events DROP COLUMN next_attempt_at;
ALTER TABLE events DROP COLUMN routing_attempts;
