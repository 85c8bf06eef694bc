package store

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// Export (GDPR art. 15 access, art. 20 portability) writes everything
// Rapport's database holds about one customer as one JSON document. Rows
// are written as the database holds them (every column, by its column
// name), so a column added later is exported without anyone remembering
// to; each list is one row per line, so a large export streams and reads
// well.

// ExportFormat names the layout of an export document; it changes when
// the layout changes in a way a reader would notice.
const ExportFormat = "rapport.customer-export/v1"

// DefaultExportLimit is how many rows each list of an export holds at
// most; past it the list is cut and the document's "truncated" says so.
const DefaultExportLimit = 100_000

// ExportOptions shape an export.
type ExportOptions struct {
	// Limit caps each list (DefaultExportLimit when 0 or less).
	Limit int
	// Extra are members added to the document after the database's, such
	// as the customer's journeys as Temporal knows them. Each value is
	// encoded as JSON.
	Extra []ExportMember
	// Now is the export's time (time.Now when nil).
	Now func() time.Time
}

// ExportMember is a named member of an export document.
type ExportMember struct {
	Name  string
	Value any
}

// ExportTruncation says that a list of an export was cut at the limit.
type ExportTruncation struct {
	// List names the list: "events", "preferences.consent_events"...
	List     string `json:"list"`
	Included int    `json:"included"`
	Total    int64  `json:"total"`
}

// ExportTables says where each table of the schema appears in an export:
// every table must be listed (a test holds the schema to it), so a table
// added later is exported, or deliberately left out, by decision.
var ExportTables = map[string]string{
	"customers":               "customer",
	"orders":                  "orders",
	"order_items":             "orders[].items",
	"events":                  "events",
	"messages":                "messages (and held_messages, those held now)",
	"message_holds":           "messages[].holds, held_messages[].holds",
	"consent_events":          "preferences.consent_events",
	"topic_events":            "preferences.topic_events",
	"customer_settings":       "preferences.settings",
	"settings_events":         "preferences.settings_events",
	"suppressions":            "suppressions (of the customer's addresses and every address a message went to)",
	"suppression_events":      "suppression_events (of the same addresses)",
	"vouchers":                "vouchers",
	"survey_answers":          "survey_answers",
	"tasks":                   "tasks",
	"split_assignments":       "split_assignments",
	"journey_runs":            "journey_runs",
	"journey_conversions":     "journey_conversions (the runs of theirs that met their journey's goal)",
	"run_steps":               "run_steps (the steps their runs reached)",
	"erasures":                "erasures (earlier erasures of the same id, found by its keyed hash)",
	"products":                "not exported: no customer data",
	"fanouts":                 "not exported: no customer data (events posted without a customer)",
	"complements":             "not exported: no customer data",
	"webhook_events":          "not exported: no customer data (provider event ids)",
	"api_keys":                "not exported: no customer data",
	"template_versions":       "not exported: no customer data (the words of templates)",
	"journey_plans":           "not exported: no customer data (plan hashes)",
	"journey_catalogs":        "not exported: no customer data (journey names and plan hashes)",
	"webhook_failures":        "not exported: no customer data (when a provider's webhook post was last not taken)",
	"shopify_shop_redactions": "not exported: no customer data (a Shopify shop's domain, and counts)",
	"goose_db_version":        "not exported: no customer data",

	// What the providers reported back about the customer's messages.
	"customer_engagement":      "customer_engagement (one row)",
	"customer_engagement_days": "customer_engagement_days (the counts of the last 30 days)",
}

// exportList is one list of the export: a query whose rows are JSON
// values, and a query counting them all.
type exportList struct {
	name  string
	query string // selects one jsonb per row; the limit is its last argument
	count string
	args  []any
}

// ExportCustomer writes the export document of a customer to w: their
// profile, orders with items, events with data, messages with their
// content and holds, messages held now and why, preferences with their
// history and evidence, suppressions of their addresses, vouchers, survey
// answers, tasks, split assignments, journey runs and earlier erasures of
// their id, then opts.Extra. Everything is read in one read-only snapshot.
// It returns ErrNotFound, having written nothing, when there is no such
// customer. An error after writing began leaves the document unfinished
// (not valid JSON), never a shorter valid one.
func (s *Store) ExportCustomer(ctx context.Context, w io.Writer, customerID string, opts ExportOptions) error {
	limit := opts.Limit
	if limit <= 0 {
		limit = DefaultExportLimit
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var profile []byte
		if err := tx.QueryRow(ctx, `SELECT to_jsonb(c) FROM customers c WHERE c.id = $1`, customerID).Scan(&profile); err != nil {
			return notFound(err)
		}
		prefs, err := getPreferences(ctx, tx, customerID)
		if err != nil {
			return err
		}
		addresses, err := customerAddresses(ctx, tx, customerID)
		if err != nil {
			return err
		}
		var channels, forms []string
		for _, a := range addresses {
			for _, f := range s.addressForms(a[0], a[1]) {
				channels, forms = append(channels, a[0]), append(forms, f)
			}
		}

		ew := &exportWriter{w: bufio.NewWriterSize(w, 64<<10), limit: limit, tx: tx, truncated: []ExportTruncation{}}
		ew.raw("{")
		ew.first = true
		ew.member("format", ExportFormat)
		ew.member("exported_at", now().UTC())
		ew.member("customer_id", customerID)
		ew.member("list_limit", limit)
		ew.key("customer")
		ew.raw(string(profile))

		id := []any{customerID}
		holds := `coalesce((SELECT jsonb_agg(to_jsonb(h) - 'message_id' ORDER BY h.id) FROM message_holds h WHERE h.message_id = m.id), '[]'::jsonb)`
		for _, l := range []exportList{
			{name: "orders", args: id,
				query: `SELECT to_jsonb(o) || jsonb_build_object('items', coalesce((SELECT jsonb_agg(to_jsonb(i) - 'order_id' ORDER BY i.line)
					FROM order_items i WHERE i.order_id = o.id), '[]'::jsonb))
					FROM orders o WHERE o.customer_id = $1 ORDER BY o.placed_at, o.id LIMIT $2`,
				count: `SELECT count(*) FROM orders WHERE customer_id = $1`},
			{name: "events", args: id,
				query: `SELECT to_jsonb(e) FROM events e WHERE e.customer_id = $1 ORDER BY e.seq LIMIT $2`,
				count: `SELECT count(*) FROM events WHERE customer_id = $1`},
			{name: "messages", args: id,
				query: `SELECT to_jsonb(m) || jsonb_build_object('holds', ` + holds + `)
					FROM messages m WHERE m.customer_id = $1 ORDER BY m.created_at, m.id LIMIT $2`,
				count: `SELECT count(*) FROM messages WHERE customer_id = $1`},
			{name: "held_messages", args: id,
				query: `SELECT jsonb_build_object('message_id', m.id, 'journey', m.journey, 'step_id', m.step_id, 'channel', m.channel,
						'template', m.template, 'reason', m.reason, 'policy_at', m.policy_at, 'created_at', m.created_at, 'holds', ` + holds + `)
					FROM messages m WHERE m.customer_id = $1 AND m.status = 'held' ORDER BY m.created_at, m.id LIMIT $2`,
				count: `SELECT count(*) FROM messages WHERE customer_id = $1 AND status = 'held'`},
		} {
			ew.list(ctx, l)
		}

		ew.key("preferences")
		ew.raw("{")
		ew.first = true
		ew.member("current", prefs)
		var settings []byte
		switch err := tx.QueryRow(ctx, `SELECT to_jsonb(s) FROM customer_settings s WHERE s.customer_id = $1`, customerID).Scan(&settings); {
		case errors.Is(err, pgx.ErrNoRows):
			settings = []byte("null")
		case err != nil:
			return err
		}
		ew.key("settings")
		ew.raw(string(settings))
		for _, l := range []exportList{
			{name: "consent_events", args: id,
				query: `SELECT to_jsonb(e) FROM consent_events e WHERE e.customer_id = $1 ORDER BY e.id LIMIT $2`,
				count: `SELECT count(*) FROM consent_events WHERE customer_id = $1`},
			{name: "topic_events", args: id,
				query: `SELECT to_jsonb(e) FROM topic_events e WHERE e.customer_id = $1 ORDER BY e.id LIMIT $2`,
				count: `SELECT count(*) FROM topic_events WHERE customer_id = $1`},
			{name: "settings_events", args: id,
				query: `SELECT to_jsonb(e) FROM settings_events e WHERE e.customer_id = $1 ORDER BY e.id LIMIT $2`,
				count: `SELECT count(*) FROM settings_events WHERE customer_id = $1`},
		} {
			ew.prefix = "preferences."
			ew.list(ctx, l)
		}
		ew.prefix = ""
		ew.raw("}")
		ew.first = false

		byAddress := []any{channels, forms}
		lists := []exportList{
			{name: "suppressions", args: byAddress,
				query: `SELECT to_jsonb(s) FROM suppressions s JOIN unnest($1::text[], $2::text[]) AS a(channel, address)
					ON s.channel = a.channel AND s.address = a.address ORDER BY s.created_at, s.channel, s.address LIMIT $3`,
				count: `SELECT count(*) FROM suppressions s JOIN unnest($1::text[], $2::text[]) AS a(channel, address)
					ON s.channel = a.channel AND s.address = a.address`},
			{name: "suppression_events", args: byAddress,
				query: `SELECT to_jsonb(s) FROM suppression_events s JOIN unnest($1::text[], $2::text[]) AS a(channel, address)
					ON s.channel = a.channel AND s.address = a.address ORDER BY s.id LIMIT $3`,
				count: `SELECT count(*) FROM suppression_events s JOIN unnest($1::text[], $2::text[]) AS a(channel, address)
					ON s.channel = a.channel AND s.address = a.address`},
		}
		lists = append(lists, exportList{name: "run_steps", args: id,
			query: `SELECT to_jsonb(s) FROM run_steps s JOIN journey_runs r USING (workflow_id) WHERE r.customer_id = $1
				ORDER BY s.reached_at, s.workflow_id, s.step_id LIMIT $2`,
			count: `SELECT count(*) FROM run_steps s JOIN journey_runs r USING (workflow_id) WHERE r.customer_id = $1`})
		for _, table := range []struct{ name, order string }{
			{"vouchers", "issued_at, code"},
			{"survey_answers", "answered_at, survey_id"},
			{"tasks", "created_at, id"},
			{"split_assignments", "assigned_at, workflow_id, step_id"},
			{"journey_runs", "started_at, workflow_id"},
			{"customer_engagement", "customer_id"},
			{"customer_engagement_days", "day"},
			{"journey_conversions", "converted_at, workflow_id"},
		} {
			// The table names and orders are the constants above.
			lists = append(lists, exportList{name: table.name, args: id,
				query: `SELECT to_jsonb(t) FROM ` + table.name + ` t WHERE t.customer_id = $1 ORDER BY ` + table.order + ` LIMIT $2`,
				count: `SELECT count(*) FROM ` + table.name + ` WHERE customer_id = $1`})
		}
		hash := "" // no key: nothing can have been erased
		if s.hash != nil {
			hash, _ = s.CustomerHash(customerID)
		}
		// Only erasures of this registration: one of an earlier customer
		// with the same id belongs to that person, not to this one.
		const sinceRegistered = `customer_hash = $2 AND requested_at >= (SELECT created_at FROM customers WHERE id = $1)`
		lists = append(lists, exportList{name: "erasures", args: []any{customerID, hash},
			query: `SELECT to_jsonb(e) FROM erasures e WHERE ` + sinceRegistered + ` ORDER BY e.requested_at, e.id LIMIT $3`,
			count: `SELECT count(*) FROM erasures WHERE ` + sinceRegistered})
		for _, l := range lists {
			ew.list(ctx, l)
		}

		for _, m := range opts.Extra {
			ew.member(m.Name, m.Value)
		}
		ew.member("truncated", ew.truncated)
		ew.raw("\n}\n")
		if ew.err != nil {
			return ew.err
		}
		return ew.w.Flush()
	})
	if err != nil {
		return fmt.Errorf("export customer %s: %w", customerID, err)
	}
	return nil
}

// exportWriter writes an export document, remembering the first error.
type exportWriter struct {
	w         *bufio.Writer
	tx        pgx.Tx
	limit     int
	first     bool   // the next member is the first of its object
	prefix    string // of list names in truncation records
	truncated []ExportTruncation
	err       error
}

func (e *exportWriter) raw(s string) {
	if e.err == nil {
		_, e.err = e.w.WriteString(s)
	}
}

// key starts a member of the current object, on a line of its own.
func (e *exportWriter) key(name string) {
	if e.first {
		e.raw("\n")
		e.first = false
	} else {
		e.raw(",\n")
	}
	e.raw(strconv.Quote(name) + ":")
}

// member writes a member with v encoded as JSON.
func (e *exportWriter) member(name string, v any) {
	b, err := json.Marshal(v)
	if err != nil && e.err == nil {
		e.err = fmt.Errorf("%s: %w", name, err)
	}
	if e.err != nil {
		return
	}
	e.key(name)
	e.raw(string(b))
}

// list writes a member holding the rows of l, one per line, at most the
// limit, recording a truncation when there were more.
func (e *exportWriter) list(ctx context.Context, l exportList) {
	if e.err != nil {
		return
	}
	e.key(l.name)
	e.raw("[")
	rows, err := e.tx.Query(ctx, l.query, append(slices.Clone(l.args), e.limit+1)...)
	if err != nil {
		e.err = fmt.Errorf("%s: %w", l.name, err)
		return
	}
	n := 0
	var row []byte
	_, err = pgx.ForEachRow(rows, []any{&row}, func() error {
		n++
		if n > e.limit {
			return nil // the one past the limit only says there are more
		}
		if n > 1 {
			e.raw(",")
		}
		e.raw("\n")
		e.raw(string(row))
		return e.err
	})
	if err != nil {
		e.err = fmt.Errorf("%s: %w", l.name, err)
		return
	}
	if n > 0 {
		e.raw("\n")
	}
	e.raw("]")
	if n > e.limit {
		var total int64
		if err := e.tx.QueryRow(ctx, l.count, l.args...).Scan(&total); err != nil {
			e.err = fmt.Errorf("%s: count: %w", l.name, err)
			return
		}
		e.truncated = append(e.truncated, ExportTruncation{List: e.prefix + l.name, Included: e.limit, Total: total})
	}
}
