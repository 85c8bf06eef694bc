package wire

import (
	"time"

	"github.com/rapporthq/rapport/internal/money"
)

// Voucher is a voucher a journey issued: GET /v1/vouchers/{code}, and the
// answer to redeeming one.
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

// RedeemRequest is the body of POST /v1/vouchers/{code}/redeem, which may
// also be sent without one.
type RedeemRequest struct {
	OrderID string `json:"order_id,omitempty"`
}
