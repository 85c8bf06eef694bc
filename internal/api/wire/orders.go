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
