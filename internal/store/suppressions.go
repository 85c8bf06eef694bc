package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Suppression is an address that must not be contacted on a channel.
type Suppression struct {
	Channel   string    `json:"channel"`
	Address   string    `json:"address"`
	Reason    string    `json:"reason"`
	Source    string    `json:"source"`
	CreatedAt time.Time `json:"created_at"`
}

// AddressKey is how an address is kept on the suppression list: email
// addresses in lower case (providers report them so), others as given
// (phone numbers are E.164 already).
func AddressKey(channel, address string) string {
	if channel == "email" {
		return strings.ToLower(strings.TrimSpace(address))
	}
	return strings.TrimSpace(address)
}

// Suppress records that an address must not be contacted on a channel. The
// first reason recorded is kept.
func (s *Store) Suppress(ctx context.Context, sup Suppression) error {
	sup.Address = AddressKey(sup.Channel, sup.Address)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockAddress(ctx, tx, sup.Channel, sup.Address); err != nil {
			return err
		}
		// Already suppressed as a keyed hash (its customer was erased): a
		// late bounce or complaint must not bring the address back in
		// plain text.
		tag, err := tx.Exec(ctx, `
			INSERT INTO suppressions (channel, address, reason, source, created_at)
			SELECT $1, $2, $3, $4, clock_timestamp()
			WHERE NOT EXISTS (SELECT 1 FROM suppressions WHERE channel = $1 AND address = ANY($5::text[]))
			ON CONFLICT (channel, address) DO NOTHING`, sup.Channel, sup.Address, sup.Reason, sup.Source, s.addressForms(sup.Channel, sup.Address))
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO suppression_events (channel, address, action, reason, source) VALUES ($1, $2, 'suppress', $3, $4)`,
			sup.Channel, sup.Address, sup.Reason, sup.Source)
		return err
	})
	if err != nil {
		return fmt.Errorf("suppress %s address: %w", sup.Channel, err)
	}
	return nil
}

// Suppressed returns the suppression of an address on a channel, or
// ErrNotFound when it may be contacted. An address kept as a keyed hash
// since its customer was erased is found too.
func (s *Store) Suppressed(ctx context.Context, channel, address string) (Suppression, error) {
	address = AddressKey(channel, address)
	var sup Suppression
	err := s.pool.QueryRow(ctx, `SELECT channel, address, reason, source, created_at FROM suppressions
		WHERE channel = $1 AND address = ANY($2) ORDER BY address = $3 DESC LIMIT 1`,
		channel, s.addressForms(channel, address), address).Scan(&sup.Channel, &sup.Address, &sup.Reason, &sup.Source, &sup.CreatedAt)
	sup.Address = address
	return sup, notFound(err)
}
