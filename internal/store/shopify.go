package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// shopifyCustomerID matches the ids of customers that came from Shopify
// (shopify:207119551), in SQL.
const shopifyCustomerID = `~ '^shopify:[0-9]+$'`

// SetShopifyShop records the Shopify shop (its myshopify.com domain) a
// customer came from, unless one is recorded: the first shop to name
// them keeps them. A customer Rapport does not hold is left alone.
func (s *Store) SetShopifyShop(ctx context.Context, customerID, shop string) error {
	_, err := s.pool.Exec(ctx, `UPDATE customers SET shopify_shop = $2 WHERE id = $1 AND shopify_shop IS NULL`, customerID, shop)
	if err != nil {
		return fmt.Errorf("record the Shopify shop of %s: %w", customerID, err)
	}
	return nil
}

// ShopRedaction is the record of a Shopify shop/redact request: the shop
// whose customers are to be erased, and what came of it.
type ShopRedaction struct {
	ID         int64
	Shop       string
	ShopID     int64
	WebhookID  string
	WorkflowID string
	// AllUnattributed: every Shopify customer of no recorded shop counts
	// as the shop's (SHOPIFY_SHOP_DOMAINS named this shop alone).
	AllUnattributed bool
	RequestedAt     time.Time
	// Erasures counts the customers whose erasure it asked for.
	Erasures int
	// UnattributedKept counts the Shopify customers of no recorded shop it
	// left alone (none with AllUnattributed).
	UnattributedKept int
	CompletedAt      *time.Time
}

const shopRedactionColumns = `id, shop, shop_id, webhook_id, workflow_id, all_unattributed, requested_at, erasures, unattributed_kept, completed_at`

func scanShopRedaction(row pgx.Row) (ShopRedaction, error) {
	var r ShopRedaction
	err := row.Scan(&r.ID, &r.Shop, &r.ShopID, &r.WebhookID, &r.WorkflowID, &r.AllUnattributed, &r.RequestedAt, &r.Erasures,
		&r.UnattributedKept, &r.CompletedAt)
	return r, notFound(err)
}

// BeginShopRedaction records a shop/redact delivery (its shop, shop id,
// webhook id, workflow id and AllUnattributed), once per webhook id: the
// same delivery again returns the record made the first time.
func (s *Store) BeginShopRedaction(ctx context.Context, r ShopRedaction) (ShopRedaction, error) {
	out, err := scanShopRedaction(s.pool.QueryRow(ctx, `
		WITH made AS (
			INSERT INTO shopify_shop_redactions (shop, shop_id, webhook_id, workflow_id, all_unattributed) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (webhook_id) DO NOTHING
			RETURNING `+shopRedactionColumns+`)
		SELECT `+shopRedactionColumns+` FROM made
		UNION ALL SELECT `+shopRedactionColumns+` FROM shopify_shop_redactions WHERE webhook_id = $3 AND NOT EXISTS (SELECT 1 FROM made)`,
		r.Shop, r.ShopID, r.WebhookID, r.WorkflowID, r.AllUnattributed))
	if err != nil {
		return out, fmt.Errorf("record the shop redaction of %s: %w", r.Shop, err)
	}
	return out, nil
}

// GetShopRedaction returns a shop redaction by its id, or ErrNotFound.
func (s *Store) GetShopRedaction(ctx context.Context, id int64) (ShopRedaction, error) {
	r, err := scanShopRedaction(s.pool.QueryRow(ctx, `SELECT `+shopRedactionColumns+` FROM shopify_shop_redactions WHERE id = $1`, id))
	if err != nil {
		return r, fmt.Errorf("shop redaction %d: %w", id, err)
	}
	return r, nil
}

// ShopCustomers lists, in id order after the id after, at most limit
// customers of a Shopify shop: those recorded as coming from it, and with
// unattributed the Shopify customers (ids shopify:<digits>) of no
// recorded shop too. Customers of other shops, and those that did not
// come from Shopify, are never among them.
func (s *Store) ShopCustomers(ctx context.Context, shop string, unattributed bool, after string, limit int) ([]string, error) {
	// The shop's alone by the customers_shopify_shop index; with the
	// unattributed, along the ids.
	query := `SELECT id FROM customers WHERE shopify_shop = $1 AND id > $2 ORDER BY shopify_shop, id LIMIT $3`
	if unattributed {
		query = `SELECT id FROM customers WHERE id > $2 AND (shopify_shop = $1 OR (shopify_shop IS NULL AND id ` + shopifyCustomerID + `))
			ORDER BY id LIMIT $3`
	}
	rows, err := s.pool.Query(ctx, query, shop, after, limit)
	if err != nil {
		return nil, fmt.Errorf("customers of Shopify shop %s: %w", shop, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("customers of Shopify shop %s: %w", shop, err)
	}
	return ids, nil
}

// UnattributedShopifyCustomers counts the Shopify customers (ids
// shopify:<digits>) of no recorded shop.
func (s *Store) UnattributedShopifyCustomers(ctx context.Context) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM customers WHERE shopify_shop IS NULL AND id `+shopifyCustomerID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count Shopify customers of no recorded shop: %w", err)
	}
	return n, nil
}

// RecordShopRedactionProgress sets how many customers a shop redaction
// has asked to erase so far. Counts only grow.
func (s *Store) RecordShopRedactionProgress(ctx context.Context, id int64, erasures int) error {
	_, err := s.pool.Exec(ctx, `UPDATE shopify_shop_redactions SET erasures = greatest(erasures, $2) WHERE id = $1`, id, erasures)
	if err != nil {
		return fmt.Errorf("shop redaction %d progress: %w", id, err)
	}
	return nil
}

// FinishShopRedaction completes a shop redaction's record with what it
// did, and reports whether this call completed it (false: it was
// completed before, and is left as it was).
func (s *Store) FinishShopRedaction(ctx context.Context, id int64, erasures, kept int) (bool, error) {
	tag, err := s.pool.Exec(ctx, `
		UPDATE shopify_shop_redactions SET erasures = greatest(erasures, $2), unattributed_kept = $3, completed_at = clock_timestamp()
		WHERE id = $1 AND completed_at IS NULL`, id, erasures, kept)
	if err != nil {
		return false, fmt.Errorf("finish shop redaction %d: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}
