package audience_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/audience"
	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/money"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/store/storetest"
)

func newEnv(t testing.TB) *journey.Env {
	t.Helper()
	e, err := journey.NewEnv()
	require.NoError(t, err)
	return e
}

const day = 24 * time.Hour

// TestTranslate pins the SQL of each form that translates, and what is
// left to CEL.
func TestTranslate(t *testing.T) {
	e := newEnv(t)
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	for _, tc := range []struct {
		expr  string
		where string
		args  []any
		exact bool
		sql   []string
		cel   []string
	}{
		// lapse-winback's audience.
		{
			expr:  "days_since_last_order >= 90 && orders_count >= 1",
			where: "(c.last_order_at IS NOT NULL AND (c.last_order_at <= $3::timestamptz)) AND (c.orders_count >= $4::bigint)",
			args:  []any{ago(90 * day), int64(1)},
			exact: true, sql: []string{"days_since_last_order >= 90", "orders_count >= 1"},
		},
		{
			expr:  `customer.country == "GB" && lifetime_value > 100`,
			where: "(c.country = $3::text) AND (c.lifetime_value::float8 > $4::float8)",
			args:  []any{"GB", 100.0},
			exact: true, sql: []string{`customer.country == "GB"`, "lifetime_value > 100"},
		},
		{
			expr:  `"GB" != country && 2.5 < orders_count && id <= "c_5"`,
			where: `(c.country <> $3::text) AND (c.orders_count::float8 > $4::float8) AND (c.id COLLATE "C" <= $5::text)`,
			args:  []any{"GB", 2.5, "c_5"},
			exact: true, sql: []string{`"GB" != country`, "2.5 < orders_count", `id <= "c_5"`},
		},
		{
			expr:  `"vip" in tags && has_email && !customer.has_phone`,
			where: "coalesce(c.attributes->'tags' @> jsonb_build_array($3::text), false) AND (c.email IS NOT NULL AND c.email <> '') AND (NOT (c.phone IS NOT NULL AND c.phone <> ''))",
			args:  []any{"vip"},
			exact: true, sql: []string{`"vip" in tags`, "has_email", "!customer.has_phone"},
		},
		{
			expr:  `country in ["GB", "FR"] || has_phone == false`,
			where: "((c.country = ANY($3::text[])) OR (NOT (c.phone IS NOT NULL AND c.phone <> '')))",
			args:  []any{[]string{"GB", "FR"}},
			exact: true, sql: []string{`country in ["GB", "FR"] || has_phone == false`},
		},
		{
			expr:  "orders_count in [0, 2] && lifetime_value in [10, 20.5]",
			where: "(c.orders_count = ANY($3::bigint[])) AND (c.lifetime_value::float8 = ANY($4::float8[]))",
			args:  []any{[]int64{0, 2}, []float64{10, 20.5}},
			exact: true, sql: []string{"orders_count in [0, 2]", "lifetime_value in [10, 20.5]"},
		},
		// Customers without orders (-1) are decided in Go.
		{
			expr:  "days_since_last_order < 30",
			where: "(c.last_order_at IS NULL OR NOT (c.last_order_at <= $3::timestamptz))",
			args:  []any{ago(30 * day)},
			exact: true, sql: []string{"days_since_last_order < 30"},
		},
		{
			expr:  "days_since_last_order == 0",
			where: "(c.last_order_at IS NOT NULL AND ((c.last_order_at <= $3::timestamptz) AND NOT (c.last_order_at <= $4::timestamptz)))",
			args:  []any{now.Add(day - time.Microsecond), ago(day)},
			exact: true, sql: []string{"days_since_last_order == 0"},
		},
		{
			expr:  "days_since_last_order > 89.5",
			where: "(c.last_order_at IS NOT NULL AND (c.last_order_at <= $3::timestamptz))",
			args:  []any{ago(90 * day)},
			exact: true, sql: []string{"days_since_last_order > 89.5"},
		},
		{
			expr:  "days_since_last_order in [7.5, -1]",
			where: "((c.last_order_at IS NOT NULL AND false) OR (c.last_order_at IS NULL OR ((c.last_order_at <= $3::timestamptz) AND NOT (c.last_order_at <= $4::timestamptz))))",
			args:  []any{now.Add(2*day - time.Microsecond), now.Add(day - time.Microsecond)},
			exact: true, sql: []string{"days_since_last_order in [7.5, -1]"},
		},
		{
			expr:  "90 <= days_since_last_order",
			where: "(c.last_order_at IS NOT NULL AND (c.last_order_at <= $3::timestamptz))",
			args:  []any{ago(90 * day)},
			exact: true, sql: []string{"90 <= days_since_last_order"},
		},
		// Engagement: days since a moment of the customer_engagement row
		// (ce; -1, NULL, for never), counts of the window's days.
		{
			expr: "customer.engagement.email.days_since_engaged >= 180 && engagement.email.opens_30d == 0 && engagement.email.bounces < 1",
			where: "(GREATEST(ce.email_last_open_at, ce.email_last_click_at) IS NOT NULL AND (GREATEST(ce.email_last_open_at, ce.email_last_click_at) <= $3::timestamptz)) AND " +
				"((SELECT coalesce(sum(d.email_opens), 0) FROM customer_engagement_days d WHERE d.customer_id = c.id AND d.day BETWEEN $4::date AND $5::date) = $6::bigint) AND " +
				"(coalesce(ce.email_bounces, 0) < $7::bigint)",
			args:  []any{ago(180 * day), time.Date(2026, 10, 24, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC), int64(0), int64(1)},
			exact: true, sql: []string{"customer.engagement.email.days_since_engaged >= 180", "engagement.email.opens_30d == 0", "engagement.email.bounces < 1"},
		},
		{
			expr:  `engagement.sms.days_since_reply == -1 && engagement.email.last_open_at < timestamp("2026-01-01T00:00:00Z")`,
			where: "(ce.sms_last_reply_at IS NULL OR ((ce.sms_last_reply_at <= $3::timestamptz) AND NOT (ce.sms_last_reply_at <= $4::timestamptz)))",
			args:  []any{now.Add(2*day - time.Microsecond), now.Add(day - time.Microsecond)},
			sql:   []string{"engagement.sms.days_since_reply == -1"}, cel: []string{`engagement.email.last_open_at < timestamp("2026-01-01T00:00:00Z")`},
		},
		// Mixed: what SQL cannot decide is left to CEL, conjunct by conjunct.
		{
			expr:  `orders_count >= 2 && attributes["tier"] == "gold"`,
			where: "(c.orders_count >= $3::bigint)",
			args:  []any{int64(2)},
			sql:   []string{"orders_count >= 2"}, cel: []string{`attributes["tier"] == "gold"`},
		},
		{
			expr:  `has_postal_address && (country == "GB" || country == "IE") && tags.size() > 1`,
			where: "((c.country = $3::text) OR (c.country = $4::text))",
			args:  []any{"GB", "IE"},
			sql:   []string{`country == "GB" || country == "IE"`}, cel: []string{"has_postal_address", "tags.size() > 1"},
		},
		// A disjunction or negation with a part SQL cannot decide is left
		// whole to CEL.
		{
			expr:  `orders_count > 5 || attributes["tier"] == "gold"`,
			where: "true",
			cel:   []string{`orders_count > 5 || attributes["tier"] == "gold"`},
		},
		{
			expr:  `!(has_email && preferred_channels.size() == 0)`,
			where: "true",
			cel:   []string{`!(has_email && preferred_channels.size() == 0)`},
		},
		{
			expr:  `locale.startsWith("en") && orders_count + 1 > 2 && tags.exists(t, t == "vip") && has_email < true`,
			where: "true",
			cel:   []string{`locale.startsWith("en")`, "orders_count + 1 > 2", `tags.exists(t, t == "vip")`, "has_email < true"},
		},
		{expr: "true", where: "true", exact: true, sql: []string{"true"}},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			f, err := audience.Translate(e, tc.expr, now, 3)
			require.NoError(t, err)
			assert.Equal(t, tc.where, f.Where)
			assert.Equal(t, tc.args, f.Args)
			assert.Equal(t, tc.exact, f.Exact)
			assert.Equal(t, tc.sql, f.SQL)
			assert.Equal(t, tc.cel, f.CEL)
		})
	}
}

// TestTranslateLeavesOddLiteralsToCEL: values Postgres cannot take as
// text, and day counts too far out to compute with, stay with CEL.
func TestTranslateLeavesOddLiteralsToCEL(t *testing.T) {
	e := newEnv(t)
	for _, expr := range []string{
		`country == "G\000B"`, `country in ["GB", "\000"]`, `"\000" in tags`,
		"days_since_last_order >= 1000000", "days_since_last_order < -200000.5",
		"orders_count > 18446744073709551615u",
	} {
		f, err := audience.Translate(e, expr, time.Now(), 1)
		require.NoError(t, err, expr)
		assert.Equal(t, "true", f.Where, expr)
		assert.Empty(t, f.Args, expr)
		assert.False(t, f.Exact, expr)
	}
}

// TestTranslateRejects: what the audience environment rejects is an error
// naming the problem.
func TestTranslateRejects(t *testing.T) {
	e := newEnv(t)
	for _, expr := range []string{"orders_count >= ", "order.total > 1", "orders_count", `country == 1`, ""} {
		_, err := audience.Translate(e, expr, time.Now(), 1)
		assert.Error(t, err, expr)
	}
	_, err := audience.Translate(e, "order_count > 1", time.Now(), 1)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `unknown name "order_count"`)
}

var placeholder = regexp.MustCompile(`\$(\d+)`)

// checkPlaceholders: Where uses exactly the placeholders argBase ..
// argBase+len(Args)-1.
func checkPlaceholders(t testing.TB, f audience.Filter, argBase int) {
	t.Helper()
	used := map[int]bool{}
	for _, m := range placeholder.FindAllStringSubmatch(f.Where, -1) {
		n, _ := strconv.Atoi(m[1])
		used[n] = true
	}
	if len(used) != len(f.Args) {
		t.Fatalf("%s uses %d placeholders for %d args", f.Where, len(used), len(f.Args))
	}
	for n := range used {
		if n < argBase || n >= argBase+len(f.Args) {
			t.Fatalf("%s uses $%d; args are $%d..$%d", f.Where, n, argBase, argBase+len(f.Args)-1)
		}
	}
}

// FuzzTranslate: Translate never panics, and whatever it translates uses
// its placeholders exactly.
func FuzzTranslate(f *testing.F) {
	for _, seed := range equivalenceExprs {
		f.Add(seed)
	}
	e := newEnv(f)
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, expr string) {
		filter, err := audience.Translate(e, expr, now, 3)
		if err != nil {
			return
		}
		checkPlaceholders(t, filter, 3)
		if filter.Exact != (len(filter.CEL) == 0) {
			t.Fatalf("Exact %v with CEL %q", filter.Exact, filter.CEL)
		}
	})
}

// equivalenceExprs cover every field with every operator, in lists, tags,
// negations, disjunctions and the day boundaries.
var equivalenceExprs = []string{
	"days_since_last_order >= 90 && orders_count >= 1",
	"days_since_last_order >= 0", "days_since_last_order == -1", "days_since_last_order != -1",
	"days_since_last_order < 1", "days_since_last_order > 89", "days_since_last_order <= 30",
	"days_since_last_order == 0", "days_since_last_order == 90", "days_since_last_order != 90",
	"days_since_last_order >= -1", "days_since_last_order < 0", "days_since_last_order > -1.5",
	"days_since_last_order > 89.5", "days_since_last_order <= 29.9", "days_since_last_order in [30.0, 0.5, 91]",
	"days_since_last_order in [0, 1, 90]", "days_since_last_order >= 2u", "30 > customer.days_since_last_order",
	"orders_count == 0", "orders_count != 1", "orders_count > 1", "orders_count <= 1.5", "orders_count >= 2u",
	"orders_count in [0, 2]", "orders_count in [1, 2.5]", "3 > orders_count",
	"lifetime_value > 100", "lifetime_value <= 150.5", "lifetime_value == 0.0", "lifetime_value != 0.0",
	"lifetime_value >= 99.99", "lifetime_value < 50u", "lifetime_value in [0, 12.34]",
	`country == "GB"`, `country != "GB"`, `country in ["FR", "US", "gb"]`, `customer.country < "G"`,
	`country >= "a"`, `country > "É"`, `"FR" <= country`,
	`locale == "fr-FR" || locale == ""`, `locale < "en"`, `locale in ["de", "en-GB"]`,
	`time_zone == "Europe/London"`, `time_zone != ""`,
	`id == "c_007"`, `id < "c_100"`, `id in ["c_001", "c_002", 3]`,
	"has_email", "!has_email", "has_email == false", "has_phone != true", "true == customer.has_phone",
	`"vip" in tags`, `!("vip" in tags)`, `"VIP" in customer.tags`, `"vip" in tags || orders_count == 0`,
	`!(has_email || has_phone) && days_since_last_order != -1`,
	`has_postal_address || has_email`, `attributes["tags"] == "vip" && has_email`,
	`country == "GB" && tags.size() > 1`, `has_email && tags.exists(t, t.startsWith("v"))`,
	"true", "false && has_email", "!false",
	// Engagement: days since a moment (-1 for never), counts, rolling
	// counts of the window's days, named both ways.
	"engagement.email.days_since_engaged >= 180", "engagement.email.days_since_engaged == -1",
	"customer.engagement.email.days_since_engaged < 180", "engagement.email.days_since_open != -1",
	"engagement.email.days_since_click <= 30", "engagement.email.days_since_first_sent >= 180",
	"engagement.email.days_since_delivered == 0", "engagement.email.days_since_first_sent > 29.5",
	"engagement.email.days_since_engaged in [-1, 0, 180]",
	"engagement.email.days_since_first_sent >= 180 && (engagement.email.days_since_engaged == -1 || engagement.email.days_since_engaged >= 180)",
	"engagement.email.opens_30d > 0", "engagement.email.opens_30d == 0", "customer.engagement.email.clicks_30d >= 2",
	"engagement.email.machine_opens_30d > 1.5", "engagement.email.opens_30d in [1, 3]", "2 <= engagement.email.clicks_30d",
	"engagement.email.bounces == 0", "engagement.email.bounces >= 2", "engagement.email.spam_reports > 0",
	"engagement.sms.days_since_reply < 30", "engagement.sms.replies_30d >= 1", "engagement.sms.days_since_delivered >= 0",
	"engagement.mail.days_since_delivered != -1", "engagement.mail.returns > 0",
	`engagement.email.last_open_at > timestamp("2026-11-01T00:00:00Z") && engagement.email.opens_30d > 0`,
}

// row is how a test customer is stored.
type row struct {
	id, country, locale, timeZone string
	email, phone                  *string // NULL, '' or an address
	attrs                         map[string]any
}

// TestTranslationAgreesWithCEL: over random customers stored in Postgres
// (orders recorded through the store, which keeps the order figures on the
// customer), the SQL of an exact filter selects exactly the customers for
// whom CEL says true, with their facts from store.CustomerFacts at the
// same now; the SQL of an inexact one selects a superset.
func TestTranslationAgreesWithCEL(t *testing.T) {
	t.Parallel()
	s, url := storetest.New(t)
	db := storetest.DB(t, url)
	ctx := context.Background()
	e := newEnv(t)
	// nanoseconds on purpose: Postgres keeps microseconds.
	now := time.Date(2026, 11, 22, 9, 30, 15, 123456789, time.UTC)
	rng := rand.New(rand.NewPCG(7, 11))
	useLinguisticCollation(t, db)

	ids := insertCustomers(t, s, db, rng, now, 300)
	facts := make(map[string]journey.Customer, len(ids))
	for _, id := range ids {
		f, err := s.CustomerFacts(ctx, id, now)
		require.NoError(t, err)
		facts[id] = f
	}

	exprs := slices.Concat(equivalenceExprs, randomExprs(rand.New(rand.NewPCG(3, 5)), 150))
	exact := 0
	for _, expr := range exprs {
		f, err := audience.Translate(e, expr, now, 1)
		require.NoError(t, err, expr)
		checkPlaceholders(t, f, 1)
		bySQL := selectIDs(t, s, f)
		var byCEL []string
		for _, id := range ids {
			// A condition that cannot be evaluated (a missing key) leaves
			// the customer out, as audience runs do.
			if ok, err := e.EvalAudience(expr, facts[id], now); err == nil && ok {
				byCEL = append(byCEL, id)
			}
		}
		if f.Exact {
			exact++
			assert.Equal(t, byCEL, bySQL, "%s (exact) must select what CEL selects; SQL: %s %v", expr, f.Where, f.Args)
			continue
		}
		for _, id := range byCEL {
			assert.Contains(t, bySQL, id, "%s: SQL (%s) leaves out %s, whom CEL selects", expr, f.Where, id)
		}
	}
	t.Logf("%d expressions, %d of them exact", len(exprs), exact)
	assert.Greater(t, exact, len(exprs)/2, "most of the expressions translate exactly")
}

// TestTranslationAgreesWithScan: as of a time before some orders, the
// facts an audience scan reads (store.ScanCustomers, from the figures kept
// on the customer) count days toward zero for an order after now, and the
// SQL still agrees with CEL over them.
func TestTranslationAgreesWithScan(t *testing.T) {
	t.Parallel()
	s, url := storetest.New(t)
	db := storetest.DB(t, url)
	ctx := context.Background()
	e := newEnv(t)
	now := time.Date(2026, 11, 22, 9, 30, 15, 123456789, time.UTC)
	ids := insertCustomers(t, s, db, rand.New(rand.NewPCG(13, 17)), now, 200)
	// A day before the latest orders (placed at now, kept to the
	// microsecond), exactly and with nanoseconds; and earlier.
	for _, asOf := range []time.Time{now.Truncate(time.Microsecond).Add(-day), now.Add(-day), now.Add(-36 * time.Hour), now.Add(-100 * day)} {
		page, err := s.ScanCustomers(ctx, "", len(ids)+1, "true", nil, asOf)
		require.NoError(t, err)
		require.Len(t, page.Prospects, len(ids))
		for _, expr := range slices.Concat(equivalenceExprs, []string{"days_since_last_order == -1", "days_since_last_order >= -1", "days_since_last_order == 0 && orders_count > 0"}) {
			f, err := audience.Translate(e, expr, asOf, 1)
			require.NoError(t, err, expr)
			bySQL := selectIDs(t, s, f)
			var byCEL []string
			for _, p := range page.Prospects {
				if ok, err := e.EvalAudience(expr, p.Facts, asOf); err == nil && ok {
					byCEL = append(byCEL, p.Facts.ID)
				}
			}
			if f.Exact {
				assert.Equal(t, byCEL, bySQL, "as of %s, %s (exact): SQL %s %v", asOf, expr, f.Where, f.Args)
				continue
			}
			for _, id := range byCEL {
				assert.Contains(t, bySQL, id, "as of %s, %s: SQL (%s) leaves out %s", asOf, expr, f.Where, id)
			}
		}
	}
}

// useLinguisticCollation gives the text columns a collation that does not
// order by bytes (as a database created with en_US.UTF-8 would), when the
// server has one: CEL orders strings by their bytes regardless.
func useLinguisticCollation(t *testing.T, db *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	var coll string
	err := db.QueryRow(ctx, `SELECT collname FROM pg_collation WHERE collname IN ('en-x-icu', 'en_US.utf8', 'en_US') ORDER BY collname LIMIT 1`).Scan(&coll)
	if err == pgx.ErrNoRows {
		t.Log("no linguistic collation on this server; text columns keep the database's")
		return
	}
	require.NoError(t, err)
	for _, col := range []string{"country", "locale", "time_zone"} {
		_, err := db.Exec(ctx, fmt.Sprintf(`ALTER TABLE customers ALTER COLUMN %s TYPE text COLLATE %q`, col, coll))
		require.NoError(t, err)
	}
}

// insertCustomers stores n random customers (directly, so that contact
// details can also be empty strings) with orders recorded through the
// store around the day boundaries before now, and returns their ids in
// order.
func insertCustomers(t *testing.T, s *store.Store, db *pgxpool.Pool, rng *rand.Rand, now time.Time, n int) []string {
	t.Helper()
	ctx := context.Background()
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	contact := func(value string) *string {
		switch rng.IntN(3) {
		case 0:
			return nil
		case 1:
			empty := ""
			return &empty
		}
		return &value
	}
	ids := make([]string, n)
	statuses := map[string]int{}
	for i := range n {
		r := row{
			id:       fmt.Sprintf("c_%03d", i),
			country:  pick("GB", "FR", "US", "", "gb", "Éire", "a", "IE"),
			locale:   pick("en-GB", "fr-FR", "", "de", "EN"),
			timeZone: pick("Europe/London", "", "America/New_York"),
			attrs:    map[string]any{},
		}
		r.email = contact(r.id + "@example.com")
		r.phone = contact("+447911123456")
		switch rng.IntN(8) {
		case 0:
			r.attrs["tags"] = []any{"vip", "tea"}
		case 1:
			r.attrs["tags"] = []any{"tea", "VIP"}
		case 2:
			r.attrs["tags"] = "vip" // not a list: no tags
		case 3:
			r.attrs["tags"] = []any{[]any{"vip"}, 1, "tea"} // only "tea" is a tag
		case 4:
			r.attrs["tags"] = nil
		case 5:
			r.attrs["tags"] = []any{}
		}
		attrs, err := json.Marshal(r.attrs)
		require.NoError(t, err)
		_, err = db.Exec(ctx, `INSERT INTO customers (id, email, phone, locale, time_zone, country, attributes)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, r.id, r.email, r.phone, r.locale, r.timeZone, r.country, attrs)
		require.NoError(t, err)
		ids[i] = r.id

		insertEngagement(t, db, rng, r.id, now)

		// Orders around day boundaries: whole days before now, then a
		// microsecond, a second or an hour either side (never after now).
		for j := range rng.IntN(4) {
			days := []int{0, 1, 2, 29, 30, 31, 89, 90, 91, 365}[rng.IntN(10)]
			offset := []time.Duration{0, time.Microsecond, -time.Microsecond, time.Second, -time.Second, time.Hour, -time.Hour}[rng.IntN(7)]
			placed := now.Add(-time.Duration(days)*day + offset)
			if placed.After(now) {
				placed = now
			}
			orderID := fmt.Sprintf("o_%s_%d", r.id, j)
			_, err := s.RecordOrder(ctx, store.Order{
				ID: orderID, CustomerID: r.id, Currency: "GBP", PlacedAt: placed,
				Total: money.MustParse([]string{"0", "12.34", "50", "99.99", "100", "150.5"}[rng.IntN(6)]),
			})
			require.NoError(t, err)
			// Some orders move on: cancelled and refunded ones stop
			// counting, partly refunded ones count net of the refund.
			change := store.OrderChange{OrderID: orderID}
			switch rng.IntN(6) {
			case 0:
				change.Event = store.EventOrderCancelled
			case 1:
				change.Event = store.EventOrderRefunded
			case 2:
				change.Event, change.Amount = store.EventOrderRefunded, &refund
			case 3:
				change.Event = store.EventOrderDelivered
			default:
				continue
			}
			rec, err := s.RecordNewEvent(ctx, store.NewEvent{Change: &change, Event: store.Event{ID: "e_" + orderID, Type: change.Event,
				CustomerID: r.id, OccurredAt: now, Data: json.RawMessage(fmt.Sprintf(`{"order_id": %q}`, orderID))}})
			var refused *store.OrderRefusal
			if errors.As(err, &refused) {
				continue // a refund of more than a free order's total
			}
			require.NoError(t, err)
			statuses[rec.Order.Status]++
		}
	}
	for _, status := range []string{store.OrderCancelled, store.OrderRefunded, store.OrderPartlyRefunded} {
		require.NotZero(t, statuses[status], "some orders are %s", status)
	}
	return ids
}

// refund is the amount of the partial refunds of insertCustomers.
var refund = money.MustParse("10.00")

// insertEngagement gives most customers a customer_engagement row with
// moments around the day boundaries (or none: NULL), and counts on days
// around the window's edges, directly, as the webhooks would leave them.
func insertEngagement(t *testing.T, db *pgxpool.Pool, rng *rand.Rand, id string, now time.Time) {
	t.Helper()
	if rng.IntN(5) == 0 {
		return // no row: every moment never, every count 0
	}
	ctx := context.Background()
	moment := func() *time.Time {
		if rng.IntN(3) == 0 {
			return nil
		}
		days := []int{0, 1, 29, 30, 179, 180, 181, 400}[rng.IntN(8)]
		offset := []time.Duration{0, time.Microsecond, -time.Microsecond, time.Hour, -time.Hour}[rng.IntN(5)]
		at := now.Add(-time.Duration(days)*day + offset).Truncate(time.Microsecond)
		return &at
	}
	count := func() int { return []int{0, 0, 1, 2, 3}[rng.IntN(5)] }
	_, err := db.Exec(ctx, `INSERT INTO customer_engagement (customer_id, email_first_sent_at, email_last_delivered_at,
			email_last_open_at, email_last_machine_open_at, email_last_click_at, email_last_bounce_at, email_bounces,
			email_last_spam_report_at, email_spam_reports, sms_last_delivered_at, sms_last_reply_at,
			mail_last_delivered_at, mail_last_returned_at, mail_returns)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
		id, moment(), moment(), moment(), moment(), moment(), moment(), count(), moment(), count(), moment(), moment(), moment(), moment(), count())
	require.NoError(t, err)
	// Days on both sides of the window's edges, and after now's day.
	first, last := journey.EngagementWindow(now)
	for _, d := range []time.Time{first.AddDate(0, 0, -1), first, last.AddDate(0, 0, -3), last, last.AddDate(0, 0, 1)} {
		if rng.IntN(2) == 0 {
			continue
		}
		_, err := db.Exec(ctx, `INSERT INTO customer_engagement_days (customer_id, day, email_opens, email_machine_opens, email_clicks, sms_replies)
			VALUES ($1, $2, $3, $4, $5, $6)`, id, d, count(), count(), count(), count())
		require.NoError(t, err)
	}
}

// selectIDs runs the filter's SQL over the customers table, read-only.
func selectIDs(t *testing.T, s *store.Store, f audience.Filter) []string {
	t.Helper()
	var ids []string
	err := s.ReadOnly(context.Background(), func(q store.Querier) error {
		rows, err := q.Query(context.Background(), `SELECT id FROM customers c LEFT JOIN customer_engagement ce ON ce.customer_id = c.id
			WHERE `+f.Where+` ORDER BY id COLLATE "C"`, f.Args...)
		if err != nil {
			return err
		}
		ids, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	require.NoError(t, err, f.Where)
	if len(ids) == 0 {
		return nil
	}
	return ids
}

// randomExprs combines translatable atoms (and a few that are not) with
// !, && and ||.
func randomExprs(rng *rand.Rand, n int) []string {
	atoms := []string{
		"days_since_last_order >= 90", "days_since_last_order < 1", "days_since_last_order == -1",
		"days_since_last_order != 30", "days_since_last_order > 0.5", "orders_count >= 1", "orders_count == 2",
		"engagement.email.days_since_engaged >= 180", "engagement.email.days_since_engaged == -1",
		"engagement.email.opens_30d > 0", "engagement.email.clicks_30d == 1", "engagement.email.bounces >= 1",
		"engagement.sms.replies_30d > 0", "engagement.mail.days_since_delivered < 2",
		"lifetime_value > 100", "lifetime_value <= 50.0", `country == "GB"`, `country < "G"`,
		`locale in ["fr-FR", "EN"]`, "has_email", "has_phone", `"vip" in tags`, `"tea" in customer.tags`,
		`id > "c_150"`, "has_postal_address", "tags.size() == 1",
	}
	var build func(depth int) string
	build = func(depth int) string {
		if depth == 0 || rng.IntN(3) == 0 {
			return atoms[rng.IntN(len(atoms))]
		}
		switch rng.IntN(3) {
		case 0:
			return "!(" + build(depth-1) + ")"
		case 1:
			return "(" + build(depth-1) + " && " + build(depth-1) + ")"
		}
		return "(" + build(depth-1) + " || " + build(depth-1) + ")"
	}
	out := make([]string, n)
	for i := range out {
		out[i] = strings.TrimSpace(build(4))
	}
	return out
}
