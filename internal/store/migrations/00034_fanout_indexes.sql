-- +goose Up

-- The fan-out listing (rapport fanouts: the latest first), the count of
-- failed fan-outs behind the rapport_fanouts_failed gauge (every pass of
-- each runner) and retention (the done ones, oldest first) each read a
-- small part of a table that grows with every restock: without these they
-- scan all of it.
CREATE INDEX fanouts_received ON fanouts (received_at DESC);
CREATE INDEX fanouts_failed ON fanouts (event_id)
    WHERE (done_at IS NOT NULL AND claimed_until IS NOT DISTINCT FROM 'infinity');
CREATE INDEX fanouts_done ON fanouts (done_at) WHERE done_at IS NOT NULL;

-- +goose Down
DROP INDEX fanouts_done;
DROP INDEX fanouts_failed;
DROP INDEX fanouts_received;
