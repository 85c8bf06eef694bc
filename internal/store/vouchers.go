package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rapporthq/rapport/internal/money"
)

// Voucher is a discount issued to a customer by a journey.
type Voucher struct {
	Code       string `json:"code"`
	CustomerID string `json:"customer_id"`
	WorkflowID string `json:"workflow_id"`
	StepID     string `json:"step_id"`
	Kind       string `json:"kind"` // percent or amount
	// Value is the percentage off for a percent voucher, the amount off
	// (in Currency) for an amount voucher.
	Value           money.Amount `json:"value"`
	Currency        string       `json:"currency,omitempty"`
	IssuedAt        time.Time    `json:"issued_at"`
	ExpiresAt       time.Time    `json:"expires_at"`
	RedeemedAt      *time.Time   `json:"redeemed_at,omitempty"`
	RedeemedOrderID string       `json:"redeemed_order_id,omitempty"`
	// RedeemedByKey names the API key the redemption came with.
	RedeemedByKey string `json:"redeemed_by_key,omitempty"`
}

// ErrExpired is returned when redeeming a voucher past its expiry.
var ErrExpired = errors.New("expired")

const voucherColumns = `code, customer_id, workflow_id, step_id, kind, value, currency, issued_at, expires_at, redeemed_at, redeemed_order_id, redeemed_by_key`

func scanVoucher(row pgx.Row) (Voucher, error) {
	var v Voucher
	err := row.Scan(&v.Code, &v.CustomerID, &v.WorkflowID, &v.StepID, &v.Kind, &v.Value, &v.Currency, &v.IssuedAt, &v.ExpiresAt, &v.RedeemedAt, &v.RedeemedOrderID, &v.RedeemedByKey)
	return v, notFound(err)
}

// IssueVoucher stores a voucher once per journey run and step: issuing
// again (an activity retry, a fallback to another channel) returns the
// voucher first issued, whatever code was proposed.
func (s *Store) IssueVoucher(ctx context.Context, v Voucher) (Voucher, error) {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO vouchers (code, customer_id, workflow_id, step_id, kind, value, currency, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (workflow_id, step_id) DO NOTHING`,
		v.Code, v.CustomerID, v.WorkflowID, v.StepID, v.Kind, v.Value, v.Currency, v.ExpiresAt)
	if err != nil {
		return v, fmt.Errorf("issue voucher: %w", err)
	}
	out, err := scanVoucher(s.pool.QueryRow(ctx, `SELECT `+voucherColumns+` FROM vouchers WHERE workflow_id = $1 AND step_id = $2`, v.WorkflowID, v.StepID))
	if err != nil {
		return out, fmt.Errorf("issue voucher: %w", err)
	}
	return out, nil
}

// GetVoucher returns a voucher by code, or ErrNotFound.
func (s *Store) GetVoucher(ctx context.Context, code string) (Voucher, error) {
	v, err := scanVoucher(s.pool.QueryRow(ctx, `SELECT `+voucherColumns+` FROM vouchers WHERE code = $1`, code))
	if err != nil {
		return v, fmt.Errorf("get voucher: %w", err)
	}
	return v, nil
}

// RedeemVoucher marks a voucher used, noting the API key the redemption
// came with (byKey). A voucher already used is
// ErrConflict, one past its expiry ErrExpired; the voucher is returned
// either way.
func (s *Store) RedeemVoucher(ctx context.Context, code, orderID string, now time.Time, byKey string) (Voucher, error) {
	var out Voucher
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		v, err := scanVoucher(tx.QueryRow(ctx, `SELECT `+voucherColumns+` FROM vouchers WHERE code = $1 FOR UPDATE`, code))
		out = v
		switch {
		case err != nil:
			return err
		case v.RedeemedAt != nil:
			return ErrConflict
		case !now.Before(v.ExpiresAt):
			return ErrExpired
		}
		out, err = scanVoucher(tx.QueryRow(ctx, `UPDATE vouchers SET redeemed_at = $2, redeemed_order_id = $3, redeemed_by_key = $4
			WHERE code = $1 RETURNING `+voucherColumns, code, now, orderID, byKey))
		return err
	})
	if err != nil {
		return out, fmt.Errorf("redeem voucher: %w", err)
	}
	return out, nil
}
