package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/rapporthq/rapport/internal/money"
)

// Product is an item the shop sells.
type Product struct {
	ID       string       `json:"id"`
	Name     string       `json:"name"`
	Price    money.Amount `json:"price"`
	Currency string       `json:"currency"`
	URL      string       `json:"url,omitempty"`
	ImageURL string       `json:"image_url,omitempty"`
	Active   bool         `json:"active"`
	// Complements are the products that go well with this one, with a
	// weight: higher is a better match.
	Complements map[string]float64 `json:"complements,omitempty"`
}

// UpsertProducts stores products and replaces their complements, in one
// transaction. Complements may name products of the same batch or already
// stored.
func (s *Store) UpsertProducts(ctx context.Context, products []Product) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, p := range products {
			_, err := tx.Exec(ctx, `
				INSERT INTO products (id, name, price, currency, url, image_url, active) VALUES ($1, $2, $3, $4, $5, $6, $7)
				ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, price = EXCLUDED.price, currency = EXCLUDED.currency,
					url = EXCLUDED.url, image_url = EXCLUDED.image_url, active = EXCLUDED.active, updated_at = now()`,
				p.ID, p.Name, p.Price, p.Currency, p.URL, p.ImageURL, p.Active)
			if err != nil {
				return fmt.Errorf("product %s: %w", p.ID, err)
			}
		}
		for _, p := range products {
			if p.Complements == nil {
				continue
			}
			if _, err := tx.Exec(ctx, `DELETE FROM complements WHERE product_id = $1`, p.ID); err != nil {
				return err
			}
			for other, w := range p.Complements {
				if _, err := tx.Exec(ctx, `INSERT INTO complements (product_id, complement_id, weight) VALUES ($1, $2, $3)`, p.ID, other, w); err != nil {
					return fmt.Errorf("product %s complement %s: %w", p.ID, other, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("upsert products: %w", err)
	}
	return nil
}

// Recommend picks up to limit active products that complement the basis
// products, best match first, leaving out everything the customer has
// (what they bought, gifts included, in orders that count: not cancelled
// nor refunded in full) and the basis itself.
func (s *Store) Recommend(ctx context.Context, customerID string, basis []string, limit int) ([]Product, error) {
	if len(basis) == 0 || limit <= 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `
		SELECT p.id, p.name, p.price, p.currency, p.url, p.image_url, p.active
		FROM complements c JOIN products p ON p.id = c.complement_id
		WHERE c.product_id = ANY($2) AND p.active AND NOT (p.id = ANY($2))
		  AND NOT EXISTS (SELECT 1 FROM order_items i JOIN orders o ON o.id = i.order_id
		                  WHERE o.customer_id = $1 AND i.product_id = p.id AND `+countedOrder+`)
		GROUP BY p.id
		ORDER BY sum(c.weight) DESC, p.id
		LIMIT $3`, customerID, basis, limit)
	if err != nil {
		return nil, fmt.Errorf("recommend for %s: %w", customerID, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Product, error) {
		var p Product
		err := r.Scan(&p.ID, &p.Name, &p.Price, &p.Currency, &p.URL, &p.ImageURL, &p.Active)
		return p, err
	})
}

// TasteBasis returns the products that say what a customer likes: those of
// the order given, unless it was a gift or no longer counts (cancelled or
// refunded in full: see OrderCounts); then those of their most recent
// orders that were not gifts and still count.
func (s *Store) TasteBasis(ctx context.Context, customerID, orderID string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `
		WITH chosen AS (
			SELECT o.id FROM orders o WHERE o.id = $2 AND o.customer_id = $1 AND NOT o.gift AND `+countedOrder+`
			UNION ALL
			SELECT id FROM (SELECT o.id FROM orders o WHERE o.customer_id = $1 AND NOT o.gift AND `+countedOrder+`
			                ORDER BY o.placed_at DESC LIMIT 5) recent
			WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = $2 AND o.customer_id = $1 AND NOT o.gift AND `+countedOrder+`)
		)
		SELECT DISTINCT i.product_id FROM order_items i WHERE i.order_id IN (SELECT id FROM chosen) ORDER BY 1`, customerID, orderID)
	if err != nil {
		return nil, fmt.Errorf("taste of %s: %w", customerID, err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
