package wire

import (
	"time"

	"github.com/rapporthq/rapport/internal/money"
)

// Order statuses: OrderResponse.Status.
const (
	OrderCreated   = "created"
	OrderDuplicate = "duplicate"
)

// OrderRequest is POST /v1/orders: a past order loaded into the history
// without starting any journey.
type OrderRequest struct {
	ID         string        `json:"id"`
	CustomerID string        `json:"customer_id"`
	PlacedAt   *time.Time    `json:"placed_at"`
	Total      *money.Amount `json:"total"`
	Currency   string        `json:"currency"`
	Gift       bool          `json:"gift,omitempty"`
	Items      []Item        `json:"items"`
	// Status is the order's status, placed when absent: fulfilled,
	// delivered, cancelled, refunded, partly_refunded or returned too.
	Status string `json:"status,omitempty"`
	// Refunded is how much of the total was refunded: the total for a
	// refunded order (when absent too), above 0 and below the total for
	// a partly_refunded one, below the total for a returned or cancelled
	// one, and 0 (or absent) for the others.
	Refunded *money.Amount `json:"refunded,omitempty"`
}

// OrderStatusRequest is POST /v1/orders/{id}/status: the order moves on
// as an order event of the status's type (order.cancelled...) would move
// it, and that event is recorded and routed to the customer's journeys.
type OrderStatusRequest struct {
	// Status is fulfilled, delivered, cancelled, refunded or returned.
	Status string `json:"status"`
	// Amount is the amount refunded (refunded, returned): for refunded,
	// the whole total when absent.
	Amount *money.Amount `json:"amount,omitempty"`
	// Currency is the amount's; the order's when absent.
	Currency string `json:"currency,omitempty"`
	// EventID names the change, as an event's id does: sending it again
	// is harmless. When absent, the change is named by the order, the
	// status and the amount.
	EventID string `json:"event_id,omitempty"`
	// OccurredAt is when it happened (not in the future); now when absent.
	OccurredAt *time.Time `json:"occurred_at,omitempty"`
}

// OrderResponse answers POST /v1/orders: 201 created, or 200 for an
// order loaded before (duplicate).
type OrderResponse struct {
	ID string `json:"id"`
	// Status is OrderCreated or OrderDuplicate.
	Status string `json:"status"`
}

// ProductsRequest is POST /v1/products: 1 to 10,000 products, stored or
// updated in place.
type ProductsRequest struct {
	Products []Product `json:"products"`
}

// Product is a product of the catalog, as sent.
type Product struct {
	ID       string       `json:"id"`
	Name     string       `json:"name"`
	Price    money.Amount `json:"price"`
	Currency string       `json:"currency,omitempty"`
	URL      string       `json:"url,omitempty"`
	ImageURL string       `json:"image_url,omitempty"`
	// Active is true when absent.
	Active *bool `json:"active,omitempty"`
	// Complements are other products bought with this one, with a weight
	// above 0; they replace the product's complements.
	Complements map[string]float64 `json:"complements,omitempty"`
}

// ProductsResponse answers POST /v1/products.
type ProductsResponse struct {
	Stored int `json:"stored"`
}
