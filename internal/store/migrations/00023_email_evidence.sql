-- +goose Up

-- reported_at is when a provider's webhook first reported on a message
-- (processed, delivered, bounced...). An email whose send is in doubt is
-- proven not sent when SendGrid's event webhook has reported every email
-- accepted after it, and not it (see Store.EmailWebhookEvidence): that
-- reads the sent emails by when they were claimed.
ALTER TABLE messages ADD COLUMN reported_at timestamptz;
UPDATE messages SET reported_at = coalesce(delivered_at, opened_at, clicked_at, updated_at) WHERE delivery_status <> '';
CREATE INDEX messages_sent_email_claims ON messages (claimed_at) WHERE channel = 'email' AND status = 'sent';
-- The emails of a provider outage waiting to go again (in doubt, or
-- proven unsent and pending): transactional ones go first.
CREATE INDEX messages_awaiting_resend ON messages (claimed_at) WHERE status IN ('unknown', 'pending') AND channel = 'email';

-- +goose Down
DROP INDEX messages_awaiting_resend;
DROP INDEX messages_sent_email_claims;
ALTER TABLE messages DROP COLUMN reported_at;
