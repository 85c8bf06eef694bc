package store

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/money"
)

// Customer is a shop's customer, contact details included.
type Customer struct {
	ID    string `json:"id"`
	Email string `json:"email,omitempty"`
	Phone string `json:"phone,omitempty"`
	// PhoneE164 is the phone number in E.164 form, when it is a valid one.
	PhoneE164  string         `json:"phone_e164,omitempty"`
	Name       string         `json:"name,omitempty"`
	Locale     string         `json:"locale,omitempty"`
	TimeZone   string         `json:"time_zone,omitempty"`
	Address    Address        `json:"address"`
	Attributes map[string]any `json:"attributes"`
	CreatedAt  time.Time      `json:"created_at"`
	UpdatedAt  time.Time      `json:"updated_at"`
}

// Address is a postal address.
type Address struct {
	Line1      string `json:"line1"`
	Line2      string `json:"line2,omitempty"`
	City       string `json:"city"`
	State      string `json:"state,omitempty"`
	PostalCode string `json:"postal_code"`
	Country    string `json:"country"`
}

// Complete reports whether letters can be addressed with it: a street,
// a city, a postal code and a country, and for the US a state.
func (a Address) Complete() bool {
	ok := a.Line1 != "" && a.City != "" && a.PostalCode != "" && a.Country != ""
	if a.Country == "US" {
		ok = ok && a.State != ""
	}
	return ok
}

// FirstName is the first word of the name, for greetings.
func (c Customer) FirstName() string {
	for i, r := range c.Name {
		if r == ' ' {
			return c.Name[:i]
		}
	}
	return c.Name
}

const customerColumns = `id, coalesce(email, ''), coalesce(phone, ''), coalesce(phone_e164, ''), name, locale, time_zone,
	address_line1, address_line2, city, region, postal_code, country, attributes, created_at, updated_at`

func scanCustomer(row pgx.Row) (Customer, error) {
	var c Customer
	var attrs []byte
	err := row.Scan(&c.ID, &c.Email, &c.Phone, &c.PhoneE164, &c.Name, &c.Locale, &c.TimeZone,
		&c.Address.Line1, &c.Address.Line2, &c.Address.City, &c.Address.State, &c.Address.PostalCode, &c.Address.Country,
		&attrs, &c.CreatedAt, &c.UpdatedAt)
	if err != nil {
		return c, notFound(err)
	}
	if err := json.Unmarshal(attrs, &c.Attributes); err != nil {
		return c, fmt.Errorf("customer %s attributes: %w", c.ID, err)
	}
	return c, nil
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// UpsertCustomer creates the customer or replaces every field of an
// existing one. It reports whether the customer was new.
func (s *Store) UpsertCustomer(ctx context.Context, c Customer) (created bool, err error) {
	return upsertCustomer(ctx, s.pool, c)
}

func upsertCustomer(ctx context.Context, q querier, c Customer) (created bool, err error) {
	attrs := c.Attributes
	if attrs == nil {
		attrs = map[string]any{}
	}
	attrJSON, err := json.Marshal(attrs)
	if err != nil {
		return false, fmt.Errorf("customer attributes: %w", err)
	}
	err = q.QueryRow(ctx, `
		INSERT INTO customers (id, email, phone, name, locale, time_zone,
			address_line1, address_line2, city, region, postal_code, country, attributes, phone_e164)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
		ON CONFLICT (id) DO UPDATE SET
			email = EXCLUDED.email, phone = EXCLUDED.phone, phone_e164 = EXCLUDED.phone_e164, name = EXCLUDED.name,
			locale = EXCLUDED.locale, time_zone = EXCLUDED.time_zone,
			address_line1 = EXCLUDED.address_line1, address_line2 = EXCLUDED.address_line2,
			city = EXCLUDED.city, region = EXCLUDED.region, postal_code = EXCLUDED.postal_code,
			country = EXCLUDED.country, attributes = EXCLUDED.attributes, updated_at = now()
		RETURNING (xmax = 0)`,
		c.ID, nullIfEmpty(c.Email), nullIfEmpty(c.Phone), c.Name, c.Locale, c.TimeZone,
		c.Address.Line1, c.Address.Line2, c.Address.City, c.Address.State, c.Address.PostalCode, c.Address.Country,
		attrJSON, nullIfEmpty(c.PhoneE164)).Scan(&created)
	if err != nil {
		return false, fmt.Errorf("upsert customer %s: %w", c.ID, err)
	}
	return created, nil
}

// GetCustomer returns a customer, or ErrNotFound.
func (s *Store) GetCustomer(ctx context.Context, id string) (Customer, error) {
	c, err := scanCustomer(s.pool.QueryRow(ctx, `SELECT `+customerColumns+` FROM customers WHERE id = $1`, id))
	if err != nil {
		return c, fmt.Errorf("get customer %s: %w", id, err)
	}
	return c, nil
}

// CustomerFacts returns what journeys may know about a customer at now: no
// contact details, but whether each channel has one, order history
// figures, and engagement.
func (s *Store) CustomerFacts(ctx context.Context, id string, now time.Time) (journey.Customer, error) {
	c, err := s.GetCustomer(ctx, id)
	if err != nil {
		return journey.Customer{}, err
	}
	f := journey.Customer{
		ID:               c.ID,
		Locale:           c.Locale,
		TimeZone:         c.TimeZone,
		Country:          c.Address.Country,
		HasEmail:         c.Email != "",
		HasPhone:         c.Phone != "",
		HasPostalAddress: c.Address.Complete(),
		Attributes:       c.Attributes,
		Tags:             tagsOf(c.Attributes),
	}
	if err := s.pool.QueryRow(ctx, `SELECT channel_order FROM customer_settings WHERE customer_id = $1`, id).Scan(&f.PreferredChannels); err != nil && err != pgx.ErrNoRows {
		return f, fmt.Errorf("customer %s channel order: %w", id, err)
	}
	// The figures count the orders that count (OrderCounts), as those
	// kept on the customer for audiences do.
	var last *time.Time
	err = s.pool.QueryRow(ctx, `
		SELECT count(*), coalesce(sum(o.total - o.refunded), 0)::float8, max(o.placed_at)
		FROM orders o WHERE o.customer_id = $1 AND o.placed_at <= $2 AND `+countedOrder, id, now).
		Scan(&f.OrdersCount, &f.LifetimeValue, &last)
	if err != nil {
		return f, fmt.Errorf("customer %s order figures: %w", id, err)
	}
	f.DaysSinceLastOrder = daysSince(last, now)
	if f.Orders, err = s.orderFacts(ctx, id, now); err != nil {
		return f, err
	}
	if f.Surveys, err = s.surveyFacts(ctx, id, now); err != nil {
		return f, err
	}
	engagement, err := engagementFacts(ctx, s.pool, []string{id}, now)
	if err != nil {
		return f, err
	}
	f.Engagement = engagement[id]
	return f, nil
}

// surveyFacts returns a customer's latest survey answers given by now,
// newest first (journey.MaxFactSurveys of them).
func (s *Store) surveyFacts(ctx context.Context, customerID string, now time.Time) ([]journey.SurveyAnswer, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT survey, score, order_id, source, answered_at FROM survey_answers
		WHERE customer_id = $1 AND answered_at <= $2
		ORDER BY answered_at DESC, survey_id LIMIT $3`, customerID, now, journey.MaxFactSurveys)
	if err != nil {
		return nil, fmt.Errorf("customer %s survey answers: %w", customerID, err)
	}
	out := []journey.SurveyAnswer{}
	var a journey.SurveyAnswer
	_, err = pgx.ForEachRow(rows, []any{&a.Survey, &a.Score, &a.OrderID, &a.Source, &a.AnsweredAt}, func() error {
		a.AnsweredAt = a.AnsweredAt.UTC()
		out = append(out, a)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("customer %s survey answers: %w", customerID, err)
	}
	return out, nil
}

// orderFacts returns a customer's latest orders placed by now, newest
// first, as journeys see them (journey.MaxFactOrders of them, each with
// its first journey.MaxFactItems items), in one query. Cancelled and
// refunded orders are among them, with their status.
func (s *Store) orderFacts(ctx context.Context, customerID string, now time.Time) ([]journey.Order, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT o.id, o.total::float8, o.currency, o.gift, o.placed_at, o.status, o.refunded::float8,
			coalesce((SELECT json_agg(json_build_object('product_id', i.product_id, 'name', i.name,
					'quantity', i.quantity, 'price', i.price::float8) ORDER BY i.line)
				FROM (SELECT * FROM order_items WHERE order_id = o.id ORDER BY line LIMIT $4) i), '[]'::json)
		FROM orders o WHERE o.customer_id = $1 AND o.placed_at <= $2
		ORDER BY o.placed_at DESC, o.id LIMIT $3`, customerID, now, journey.MaxFactOrders, journey.MaxFactItems)
	if err != nil {
		return nil, fmt.Errorf("customer %s recent orders: %w", customerID, err)
	}
	orders := []journey.Order{}
	var o journey.Order
	var items []byte
	_, err = pgx.ForEachRow(rows, []any{&o.ID, &o.Total, &o.Currency, &o.Gift, &o.PlacedAt, &o.Status, &o.Refunded, &items}, func() error {
		o.Items = nil
		if err := json.Unmarshal(items, &o.Items); err != nil {
			return fmt.Errorf("order %s items: %w", o.ID, err)
		}
		o.PlacedAt = o.PlacedAt.UTC()
		orders = append(orders, o)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("customer %s recent orders: %w", customerID, err)
	}
	return orders, nil
}

// KnownCustomers reports which of the ids are customers.
func (s *Store) KnownCustomers(ctx context.Context, ids []string) (map[string]bool, error) {
	rows, err := s.pool.Query(ctx, `SELECT id FROM customers WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("look up %d customers: %w", len(ids), err)
	}
	known := make(map[string]bool, len(ids))
	var id string
	_, err = pgx.ForEachRow(rows, []any{&id}, func() error { known[id] = true; return nil })
	if err != nil {
		return nil, fmt.Errorf("look up %d customers: %w", len(ids), err)
	}
	return known, nil
}

// CustomerRow is a customer as CopyCustomers loads it: contact details
// and the order figures kept on the customer (what audience scans read),
// with no orders behind them.
type CustomerRow struct {
	ID, Email, Name, Locale, TimeZone, Country string
	OrdersCount                                int
	LifetimeValue                              money.Amount
	LastOrderAt                                *time.Time
}

// CopyCustomers loads customers in bulk with COPY, for the bench's
// generated crowds, then ANALYZEs the table so the planner knows its new
// size. It returns how many it loaded. An id already stored fails the
// whole copy; nothing is loaded then.
func (s *Store) CopyCustomers(ctx context.Context, rows iter.Seq[CustomerRow]) (int64, error) {
	next, stop := iter.Pull(rows)
	defer stop()
	n, err := s.pool.CopyFrom(ctx, pgx.Identifier{"customers"},
		[]string{"id", "email", "name", "locale", "time_zone", "country", "orders_count", "lifetime_value", "last_order_at"},
		pgx.CopyFromFunc(func() ([]any, error) {
			c, ok := next()
			if !ok {
				return nil, nil
			}
			return []any{c.ID, nullIfEmpty(c.Email), c.Name, c.Locale, c.TimeZone, c.Country, c.OrdersCount, c.LifetimeValue, c.LastOrderAt}, nil
		}))
	if err != nil {
		return 0, fmt.Errorf("copy customers: %w", err)
	}
	if _, err := s.pool.Exec(ctx, "ANALYZE customers"); err != nil {
		return n, fmt.Errorf("analyze customers: %w", err)
	}
	return n, nil
}
