-- +goose Up

-- Events posted without a customer for journeys whose trigger fans out
-- (trigger.for, such as product.restocked): one row per event and journey,
-- stored before the API answers. Each is a scan of the customers in id
-- order, as of received_at; cursor is the last customer scanned, saved
-- after each page, so a fan-out cut short (a crash) resumes there. Its
-- entries are keyed by customer and event, so a page scanned again enters
-- nobody twice. No customer's data is kept here: the event is about a
-- product, say, not a person.
CREATE TABLE fanouts (
    event_id      text NOT NULL,
    journey       text NOT NULL,
    type          text NOT NULL,
    occurred_at   timestamptz NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now(),
    data          jsonb NOT NULL DEFAULT '{}',
    cursor        text NOT NULL DEFAULT '',
    scanned       bigint NOT NULL DEFAULT 0,
    matched       bigint NOT NULL DEFAULT 0,
    started       bigint NOT NULL DEFAULT 0,
    skipped       bigint NOT NULL DEFAULT 0,
    claimed_until timestamptz,
    attempts      integer NOT NULL DEFAULT 0,
    error         text NOT NULL DEFAULT '',
    done_at       timestamptz,
    PRIMARY KEY (event_id, journey)
);
CREATE INDEX fanouts_pending ON fanouts (received_at) WHERE done_at IS NULL;

-- +goose Down
DROP TABLE fanouts;
