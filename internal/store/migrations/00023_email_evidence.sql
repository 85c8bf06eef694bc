-- +goose NO TRANSACTION
-- Runs outside a transaction so that the indexes are built CONCURRENTLY:
-- the running release keeps sending and taking webhooks meanwhile.

-- +goose Up

-- reported_at is when a provider's webhook first reported on a message
-- (any event); processed_at when SendGrid reported that it took an email
-- (its processed event). An email whose send is in doubt is proven not
-- sent when SendGrid's event webhook has reported processed for the
-- emails accepted after it, and nothing on it (see
-- Store.EmailWebhookEvidence). Rows from before have neither: they do not
-- count as evidence, either way.
ALTER TABLE messages ADD COLUMN IF NOT EXISTS reported_at timestamptz, ADD COLUMN IF NOT EXISTS processed_at timestamptz;

-- The sent emails by when they were claimed: the evidence about one in
-- doubt.
CREATE INDEX CONCURRENTLY IF NOT EXISTS messages_sent_email_claims ON messages (claimed_at) WHERE channel = 'email' AND status = 'sent';

-- The transactional emails of a provider outage waiting to go again (in
-- doubt, or proven unsent and pending): they go first.
CREATE INDEX CONCURRENTLY IF NOT EXISTS messages_transactional_awaiting ON messages (claimed_at)
    WHERE channel = 'email' AND purpose = 'transactional' AND status IN ('unknown', 'pending');

-- When the API last failed to take a post of a provider's webhook
-- (answered it other than 2xx after its signature verified): the
-- provider posts that batch again later, so silence about an email is no
-- evidence for a while (see Store.EmailWebhookEvidence).
CREATE TABLE IF NOT EXISTS webhook_failures (
    provider       text PRIMARY KEY,
    last_failed_at timestamptz NOT NULL
);

-- A message id as the providers send it back (custom_args, metadata):
-- text that may not be a UUID at all. Comparing id::text read every row;
-- id = rapport_uuid($1) uses the primary key, and matches nothing when
-- the text is not a UUID.
CREATE OR REPLACE FUNCTION rapport_uuid(s text) RETURNS uuid IMMUTABLE STRICT LANGUAGE sql AS $$
    SELECT CASE WHEN s ~* '^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$' THEN s::uuid END
$$;

-- +goose Down
DROP FUNCTION IF EXISTS rapport_uuid(text);
DROP TABLE IF EXISTS webhook_failures;
DROP INDEX CONCURRENTLY IF EXISTS messages_transactional_awaiting;
DROP INDEX CONCURRENTLY IF EXISTS messages_sent_email_claims;
ALTER TABLE messages DROP COLUMN IF EXISTS processed_at, DROP COLUMN IF EXISTS reported_at;
