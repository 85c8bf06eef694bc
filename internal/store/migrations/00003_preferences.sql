-- +goose Up

-- Consent per customer and channel, as history: every change is a new row
-- with where it came from and the evidence (what was shown, IP address,
-- user agent). The current consent is the latest row.
CREATE TABLE consent_events (
    id          bigserial PRIMARY KEY,
    customer_id text NOT NULL,
    channel     text NOT NULL CHECK (channel IN ('email', 'sms', 'mail', 'phone')),
    state       text NOT NULL CHECK (state IN ('opted_in', 'opted_out', 'unknown')),
    source      text NOT NULL,
    evidence    jsonb NOT NULL DEFAULT '{}',
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX consent_events_current ON consent_events (customer_id, channel, id DESC);

-- Topic subscriptions, as history too.
CREATE TABLE topic_events (
    id          bigserial PRIMARY KEY,
    customer_id text NOT NULL,
    topic       text NOT NULL,
    subscribed  boolean NOT NULL,
    source      text NOT NULL,
    evidence    jsonb NOT NULL DEFAULT '{}',
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX topic_events_current ON topic_events (customer_id, topic, id DESC);

-- The rest of a customer's settings, as they stand: preferred channel
-- order, their own quiet hours per channel, their own frequency caps.
CREATE TABLE customer_settings (
    customer_id   text PRIMARY KEY,
    channel_order text[] NOT NULL DEFAULT '{}',
    quiet_hours   jsonb NOT NULL DEFAULT '{}',
    frequency     jsonb,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- When each message was decided: policy_at is the moment the contact rules
-- were applied at (the clock journeys run on: dev mode's may run faster),
-- claimed_at the real moment. Delivery reports from the providers' webhooks.
ALTER TABLE messages
    ADD COLUMN policy_at timestamptz,
    ADD COLUMN claimed_at timestamptz,
    ADD COLUMN delivery_status text NOT NULL DEFAULT '',
    ADD COLUMN delivered_at timestamptz,
    ADD COLUMN opened_at timestamptz,
    ADD COLUMN clicked_at timestamptz;
ALTER TABLE messages DROP CONSTRAINT messages_status_check;
ALTER TABLE messages ADD CONSTRAINT messages_status_check
    CHECK (status IN ('pending', 'held', 'sending', 'sent', 'failed', 'skipped', 'unknown'));
CREATE INDEX messages_frequency ON messages (customer_id, policy_at)
    WHERE purpose = 'marketing' AND status IN ('sending', 'sent', 'unknown');
CREATE INDEX messages_provider_id ON messages (provider, provider_message_id) WHERE provider_message_id <> '';

-- Phone numbers in E.164 form, to find the customer an SMS reply comes from.
ALTER TABLE customers ADD COLUMN phone_e164 text;
CREATE INDEX customers_phone_e164 ON customers (phone_e164) WHERE phone_e164 IS NOT NULL;
CREATE INDEX customers_email ON customers (lower(email)) WHERE email IS NOT NULL;

-- Webhook deliveries already processed, so a repeat changes nothing twice.
CREATE TABLE webhook_events (
    provider    text NOT NULL,
    event_id    text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, event_id)
);

-- +goose Down
DROP TABLE webhook_events;
DROP INDEX customers_email;
DROP INDEX customers_phone_e164;
ALTER TABLE customers DROP COLUMN phone_e164;
DROP INDEX messages_provider_id;
DROP INDEX messages_frequency;
ALTER TABLE messages DROP CONSTRAINT messages_status_check;
ALTER TABLE messages ADD CONSTRAINT messages_status_check
    CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'skipped', 'unknown'));
ALTER TABLE messages DROP COLUMN policy_at, DROP COLUMN claimed_at, DROP COLUMN delivery_status,
    DROP COLUMN delivered_at, DROP COLUMN opened_at, DROP COLUMN clicked_at;
DROP TABLE customer_settings;
DROP TABLE topic_events;
DROP TABLE consent_events;
