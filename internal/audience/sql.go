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

	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/parser"

	"github.com/rapporthq/rapport/internal/journey"
)

// Filter is the part of an audience condition Postgres can decide.
type Filter struct {
	// Where is a SQL boolean over customers aliased c ("true" when nothing
	// translates), with placeholders numbered from the argBase given to
	// Translate. It is never NULL for any row.
	Where string
	Args  []any
	// Exact is true when Where alone decides the whole condition: no
	// customer needs CEL.
	Exact bool
	// SQL lists the conjuncts Where decides and CEL those left to CEL per
	// customer, as CEL text (for `rapport audience preview`).
	SQL []string
	CEL []string
}

// day is the unit of days_since_last_order.
const day = 24 * time.Hour

// Translate splits an audience condition into its conjuncts (the parts
// joined by &&) and translates each one it can into SQL exactly: a
// translated conjunct selects precisely the customers for whom CEL says
// true, as store.CustomerFacts computes their facts at now. Conjuncts it
// cannot translate are left to CEL; the SQL then selects a superset.
// now should be whole microseconds (Postgres' precision).
func Translate(env *journey.Env, expr string, now time.Time, argBase int) (Filter, error) {
	checked, err := env.AudienceAST(expr)
	if err != nil {
		return Filter{}, err
	}
	native := checked.NativeRep()
	t := &translator{now: now, next: argBase}
	var wheres []string
	f := Filter{Exact: true}
	for _, c := range conjuncts(native.Expr()) {
		text, err := parser.Unparse(c, native.SourceInfo())
		if err != nil {
			text = "(part of " + expr + ")"
		}
		mark := len(t.args)
		if sql, ok := t.expr(c); ok {
			wheres = append(wheres, sql)
			f.SQL = append(f.SQL, text)
			continue
		}
		t.args = t.args[:mark] // drop what the failed attempt bound
		t.next = argBase + mark
		f.CEL = append(f.CEL, text)
		f.Exact = false
	}
	f.Where = "true"
	if len(wheres) > 0 {
		f.Where = strings.Join(wheres, " AND ")
	}
	f.Args = t.args
	return f, nil
}

// conjuncts splits e at its top-level &&.
func conjuncts(e ast.Expr) []ast.Expr {
	if e.Kind() == ast.CallKind && e.AsCall().FunctionName() == operators.LogicalAnd {
		var out []ast.Expr
		for _, a := range e.AsCall().Args() {
			out = append(out, conjuncts(a)...)
		}
		return out
	}
	return []ast.Expr{e}
}

type translator struct {
	now  time.Time
	args []any
	next int
}

// bind adds a parameter and returns its placeholder.
func (t *translator) bind(v any) string {
	t.args = append(t.args, v)
	p := fmt.Sprintf("$%d", t.next)
	t.next++
	return p
}

// column kinds.
type kind int

const (
	text kind = iota
	integer
	double
	boolean
	days // days_since_last_order
	tags
)

// columns are the customer fields SQL can decide, by their CEL names.
var columns = map[string]struct {
	sql  string
	kind kind
}{
	"id":                    {"c.id", text},
	"locale":                {"c.locale", text},
	"time_zone":             {"c.time_zone", text},
	"country":               {"c.country", text},
	"orders_count":          {"c.orders_count", integer},
	"lifetime_value":        {"c.lifetime_value::float8", double},
	"has_email":             {"(coalesce(c.email, '') <> '')", boolean},
	"has_phone":             {"(coalesce(c.phone, '') <> '')", boolean},
	"days_since_last_order": {"", days},
	"tags":                  {"", tags},
}

// field recognises a customer field, written name or customer.name.
func field(e ast.Expr) (string, bool) {
	var name string
	switch e.Kind() {
	case ast.IdentKind:
		name = e.AsIdent()
	case ast.SelectKind:
		s := e.AsSelect()
		if s.IsTestOnly() || s.Operand().Kind() != ast.IdentKind || s.Operand().AsIdent() != "customer" {
			return "", false
		}
		name = s.FieldName()
	default:
		return "", false
	}
	_, ok := columns[name]
	return name, ok
}

// literal returns a scalar literal's Go value.
func literal(e ast.Expr) (any, bool) {
	if e.Kind() != ast.LiteralKind {
		return nil, false
	}
	switch v := e.AsLiteral().Value().(type) {
	case int64, float64, string, bool:
		return v, true
	case uint64:
		return float64(v), true
	}
	return nil, false
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case float64:
		return n, !math.IsNaN(n)
	}
	return 0, false
}

// expr translates a boolean expression, or says it cannot.
func (t *translator) expr(e ast.Expr) (string, bool) {
	if v, ok := literal(e); ok {
		if b, ok := v.(bool); ok {
			return fmt.Sprint(b), true
		}
		return "", false
	}
	if name, ok := field(e); ok && columns[name].kind == boolean {
		return columns[name].sql, true
	}
	if e.Kind() != ast.CallKind {
		return "", false
	}
	call := e.AsCall()
	args := call.Args()
	switch fn := call.FunctionName(); fn {
	case operators.LogicalAnd, operators.LogicalOr:
		l, ok1 := t.expr(args[0])
		r, ok2 := t.expr(args[1])
		if !ok1 || !ok2 {
			return "", false
		}
		op := " AND "
		if fn == operators.LogicalOr {
			op = " OR "
		}
		return "(" + l + op + r + ")", true
	case operators.LogicalNot:
		in, ok := t.expr(args[0])
		if !ok {
			return "", false
		}
		return "(NOT " + in + ")", true
	case operators.Equals, operators.NotEquals, operators.Less, operators.LessEquals, operators.Greater, operators.GreaterEquals:
		if len(args) != 2 {
			return "", false
		}
		if name, ok := field(args[0]); ok {
			if v, ok := literal(args[1]); ok {
				return t.compare(name, fn, v)
			}
		}
		if name, ok := field(args[1]); ok {
			if v, ok := literal(args[0]); ok {
				return t.compare(name, flip[fn], v)
			}
		}
	case operators.In:
		if len(args) == 2 {
			return t.in(args[0], args[1])
		}
	}
	return "", false
}

// flip turns "literal op field" into "field op' literal".
var flip = map[string]string{
	operators.Equals: operators.Equals, operators.NotEquals: operators.NotEquals,
	operators.Less: operators.Greater, operators.LessEquals: operators.GreaterEquals,
	operators.Greater: operators.Less, operators.GreaterEquals: operators.LessEquals,
}

var sqlOps = map[string]string{
	operators.Equals: "=", operators.NotEquals: "<>", operators.Less: "<",
	operators.LessEquals: "<=", operators.Greater: ">", operators.GreaterEquals: ">=",
}

// compare translates field op literal.
func (t *translator) compare(name, op string, v any) (string, bool) {
	col := columns[name]
	switch col.kind {
	case text:
		s, ok := v.(string)
		if !ok {
			return "", false
		}
		return fmt.Sprintf("(%s %s %s::text)", col.sql, sqlOps[op], t.bind(s)), true
	case boolean:
		b, ok := v.(bool)
		if !ok || (op != operators.Equals && op != operators.NotEquals) {
			return "", false
		}
		if b == (op == operators.Equals) {
			return col.sql, true
		}
		return "(NOT " + col.sql + ")", true
	case integer:
		if n, ok := v.(int64); ok {
			return fmt.Sprintf("(%s %s %s::bigint)", col.sql, sqlOps[op], t.bind(n)), true
		}
		if f, ok := number(v); ok {
			return fmt.Sprintf("(%s::float8 %s %s::float8)", col.sql, sqlOps[op], t.bind(f)), true
		}
	case double:
		if f, ok := number(v); ok {
			return fmt.Sprintf("(%s %s %s::float8)", col.sql, sqlOps[op], t.bind(f)), true
		}
	case days:
		if f, ok := number(v); ok {
			return t.days(op, f)
		}
	}
	return "", false
}

// days translates days_since_last_order op k. The fact is -1 without
// orders, else the whole days from the last order to now, truncated
// toward zero (as Go divides durations).
func (t *translator) days(op string, k float64) (string, bool) {
	if math.IsInf(k, 0) || math.Abs(k) > 1e6 {
		return "", false
	}
	// Reduce to the fact being at least m (an integer), or not.
	var m int64
	negate := false
	switch op {
	case operators.GreaterEquals:
		m = int64(math.Ceil(k))
	case operators.Greater:
		m = int64(math.Floor(k)) + 1
	case operators.Less:
		m, negate = int64(math.Ceil(k)), true
	case operators.LessEquals:
		m, negate = int64(math.Floor(k))+1, true
	case operators.Equals, operators.NotEquals:
		var sql string
		if k != math.Trunc(k) {
			sql = "(c.last_order_at IS NOT NULL AND false)"
		} else {
			ge := t.atLeast(int64(k))
			lt := t.atLeast(int64(k) + 1)
			sql = fmt.Sprintf("(c.last_order_at IS NOT NULL AND %s AND NOT %s)", ge, lt)
		}
		if op == operators.NotEquals {
			sql = fmt.Sprintf("(c.last_order_at IS NOT NULL AND NOT %s)", sql)
		}
		if compareFloat(op, -1, k) {
			sql = fmt.Sprintf("(c.last_order_at IS NULL OR %s)", sql)
		}
		return sql, true
	default:
		return "", false
	}
	cond := t.atLeast(m)
	if negate {
		cond = "NOT " + cond
	}
	sql := fmt.Sprintf("(c.last_order_at IS NOT NULL AND %s)", cond)
	if compareFloat(op, -1, k) {
		sql = fmt.Sprintf("(c.last_order_at IS NULL OR %s)", sql)
	}
	return sql, true
}

// atLeast is the condition that a customer with orders has a
// days_since_last_order of at least m, over c.last_order_at (not NULL).
func (t *translator) atLeast(m int64) string {
	if m >= 1 {
		// trunc(x/day) >= m  <=>  x >= m days
		return fmt.Sprintf("(c.last_order_at <= %s::timestamptz)", t.bind(t.now.Add(-time.Duration(m)*day)))
	}
	// For m <= 0, trunc(x/day) >= m  <=>  x > (m-1) days.
	return fmt.Sprintf("(c.last_order_at < %s::timestamptz)", t.bind(t.now.Add(-time.Duration(m-1)*day)))
}

func compareFloat(op string, a, b float64) bool {
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

// in translates "literal in tags" and "field in [literals]".
func (t *translator) in(elem, list ast.Expr) (string, bool) {
	if name, ok := field(list); ok && columns[name].kind == tags {
		v, ok := literal(elem)
		s, isString := v.(string)
		if !ok || !isString {
			return "", false
		}
		return fmt.Sprintf("coalesce(c.attributes->'tags' @> jsonb_build_array(%s::text), false)", t.bind(s)), true
	}
	name, ok := field(elem)
	if !ok || list.Kind() != ast.ListKind {
		return "", false
	}
	col := columns[name]
	var strs []string
	var ints []int64
	for _, el := range list.AsList().Elements() {
		v, ok := literal(el)
		if !ok {
			return "", false
		}
		switch x := v.(type) {
		case string:
			strs = append(strs, x)
		case int64:
			ints = append(ints, x)
		default:
			return "", false
		}
	}
	switch {
	case col.kind == text && len(ints) == 0:
		if strs == nil {
			strs = []string{}
		}
		return fmt.Sprintf("(%s = ANY(%s::text[]))", col.sql, t.bind(strs)), true
	case col.kind == integer && len(strs) == 0:
		if ints == nil {
			ints = []int64{}
		}
		return fmt.Sprintf("(%s = ANY(%s::bigint[]))", col.sql, t.bind(ints)), true
	}
	return "", false
}
