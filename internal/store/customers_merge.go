package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// MergeCustomer changes a customer by what they are now and returns
// whether it was new: change gets the stored customer (found false and
// only the id when there is none yet) and returns the customer to store,
// or an error to store nothing. Merges of one customer run one at a time
// (a transaction-scoped lock), so two at once cannot lose each other's
// fields, as a read and a later UpsertCustomer could.
func (s *Store) MergeCustomer(ctx context.Context, id string, change func(c Customer, found bool) (Customer, error)) (created bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('rapport-profile:' || $1, 0))`, id); err != nil {
			return err
		}
		c, err := scanCustomer(tx.QueryRow(ctx, `SELECT `+customerColumns+` FROM customers WHERE id = $1`, id))
		found := err == nil
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		if !found {
			c = Customer{ID: id}
		}
		c, err = change(c, found)
		if err != nil {
			return err
		}
		if c.ID != id {
			return fmt.Errorf("merge of customer %s changed its id", id)
		}
		created, err = upsertCustomer(ctx, tx, c)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("merge customer %s: %w", id, err)
	}
	return created, nil
}

// EnsureCustomer registers a customer known by their id alone (no
// contact details, no attributes), unless there is one, and reports
// whether it did. A customer whose erasure began is not registered again:
// it fails with ErrErased. It takes the customer's routing lock, as
// BeginErasure does, so the two are ordered: an erasure begun first is
// seen, and a customer registered first is erased with the rest.
func (s *Store) EnsureCustomer(ctx context.Context, id string) (created bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockRouting(ctx, tx, id); err != nil {
			return err
		}
		if err := s.refuseErased(ctx, tx, id); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO customers (id) VALUES ($1) ON CONFLICT (id) DO NOTHING`, id)
		created = tag.RowsAffected() == 1
		return err
	})
	if err != nil {
		return false, fmt.Errorf("ensure customer %s: %w", id, err)
	}
	return created, nil
}
