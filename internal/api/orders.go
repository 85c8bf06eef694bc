package api

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/rapporthq/rapport/internal/api/wire"
	"github.com/rapporthq/rapport/internal/money"
	"github.com/rapporthq/rapport/internal/store"
)

// validateOrderChange reads what an order event (order.fulfilled,
// order.delivered, order.cancelled, order.refunded, order.returned) asks
// of the order it names: data.order_id, and for a refund or a return
// data.amount and data.currency. Each may be left out (an event naming no
// order is stored and routed, and changes no order); one given must be
// right. What depends on the order (its currency, its total) is checked
// when the event is stored (store.NextOrderState).
func validateOrderChange(eventType string, data map[string]json.RawMessage) (*store.OrderChange, error) {
	ch := &store.OrderChange{Event: eventType}
	given := func(key string) (json.RawMessage, bool) {
		raw, ok := data[key]
		return raw, ok && string(raw) != "null"
	}
	if raw, ok := given("order_id"); ok {
		var id string
		if json.Unmarshal(raw, &id) != nil {
			return nil, badField("data.order_id", "must be a string: the id of the order, as its order.placed event gave it")
		}
		if err := text("data.order_id", id, maxRef, true); err != nil {
			return nil, err
		}
		if id == "" {
			return nil, badField("data.order_id", "is empty; give the id of the order")
		}
		ch.OrderID = id
	}
	if eventType != store.EventOrderRefunded && eventType != store.EventOrderReturned {
		return ch, nil
	}
	if raw, ok := given("currency"); ok {
		if json.Unmarshal(raw, &ch.Currency) != nil || !currencyRe.MatchString(ch.Currency) {
			return nil, badField("data.currency", "must be a three-letter currency code such as EUR (the order's when left out)")
		}
	}
	if raw, ok := given("amount"); ok {
		var a money.Amount
		if err := decodeBytes(raw, &a, "data.amount"); err != nil {
			return nil, err
		}
		a, err := checkAmount("data.amount", a, ch.Currency)
		if err != nil {
			return nil, err
		}
		if a.Sign() == 0 {
			if eventType == store.EventOrderRefunded {
				return nil, badField("data.amount", "must be above 0; leave it out to refund the whole order")
			}
			return nil, badField("data.amount", "must be above 0; leave it out for a return without a refund")
		}
		ch.Amount = &a
	}
	return ch, nil
}

// orderRefusal answers an order change the order cannot take (a refund
// over its total, say): 400 naming the field.
func orderRefusal(r *store.OrderRefusal) *apiError {
	return &apiError{Status: http.StatusBadRequest, Field: r.Field, Message: r.Message}
}

// orderOutcomeBody is what an event answer says of the order the event
// names: the order as it stands, and why nothing changed.
func orderOutcomeBody(o *store.OrderOutcome) (*wire.OrderState, string) {
	if o == nil {
		return nil, ""
	}
	if o.Status == "" {
		return nil, o.Note
	}
	return &wire.OrderState{ID: o.OrderID, Status: o.Status, Refunded: o.Refunded}, o.Note
}

// statusEvents are the statuses POST /v1/orders/{id}/status sets.
var statusEvents = map[string]string{
	store.OrderFulfilled: store.EventOrderFulfilled,
	store.OrderDelivered: store.EventOrderDelivered,
	store.OrderCancelled: store.EventOrderCancelled,
	store.OrderRefunded:  store.EventOrderRefunded,
	store.OrderReturned:  store.EventOrderReturned,
}

// postOrderStatus moves an order on as the order event of the status
// would (order.cancelled for cancelled...), by recording that event for
// the order's customer: journeys hear of it as they would from the shop.
// The answer is the event's (202, or 200 for the same change again).
func (s *Server) postOrderStatus(w http.ResponseWriter, r *http.Request) {
	var req wire.OrderStatusRequest
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	eventType, ok := statusEvents[req.Status]
	refunds := eventType == store.EventOrderRefunded || eventType == store.EventOrderReturned
	switch {
	case req.Status == store.OrderPartlyRefunded:
		s.fail(w, r, badField("status", "partly_refunded follows from refunded with an amount below the total: send {\"status\": \"refunded\", \"amount\": ...}"))
		return
	case !ok:
		s.fail(w, r, badField("status", "must be fulfilled, delivered, cancelled, refunded or returned, not %q", short(req.Status)))
		return
	case req.Amount != nil && !refunds:
		s.fail(w, r, badField("amount", "is only for refunded and returned, which may refund an amount"))
		return
	case req.Currency != "" && !refunds:
		s.fail(w, r, badField("currency", "is only for refunded and returned, which may refund an amount"))
		return
	case req.Currency != "" && !currencyRe.MatchString(req.Currency):
		s.fail(w, r, badField("currency", "must be a three-letter currency code such as EUR (the order's when left out)"))
		return
	}
	o, err := s.Store.GetOrder(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		notFound(w, "order", r.PathValue("id"))
		return
	} else if err != nil {
		s.fail(w, r, err)
		return
	}
	data := map[string]any{"order_id": o.ID}
	named := o.ID + "\x00" + req.Status
	if req.Amount != nil {
		a, err := checkAmount("amount", *req.Amount, cmp.Or(req.Currency, o.Currency))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		data["amount"] = a
		named += "\x00" + a.String()
	}
	if req.Currency != "" {
		data["currency"] = req.Currency
		named += "\x00" + req.Currency
	}
	id := req.EventID
	if id == "" {
		sum := sha256.Sum256([]byte(named))
		id = "order-" + req.Status + "-" + hex.EncodeToString(sum[:12])
	}
	raw := map[string]json.RawMessage{}
	for k, v := range data {
		b, err := json.Marshal(v)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		raw[k] = b
	}
	ev := wire.EventRequest{ID: id, Type: eventType, CustomerID: o.CustomerID, OccurredAt: req.OccurredAt, Data: raw}
	ne, err := validateEvent(&ev, time.Now().UTC())
	if err != nil {
		s.fail(w, r, asStatusField(err))
		return
	}
	if err := s.refuseErased(r.Context(), o.CustomerID); err != nil {
		s.fail(w, r, err)
		return
	}
	resp, err := s.recordAndRoute(r.Context(), ne)
	if err != nil {
		s.fail(w, r, asStatusField(err))
		return
	}
	s.Metrics.EventAccepted(eventType, resp.Status)
	status := http.StatusAccepted
	if resp.Status == wire.StatusDuplicate {
		status = http.StatusOK
	}
	writeJSON(w, status, resp)
}

// asStatusField names the fields of POST /v1/orders/{id}/status in an
// error about the event it records: data.amount is amount, id event_id.
func asStatusField(err error) error {
	var ae *apiError
	if !errors.As(err, &ae) {
		return err
	}
	field, ok := map[string]string{"data.amount": "amount", "data.currency": "currency", "id": "event_id"}[ae.Field]
	if !ok {
		return err
	}
	renamed := *ae
	renamed.Field, renamed.Message = field, field+strings.TrimPrefix(ae.Message, ae.Field)
	return &renamed
}

// checkLoadedStatus checks the status and refunded amount of an order
// loaded with POST /v1/orders, and sets them on o: placed when left out;
// refunded is the whole total for a refunded order, above 0 and below the
// total for a partly_refunded one, below the total for a returned one, at
// most the total for a cancelled one, and 0 for the others.
func checkLoadedStatus(req wire.OrderRequest, o *store.Order) error {
	status := cmp.Or(req.Status, store.OrderPlaced)
	if !slices.Contains(store.OrderStatuses, status) {
		return badField("status", "must be one of %s, not %q", strings.Join(store.OrderStatuses, ", "), short(status))
	}
	o.Status = status
	if req.Refunded == nil {
		switch status {
		case store.OrderRefunded:
			o.Refunded = o.Total
		case store.OrderPartlyRefunded:
			return badField("refunded", "is required for a partly_refunded order: how much of its total was refunded")
		}
		return nil
	}
	refunded, err := checkAmount("refunded", *req.Refunded, o.Currency)
	if err != nil {
		return err
	}
	whole := refunded.Cmp(o.Total) == 0
	switch {
	case refunded.Cmp(o.Total) > 0:
		return badField("refunded", "%s is more than the order's total, %s", refunded, o.Total)
	case status == store.OrderRefunded && !whole:
		return badField("refunded", "a refunded order was refunded its whole total, %s; refunding a part makes it partly_refunded", o.Total)
	case status == store.OrderPartlyRefunded && (refunded.Sign() == 0 || whole):
		return badField("refunded", "a partly_refunded order was refunded more than 0 and less than its total, %s", o.Total)
	case status == store.OrderReturned && whole:
		return badField("refunded", "a returned order refunded in full is refunded; give that status")
	case refunded.Sign() > 0 && (status == store.OrderPlaced || status == store.OrderFulfilled || status == store.OrderDelivered):
		return badField("refunded", "a %s order has nothing refunded; an order refunded in part is partly_refunded", status)
	}
	o.Refunded = refunded
	return nil
}
