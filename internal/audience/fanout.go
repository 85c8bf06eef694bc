package audience

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"

	"github.com/rapporthq/rapport/internal/journey"
)

func init() {
	// The compiler reports a for condition the database cannot decide.
	journey.ForChecker = CheckFor
}

// TranslateFor translates a fan-out trigger's for condition (trigger.for)
// for the event ev, scanned at now, into SQL over customers aliased c
// (see store.ScanCustomers). Its conjuncts over customer.events and
// customer.orders must translate ("exists" over them, with comparisons of
// their fields with values), since neither list is loaded for a customer;
// the others translate as an audience's do, else are left to CEL
// (Filter.CEL, evaluated with journey.Env.EvalFor). The event's values are
// bound as parameters. customer.events are the customer's events that
// occurred in the journey.RecentEventsWindow before now; customer.orders
// every order of theirs, whatever its status.
func TranslateFor(env *journey.Env, expr string, ev journey.Event, now time.Time, argBase int) (Filter, error) {
	checked, err := env.ForAST(expr)
	if err != nil {
		return Filter{}, err
	}
	parts := conjuncts(checked.NativeRep().Expr())
	texts := conjunctTexts(expr, len(parts))
	t := &translator{now: now, argBase: argBase, event: &ev}
	f := Filter{Where: "true", Exact: true}
	var wheres []string
	for i, c := range parts {
		text := texts[i]
		mark := len(t.args)
		t.err = nil
		if sql, ok := t.term(c); ok && t.err == nil {
			wheres = append(wheres, sql)
			f.SQL = append(f.SQL, text)
			continue
		}
		if t.err != nil {
			return Filter{}, fmt.Errorf("trigger.for %s: %w", text, t.err)
		}
		t.args = t.args[:mark]
		if listsRe.MatchString(text) || strings.HasPrefix(text, "(part ") {
			return Filter{}, fmt.Errorf("the database cannot decide %s: %s", text, forShapes)
		}
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

// forShapes says what the database decides of customer.events and
// customer.orders.
const forShapes = "use customer.events and customer.orders only in `customer.events.exists(e, ...)` and `customer.orders.exists(o, ...)` (or their negation, with `!`) as a part of the condition joined by &&, " +
	"comparing e.type, e.id, e.at and e.data.<key>, or o.id, o.status, o.currency, o.gift, o.total, o.placed_at and o.items.exists(i, ...) over i.product_id, i.name, i.quantity and i.price, " +
	"with values, event.<field> or times such as now - duration(\"720h\")"

// listsRe finds customer.events and customer.orders.
var listsRe = regexp.MustCompile(`\bcustomer\s*\.\s*(events|orders)\b`)

// CheckFor says whether the database can decide a for condition (see
// TranslateFor), with a sample event whose data holds any key it names.
func CheckFor(env *journey.Env, expr string) error {
	_, err := TranslateFor(env, expr, journey.Event{ID: "check", Type: "check", Data: map[string]any{}}, time.Now(), 1)
	var missing *missingData
	if errors.As(err, &missing) {
		return nil // the sample event lacks it; a real one may not
	}
	return err
}

// missingData is the error of a for condition naming event data the event
// lacks: the fan-out then enters nobody.
type missingData struct{ path string }

func (m *missingData) Error() string {
	return fmt.Sprintf("the event has no %s", m.path)
}

// record is a variable of an exists over customer.events, customer.orders
// or an order's items, and the SQL alias of its row.
type record struct {
	kind  string // events, orders, items
	alias string
}

// Further kinds of field, of records.
const (
	stamp   kind = iota + 100 // a timestamptz column
	jsonVal                   // a value inside events.data (jsonb)
)

// exists translates customer.events.exists(v, P), customer.orders.exists(v, P)
// and, within the latter, o.items.exists(v, P).
func (t *translator) exists(e ast.Expr) (string, bool) {
	if t.event == nil {
		return "", false // audiences have neither list
	}
	c := e.AsComprehension()
	if c.HasIterVar2() || !isFalse(c.AccuInit()) {
		return "", false
	}
	step := c.LoopStep()
	if step.Kind() != ast.CallKind || step.AsCall().FunctionName() != operators.LogicalOr || len(step.AsCall().Args()) != 2 {
		return "", false
	}
	if acc := step.AsCall().Args()[0]; acc.Kind() != ast.IdentKind || acc.AsIdent() != c.AccuVar() {
		return "", false
	}
	pred := step.AsCall().Args()[1]
	if _, shadowed := t.records[c.IterVar()]; shadowed || c.IterVar() == "customer" || c.IterVar() == "event" || c.IterVar() == "now" {
		return "", false
	}
	rng := c.IterRange()
	if rng.Kind() == ast.CallKind && rng.AsCall().FunctionName() == journey.OrderedRangeFn && len(rng.AsCall().Args()) == 1 {
		rng = rng.AsCall().Args()[0]
	}
	name, ok := path(rng)
	if !ok {
		return "", false
	}
	var rec record
	var from string
	switch {
	case name == "customer.events":
		rec = record{"events", fmt.Sprintf("ev%d", len(t.records))}
		from = fmt.Sprintf("events %s WHERE %s.customer_id = c.id AND %s.occurred_at > %s::timestamptz", rec.alias, rec.alias, rec.alias,
			t.bind(t.now.Add(-journey.RecentEventsWindow).Truncate(time.Microsecond)))
	case name == "customer.orders":
		rec = record{"orders", fmt.Sprintf("o%d", len(t.records))}
		from = fmt.Sprintf("orders %s WHERE %s.customer_id = c.id", rec.alias, rec.alias)
	default:
		owner, field, ok := strings.Cut(name, ".")
		if r, known := t.records[owner]; !ok || !known || r.kind != "orders" || field != "items" {
			return "", false
		}
		rec = record{"items", fmt.Sprintf("i%d", len(t.records))}
		from = fmt.Sprintf("order_items %s WHERE %s.order_id = %s.id", rec.alias, rec.alias, t.records[owner].alias)
	}
	if t.records == nil {
		t.records = map[string]record{}
	}
	t.records[c.IterVar()] = rec
	defer delete(t.records, c.IterVar())
	sql, ok := t.term(pred)
	if !ok {
		return "", false
	}
	return fmt.Sprintf("EXISTS (SELECT 1 FROM %s AND %s)", from, sql), true
}

func isFalse(e ast.Expr) bool {
	if e.Kind() != ast.LiteralKind {
		return false
	}
	b, ok := e.AsLiteral().Value().(bool)
	return ok && !b
}

// recordFields are the fields of the records SQL decides.
var recordFields = map[string]map[string]column{
	"events": {"type": {"%s.type", text}, "id": {"%s.id", text}, "at": {"%s.occurred_at", stamp}},
	"orders": {"id": {"%s.id", text}, "status": {"%s.status", text}, "currency": {"%s.currency", text}, "gift": {"%s.gift", boolean},
		"total": {"%s.total::float8", double}, "placed_at": {"%s.placed_at", stamp}},
	"items": {"product_id": {"%s.product_id", text}, "name": {"%s.name", text}, "quantity": {"%s.quantity", integer}, "price": {"%s.price::float8", double}},
}

// recordField recognises a field of a record variable: e.type, e.data.k,
// e.data["k"], o.total, i.product_id.
func (t *translator) recordField(e ast.Expr) (column, bool) {
	if len(t.records) == 0 {
		return column{}, false
	}
	var keys []string
	for e.Kind() == ast.CallKind && e.AsCall().FunctionName() == operators.Index && len(e.AsCall().Args()) == 2 {
		k, ok := literal(e.AsCall().Args()[1])
		s, isString := k.(string)
		if !ok || !isString || !storable(s) {
			return column{}, false
		}
		keys = append([]string{s}, keys...)
		e = e.AsCall().Args()[0]
	}
	name, ok := path(e)
	if !ok {
		return column{}, false
	}
	parts := strings.Split(name, ".")
	rec, ok := t.records[parts[0]]
	if !ok || len(parts) < 2 {
		return column{}, false
	}
	if rec.kind == "events" && parts[1] == "data" {
		keys = append(parts[2:], keys...)
		if len(keys) == 0 {
			return column{}, false
		}
		sql := rec.alias + ".data"
		for _, k := range keys {
			if !storable(k) {
				return column{}, false
			}
			sql += "->" + t.bind(k) + "::text"
		}
		return column{sql, jsonVal}, true
	}
	if len(parts) != 2 || len(keys) > 0 {
		return column{}, false
	}
	col, ok := recordFields[rec.kind][parts[1]]
	if !ok {
		return column{}, false
	}
	return column{fmt.Sprintf(col.sql, rec.alias), col.kind}, true
}

// value is a value a field is compared with: a literal, or a field of the
// fan-out's event (event.data.product_id). A field the event lacks is an
// error (t.err): CEL would fail on it too.
func (t *translator) value(e ast.Expr) (any, bool) {
	if v, ok := literal(e); ok {
		return v, true
	}
	if t.event == nil {
		return nil, false
	}
	var keys []string
	for e.Kind() == ast.CallKind && e.AsCall().FunctionName() == operators.Index && len(e.AsCall().Args()) == 2 {
		k, ok := literal(e.AsCall().Args()[1])
		s, isString := k.(string)
		if !ok || !isString {
			return nil, false
		}
		keys = append([]string{s}, keys...)
		e = e.AsCall().Args()[0]
	}
	name, ok := path(e)
	if !ok {
		return nil, false
	}
	parts := strings.Split(name, ".")
	if parts[0] != "event" || len(parts) < 2 {
		return nil, false
	}
	if len(parts) == 2 && len(keys) == 0 {
		switch parts[1] {
		case "id":
			return t.event.ID, true
		case "type":
			return t.event.Type, true
		}
		return nil, false
	}
	if parts[1] != "data" {
		return nil, false
	}
	keys = append(parts[2:], keys...)
	var v any = t.event.Data
	for i, k := range keys {
		m, isMap := v.(map[string]any)
		if !isMap {
			return nil, false
		}
		v, ok = m[k]
		if !ok {
			t.err = &missingData{"data." + strings.Join(keys[:i+1], ".")}
			return nil, false
		}
	}
	switch x := v.(type) {
	case string, bool, float64, int64:
		return x, true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return nil, false // a list, a map or null: left to CEL, or refused
}

// timeValue is a moment a timestamp field is compared with: now,
// event.occurred_at, timestamp("..."), and those plus or minus
// duration("...").
func (t *translator) timeValue(e ast.Expr) (time.Time, bool) {
	switch e.Kind() {
	case ast.IdentKind:
		if e.AsIdent() == "now" {
			return t.now, true
		}
	case ast.SelectKind:
		if name, ok := path(e); ok && name == "event.occurred_at" && t.event != nil {
			return t.event.OccurredAt, true
		}
	case ast.CallKind:
		call := e.AsCall()
		args := call.Args()
		switch call.FunctionName() {
		case "timestamp":
			if len(args) == 1 {
				if s, ok := stringLiteral(args[0]); ok {
					ts, err := time.Parse(time.RFC3339Nano, s)
					return ts, err == nil
				}
			}
		case operators.Add, operators.Subtract:
			if len(args) != 2 {
				return time.Time{}, false
			}
			base, ok := t.timeValue(args[0])
			if !ok {
				return time.Time{}, false
			}
			d, ok := durationLiteral(args[1])
			if !ok {
				return time.Time{}, false
			}
			if call.FunctionName() == operators.Subtract {
				d = -d
			}
			return base.Add(d), true
		}
	}
	return time.Time{}, false
}

func stringLiteral(e ast.Expr) (string, bool) {
	v, ok := literal(e)
	s, isString := v.(string)
	return s, ok && isString
}

// durationLiteral reads duration("720h").
func durationLiteral(e ast.Expr) (time.Duration, bool) {
	if e.Kind() != ast.CallKind || e.AsCall().FunctionName() != "duration" || len(e.AsCall().Args()) != 1 {
		return 0, false
	}
	s, ok := stringLiteral(e.AsCall().Args()[0])
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(s)
	return d, err == nil
}

// compareRecord translates "record field op value", either way round.
func (t *translator) compareRecord(fn string, args []ast.Expr) (string, bool) {
	for _, side := range [][2]int{{0, 1}, {1, 0}} {
		col, ok := t.recordField(args[side[0]])
		if !ok {
			continue
		}
		op := fn
		if side[0] == 1 {
			op = mirrored[fn]
		}
		switch col.kind {
		case stamp:
			ts, ok := t.timeValue(args[side[1]])
			if !ok {
				return "", false
			}
			return fmt.Sprintf("(%s %s %s::timestamptz)", col.sql, sqlOps[op], t.bind(ts.Truncate(time.Microsecond))), true
		case jsonVal:
			v, ok := t.value(args[side[1]])
			if !ok {
				return "", false
			}
			return t.compareJSON(col.sql, op, v)
		default:
			v, ok := t.value(args[side[1]])
			if !ok {
				return "", false
			}
			return t.compare(col, op, v)
		}
	}
	return "", false
}

// compareJSON translates "e.data.k op value". A key the event lacks (or a
// value of another kind, for < and the like) never matches: CEL's exists
// would fail on it, and SQL leaves that event out instead.
func (t *translator) compareJSON(sql, op string, v any) (string, bool) {
	if s, ok := v.(string); ok && !storable(s) {
		return "", false
	}
	switch op {
	case operators.Equals, operators.NotEquals:
		b, err := json.Marshal(v)
		if err != nil {
			return "", false
		}
		return fmt.Sprintf("coalesce(%s %s %s::jsonb, false)", sql, sqlOps[op], t.bind(string(b))), true
	}
	switch x := v.(type) {
	case float64, int64:
		f, _ := asFloat(x)
		return fmt.Sprintf("(CASE WHEN jsonb_typeof(%s) = 'number' THEN (%s)::float8 %s %s::float8 ELSE false END)", sql, sql, sqlOps[op], t.bind(f)), true
	case string:
		return fmt.Sprintf(`(CASE WHEN jsonb_typeof(%s) = 'string' THEN (%s #>> '{}') COLLATE "C" %s %s::text ELSE false END)`, sql, sql, sqlOps[op], t.bind(x)), true
	}
	return "", false
}
