package wire

import (
	"encoding/json"
	"time"

	"github.com/rapporthq/rapport/internal/money"
)

// What became of an event: the status of an EventResponse and of each
// BatchResult.
const (
	// StatusAccepted: the event is new and stored.
	StatusAccepted = "accepted"
	// StatusDuplicate: an event with this id and the same type, customer
	// and data was received before; nothing changed.
	StatusDuplicate = "duplicate"
	// StatusRejected (batches only): the event was not stored; Error and
	// Field say why.
	StatusRejected = "rejected"
)

// How far a single event's routing got: EventResponse.Routing.
const (
	RoutingDone = "done"
	// RoutingPending: starting journeys failed for now; the event is
	// stored and the sweeper routes it.
	RoutingPending = "pending"
	// RoutingFanOut: the event names no customer and starts journeys whose
	// trigger fans out (trigger.for); they enter the customers their
	// condition selects in the background (EventResponse.FanOut).
	RoutingFanOut = "fan_out"
)

// EventRequest is one event, POST /v1/events.
type EventRequest struct {
	// ID names the event: sending it again is harmless (a duplicate).
	ID string `json:"id"`
	// Type is lowercase words joined by dots, such as order.placed.
	Type       string `json:"type"`
	CustomerID string `json:"customer_id"`
	// OccurredAt is when it happened (not in the future); now when
	// absent.
	OccurredAt *time.Time `json:"occurred_at,omitempty"`
	// Data is what the journeys may read (at most 32 KiB as compact JSON,
	// 100 keys); an
	// order.placed event carries an Order as data.order.
	Data map[string]json.RawMessage `json:"data,omitempty"`
}

// EventBatch is a batch of up to 1,000 events, POST /v1/events. Each
// element is an EventRequest, kept raw: the API checks each on its own,
// so one that is not even an object is rejected alone.
type EventBatch struct {
	Events []json.RawMessage `json:"events"`
}

// Order is data.order of an order.placed event.
type Order struct {
	ID       string        `json:"id"`
	Total    *money.Amount `json:"total"`
	Currency string        `json:"currency"`
	Gift     bool          `json:"gift,omitempty"`
	Items    []Item        `json:"items"`
}

// Item is a line of an order.
type Item struct {
	ProductID string `json:"product_id"`
	Name      string `json:"name"`
	// Quantity is a whole number of 1 or more (a number, so that 1.5 is
	// refused with a sentence rather than a type error).
	Quantity *float64      `json:"quantity"`
	Price    *money.Amount `json:"price"`
}

// EventResponse answers one event: 202 when it is new, 200 when it is a
// duplicate.
type EventResponse struct {
	ID string `json:"id"`
	// Status is StatusAccepted or StatusDuplicate.
	Status string `json:"status"`
	// Routing is RoutingDone, or RoutingPending when starting journeys
	// failed for now (the event is stored and will be routed by the
	// sweeper).
	Routing string `json:"routing"`
	RoutingResult
	// Order is the order a new order event (order.fulfilled,
	// order.delivered, order.cancelled, order.refunded, order.returned)
	// names, as it stands after the event; nil when it names none.
	Order *OrderState `json:"order,omitempty"`
	// Note says why a new order event changed no order: it names none, no
	// such order of the customer, or a status the event does not move on.
	// The event is stored and routed all the same.
	Note string `json:"note,omitempty"`
	// FanOut, for an event posted without a customer, names the journeys
	// that enter, in the background, each customer their trigger's for
	// condition selects.
	FanOut []string `json:"fan_out,omitempty"`
}

// OrderState is an order's status and what was refunded of it.
type OrderState struct {
	ID string `json:"id"`
	// Status is placed, fulfilled, delivered, cancelled, refunded,
	// partly_refunded or returned.
	Status string `json:"status"`
	// Refunded is how much of its total was refunded, in its currency.
	Refunded money.Amount `json:"refunded"`
}

// RoutingResult says what routing an event did.
type RoutingResult struct {
	// Started are the workflow ids of journeys the event triggered.
	Started []string `json:"started"`
	// Delivered are the workflow ids of running journeys told about it.
	Delivered []string `json:"delivered"`
	// Skipped explains journeys the event's type triggers that it did not
	// start (trigger.when was false, say).
	Skipped []string `json:"skipped,omitempty"`
	// Converted are the workflow ids of runs whose goal the event met.
	Converted []string `json:"converted,omitempty"`
}

// BatchResponse answers a batch of events (200): counts, and a line per
// event in the batch's order.
type BatchResponse struct {
	Accepted   int           `json:"accepted"`
	Duplicates int           `json:"duplicates"`
	Rejected   int           `json:"rejected"`
	Results    []BatchResult `json:"results"`
}

// BatchResult is what became of one event of a batch.
type BatchResult struct {
	// Index is the event's place in the batch, from 0.
	Index int    `json:"index"`
	ID    string `json:"id,omitempty"`
	// Status is StatusAccepted, StatusDuplicate or StatusRejected.
	Status string `json:"status"`
	// Error and Field say why an event was rejected. An id used for
	// another event (earlier in the batch, or received before) is
	// rejected with Field "id".
	Error string `json:"error,omitempty"`
	Field string `json:"field,omitempty"`
	// Order and Note are as in EventResponse, for a new order event.
	Order *OrderState `json:"order,omitempty"`
	Note  string      `json:"note,omitempty"`
}

// Event is an event as stored, GET /v1/events/{id}.
type Event struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	CustomerID string          `json:"customer_id"`
	OccurredAt time.Time       `json:"occurred_at"`
	ReceivedAt time.Time       `json:"received_at"`
	Data       json.RawMessage `json:"data"`
	RoutedAt   *time.Time      `json:"routed_at,omitempty"`
	// Seq numbers the event among those stored: a customer's events are
	// numbered in the order they were stored.
	Seq int64 `json:"seq"`
	// DataOmitted says why Data is left out (null): data stored before
	// the limits on data existed, and over them.
	DataOmitted string `json:"data_omitted,omitempty"`
}
