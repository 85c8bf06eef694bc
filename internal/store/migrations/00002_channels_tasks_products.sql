-- +goose Up

-- What was chosen for a message (voucher code, recommended products), kept
-- with the outbox row for support staff.
ALTER TABLE messages ADD COLUMN details jsonb NOT NULL DEFAULT '{}';

-- Addresses that must not be contacted on a channel: an SMS number that
-- replied STOP, say. Keyed by the address, so it outlives customer records.
CREATE TABLE suppressions (
    channel    text NOT NULL CHECK (channel IN ('email', 'sms', 'mail', 'phone')),
    address    text NOT NULL,
    reason     text NOT NULL,
    source     text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (channel, address)
);

-- Tasks for staff (a phone call, a follow-up), created by journeys. One
-- per journey run and step.
CREATE TABLE tasks (
    id           text PRIMARY KEY,
    workflow_id  text NOT NULL,
    journey      text NOT NULL,
    step_id      text NOT NULL,
    customer_id  text NOT NULL,
    kind         text NOT NULL,
    queue        text NOT NULL,
    status       text NOT NULL CHECK (status IN ('open', 'claimed', 'completed', 'overdue', 'cancelled')),
    brief        text NOT NULL DEFAULT '',
    outcomes     text[] NOT NULL,
    due_at       timestamptz NOT NULL,
    context      jsonb NOT NULL DEFAULT '{}',
    assignee     text NOT NULL DEFAULT '',
    outcome      text NOT NULL DEFAULT '',
    notes        text NOT NULL DEFAULT '',
    escalations  integer NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    claimed_at   timestamptz,
    completed_at timestamptz,
    UNIQUE (workflow_id, step_id)
);
CREATE INDEX tasks_queue_status ON tasks (queue, status, due_at);
CREATE INDEX tasks_customer ON tasks (customer_id, created_at);

-- The product catalog and which products go well together.
CREATE TABLE products (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    price      numeric(14, 2) NOT NULL DEFAULT 0,
    currency   text NOT NULL DEFAULT '',
    url        text NOT NULL DEFAULT '',
    image_url  text NOT NULL DEFAULT '',
    active     boolean NOT NULL DEFAULT true,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE complements (
    product_id    text NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    complement_id text NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    weight        double precision NOT NULL CHECK (weight > 0),
    PRIMARY KEY (product_id, complement_id),
    CHECK (product_id <> complement_id)
);
CREATE INDEX complements_complement ON complements (complement_id);

-- Vouchers issued by journeys: one per journey run and step.
CREATE TABLE vouchers (
    code        text PRIMARY KEY,
    customer_id text NOT NULL,
    workflow_id text NOT NULL,
    step_id     text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('percent', 'amount')),
    value       numeric(14, 2) NOT NULL CHECK (value > 0),
    currency    text NOT NULL DEFAULT '',
    issued_at   timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    redeemed_at timestamptz,
    redeemed_order_id text NOT NULL DEFAULT '',
    UNIQUE (workflow_id, step_id)
);
CREATE INDEX vouchers_customer ON vouchers (customer_id);

-- Answers to satisfaction surveys: one per survey (journey run and step).
CREATE TABLE survey_answers (
    survey_id   text PRIMARY KEY,
    customer_id text NOT NULL,
    workflow_id text NOT NULL,
    step_id     text NOT NULL,
    score       integer NOT NULL CHECK (score BETWEEN 1 AND 5),
    comment     text NOT NULL DEFAULT '',
    answered_at timestamptz NOT NULL DEFAULT now()
);

-- Which path of a split each run took, so the paths can be compared.
CREATE TABLE split_assignments (
    workflow_id text NOT NULL,
    step_id     text NOT NULL,
    journey     text NOT NULL,
    customer_id text NOT NULL,
    path        text NOT NULL,
    holdout     boolean NOT NULL,
    assigned_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workflow_id, step_id)
);
CREATE INDEX split_assignments_journey ON split_assignments (journey, step_id, path);

-- +goose Down
DROP TABLE split_assignments;
DROP TABLE survey_answers;
DROP TABLE vouchers;
DROP TABLE complements;
DROP TABLE products;
DROP TABLE tasks;
DROP TABLE suppressions;
ALTER TABLE messages DROP COLUMN details;
