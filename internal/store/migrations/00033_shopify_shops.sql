-- +goose NO TRANSACTION
-- Runs outside a transaction so that the index is built CONCURRENTLY: the
-- running release keeps taking customers and webhooks meanwhile. Every
-- statement may run again (IF NOT EXISTS, and the backfills fill only
-- what is empty), so a migration cut short is finished by the next run.

-- +goose Up

-- The Shopify shop a customer came from: the shop domain
-- (X-Shopify-Shop-Domain) of the first Shopify webhook that registered or
-- named them, so that shop/redact erases the customers of that shop and
-- no one else. NULL for every customer that did not come from Shopify
-- (and for Shopify customers from before, where nothing below says).
-- Erased with the customer's row; exported with it.
ALTER TABLE customers ADD COLUMN IF NOT EXISTS shopify_shop text;

-- Shopify customers registered before: the shop their Shopify events name
-- (orders, checkouts and data requests keep it in data.shop), the first
-- one stored...
UPDATE customers c SET shopify_shop = e.shop
FROM (SELECT DISTINCT ON (customer_id) customer_id, data->>'shop' AS shop FROM events
      WHERE customer_id ~ '^shopify:[0-9]+$' AND data->>'source' = 'shopify' AND coalesce(data->>'shop', '') <> ''
      ORDER BY customer_id, received_at, id) e
WHERE c.id = e.customer_id AND c.shopify_shop IS NULL;

-- ... else the shop named in the note of the consent Shopify reported for
-- them ("Shopify customers/create webhook <id> from <shop>").
UPDATE customers c SET shopify_shop = n.shop
FROM (SELECT DISTINCT ON (customer_id) customer_id, substring(evidence->>'note' from ' from ([a-z0-9.-]+)$') AS shop FROM consent_events
      WHERE customer_id ~ '^shopify:[0-9]+$' AND source = 'shopify' AND evidence->>'note' LIKE 'Shopify % webhook % from %'
      ORDER BY customer_id, id) n
WHERE c.id = n.customer_id AND c.shopify_shop IS NULL AND n.shop IS NOT NULL;

-- A shop's customers, in id order, for shop/redact.
CREATE INDEX CONCURRENTLY IF NOT EXISTS customers_shopify_shop ON customers (shopify_shop, id) WHERE shopify_shop IS NOT NULL;

-- Shopify's shop/redact requests (sent 48 hours after a shop uninstalls
-- the app), one per delivery, and what came of each: the customers whose
-- erasure it asked for, and the Shopify customers of no recorded shop it
-- left alone. No customer's data: a shop's domain and counts.
CREATE TABLE IF NOT EXISTS shopify_shop_redactions (
    id                bigserial PRIMARY KEY,
    shop              text NOT NULL,
    shop_id           bigint NOT NULL DEFAULT 0,
    webhook_id        text NOT NULL UNIQUE,
    workflow_id       text NOT NULL,
    -- every Shopify customer of no recorded shop counts as the shop's:
    -- SHOPIFY_SHOP_DOMAINS named this shop alone when the request came
    all_unattributed  boolean NOT NULL,
    requested_at      timestamptz NOT NULL DEFAULT now(),
    erasures          integer NOT NULL DEFAULT 0,
    unattributed_kept integer NOT NULL DEFAULT 0,
    completed_at      timestamptz
);

-- +goose Down
DROP TABLE IF EXISTS shopify_shop_redactions;
DROP INDEX IF EXISTS customers_shopify_shop;
ALTER TABLE customers DROP COLUMN IF EXISTS shopify_shop;
