-- +goose Up

-- API keys for /v1: only a SHA-256 hash of each key's secret is kept, found
-- by the key's public id. A revoked key stays listed, so the names recorded
-- on staff actions keep their meaning.
CREATE TABLE api_keys (
    id           text PRIMARY KEY,
    name         text NOT NULL UNIQUE,
    hash         bytea NOT NULL,
    scopes       text[] NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);

-- Which key did a staff action, next to the person it names.
ALTER TABLE tasks
    ADD COLUMN claimed_by_key   text NOT NULL DEFAULT '',
    ADD COLUMN completed_by_key text NOT NULL DEFAULT '';
ALTER TABLE vouchers ADD COLUMN redeemed_by_key text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE vouchers DROP COLUMN redeemed_by_key;
ALTER TABLE tasks DROP COLUMN completed_by_key, DROP COLUMN claimed_by_key;
DROP TABLE api_keys;
