-- +goose Up

-- Events are numbered as they are stored. Storing an event and registering
-- a run take the same per-customer lock, so a customer's events are
-- numbered in the order they were stored, and a run records the number of
-- the last event its entry decision saw (from_seq): every later event
-- reaches it, either as its start backlog or from the router.
ALTER TABLE events ADD COLUMN seq bigserial;
CREATE INDEX events_customer_seq ON events (customer_id, seq);

-- Order figures kept on the customer, so an audience over a million
-- customers is one indexed scan instead of an aggregate per customer.
ALTER TABLE customers
    ADD COLUMN orders_count   integer NOT NULL DEFAULT 0,
    ADD COLUMN lifetime_value numeric(14, 2) NOT NULL DEFAULT 0,
    ADD COLUMN last_order_at  timestamptz;
UPDATE customers c SET orders_count = s.n, lifetime_value = s.total, last_order_at = s.last
FROM (SELECT customer_id, count(*) AS n, sum(total) AS total, max(placed_at) AS last
      FROM orders GROUP BY customer_id) s
WHERE s.customer_id = c.id;

-- Entry rules: the key a run was entered under, and when a customer last
-- entered a journey (reentry) or how many runs they have in it (max_active).
ALTER TABLE journey_runs
    ADD COLUMN entry_key text NOT NULL DEFAULT '',
    ADD COLUMN from_seq  bigint NOT NULL DEFAULT 0;
CREATE INDEX journey_runs_customer_journey ON journey_runs (customer_id, journey, started_at DESC);
CREATE INDEX journey_runs_entry ON journey_runs (journey, entry_key);

-- +goose Down
DROP INDEX journey_runs_entry;
DROP INDEX journey_runs_customer_journey;
ALTER TABLE journey_runs DROP COLUMN from_seq, DROP COLUMN entry_key;
ALTER TABLE customers DROP COLUMN last_order_at, DROP COLUMN lifetime_value, DROP COLUMN orders_count;
DROP INDEX events_customer_seq;
ALTER TABLE events DROP COLUMN seq;
