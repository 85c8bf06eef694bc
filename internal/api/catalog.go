package api

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

type orderRequest struct {
	ID         string     `json:"id"`
	CustomerID string     `json:"customer_id"`
	PlacedAt   *time.Time `json:"placed_at"`
	Total      *float64   `json:"total"`
	Currency   string     `json:"currency"`
	Gift       bool       `json:"gift"`
	Items      []itemBody `json:"items"`
}

// postOrder loads an order into the history without starting any journey:
// for importing past orders, so customer facts (orders_count,
// days_since_last_order) and recommendations know them.
func (s *Server) postOrder(w http.ResponseWriter, r *http.Request) {
	var req orderRequest
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	switch {
	case req.CustomerID == "":
		s.fail(w, r, badField("customer_id", "is required"))
		return
	case req.PlacedAt == nil:
		s.fail(w, r, badField("placed_at", "is required: when the order was placed, such as 2026-05-01T10:00:00Z"))
		return
	case req.PlacedAt.After(time.Now().Add(5 * time.Minute)):
		s.fail(w, r, badField("placed_at", "is in the future"))
		return
	}
	o, err := checkOrder(orderBody{ID: req.ID, Total: req.Total, Currency: req.Currency, Gift: req.Gift, Items: req.Items}, "", req.CustomerID, *req.PlacedAt)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if _, err := s.Store.GetCustomer(r.Context(), req.CustomerID); errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, &apiError{Status: http.StatusUnprocessableEntity, Field: "customer_id", Message: "customer_id: no customer " + req.CustomerID + "; create it with POST /v1/customers first"})
		return
	} else if err != nil {
		s.fail(w, r, err)
		return
	}
	inserted, err := s.Store.RecordOrder(r.Context(), *o)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	status, word := http.StatusCreated, "created"
	if !inserted {
		status, word = http.StatusOK, "duplicate"
	}
	writeJSON(w, status, map[string]string{"id": o.ID, "status": word})
}

type productsRequest struct {
	Products []productBody `json:"products"`
}

type productBody struct {
	ID          string             `json:"id"`
	Name        string             `json:"name"`
	Price       float64            `json:"price"`
	Currency    string             `json:"currency"`
	URL         string             `json:"url"`
	ImageURL    string             `json:"image_url"`
	Active      *bool              `json:"active"`
	Complements map[string]float64 `json:"complements"`
}

// postProducts stores products and which products complement them.
func (s *Server) postProducts(w http.ResponseWriter, r *http.Request) {
	var req productsRequest
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if len(req.Products) == 0 || len(req.Products) > 10000 {
		s.fail(w, r, badField("products", "must list 1 to 10,000 products"))
		return
	}
	products := make([]store.Product, len(req.Products))
	for i, p := range req.Products {
		field := fmt.Sprintf("products[%d]", i)
		switch {
		case !workflows.ValidIDPart(p.ID):
			s.fail(w, r, badField(field+".id", "must be 1-128 letters, digits, _ . : or -"))
			return
		case p.Name == "":
			s.fail(w, r, badField(field+".name", "is required"))
			return
		case p.Price < 0:
			s.fail(w, r, badField(field+".price", "must be zero or more"))
			return
		case p.Currency != "" && !currencyRe.MatchString(p.Currency):
			s.fail(w, r, badField(field+".currency", "must be a three-letter code such as EUR"))
			return
		}
		for other, weight := range p.Complements {
			if other == p.ID || weight <= 0 {
				s.fail(w, r, badField(field+".complements."+other, "must be another product with a weight above 0"))
				return
			}
		}
		active := p.Active == nil || *p.Active
		products[i] = store.Product{ID: p.ID, Name: p.Name, Price: p.Price, Currency: p.Currency, URL: p.URL, ImageURL: p.ImageURL, Active: active, Complements: p.Complements}
	}
	if err := s.Store.UpsertProducts(r.Context(), products); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23503" {
			s.fail(w, r, &apiError{Status: http.StatusUnprocessableEntity, Field: "products", Message: "products: a complement names a product that is in neither this list nor the catalog"})
			return
		}
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"stored": len(products)})
}

// runAudience enters the customers who match a journey's audience now.
func (s *Server) runAudience(w http.ResponseWriter, r *http.Request) {
	plan, ok := s.Router.Catalog.Get(r.PathValue("name"))
	if !ok {
		notFound(w, "journey", r.PathValue("name"))
		return
	}
	if plan.Trigger.Audience == "" {
		s.fail(w, r, &apiError{Status: http.StatusBadRequest, Message: fmt.Sprintf("journey %s is started by %s events, not by an audience", plan.Journey, plan.Trigger.Event)})
		return
	}
	res, err := s.Router.RunAudience(r.Context(), plan, time.Now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}
