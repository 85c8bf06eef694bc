package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/rapporthq/rapport/internal/money"
)

// The statuses of an order (Order.Status). An order is placed when it is
// recorded; order events move it on (see NextOrderState).
const (
	OrderPlaced         = "placed"
	OrderFulfilled      = "fulfilled"
	OrderDelivered      = "delivered"
	OrderCancelled      = "cancelled"
	OrderRefunded       = "refunded"
	OrderPartlyRefunded = "partly_refunded"
	OrderReturned       = "returned"
)

// OrderStatuses lists every status an order may have, in the order of
// its lifecycle.
var OrderStatuses = []string{OrderPlaced, OrderFulfilled, OrderDelivered, OrderCancelled, OrderRefunded, OrderPartlyRefunded, OrderReturned}

// The events that change an order's status. Their data names the order
// (order_id); order.refunded and order.returned may carry an amount (and
// its currency) refunded.
const (
	EventOrderFulfilled = "order.fulfilled"
	EventOrderDelivered = "order.delivered"
	EventOrderCancelled = "order.cancelled"
	EventOrderRefunded  = "order.refunded"
	EventOrderReturned  = "order.returned"
)

// IsOrderEvent reports whether events of the type change the status of
// the order they name.
func IsOrderEvent(eventType string) bool {
	switch eventType {
	case EventOrderFulfilled, EventOrderDelivered, EventOrderCancelled, EventOrderRefunded, EventOrderReturned:
		return true
	}
	return false
}

// OrderCounts reports whether an order with the status counts in the
// customer's figures (orders_count, lifetime_value, days_since_last_order)
// and says what they like (recommendations): every order but those
// cancelled or refunded in full.
func OrderCounts(status string) bool {
	return status != OrderCancelled && status != OrderRefunded
}

// countedOrder is OrderCounts in SQL, over orders aliased o.
const countedOrder = `o.status NOT IN ('cancelled', 'refunded')`

// OrderChange is what an order event asks of the order it names.
type OrderChange struct {
	// Event is the event's type: one of the EventOrder* types.
	Event string
	// OrderID is data.order_id; empty when the event names no order.
	OrderID string
	// Amount is the amount refunded (order.refunded, order.returned), in
	// Currency, or nil: for order.refunded, the whole total.
	Amount *money.Amount
	// Currency is the amount's currency as the event gave it (data.currency);
	// empty means the order's.
	Currency string
}

// OrderOutcome is what an order event did to the order it names.
type OrderOutcome struct {
	// OrderID is the order the event names, if any.
	OrderID string
	// Status and Refunded are the order's after the event; empty when
	// there is no such order.
	Status   string
	Refunded money.Amount
	// Changed is true when the event changed the order.
	Changed bool
	// Note says why the event changed nothing: no such order, or a
	// status the event does not move on.
	Note string
}

// OrderRefusal refuses an order event for what it says of the order: a
// refund larger than the order's total, or in another currency. Nothing
// of the event is stored.
type OrderRefusal struct {
	// Field is the field at fault, such as data.amount.
	Field string
	// Message is a sentence that starts with the field.
	Message string
}

// Error returns the message.
func (r *OrderRefusal) Error() string { return r.Message }

// OrderState is an order's status and what was refunded of it.
type OrderState struct {
	ID       string
	Status   string
	Total    money.Amount
	Refunded money.Amount
	Currency string
}

// NextOrderState is the state an order moves to on an order event, with
// a note when the event changes nothing (its status is one the event does
// not move on), or a refusal when the event's refund cannot be: more than
// the total, all refunds together more than the total, another currency,
// or more decimal places than the currency has. The rules (journeys/README.md
// has them as a table): cancelled and refunded are final; fulfilled follows
// placed only, delivered placed or fulfilled; a refund below the total makes
// the order partly_refunded (a returned one stays returned) and refunds add
// up until they reach the total, which makes it refunded.
func NextOrderState(cur OrderState, ch OrderChange) (OrderState, string, *OrderRefusal) {
	next := cur
	refund := ch.Amount
	if refund != nil {
		if ch.Currency != "" && ch.Currency != cur.Currency {
			return cur, "", &OrderRefusal{Field: "data.currency", Message: fmt.Sprintf(
				"data.currency: order %s is in %s, so its refunds are too, not %s", cur.ID, cur.Currency, ch.Currency)}
		}
		if places := money.Exponent(cur.Currency); refund.Scale() > places {
			return cur, "", &OrderRefusal{Field: "data.amount", Message: fmt.Sprintf(
				"data.amount: %s has %d decimal places, but %s amounts have %d", refund, refund.Scale(), cur.Currency, places)}
		}
		if refund.Cmp(cur.Total) > 0 {
			return cur, "", &OrderRefusal{Field: "data.amount", Message: fmt.Sprintf(
				"data.amount: a refund of %s is more than the total of order %s, %s %s", refund, cur.ID, cur.Total, cur.Currency)}
		}
	}
	unchanged := func() (OrderState, string, *OrderRefusal) {
		return cur, fmt.Sprintf("order %s is %s, which %s does not change", cur.ID, cur.Status, ch.Event), nil
	}
	if cur.Status == OrderCancelled || cur.Status == OrderRefunded {
		return unchanged()
	}
	switch ch.Event {
	case EventOrderFulfilled:
		if cur.Status != OrderPlaced {
			return unchanged()
		}
		next.Status = OrderFulfilled
	case EventOrderDelivered:
		if cur.Status != OrderPlaced && cur.Status != OrderFulfilled {
			return unchanged()
		}
		next.Status = OrderDelivered
	case EventOrderCancelled:
		next.Status = OrderCancelled
	case EventOrderRefunded, EventOrderReturned:
		if ch.Event == EventOrderReturned {
			if cur.Status == OrderReturned && refund == nil {
				return unchanged()
			}
			next.Status = OrderReturned
		}
		if ch.Event == EventOrderRefunded && refund == nil {
			next.Refunded, next.Status = cur.Total, OrderRefunded
			break
		}
		if refund == nil {
			break
		}
		next.Refunded = cur.Refunded.Add(*refund).WithScale(money.Exponent(cur.Currency))
		switch c := next.Refunded.Cmp(cur.Total); {
		case c > 0:
			return cur, "", &OrderRefusal{Field: "data.amount", Message: fmt.Sprintf(
				"data.amount: a refund of %s would bring the refunds of order %s to %s, more than its total, %s %s",
				refund, cur.ID, next.Refunded, cur.Total, cur.Currency)}
		case c == 0:
			next.Status = OrderRefunded
		case next.Status != OrderReturned && next.Refunded.Sign() > 0:
			next.Status = OrderPartlyRefunded
		}
	default:
		return cur, "", &OrderRefusal{Field: "type", Message: fmt.Sprintf("type: %s does not change an order", ch.Event)}
	}
	return next, "", nil
}

// planOrderChange reads the order an event names (locking it until the
// transaction ends) and works out what the event does to it. It writes
// nothing.
func planOrderChange(ctx context.Context, tx pgx.Tx, customerID string, ch OrderChange) (OrderOutcome, OrderState, *OrderRefusal, error) {
	out := OrderOutcome{OrderID: ch.OrderID}
	if ch.OrderID == "" {
		out.Note = fmt.Sprintf("data.order_id: not given, so the %s event changes no order", ch.Event)
		return out, OrderState{}, nil, nil
	}
	cur := OrderState{ID: ch.OrderID}
	err := tx.QueryRow(ctx, `SELECT status, total, refunded, currency FROM orders WHERE id = $1 AND customer_id = $2 FOR UPDATE`,
		ch.OrderID, customerID).Scan(&cur.Status, &cur.Total, &cur.Refunded, &cur.Currency)
	if err == pgx.ErrNoRows {
		out.Note = fmt.Sprintf("data.order_id: customer %s has no order %s, so the %s event changes no order (load it with POST /v1/orders)",
			customerID, ch.OrderID, ch.Event)
		return out, cur, nil, nil
	}
	if err != nil {
		return out, cur, nil, fmt.Errorf("order %s: %w", ch.OrderID, err)
	}
	next, note, refused := NextOrderState(cur, ch)
	out.Status, out.Refunded, out.Note = next.Status, next.Refunded, note
	out.Changed = refused == nil && note == "" && (next.Status != cur.Status || !next.Refunded.Equal(cur.Refunded))
	return out, next, refused, nil
}

// applyOrderChange stores an order's new state and the customer's order
// figures that follow from it.
func applyOrderChange(ctx context.Context, tx pgx.Tx, customerID string, next OrderState) error {
	_, err := tx.Exec(ctx, `UPDATE orders SET status = $2, refunded = $3 WHERE id = $1`, next.ID, next.Status, next.Refunded)
	if err != nil {
		return fmt.Errorf("order %s status: %w", next.ID, err)
	}
	return refreshOrderFigures(ctx, tx, customerID)
}

// refreshOrderFigures computes again the order figures kept on the
// customer (what audience scans read) from their orders: the orders that
// count (OrderCounts), their totals net of refunds, and the latest.
func refreshOrderFigures(ctx context.Context, tx pgx.Tx, customerID string) error {
	_, err := tx.Exec(ctx, `
		UPDATE customers c SET orders_count = f.n, lifetime_value = f.value, last_order_at = f.last
		FROM (SELECT count(*) AS n, coalesce(sum(o.total - o.refunded), 0) AS value, max(o.placed_at) AS last
		      FROM orders o WHERE o.customer_id = $1 AND `+countedOrder+`) f
		WHERE c.id = $1`, customerID)
	if err != nil {
		return fmt.Errorf("customer %s order figures: %w", customerID, err)
	}
	return nil
}
