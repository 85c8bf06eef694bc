package store

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rapporthq/rapport/internal/money"
)

// Event is something that happened to a customer, as stored.
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
}

// Order is a purchase with its items.
type Order struct {
	ID         string       `json:"id"`
	CustomerID string       `json:"customer_id"`
	Total      money.Amount `json:"total"`
	Currency   string       `json:"currency"`
	Gift       bool         `json:"gift"`
	PlacedAt   time.Time    `json:"placed_at"`
	Items      []Item       `json:"items"`
	// Status is one of the Order* statuses; empty is placed.
	Status string `json:"status"`
	// Refunded is how much of the total was refunded, in its currency.
	Refunded money.Amount `json:"refunded"`
}

// Item is one line of an order.
type Item struct {
	ProductID string       `json:"product_id"`
	Name      string       `json:"name"`
	Quantity  int          `json:"quantity"`
	Price     money.Amount `json:"price"`
}

// RecordEvent stores an event, and the order it carries if any, in one
// transaction. It is idempotent on the event id: when the id is already
// stored it changes nothing and returns the stored event with inserted
// false. An order already stored under the same id is left as it was.
func (s *Store) RecordEvent(ctx context.Context, e Event, order *Order) (stored Event, inserted bool, err error) {
	rec, err := s.RecordNewEvent(ctx, NewEvent{Event: e, Order: order})
	return rec.Event, rec.Inserted, err
}

// RecordNewEvent stores one event as RecordEvents does, in a transaction
// of its own. An order change it refuses is returned as an *OrderRefusal
// error (nothing is stored then).
func (s *Store) RecordNewEvent(ctx context.Context, ne NewEvent) (Recorded, error) {
	var rec Recorded
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockRouting(ctx, tx, ne.Event.CustomerID); err != nil {
			return err
		}
		if err := s.refuseErased(ctx, tx, ne.Event.CustomerID); err != nil {
			return err
		}
		var err error
		rec, err = recordEvent(ctx, tx, ne)
		return err
	})
	if err != nil {
		return Recorded{}, fmt.Errorf("record event %s: %w", ne.Event.ID, err)
	}
	if rec.Refused != nil {
		return rec, rec.Refused
	}
	return rec, nil
}

// NewEvent is an event to store with the order it carries, if any, or the
// change it asks of an order (order lifecycle events).
type NewEvent struct {
	Event  Event
	Order  *Order
	Change *OrderChange
}

// Recorded is what storing one event of a batch did.
type Recorded struct {
	Event    Event
	Inserted bool
	// Order is what a new event with a Change did to the order it
	// names; nil for other events and for events stored before.
	Order *OrderOutcome
	// Refused is set when the event was not stored because its Change
	// cannot be applied to the order (a refund over the total, say).
	Refused *OrderRefusal
}

// RecordEvents stores a batch of events in one transaction, each as
// RecordEvent does: all are stored, or none is. Events with an id already
// stored (or repeated in the batch) change nothing and come back with
// Inserted false. A new event with an order Change applies it in the same
// transaction, so posting the event again changes the order once; one
// whose change is refused is not stored and comes back with Refused, the
// others are stored all the same.
func (s *Store) RecordEvents(ctx context.Context, batch []NewEvent) ([]Recorded, error) {
	out := make([]Recorded, len(batch))
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Lock every customer of the batch, in one order, so concurrent
		// batches cannot deadlock.
		customers := make([]string, 0, len(batch))
		for _, ne := range batch {
			customers = append(customers, ne.Event.CustomerID)
		}
		slices.Sort(customers)
		customers = slices.Compact(customers)
		for _, c := range customers {
			if err := lockRouting(ctx, tx, c); err != nil {
				return err
			}
		}
		if err := s.refuseErased(ctx, tx, customers...); err != nil {
			return err
		}
		for i, ne := range batch {
			rec, err := recordEvent(ctx, tx, ne)
			if err != nil {
				return fmt.Errorf("event %s: %w", ne.Event.ID, err)
			}
			out[i] = rec
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("record %d events: %w", len(batch), err)
	}
	return out, nil
}

// recordEvent stores an event and its order, or applies the change it
// asks of an order, inside a transaction holding the customer's routing
// lock. A change is worked out before the event is stored, and only for
// an event not stored before: a refused one stores nothing (and runs no
// statement that fails, so the transaction goes on).
func recordEvent(ctx context.Context, tx pgx.Tx, ne NewEvent) (Recorded, error) {
	e := ne.Event
	if len(e.Data) == 0 {
		e.Data = json.RawMessage("{}")
	}
	var rec Recorded
	var next OrderState
	if ne.Change != nil {
		var known bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM events WHERE id = $1)`, e.ID).Scan(&known); err != nil {
			return rec, err
		}
		if !known {
			outcome, state, refused, err := planOrderChange(ctx, tx, e.CustomerID, *ne.Change)
			if err != nil {
				return rec, err
			}
			if refused != nil {
				rec.Refused = refused
				return rec, nil
			}
			rec.Order, next = &outcome, state
		}
	}
	tag, err := tx.Exec(ctx, `
		INSERT INTO events (id, type, customer_id, occurred_at, data)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING`,
		e.ID, e.Type, e.CustomerID, e.OccurredAt, []byte(e.Data))
	if err != nil {
		return rec, err
	}
	rec.Inserted = tag.RowsAffected() == 1
	if rec.Inserted && ne.Order != nil {
		if err := insertOrder(ctx, tx, *ne.Order); err != nil {
			return rec, err
		}
	}
	switch {
	case !rec.Inserted:
		rec.Order = nil
	case rec.Order != nil && rec.Order.Changed:
		if err := applyOrderChange(ctx, tx, e.CustomerID, next); err != nil {
			return rec, err
		}
	}
	rec.Event, err = scanEvent(tx.QueryRow(ctx, `SELECT `+eventColumns+` FROM events WHERE id = $1`, e.ID))
	return rec, err
}

// EventsAfter returns the customer's events stored after the one numbered
// seq, oldest first, at most limit.
func (s *Store) EventsAfter(ctx context.Context, customerID string, seq int64, limit int) ([]Event, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+eventColumns+` FROM events
		WHERE customer_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, customerID, seq, limit)
	if err != nil {
		return nil, fmt.Errorf("events of %s after %d: %w", customerID, seq, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Event, error) { return scanEvent(r) })
}

// LastEventSeq returns the number of the customer's latest stored event,
// or 0 when there is none.
func (s *Store) LastEventSeq(ctx context.Context, customerID string) (int64, error) {
	var seq int64
	err := s.pool.QueryRow(ctx, `SELECT coalesce(max(seq), 0) FROM events WHERE customer_id = $1`, customerID).Scan(&seq)
	if err != nil {
		return 0, fmt.Errorf("last event of %s: %w", customerID, err)
	}
	return seq, nil
}

// insertOrder stores an order (placed unless it says otherwise) and adds
// it to the customer's figures when it counts (OrderCounts), net of what
// was refunded of it.
func insertOrder(ctx context.Context, tx pgx.Tx, o Order) error {
	status := cmp.Or(o.Status, OrderPlaced)
	tag, err := tx.Exec(ctx, `
		INSERT INTO orders (id, customer_id, total, currency, gift, placed_at, status, refunded)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING`,
		o.ID, o.CustomerID, o.Total, o.Currency, o.Gift, o.PlacedAt, status, o.Refunded)
	if err != nil {
		return fmt.Errorf("order %s: %w", o.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return nil
	}
	if OrderCounts(status) {
		_, err = tx.Exec(ctx, `
			UPDATE customers SET orders_count = orders_count + 1, lifetime_value = lifetime_value + $2 - $3,
				last_order_at = greatest(last_order_at, $4)
			WHERE id = $1`, o.CustomerID, o.Total, o.Refunded, o.PlacedAt)
		if err != nil {
			return fmt.Errorf("order %s: customer figures: %w", o.ID, err)
		}
	}
	rows := make([][]any, len(o.Items))
	for i, it := range o.Items {
		rows[i] = []any{o.ID, i + 1, it.ProductID, it.Name, it.Quantity, it.Price}
	}
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"order_items"},
		[]string{"order_id", "line", "product_id", "name", "quantity", "price"}, pgx.CopyFromRows(rows))
	if err != nil {
		return fmt.Errorf("order %s items: %w", o.ID, err)
	}
	return nil
}

const eventColumns = `id, type, customer_id, occurred_at, received_at, data, routed_at, seq`

func scanEvent(row pgx.Row) (Event, error) {
	var e Event
	var data []byte
	err := row.Scan(&e.ID, &e.Type, &e.CustomerID, &e.OccurredAt, &e.ReceivedAt, &data, &e.RoutedAt, &e.Seq)
	e.Data = data
	return e, notFound(err)
}

// GetEvent returns a stored event, or ErrNotFound.
func (s *Store) GetEvent(ctx context.Context, id string) (Event, error) {
	e, err := scanEvent(s.pool.QueryRow(ctx, `SELECT `+eventColumns+` FROM events WHERE id = $1`, id))
	if err != nil {
		return e, fmt.Errorf("get event %s: %w", id, err)
	}
	return e, nil
}

// EventDataRemoved reports whether the retention schedule has removed the
// data of a stored event (see ScrubOldEvents), or ErrNotFound.
func (s *Store) EventDataRemoved(ctx context.Context, id string) (bool, error) {
	var removed bool
	err := s.pool.QueryRow(ctx, `SELECT data_removed_at IS NOT NULL FROM events WHERE id = $1`, id).Scan(&removed)
	if err != nil {
		return false, fmt.Errorf("event %s: %w", id, notFound(err))
	}
	return removed, nil
}

// MarkEventRouted records that every journey concerned by the event has
// been started or told about it.
func (s *Store) MarkEventRouted(ctx context.Context, id string) error {
	_, err := s.pool.Exec(ctx, `UPDATE events SET routed_at = now(), routing_error = '' WHERE id = $1 AND routed_at IS NULL`, id)
	if err != nil {
		return fmt.Errorf("mark event %s routed: %w", id, err)
	}
	return nil
}

// MarkEventRoutingFailed records why routing an event failed; the sweeper
// will try again.
func (s *Store) MarkEventRoutingFailed(ctx context.Context, id string, reason string) error {
	_, err := s.pool.Exec(ctx, `UPDATE events SET routing_error = $2 WHERE id = $1 AND routed_at IS NULL`, id, reason)
	if err != nil {
		return fmt.Errorf("mark event %s routing failure: %w", id, err)
	}
	return nil
}

// UnroutedEvents returns events received before cutoff that are not yet
// routed, oldest first.
func (s *Store) UnroutedEvents(ctx context.Context, cutoff time.Time, limit int) ([]Event, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+eventColumns+` FROM events
		WHERE routed_at IS NULL AND received_at < $1 ORDER BY received_at LIMIT $2`, cutoff, limit)
	if err != nil {
		return nil, fmt.Errorf("unrouted events: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Event, error) { return scanEvent(r) })
}

// GetOrder returns an order with its items, or ErrNotFound.
func (s *Store) GetOrder(ctx context.Context, id string) (Order, error) {
	var o Order
	err := s.pool.QueryRow(ctx, `SELECT id, customer_id, total, currency, gift, placed_at, status, refunded FROM orders WHERE id = $1`, id).
		Scan(&o.ID, &o.CustomerID, &o.Total, &o.Currency, &o.Gift, &o.PlacedAt, &o.Status, &o.Refunded)
	if err != nil {
		return o, fmt.Errorf("get order %s: %w", id, notFound(err))
	}
	rows, err := s.pool.Query(ctx, `SELECT product_id, name, quantity, price FROM order_items WHERE order_id = $1 ORDER BY line`, id)
	if err != nil {
		return o, fmt.Errorf("get order %s items: %w", id, err)
	}
	o.Items, err = pgx.CollectRows(rows, pgx.RowToStructByPos[Item])
	if err != nil {
		return o, fmt.Errorf("get order %s items: %w", id, err)
	}
	return o, nil
}

// RecordOrder stores an order without an event (order history loaded from
// elsewhere). It reports whether the order was new; an order id already
// stored is left as it was.
func (s *Store) RecordOrder(ctx context.Context, o Order) (inserted bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM orders WHERE id = $1)`, o.ID).Scan(&exists); err != nil {
			return err
		}
		if exists {
			return nil
		}
		inserted = true
		return insertOrder(ctx, tx, o)
	})
	if err != nil {
		return false, fmt.Errorf("record order %s: %w", o.ID, err)
	}
	return inserted, nil
}

// RecentOrders returns a customer's latest orders with their items, newest
// first.
func (s *Store) RecentOrders(ctx context.Context, customerID string, limit int) ([]Order, error) {
	rows, err := s.pool.Query(ctx, `SELECT id FROM orders WHERE customer_id = $1 ORDER BY placed_at DESC, id LIMIT $2`, customerID, limit)
	if err != nil {
		return nil, fmt.Errorf("recent orders of %s: %w", customerID, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	out := make([]Order, 0, len(ids))
	for _, id := range ids {
		o, err := s.GetOrder(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}
