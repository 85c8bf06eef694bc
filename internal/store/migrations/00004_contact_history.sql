-- +goose Up

-- History for the contact audit (rapport audit): with consent_events and
-- topic_events, these say what stood at any moment, so every message can
-- be checked against the rules that held when it was claimed.

-- Suppressions and their lifting (an SMS number that texted START), as
-- history. suppressions holds the current list.
CREATE TABLE suppression_events (
    id          bigserial PRIMARY KEY,
    channel     text NOT NULL CHECK (channel IN ('email', 'sms', 'mail', 'phone')),
    address     text NOT NULL,
    action      text NOT NULL CHECK (action IN ('suppress', 'lift')),
    reason      text NOT NULL DEFAULT '',
    source      text NOT NULL DEFAULT '',
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX suppression_events_address ON suppression_events (channel, address, id);
-- Email addresses are kept in lower case, as providers report them.
DELETE FROM suppressions a USING suppressions b
    WHERE a.channel = 'email' AND b.channel = 'email' AND lower(a.address) = lower(b.address)
      AND (a.created_at, a.address) > (b.created_at, b.address);
UPDATE suppressions SET address = lower(address) WHERE channel = 'email' AND address <> lower(address);
INSERT INTO suppression_events (channel, address, action, reason, source, recorded_at)
    SELECT channel, address, 'suppress', reason, source, created_at FROM suppressions;

-- Every version of a customer's settings (channel order, quiet hours,
-- caps). customer_settings holds the current one.
CREATE TABLE settings_events (
    id            bigserial PRIMARY KEY,
    customer_id   text NOT NULL,
    channel_order text[] NOT NULL DEFAULT '{}',
    quiet_hours   jsonb NOT NULL DEFAULT '{}',
    frequency     jsonb,
    recorded_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX settings_events_customer ON settings_events (customer_id, id);
INSERT INTO settings_events (customer_id, channel_order, quiet_hours, frequency, recorded_at)
    SELECT customer_id, channel_order, quiet_hours, frequency, updated_at FROM customer_settings;

-- Each time a message was held back: why, and until when. A message's
-- own reason is cleared when it finally goes; this keeps it.
CREATE TABLE message_holds (
    id          bigserial PRIMARY KEY,
    message_id  uuid NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    policy_at   timestamptz NOT NULL,
    held_until  timestamptz NOT NULL,
    reason      text NOT NULL CHECK (reason <> ''),
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX message_holds_message ON message_holds (message_id);

-- +goose Down
DROP TABLE message_holds;
DROP TABLE settings_events;
DROP TABLE suppression_events;
