// Package audience translates a journey's audience condition (CEL over a
// customer's fields) into a SQL filter over the customers table, so a scan
// over a million customers lets Postgres decide the common predicates
// (order figures, country, contact details, tags) and evaluates only the
// rest with CEL, customer by customer.
package audience

import (
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/parser"

	"github.com/rapporthq/rapport/internal/journey"
)

// Filter is the part of an audience condition Postgres can decide.
type Filter struct {
	// Where is a SQL boolean over customers aliased c, LEFT JOINed with
	// their customer_engagement row aliased ce ("true" when nothing
	// translates), with placeholders numbered from the argBase given to
	// Translate. It is never NULL for any row.
	Where string
	// Args are the values of Where's placeholders, in order.
	Args []any
	// Exact is true when Where alone decides the whole condition: no
	// customer needs CEL.
	Exact bool
	// SQL lists the conjuncts Where decides, as CEL text (for
	// `rapport audience preview`).
	SQL []string
	// CEL lists the conjuncts left to CEL for each customer Where selects,
	// as CEL text.
	CEL []string
}

// Translate splits an audience condition into its conjuncts (the parts
// joined by &&) and translates each one it can into SQL exactly: a
// translated conjunct selects precisely the customers for whom CEL says
// true, with facts as of now computed from the order figures kept on the
// customer (customers.orders_count, lifetime_value, last_order_at), as
// store.ScanCustomers computes them (and store.CustomerFacts, as long as
// no order is placed after now: it leaves those out), and engagement from
// the customer's customer_engagement row, which Where names ce (see
// store.ScanCustomers), and its customer_engagement_days. Conjuncts it
// cannot translate are left to CEL, and Where then selects a superset of
// the audience. An expression the audience environment rejects is an
// error.
func Translate(env *journey.Env, expr string, now time.Time, argBase int) (Filter, error) {
	checked, err := env.AudienceAST(expr)
	if err != nil {
		return Filter{}, err // it names the expression and its first problem
	}
	parts := conjuncts(checked.NativeRep().Expr())
	texts := conjunctTexts(expr, len(parts))
	t := &translator{now: now, argBase: argBase}
	f := Filter{Where: "true", Exact: true}
	var wheres []string
	for i, c := range parts {
		text := texts[i]
		mark := len(t.args)
		if sql, ok := t.term(c); ok {
			wheres = append(wheres, sql)
			f.SQL = append(f.SQL, text)
			continue
		}
		t.args = t.args[:mark] // forget what the failed attempt bound
		f.CEL = append(f.CEL, text)
		f.Exact = false
	}
	if len(wheres) > 0 {
		f.Where = strings.Join(wheres, " AND ")
	}
	if len(t.args) > 0 {
		f.Args = t.args
	}
	return f, nil
}

// conjuncts splits e at its top-level &&, however nested.
func conjuncts(e ast.Expr) []ast.Expr {
	if e.Kind() != ast.CallKind || e.AsCall().FunctionName() != operators.LogicalAnd {
		return []ast.Expr{e}
	}
	var out []ast.Expr
	for _, a := range e.AsCall().Args() {
		out = append(out, conjuncts(a)...)
	}
	return out
}

// conjunctTexts returns the CEL text of each of the n conjuncts of expr,
// for people to read. The checked tree cannot be printed back when it
// holds a macro (tags.exists(...)): the audience environment does not
// keep macro calls. A parse of its own that keeps them has the same
// conjuncts, in the same order.
func conjunctTexts(expr string, n int) []string {
	texts := make([]string, n)
	for i := range texts {
		texts[i] = fmt.Sprintf("(part %d of %s)", i+1, expr)
	}
	p, err := parser.NewParser(parser.Macros(cel.StandardMacros...), parser.PopulateMacroCalls(true))
	if err != nil {
		return texts
	}
	tree, errs := p.Parse(common.NewTextSource(expr))
	if errs != nil && len(errs.GetErrors()) > 0 {
		return texts
	}
	parts := conjuncts(tree.Expr())
	if len(parts) != n {
		return texts
	}
	for i, c := range parts {
		if text, err := parser.Unparse(c, tree.SourceInfo()); err == nil {
			texts[i] = text
		}
	}
	return texts
}

// translator builds the SQL of one condition, binding its values as
// parameters.
type translator struct {
	now     time.Time
	argBase int
	args    []any

	// For a fan-out's for condition (fanout.go): its event, the record
	// variables of the exists being translated, and the first error met
	// (a value the event lacks).
	event   *journey.Event
	records map[string]record
	err     error
}

// bind adds a parameter and returns its placeholder.
func (t *translator) bind(v any) string {
	t.args = append(t.args, v)
	return fmt.Sprintf("$%d", t.argBase+len(t.args)-1)
}

// kind is how a customer field is kept in the customers table.
type kind int

const (
	text    kind = iota // a text column, NOT NULL
	integer             // an integer column, NOT NULL
	double              // a numeric column read as float8, NOT NULL
	boolean             // a boolean SQL expression, never NULL
	days                // whole days since a timestamp SQL expression (NULL: -1)
	tags                // the string elements of c.attributes->'tags'
	window              // a count of the engagement window: the sum of a customer_engagement_days column
)

// column is a customer field SQL can decide.
type column struct {
	sql  string
	kind kind
}

// columns are the customer fields SQL can decide, by their CEL names. Each
// SQL expression is what store.CustomerFacts and store.ScanCustomers read
// the field from.
var columns = map[string]column{
	"id":                    {"c.id", text},
	"locale":                {"c.locale", text},
	"time_zone":             {"c.time_zone", text},
	"country":               {"c.country", text},
	"orders_count":          {"c.orders_count", integer},
	"lifetime_value":        {"c.lifetime_value::float8", double},
	"has_email":             {"(c.email IS NOT NULL AND c.email <> '')", boolean},
	"has_phone":             {"(c.phone IS NOT NULL AND c.phone <> '')", boolean},
	"days_since_last_order": {"c.last_order_at", days},
	"tags":                  {"", tags},

	// Engagement, from the customer_engagement row (ce, LEFT JOINed:
	// NULL when there is none) and customer_engagement_days.
	"engagement.email.days_since_first_sent": {"ce.email_first_sent_at", days},
	"engagement.email.days_since_delivered":  {"ce.email_last_delivered_at", days},
	"engagement.email.days_since_open":       {"ce.email_last_open_at", days},
	"engagement.email.days_since_click":      {"ce.email_last_click_at", days},
	"engagement.email.days_since_engaged":    {"GREATEST(ce.email_last_open_at, ce.email_last_click_at)", days},
	"engagement.email.bounces":               {"coalesce(ce.email_bounces, 0)", integer},
	"engagement.email.spam_reports":          {"coalesce(ce.email_spam_reports, 0)", integer},
	"engagement.email.opens_30d":             {"email_opens", window},
	"engagement.email.clicks_30d":            {"email_clicks", window},
	"engagement.email.machine_opens_30d":     {"email_machine_opens", window},
	"engagement.sms.days_since_delivered":    {"ce.sms_last_delivered_at", days},
	"engagement.sms.days_since_reply":        {"ce.sms_last_reply_at", days},
	"engagement.sms.replies_30d":             {"sms_replies", window},
	"engagement.mail.days_since_delivered":   {"ce.mail_last_delivered_at", days},
	"engagement.mail.returns":                {"coalesce(ce.mail_returns, 0)", integer},
}

// field recognises a customer field SQL can decide, written name or
// customer.name (engagement.email.opens_30d or
// customer.engagement.email.opens_30d for a nested one).
func field(e ast.Expr) (column, bool) {
	name, ok := path(e)
	if !ok {
		return column{}, false
	}
	if rest, ok := strings.CutPrefix(name, "customer."); ok {
		name = rest
	}
	col, ok := columns[name]
	return col, ok
}

// path returns the dotted name of an identifier and the fields selected
// from it: customer.engagement.email.
func path(e ast.Expr) (string, bool) {
	switch e.Kind() {
	case ast.IdentKind:
		return e.AsIdent(), true
	case ast.SelectKind:
		s := e.AsSelect()
		if s.IsTestOnly() {
			return "", false
		}
		operand, ok := path(s.Operand())
		if !ok {
			return "", false
		}
		return operand + "." + s.FieldName(), true
	}
	return "", false
}

// windowSum is the SQL of a rolling count at now: the sum of a
// customer_engagement_days column over the days journey.EngagementWindow
// gives, as store.CustomerFacts computes it, 0 when there is none.
func (t *translator) windowSum(dayColumn string) string {
	first, last := journey.EngagementWindow(t.now)
	return fmt.Sprintf("(SELECT coalesce(sum(d.%s), 0) FROM customer_engagement_days d WHERE d.customer_id = c.id AND d.day BETWEEN %s::date AND %s::date)",
		dayColumn, t.bind(first), t.bind(last))
}

// literal returns a scalar literal's value as int64 (ints, and uints that
// fit, which CEL compares with ints exactly), float64, string or bool.
func literal(e ast.Expr) (any, bool) {
	if e.Kind() != ast.LiteralKind {
		return nil, false
	}
	switch v := e.AsLiteral().Value().(type) {
	case int64, string, bool:
		return v, true
	case float64:
		return v, !math.IsNaN(v)
	case uint64:
		if v <= math.MaxInt64 {
			return int64(v), true
		}
	}
	return nil, false
}

// asFloat returns a numeric literal as CEL compares it with a double:
// float64(i) for an int.
func asFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

// storable reports whether Postgres can take s as text: valid UTF-8
// without NUL.
func storable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// term translates a boolean expression, or says it cannot. Every term it
// returns is non-NULL for every row and true exactly when CEL says true.
func (t *translator) term(e ast.Expr) (string, bool) {
	switch e.Kind() {
	case ast.LiteralKind:
		if b, ok := e.AsLiteral().Value().(bool); ok {
			return fmt.Sprint(b), true
		}
	case ast.IdentKind, ast.SelectKind:
		if col, ok := t.recordField(e); ok {
			if col.kind == boolean {
				return col.sql, true
			}
			return "", false
		}
		if col, ok := field(e); ok && col.kind == boolean {
			return col.sql, true
		}
	case ast.CallKind:
		return t.call(e.AsCall())
	case ast.ComprehensionKind:
		return t.exists(e)
	}
	return "", false
}

// call translates a logical operator, a comparison or an in.
func (t *translator) call(call ast.CallExpr) (string, bool) {
	args := call.Args()
	switch fn := call.FunctionName(); fn {
	case operators.LogicalAnd, operators.LogicalOr:
		// Terms never err, so CEL's && and || are plain logic here.
		joiner := " AND "
		if fn == operators.LogicalOr {
			joiner = " OR "
		}
		parts := make([]string, 0, len(args))
		for _, a := range args {
			sql, ok := t.term(a)
			if !ok {
				return "", false
			}
			parts = append(parts, sql)
		}
		if len(parts) == 0 {
			return "", false
		}
		return "(" + strings.Join(parts, joiner) + ")", true
	case operators.LogicalNot:
		if len(args) != 1 {
			return "", false
		}
		sql, ok := t.term(args[0])
		if !ok {
			return "", false
		}
		return "(NOT " + sql + ")", true
	case operators.Equals, operators.NotEquals, operators.Less, operators.LessEquals, operators.Greater, operators.GreaterEquals:
		if len(args) != 2 {
			return "", false
		}
		if len(t.records) > 0 {
			if sql, ok := t.compareRecord(fn, args); ok {
				return sql, true
			}
		}
		if col, ok := field(args[0]); ok {
			if v, ok := t.value(args[1]); ok {
				return t.compare(col, fn, v)
			}
		}
		if col, ok := field(args[1]); ok {
			if v, ok := t.value(args[0]); ok {
				return t.compare(col, mirrored[fn], v)
			}
		}
	case operators.In:
		if len(args) == 2 {
			return t.in(args[0], args[1])
		}
	}
	return "", false
}

// mirrored turns "literal op field" into "field op' literal".
var mirrored = map[string]string{
	operators.Equals: operators.Equals, operators.NotEquals: operators.NotEquals,
	operators.Less: operators.Greater, operators.LessEquals: operators.GreaterEquals,
	operators.Greater: operators.Less, operators.GreaterEquals: operators.LessEquals,
}

// sqlOps are the SQL spellings of CEL's comparison operators.
var sqlOps = map[string]string{
	operators.Equals: "=", operators.NotEquals: "<>", operators.Less: "<",
	operators.LessEquals: "<=", operators.Greater: ">", operators.GreaterEquals: ">=",
}

// compare translates "field op literal".
func (t *translator) compare(col column, op string, v any) (string, bool) {
	if col.kind == window {
		col = column{t.windowSum(col.sql), integer}
	}
	switch col.kind {
	case text:
		s, ok := v.(string)
		if !ok || !storable(s) {
			return "", false
		}
		lhs := col.sql
		if op != operators.Equals && op != operators.NotEquals {
			// CEL orders strings by their bytes, as the C collation does.
			// (Equality under any deterministic collation is bytewise.)
			lhs += ` COLLATE "C"`
		}
		return fmt.Sprintf("(%s %s %s::text)", lhs, sqlOps[op], t.bind(s)), true
	case boolean:
		b, ok := v.(bool)
		if !ok || (op != operators.Equals && op != operators.NotEquals) {
			return "", false // CEL orders false before true; rare enough for CEL
		}
		if b == (op == operators.Equals) {
			return col.sql, true
		}
		return "(NOT " + col.sql + ")", true
	case integer:
		switch n := v.(type) {
		case int64:
			return fmt.Sprintf("(%s %s %s::bigint)", col.sql, sqlOps[op], t.bind(n)), true
		case float64:
			// CEL compares an int with a double as float64(int); the
			// column is an int4, which float8 holds exactly.
			return fmt.Sprintf("(%s::float8 %s %s::float8)", col.sql, sqlOps[op], t.bind(n)), true
		}
	case double:
		if f, ok := asFloat(v); ok {
			return fmt.Sprintf("(%s %s %s::float8)", col.sql, sqlOps[op], t.bind(f)), true
		}
	case days:
		if k, ok := asFloat(v); ok {
			return t.days(col.sql, op, k)
		}
	}
	return "", false
}

// in translates "literal in tags" and "field in [literals]".
func (t *translator) in(elem, list ast.Expr) (string, bool) {
	if col, ok := field(list); ok {
		v, _ := literal(elem)
		s, isString := v.(string)
		if col.kind != tags || !isString || !storable(s) {
			return "", false
		}
		// tags are the string elements of attributes.tags when it is a
		// list; @> finds a string element (never one nested deeper, nor a
		// lone string), and is NULL when there is no tags key.
		return fmt.Sprintf("coalesce(c.attributes->'tags' @> jsonb_build_array(%s::text), false)", t.bind(s)), true
	}
	col, ok := field(elem)
	if !ok || list.Kind() != ast.ListKind {
		return "", false
	}
	if col.kind == window {
		col = column{t.windowSum(col.sql), integer}
	}
	// CEL's in is == against each element, and == between a string and a
	// number (or a bool) is false: elements of another kind never match.
	var strs []string
	var ints []int64
	var floats []float64
	allInts := true
	for _, el := range list.AsList().Elements() {
		v, ok := literal(el)
		if !ok {
			return "", false
		}
		switch x := v.(type) {
		case string:
			if !storable(x) {
				return "", false
			}
			strs = append(strs, x)
		case int64:
			ints = append(ints, x)
			floats = append(floats, float64(x))
		case float64:
			floats = append(floats, x)
			allInts = false
		}
	}
	switch col.kind {
	case text:
		return fmt.Sprintf("(%s = ANY(%s::text[]))", col.sql, t.bind(nonNil(strs))), true
	case integer:
		if allInts {
			return fmt.Sprintf("(%s = ANY(%s::bigint[]))", col.sql, t.bind(nonNil(ints))), true
		}
		return fmt.Sprintf("(%s::float8 = ANY(%s::float8[]))", col.sql, t.bind(nonNil(floats))), true
	case double:
		return fmt.Sprintf("(%s = ANY(%s::float8[]))", col.sql, t.bind(nonNil(floats))), true
	case days:
		if len(floats) == 0 {
			return "false", true
		}
		parts := make([]string, len(floats))
		for i, k := range floats {
			sql, ok := t.days(col.sql, operators.Equals, k)
			if !ok {
				return "", false
			}
			parts[i] = sql
		}
		return "(" + strings.Join(parts, " OR ") + ")", true
	}
	return "", false
}

// nonNil makes an empty list an empty array parameter rather than NULL.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// day is the unit of days_since_last_order.
const day = 24 * time.Hour

// maxDays bounds the k of "days_since_last_order op k" SQL decides, so
// that now ± k days is neither an overflow nor beyond the ±292 years
// within which Go's time.Sub is exact.
const maxDays = 100_000

// days translates "days_since_last_order op k", where ts is the SQL of
// the timestamp the days count from (c.last_order_at; the engagement
// fields' columns, such as ce.email_last_open_at). The fact is -1 for a
// customer without orders (last_order_at IS NULL), else the whole days
// from last_order_at to now, truncated toward zero (Go's Duration
// division; an order after now gives 0, or less a whole day later).
//
// Every comparison with k comes down to d >= m for an integer m: d > k is
// d >= floor(k)+1, d < k is not d >= ceil(k), and so on; and d >= m is a
// range of last_order_at (see atLeast). The customers without orders are
// decided here, by comparing -1 with k as CEL would.
func (t *translator) days(ts, op string, k float64) (string, bool) {
	if !(math.Abs(k) <= maxDays) {
		return "", false
	}
	var withOrders string // over c.last_order_at, which is not NULL
	switch op {
	case operators.GreaterEquals:
		withOrders = t.atLeast(ts, int64(math.Ceil(k)))
	case operators.Greater:
		withOrders = t.atLeast(ts, int64(math.Floor(k))+1)
	case operators.Less:
		withOrders = "NOT " + t.atLeast(ts, int64(math.Ceil(k)))
	case operators.LessEquals:
		withOrders = "NOT " + t.atLeast(ts, int64(math.Floor(k))+1)
	case operators.Equals, operators.NotEquals:
		equal := "false" // a whole number of days is never a fraction
		if k == math.Trunc(k) {
			equal = fmt.Sprintf("(%s AND NOT %s)", t.atLeast(ts, int64(k)), t.atLeast(ts, int64(k)+1))
		}
		withOrders = equal
		if op == operators.NotEquals {
			withOrders = "NOT " + equal
		}
	default:
		return "", false
	}
	if holds(op, -1, k) {
		return fmt.Sprintf("(%s IS NULL OR %s)", ts, withOrders), true
	}
	return fmt.Sprintf("(%s IS NOT NULL AND %s)", ts, withOrders), true
}

// atLeast is the condition, over a non-NULL c.last_order_at (or another
// timestamp, ts), that
// days_since_last_order >= m, where x = now - last_order_at and the fact
// is trunc(x / day):
//
//	m >= 1: trunc(x/day) >= m  ⟺  x >= m days       ⟺  last_order_at <= now - m days
//	m <= 0: trunc(x/day) >= m  ⟺  x > (m-1) days    ⟺  last_order_at <  now - (m-1) days
//
// Postgres keeps microseconds and pgx sends a time.Time truncated to them,
// so each bound is made a "<=" on a whole microsecond: last <= b holds
// exactly when last <= b truncated, and last < b when last <= (b - 1ns)
// truncated. now may then carry nanoseconds.
func (t *translator) atLeast(ts string, m int64) string {
	bound := t.now.Add(-time.Duration(m) * day)
	if m <= 0 {
		bound = t.now.Add(-time.Duration(m-1)*day - time.Nanosecond)
	}
	return fmt.Sprintf("(%s <= %s::timestamptz)", ts, t.bind(bound.Truncate(time.Microsecond)))
}

// holds evaluates "a op b" for numbers, as CEL does for an int and a
// double.
func holds(op string, a, b float64) bool {
	switch op {
	case operators.Equals:
		return a == b
	case operators.NotEquals:
		return a != b
	case operators.Less:
		return a < b
	case operators.LessEquals:
		return a <= b
	case operators.Greater:
		return a > b
	case operators.GreaterEquals:
		return a >= b
	}
	return false
}
