-- +goose Up

-- Erasures of customers (GDPR art. 17, CCPA delete): who asked, when and
-- why, and how far the erasure has gone. The customer is named only by a
-- keyed hash of their id (HMAC-SHA256 with a key derived from
-- RAPPORT_SECRET), so the record says that an id was erased without
-- keeping it. While the latest erasure of an id is newer than the
-- customer's registration (or the customer no longer exists), events for
-- the id are refused and nothing is sent to them; registering the customer
-- again (POST /v1/customers) makes a new customer, with none of the old
-- history.
CREATE TABLE erasures (
    id                 bigserial PRIMARY KEY,
    customer_hash      text NOT NULL,
    workflow_id        text NOT NULL,
    requested_by       text NOT NULL,
    reason             text NOT NULL,
    requested_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- requested, exiting runs, deleting executions, removing data, done
    stage              text NOT NULL DEFAULT 'requested',
    runs_exited        integer NOT NULL DEFAULT 0,
    executions_deleted integer NOT NULL DEFAULT 0,
    rows_removed       bigint NOT NULL DEFAULT 0,
    last_error         text NOT NULL DEFAULT '',
    updated_at         timestamptz NOT NULL DEFAULT now(),
    completed_at       timestamptz
);
CREATE INDEX erasures_customer ON erasures (customer_hash, requested_at DESC);
-- At most one erasure of an id under way.
CREATE UNIQUE INDEX erasures_open ON erasures (customer_hash) WHERE completed_at IS NULL;

-- +goose Down
DROP TABLE erasures;
