-- +goose Up

-- Amounts are stored exactly as the shop sent them, at the places of
-- their currency: numeric(14, 2) rounded a Kuwaiti dinar's third place
-- (12.345 KWD became 12.35). Unconstrained numeric keeps every digit and
-- the scale given (48.00 stays 48.00); the API bounds what comes in
-- (at most 15 digits before the point, and no more places than the
-- currency has). Lifting the limit rewrites nothing.
ALTER TABLE orders ALTER COLUMN total TYPE numeric;
ALTER TABLE order_items ALTER COLUMN price TYPE numeric;
ALTER TABLE products ALTER COLUMN price TYPE numeric;
ALTER TABLE vouchers ALTER COLUMN value TYPE numeric;
ALTER TABLE customers ALTER COLUMN lifetime_value TYPE numeric;

-- +goose Down
-- Going back rounds amounts with a third or fourth place to two.
ALTER TABLE customers ALTER COLUMN lifetime_value TYPE numeric(14, 2);
ALTER TABLE vouchers ALTER COLUMN value TYPE numeric(14, 2);
ALTER TABLE products ALTER COLUMN price TYPE numeric(14, 2);
ALTER TABLE order_items ALTER COLUMN price TYPE numeric(14, 2);
ALTER TABLE orders ALTER COLUMN total TYPE numeric(14, 2);
