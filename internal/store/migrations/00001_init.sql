-- +goose Up

-- Customers as the shop knows them. Contact details live only here and in
-- the outbox; workflows see facts about a customer, never where to reach them.
CREATE TABLE customers (
    id            text PRIMARY KEY,
    email         text,
    phone         text,
    name          text NOT NULL DEFAULT '',
    locale        text NOT NULL DEFAULT '',
    time_zone     text NOT NULL DEFAULT '',
    address_line1 text NOT NULL DEFAULT '',
    address_line2 text NOT NULL DEFAULT '',
    city          text NOT NULL DEFAULT '',
    region        text NOT NULL DEFAULT '',
    postal_code   text NOT NULL DEFAULT '',
    country       text NOT NULL DEFAULT '',
    attributes    jsonb NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE orders (
    id          text PRIMARY KEY,
    customer_id text NOT NULL REFERENCES customers (id),
    total       numeric(14, 2) NOT NULL,
    currency    text NOT NULL,
    gift        boolean NOT NULL DEFAULT false,
    placed_at   timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_customer_placed ON orders (customer_id, placed_at DESC);

CREATE TABLE order_items (
    order_id   text NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    line       integer NOT NULL,
    product_id text NOT NULL,
    name       text NOT NULL,
    quantity   integer NOT NULL CHECK (quantity > 0),
    price      numeric(14, 2) NOT NULL,
    PRIMARY KEY (order_id, line)
);
CREATE INDEX order_items_product ON order_items (product_id);

-- Every event a shop sent, stored before it is acknowledged. The primary key
-- makes posting an event twice harmless. routed_at is set once every journey
-- it concerns has been started or told; a sweeper retries the rest.
CREATE TABLE events (
    id            text PRIMARY KEY,
    type          text NOT NULL,
    customer_id   text NOT NULL REFERENCES customers (id),
    occurred_at   timestamptz NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now(),
    data          jsonb NOT NULL DEFAULT '{}',
    routed_at     timestamptz,
    routing_error text NOT NULL DEFAULT ''
);
CREATE INDEX events_customer ON events (customer_id, occurred_at);
CREATE INDEX events_unrouted ON events (received_at) WHERE routed_at IS NULL;

-- The message outbox: one row per intended send on one channel. The
-- idempotency key (workflow id, step id, channel) makes a retried send
-- activity find its earlier attempt instead of sending again.
CREATE TABLE messages (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    idempotency_key     text NOT NULL UNIQUE,
    workflow_id         text NOT NULL,
    journey             text NOT NULL,
    step_id             text NOT NULL,
    customer_id         text NOT NULL,
    channel             text NOT NULL CHECK (channel IN ('email', 'sms', 'mail')),
    template            text NOT NULL,
    purpose             text NOT NULL,
    topic               text NOT NULL DEFAULT '',
    status              text NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'skipped', 'unknown')),
    reason              text NOT NULL DEFAULT '',
    provider            text NOT NULL DEFAULT '',
    provider_message_id text NOT NULL DEFAULT '',
    recipient           text NOT NULL DEFAULT '',
    subject             text NOT NULL DEFAULT '',
    attempts            integer NOT NULL DEFAULT 0,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    sent_at             timestamptz
);
CREATE INDEX messages_customer ON messages (customer_id, created_at);
CREATE INDEX messages_workflow ON messages (workflow_id);

-- Journeys under way, so events reach every running journey of a customer
-- without asking Temporal's (eventually consistent) visibility store.
CREATE TABLE journey_runs (
    workflow_id      text PRIMARY KEY,
    journey          text NOT NULL,
    customer_id      text NOT NULL,
    plan_hash        text NOT NULL,
    listens          boolean NOT NULL,
    status           text NOT NULL CHECK (status IN ('running', 'completed', 'exited', 'failed')),
    trigger_event_id text NOT NULL DEFAULT '',
    started_at       timestamptz NOT NULL DEFAULT now(),
    ended_at         timestamptz,
    outcome          text NOT NULL DEFAULT ''
);
CREATE INDEX journey_runs_running ON journey_runs (customer_id) WHERE status = 'running';

-- +goose Down
DROP TABLE journey_runs;
DROP TABLE messages;
DROP TABLE events;
DROP TABLE order_items;
DROP TABLE orders;
DROP TABLE customers;
