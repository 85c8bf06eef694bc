-- +goose Up

-- The webhook channel: a journey's JSON message posted to an endpoint the
-- operator configured. recipient holds the endpoint's name (no personal
-- data). contacts_customer is the endpoint's contacts_customer when the
-- message was claimed: false for a data feed that does not reach the
-- customer, which the contact rules let through and no frequency cap
-- counts (nor rapport audit checks); true for every other message.
ALTER TABLE messages DROP CONSTRAINT messages_channel_check;
ALTER TABLE messages ADD CONSTRAINT messages_channel_check CHECK (channel IN ('email', 'sms', 'mail', 'webhook'));
ALTER TABLE messages ADD COLUMN contacts_customer boolean NOT NULL DEFAULT true;

-- +goose Down
-- Webhook messages already in the outbox stay (NOT VALID checks new rows only).
ALTER TABLE messages DROP COLUMN contacts_customer;
ALTER TABLE messages DROP CONSTRAINT messages_channel_check;
ALTER TABLE messages ADD CONSTRAINT messages_channel_check CHECK (channel IN ('email', 'sms', 'mail')) NOT VALID;
