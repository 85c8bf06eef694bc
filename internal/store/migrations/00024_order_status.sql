-- +goose Up

-- An order's lifecycle: placed, fulfilled, delivered, cancelled,
-- refunded, partly_refunded or returned, and how much of it was refunded
-- (exact, in the order's currency, at most its total). Order events
-- (order.fulfilled, order.cancelled, order.refunded...) move it; see
-- Store.RecordEvents and journeys/README.md. Cancelled and fully refunded
-- orders stop counting in the figures kept on the customer.
--
-- Both columns have constant defaults, so adding them rewrites nothing:
-- every existing order is placed, with nothing refunded, and the figures
-- on customers stay right as they are. The check is added NOT VALID and
-- then validated, which reads the table without blocking writes for
-- longer than adding the columns does.
ALTER TABLE orders
    ADD COLUMN IF NOT EXISTS status   text    NOT NULL DEFAULT 'placed',
    ADD COLUMN IF NOT EXISTS refunded numeric NOT NULL DEFAULT 0;
ALTER TABLE orders ADD CONSTRAINT orders_status_known
    CHECK (status IN ('placed', 'fulfilled', 'delivered', 'cancelled', 'refunded', 'partly_refunded', 'returned')
           AND refunded >= 0 AND refunded <= total) NOT VALID;
ALTER TABLE orders VALIDATE CONSTRAINT orders_status_known;

-- +goose Down
-- Without statuses every order counts again.
UPDATE customers c SET orders_count = s.n, lifetime_value = s.total, last_order_at = s.last
FROM (SELECT customer_id, count(*) AS n, sum(total) AS total, max(placed_at) AS last
      FROM orders GROUP BY customer_id) s
WHERE s.customer_id = c.id;
ALTER TABLE orders DROP CONSTRAINT IF EXISTS orders_status_known;
ALTER TABLE orders DROP COLUMN IF EXISTS refunded, DROP COLUMN IF EXISTS status;
