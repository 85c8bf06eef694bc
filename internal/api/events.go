package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/rapporthq/rapport/internal/router"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

type eventRequest struct {
	ID         string                     `json:"id"`
	Type       string                     `json:"type"`
	CustomerID string                     `json:"customer_id"`
	OccurredAt *time.Time                 `json:"occurred_at"`
	Data       map[string]json.RawMessage `json:"data"`
}

type orderBody struct {
	ID       string     `json:"id"`
	Total    *float64   `json:"total"`
	Currency string     `json:"currency"`
	Gift     bool       `json:"gift"`
	Items    []itemBody `json:"items"`
}

type itemBody struct {
	ProductID string   `json:"product_id"`
	Name      string   `json:"name"`
	Quantity  *float64 `json:"quantity"`
	Price     *float64 `json:"price"`
}

var (
	eventTypeRe = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$`)
	currencyRe  = regexp.MustCompile(`^[A-Z]{3}$`)
)

// eventResponse is the answer to POST /v1/events.
type eventResponse struct {
	ID     string `json:"id"`
	Status string `json:"status"` // accepted or duplicate
	// Routing is "done", or "pending" when starting journeys failed for now
	// (the event is stored and will be routed by the sweeper).
	Routing string `json:"routing"`
	router.Result
}

func (req *eventRequest) validate(now time.Time) (store.Event, *store.Order, error) {
	e := store.Event{ID: req.ID, Type: req.Type, CustomerID: req.CustomerID}
	switch {
	case req.ID == "":
		return e, nil, badField("id", "is required: a unique id for this event, so sending it twice is harmless")
	case !workflows.ValidIDPart(req.ID):
		return e, nil, badField("id", "must be 1-128 letters, digits, _ . : or -")
	case req.Type == "":
		return e, nil, badField("type", "is required, such as order.placed")
	case !eventTypeRe.MatchString(req.Type):
		return e, nil, badField("type", "%q is not an event type; use lowercase words joined by dots, such as order.placed", req.Type)
	case req.CustomerID == "":
		return e, nil, badField("customer_id", "is required")
	case !workflows.ValidIDPart(req.CustomerID):
		return e, nil, badField("customer_id", "must be 1-128 letters, digits, _ . : or -")
	}
	e.OccurredAt = now
	if req.OccurredAt != nil {
		if req.OccurredAt.After(now.Add(5 * time.Minute)) {
			return e, nil, badField("occurred_at", "is in the future (%s)", req.OccurredAt.Format(time.RFC3339))
		}
		e.OccurredAt = *req.OccurredAt
	}
	data := req.Data
	if data == nil {
		data = map[string]json.RawMessage{}
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return e, nil, badField("data", "must be a JSON object")
	}
	e.Data = raw

	var order *store.Order
	if req.Type == "order.placed" {
		o, err := validateOrder(data["order"], e)
		if err != nil {
			return e, nil, err
		}
		order = o
		// Store the order in its checked, canonical form.
		if data["order"], err = json.Marshal(canonicalOrder(o)); err != nil {
			return e, nil, err
		}
		if e.Data, err = json.Marshal(data); err != nil {
			return e, nil, err
		}
	}
	return e, order, nil
}

func validateOrder(raw json.RawMessage, e store.Event) (*store.Order, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, badField("data.order", "is required for order.placed: {id, total, currency, gift, items[{product_id, name, quantity, price}]}")
	}
	var ob orderBody
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ob); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) {
			return nil, badField("data.order."+typ.Field, "must be %s", describeKind(typ.Type.Kind().String()))
		}
		if strings.HasPrefix(err.Error(), "json: unknown field ") {
			return nil, badField("data.order", "has an unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
		}
		return nil, badField("data.order", "must be an object: %v", err)
	}
	return checkOrder(ob, "data.order.", e.CustomerID, e.OccurredAt)
}

// checkOrder validates an order's fields; prefix names them in errors.
func checkOrder(ob orderBody, prefix, customerID string, placedAt time.Time) (*store.Order, error) {
	switch {
	case ob.ID == "":
		return nil, badField(prefix+"id", "is required")
	case ob.Total == nil:
		return nil, badField(prefix+"total", "is required")
	case *ob.Total < 0 || math.IsInf(*ob.Total, 0) || *ob.Total > 1e12:
		return nil, badField(prefix+"total", "must be an amount of zero or more")
	case !currencyRe.MatchString(ob.Currency):
		return nil, badField(prefix+"currency", "must be a three-letter currency code such as EUR, not %q", ob.Currency)
	case len(ob.Items) == 0:
		return nil, badField(prefix+"items", "must list at least one item")
	}
	o := &store.Order{ID: ob.ID, CustomerID: customerID, Total: *ob.Total, Currency: ob.Currency, Gift: ob.Gift, PlacedAt: placedAt}
	for i, it := range ob.Items {
		field := fmt.Sprintf("%sitems[%d]", prefix, i)
		switch {
		case it.ProductID == "":
			return nil, badField(field+".product_id", "is required")
		case it.Name == "":
			return nil, badField(field+".name", "is required")
		case it.Quantity == nil:
			return nil, badField(field+".quantity", "is required")
		case *it.Quantity < 1 || *it.Quantity != math.Trunc(*it.Quantity) || *it.Quantity > 1e6:
			return nil, badField(field+".quantity", "must be a whole number of 1 or more")
		case it.Price == nil:
			return nil, badField(field+".price", "is required")
		case *it.Price < 0 || *it.Price > 1e12:
			return nil, badField(field+".price", "must be an amount of zero or more")
		}
		o.Items = append(o.Items, store.Item{ProductID: it.ProductID, Name: it.Name, Quantity: int(*it.Quantity), Price: *it.Price})
	}
	return o, nil
}

// canonicalOrder is data.order as stored: the API's field names, numbers
// as the types journeys see.
func canonicalOrder(o *store.Order) map[string]any {
	items := make([]map[string]any, len(o.Items))
	for i, it := range o.Items {
		items[i] = map[string]any{"product_id": it.ProductID, "name": it.Name, "quantity": it.Quantity, "price": it.Price}
	}
	return map[string]any{"id": o.ID, "total": o.Total, "currency": o.Currency, "gift": o.Gift, "items": items}
}

// postEvent stores an event, then routes it. The event is stored before it
// is acknowledged; a repeat of an event id changes nothing (and finishes
// routing if the first attempt could not).
func (s *Server) postEvent(w http.ResponseWriter, r *http.Request) {
	var req eventRequest
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	e, order, err := req.validate(time.Now().UTC())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if _, err := s.Store.GetCustomer(r.Context(), e.CustomerID); errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, &apiError{Status: http.StatusUnprocessableEntity, Field: "customer_id",
			Message: fmt.Sprintf("customer_id: no customer %s; create it with POST /v1/customers first", e.CustomerID)})
		return
	} else if err != nil {
		s.fail(w, r, err)
		return
	}
	resp, err := s.recordAndRoute(r.Context(), e, order)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	status := http.StatusAccepted
	if resp.Status == "duplicate" {
		status = http.StatusOK
	}
	writeJSON(w, status, resp)
}

// recordAndRoute stores an event (idempotently), then routes it unless it
// was already routed. A routing failure leaves the event for the sweeper.
func (s *Server) recordAndRoute(ctx context.Context, e store.Event, order *store.Order) (eventResponse, error) {
	resp := eventResponse{ID: e.ID, Status: "accepted", Routing: "done", Result: router.Result{Started: []string{}, Delivered: []string{}}}
	stored, inserted, err := s.Store.RecordEvent(ctx, e, order)
	if err != nil {
		return resp, err
	}
	if !inserted {
		resp.Status = "duplicate"
		if stored.Type != e.Type || stored.CustomerID != e.CustomerID {
			return resp, &apiError{Status: http.StatusConflict, Field: "id",
				Message: fmt.Sprintf("id: event %s was already received with a different type or customer; event ids must be unique", e.ID)}
		}
		if stored.RoutedAt != nil {
			return resp, nil
		}
	}
	res, err := s.Router.Route(ctx, stored)
	resp.Result = res
	if err != nil {
		s.log().Warn("event stored, routing deferred", "event_id", e.ID, "error", err)
		resp.Routing = "pending"
	}
	return resp, nil
}

func (s *Server) getEvent(w http.ResponseWriter, r *http.Request) {
	e, err := s.Store.GetEvent(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		writeJSON(w, http.StatusNotFound, &apiError{Message: "no event " + r.PathValue("id")})
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, e)
}
