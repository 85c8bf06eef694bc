package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rapporthq/rapport/internal/journey"
)

// Prospect is a customer as an audience scan sees them: the facts an
// audience condition is evaluated against, and the number of their latest
// event, read in the same snapshot as the facts (see Run.FromSeq).
type Prospect struct {
	Facts        journey.Customer
	LastEventSeq int64
}

// AudienceArgBase is the number of the first placeholder a ScanCustomers
// filter may use ($1 and $2 are the scan's own).
const AudienceArgBase = 3

// Page is one page of an audience scan.
type Page struct {
	// Prospects are the customers of the page the filter selects.
	Prospects []Prospect
	// Scanned counts the customers of the page; Last is the id of its last
	// one, where the next page starts.
	Scanned int
	Last    string
}

// ScanCustomers reads the next page of customers: the limit customers
// after the id after, in id order (keyset pagination on the primary key),
// and of those the ones for whom the SQL filter where holds. Each page
// costs two index range scans however few customers match. where is a
// boolean over customers aliased c (and their customer_engagement row
// aliased ce, joined on the primary key: NULLs when there is none) whose
// placeholders start at AudienceArgBase; it comes from
// audience.Translate, never from user text. Facts are computed as of now
// from the order figures kept on the customer, and the engagement of the
// page's prospects read after them.
func (s *Store) ScanCustomers(ctx context.Context, after string, limit int, where string, args []any, now time.Time) (Page, error) {
	var page Page
	var last *string
	err := s.pool.QueryRow(ctx, `SELECT count(*), max(id) FROM (SELECT id FROM customers WHERE id > $1 ORDER BY id LIMIT $2) p`,
		after, limit).Scan(&page.Scanned, &last)
	if err != nil {
		return page, fmt.Errorf("scan customers after %q: %w", after, err)
	}
	if last == nil {
		return page, nil
	}
	page.Last = *last
	if where == "" {
		where = "true"
	}
	rows, err := s.pool.Query(ctx, `
		SELECT c.id, c.locale, c.time_zone, c.country,
			coalesce(c.email, '') <> '', coalesce(c.phone, '') <> '',
			c.address_line1 <> '' AND c.city <> '' AND c.postal_code <> '' AND c.country <> '' AND (c.country <> 'US' OR c.region <> ''),
			c.orders_count, c.lifetime_value::float8, c.last_order_at, c.attributes,
			coalesce((SELECT channel_order FROM customer_settings st WHERE st.customer_id = c.id), '{}'),
			coalesce((SELECT max(seq) FROM events e WHERE e.customer_id = c.id), 0)
		FROM customers c LEFT JOIN customer_engagement ce ON ce.customer_id = c.id
		WHERE c.id > $1 AND c.id <= $2 AND (`+where+`)
		ORDER BY c.id`, append([]any{after, page.Last}, args...)...)
	if err != nil {
		return page, fmt.Errorf("scan customers after %q: %w", after, err)
	}
	var (
		p     Prospect
		lastO *time.Time
		attrs []byte
	)
	f := &p.Facts
	_, err = pgx.ForEachRow(rows, []any{&f.ID, &f.Locale, &f.TimeZone, &f.Country, &f.HasEmail, &f.HasPhone,
		&f.HasPostalAddress, &f.OrdersCount, &f.LifetimeValue, &lastO, &attrs, &f.PreferredChannels, &p.LastEventSeq}, func() error {
		f.Attributes = nil
		if err := json.Unmarshal(attrs, &f.Attributes); err != nil {
			return fmt.Errorf("customer %s attributes: %w", f.ID, err)
		}
		f.Tags = tagsOf(f.Attributes)
		f.DaysSinceLastOrder = daysSince(lastO, now)
		page.Prospects = append(page.Prospects, p)
		return nil
	})
	if err != nil {
		return page, fmt.Errorf("scan customers after %q: %w", after, err)
	}
	if len(page.Prospects) > 0 {
		ids := make([]string, len(page.Prospects))
		for i, p := range page.Prospects {
			ids[i] = p.Facts.ID
		}
		engagement, err := engagementFacts(ctx, s.pool, ids, now)
		if err != nil {
			return page, fmt.Errorf("scan customers after %q: %w", after, err)
		}
		for i := range page.Prospects {
			page.Prospects[i].Facts.Engagement = engagement[page.Prospects[i].Facts.ID]
		}
	}
	return page, nil
}

// tagsOf returns the string elements of attributes.tags.
func tagsOf(attrs map[string]any) []string {
	tags := []string{}
	if list, ok := attrs["tags"].([]any); ok {
		for _, t := range list {
			if s, ok := t.(string); ok {
				tags = append(tags, s)
			}
		}
	}
	return tags
}

// daysSince is days_since_last_order: whole days from the last order to
// now, or -1 when there was none.
func daysSince(last *time.Time, now time.Time) int64 {
	if last == nil {
		return -1
	}
	return int64(now.Sub(*last) / (24 * time.Hour))
}
