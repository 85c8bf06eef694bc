package store

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// The contact decision (ClaimWithGate) and every change to what it reads
// (consent, topics, settings, suppressions) take the same transaction-scoped
// advisory locks, customer first, then address. The decision therefore
// sees each change entirely or not at all, and since both stamp their rows
// with clock_timestamp() while holding the lock, the order of the
// timestamps is the order in which they happened: the audit can replay
// what stood when each message was claimed.

func lockCustomer(ctx context.Context, tx pgx.Tx, customerID string) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('rapport-contact:' || $1, 0))`, customerID)
	return err
}

func lockAddress(ctx context.Context, tx pgx.Tx, channel, address string) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('rapport-address:' || $1 || ':' || $2, 0))`, channel, address)
	return err
}

// Storing a customer's event and registering a run of theirs take the
// customer's routing lock, so the two are ordered: a run registered first
// is found by the event's routing; an event stored first is in the run's
// start backlog. See EnterRun.
func lockRouting(ctx context.Context, tx pgx.Tx, customerID string) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('rapport-route:' || $1, 0))`, customerID)
	return err
}
