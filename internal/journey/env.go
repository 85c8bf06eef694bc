package journey

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/structpb"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/ext"
)

// Env is the CEL environment journeys are checked and evaluated in: the
// variables customer, event, order and task with the types in vars.go. It caches
// compiled programs and is safe for concurrent use. Evaluation is pure and
// deterministic, so workflows may evaluate expressions directly:
// comprehensions over a map go through its keys in sorted order
// (orderRanges), never in Go's random map order.
type Env struct {
	env      *cel.Env
	audience *cel.Env // customer fields as top-level names, for trigger.audience
	fanout   *cel.Env // customer with events, and event, for trigger.for
	fields   []string // every field name of the declared types, for suggestions
	programs sync.Map // expression source -> cel.Program
	audProgs sync.Map // audience expression source -> cel.Program
}

// Variables are the names expressions can use.
var Variables = []string{"customer", "event", "trigger", "order", "task", "now", "today"}

// maxExprLen bounds an expression's length; journeys hold conditions, not
// programs.
const maxExprLen = 4000

// evalCostLimit stops a pathological expression (a comprehension over a
// huge list) from burning a workflow task.
const evalCostLimit = 1_000_000

// StringsVersion is the version of CEL's strings extension journeys use,
// pinned: running journeys evaluate their conditions again on every
// replay, so the environment is part of the interpreter, and a new version
// (new functions, or old ones behaving differently) is a new interpreter
// revision (workflows.CurrentRevision), with recorded histories. So is a
// cel-go upgrade; workflows' TestCELEnvironmentIsPinned holds both.
const StringsVersion = 5

// NewEnv builds the journey CEL environment.
func NewEnv() (*Env, error) {
	types := []reflect.Type{
		reflect.TypeFor[Customer](), reflect.TypeFor[Event](),
		reflect.TypeFor[Order](), reflect.TypeFor[Item](), reflect.TypeFor[Task](),
		reflect.TypeFor[SurveyAnswer](),
		// Nested in Customer, so declared with it; listed for the
		// suggestions of misspelt fields.
		reflect.TypeFor[Engagement](), reflect.TypeFor[EmailEngagement](),
		reflect.TypeFor[SMSEngagement](), reflect.TypeFor[MailEngagement](),
	}
	rest := []cel.EnvOption{
		cel.CrossTypeNumericComparisons(true),
		cel.ParserExpressionSizeLimit(maxExprLen),
		cel.ParserRecursionLimit(64),
		ext.Strings(ext.StringsVersion(StringsVersion)),
		orderedRange(),
		dateFunctions(),
		cel.Variable("now", cel.TimestampType),
		cel.Variable("today", cel.StringType),
	}
	common := append([]cel.EnvOption{ext.NativeTypes(types[0], types[1], types[2], types[3], types[4], types[5], ext.ParseStructTag("json"))}, rest...)
	env, err := cel.NewEnv(append(common,
		cel.Variable("customer", cel.ObjectType(celTypeName(types[0]))),
		cel.Variable("event", cel.ObjectType(celTypeName(types[1]))),
		cel.Variable("trigger", cel.ObjectType(celTypeName(types[1]))),
		cel.Variable("order", cel.ObjectType(celTypeName(types[2]))),
		cel.Variable("task", cel.ObjectType(celTypeName(types[4]))),
	)...)
	if err != nil {
		return nil, fmt.Errorf("journey: build CEL environment: %w", err)
	}
	audOpts := append(common, cel.Variable("customer", cel.ObjectType(celTypeName(types[0]))))
	for _, f := range customerFields() {
		audOpts = append(audOpts, cel.Variable(f.name, f.typ))
	}
	audience, err := cel.NewEnv(audOpts...)
	if err != nil {
		return nil, fmt.Errorf("journey: build CEL audience environment: %w", err)
	}
	// for conditions (fanout.go) see a customer with their recent events.
	fanout, err := newFanoutEnv(append([]cel.EnvOption{ext.NativeTypes(reflect.TypeFor[FanoutCustomer](), reflect.TypeFor[RecentEvent](),
		types[1], types[2], types[3], types[4], types[5], ext.ParseStructTag("json"))}, rest...))
	if err != nil {
		return nil, err
	}
	e := &Env{env: env, audience: audience, fanout: fanout}
	seen := map[string]bool{}
	for _, t := range types {
		for i := range t.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			if name != "" && !seen[name] {
				seen[name] = true
				e.fields = append(e.fields, name)
			}
		}
	}
	sort.Strings(e.fields)
	return e, nil
}

func celTypeName(t reflect.Type) string {
	return "journey." + t.Name()
}

type customerField struct {
	name  string
	index int
	typ   *cel.Type
}

// customerFields are the fields of Customer by their json names, with
// their CEL types: an audience can say days_since_last_order >= 90.
func customerFields() []customerField {
	t := reflect.TypeFor[Customer]()
	var out []customerField
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		var typ *cel.Type
		switch f.Type.Kind() {
		case reflect.String:
			typ = cel.StringType
		case reflect.Bool:
			typ = cel.BoolType
		case reflect.Int64:
			typ = cel.IntType
		case reflect.Float64:
			typ = cel.DoubleType
		case reflect.Slice:
			if f.Type.Elem().Kind() != reflect.String {
				continue // orders: not for audiences
			}
			typ = cel.ListType(cel.StringType)
		case reflect.Map:
			typ = cel.MapType(cel.StringType, cel.DynType)
		case reflect.Struct:
			typ = cel.ObjectType(celTypeName(f.Type)) // engagement
		default:
			continue
		}
		out = append(out, customerField{name: name, index: i, typ: typ})
	}
	return out
}

// checkedExpr is what type-checking an expression yields.
type checkedExpr struct {
	ast    *cel.Ast
	issues []exprIssue
}

// exprIssue is a problem inside an expression, at a 1-based line and a
// 0-based column (in runes) of the expression text.
type exprIssue struct {
	line, col int
	message   string
}

// check parses and type-checks an expression and turns CEL's messages into
// sentences a marketer can act on. It never panics.
func (e *Env) check(src string) checkedExpr { return e.checkIn(e.env, src) }

// checkIn parses and type-checks an expression in one of the environments.
func (e *Env) checkIn(env *cel.Env, src string) checkedExpr {
	return e.checkTyped(env, src, cel.BoolType)
}

// checkKey parses and type-checks an entry key expression, which gives
// text.
func (e *Env) checkKey(src string) checkedExpr { return e.checkTyped(e.env, src, cel.StringType) }

// checkValue type-checks an expression giving a value of any type (an
// emitted event's data).
func (e *Env) checkValue(src string) checkedExpr { return e.checkTyped(e.env, src, nil) }

// checkNumber type-checks an expression giving a number (a recorded
// score).
func (e *Env) checkNumber(src string) checkedExpr { return e.checkTyped(e.env, src, numberType) }

// numberType stands for "int, uint or double" in checkTyped.
var numberType = cel.OpaqueType("number")

// EvalValue evaluates an expression to a plain value (nil, bool, float64,
// string, []any, map[string]any), as JSON would carry it.
func (e *Env) EvalValue(expr string, vars Vars) (any, error) {
	cacheKey := "value:" + expr // not valid CEL, so never an expression's own text
	var prg cel.Program
	if p, ok := e.programs.Load(cacheKey); ok {
		prg = p.(cel.Program)
	} else {
		checked := e.checkValue(expr)
		if checked.ast == nil {
			return nil, fmt.Errorf("expression %q: %s", expr, checked.issues[0].message)
		}
		p, err := e.env.Program(checked.ast, cel.CostLimit(evalCostLimit))
		if err != nil {
			return nil, fmt.Errorf("expression %q: %w", expr, err)
		}
		prg = p
		e.programs.Store(cacheKey, p)
	}
	out, _, err := prg.Eval(vars.activation())
	if err != nil {
		return nil, fmt.Errorf("evaluate %q: %w", expr, err)
	}
	native, err := out.ConvertToNative(reflect.TypeFor[*structpb.Value]())
	if err != nil {
		return nil, fmt.Errorf("evaluate %q: %v cannot be carried as data (%w)", expr, out.Type(), err)
	}
	return native.(*structpb.Value).AsInterface(), nil
}

// checkTyped parses and type-checks an expression that must give a value
// of type want (nil: any; numberType: a number).
func (e *Env) checkTyped(env *cel.Env, src string, want *cel.Type) (out checkedExpr) {
	defer func() {
		if r := recover(); r != nil {
			out = checkedExpr{issues: []exprIssue{{line: 1, message: fmt.Sprintf("this expression could not be checked (%v); simplify it", r)}}}
		}
	}()
	if len(src) > maxExprLen {
		return checkedExpr{issues: []exprIssue{{line: 1, message: fmt.Sprintf("this expression is %d characters long; keep conditions under %d", len(src), maxExprLen)}}}
	}
	ast, iss := env.Parse(src)
	if iss == nil || iss.Err() == nil {
		// Comprehensions over maps iterate sorted keys (orderRanges).
		orderRanges(ast.NativeRep())
		ast, iss = env.Check(ast)
	}
	if iss != nil && iss.Err() != nil {
		lines := strings.Split(src, "\n")
		for _, ce := range iss.Errors() {
			is := exprIssue{
				line:    max(ce.Location.Line(), 1),
				col:     max(ce.Location.Column(), 0),
				message: e.friendly(ce.Message, env == e.audience),
			}
			// CEL places a bad field at the dot before it; point at the name.
			if strings.HasPrefix(ce.Message, "undefined field") && is.line <= len(lines) {
				if l := []rune(lines[is.line-1]); is.col < len(l) && l[is.col] == '.' {
					is.col++
				}
			}
			out.issues = append(out.issues, is)
		}
		return out
	}
	if want == nil { // a value of any type
		out.ast = ast
		return out
	}
	if want == numberType {
		if t := ast.OutputType(); !t.IsExactType(cel.IntType) && !t.IsExactType(cel.UintType) && !t.IsExactType(cel.DoubleType) && !t.IsExactType(cel.DynType) {
			out.issues = append(out.issues, exprIssue{line: 1, message: fmt.Sprintf("this must give a number, such as event.data.score, but it gives a %s", describeType(t))})
			return out
		}
		out.ast = ast
		return out
	}
	if !ast.OutputType().IsExactType(want) && !ast.OutputType().IsExactType(cel.DynType) {
		msg := fmt.Sprintf("this must be a condition that is true or false, but it gives a %s", describeType(ast.OutputType()))
		if want == cel.StringType {
			msg = fmt.Sprintf("this must give text (a string), such as order.id, but it gives a %s", describeType(ast.OutputType()))
		}
		out.issues = append(out.issues, exprIssue{line: 1, message: msg})
		return out
	}
	out.ast = ast
	return out
}

func describeType(t *cel.Type) string {
	switch {
	case t.IsExactType(cel.StringType):
		return "text (string)"
	case t.IsExactType(cel.IntType), t.IsExactType(cel.UintType), t.IsExactType(cel.DoubleType):
		return "number (" + t.String() + ")"
	}
	return t.String()
}

var operatorNames = map[string]string{
	"_==_": "==", "_!=_": "!=", "_<_": "<", "_<=_": "<=", "_>_": ">", "_>=_": ">=",
	"_+_": "+", "_-_": "-", "_*_": "*", "_/_": "/", "_%_": "%", "_&&_": "&&", "_||_": "||",
	"!_": "!", "-_": "-", "_[_]": "[ ]", "@in": "in", "_?_:_": "? :",
}

// friendly rewrites CEL's checker messages in journey terms.
func (e *Env) friendly(msg string, audience bool) string {
	switch {
	case strings.HasPrefix(msg, "undeclared reference to '") && audience:
		name := between(msg, "'", "'")
		return fmt.Sprintf("unknown name %q; an audience can use the customer's fields, such as orders_count or days_since_last_order, and now and today%s", name, didYouMean(name, e.fields))
	case strings.HasPrefix(msg, "undeclared reference to '"):
		name := between(msg, "'", "'")
		return fmt.Sprintf("unknown name %q; expressions can use customer, event, trigger, order, task, now and today%s", name, didYouMean(name, slices.Concat(Variables, e.fields)))
	case strings.HasPrefix(msg, "undefined field '"):
		name := between(msg, "'", "'")
		return fmt.Sprintf("there is no field %q%s (journeys/README.md lists every field)", name, didYouMean(name, e.fields))
	case strings.HasPrefix(msg, "found no matching overload for '"+orderedRangeFn+"'"):
		return "all, exists, exists_one, map and filter go through a list or a map, not " + between(msg, "(", ")")
	case strings.HasPrefix(msg, "found no matching overload for '"):
		fn := between(msg, "'", "'")
		args := msg[strings.LastIndex(msg, "("):]
		if end := strings.LastIndex(args, ")"); end >= 0 {
			args = args[:end+1]
		}
		if op, ok := operatorNames[fn]; ok {
			return fmt.Sprintf("%s cannot be used on %s; compare values of the same kind, such as a number with a number", op, args)
		}
		return fmt.Sprintf("%s cannot be applied to %s", fn, args)
	case strings.HasPrefix(msg, "Syntax error: "):
		return "this is not a valid expression: " + strings.TrimPrefix(msg, "Syntax error: ")
	}
	return msg
}

func between(s, open, close string) string {
	_, rest, ok := strings.Cut(s, open)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, close)
	return v
}

// Eval evaluates a condition. A condition that cannot be evaluated (a
// missing key in attributes, say) is an error; callers decide what that
// means for the journey.
func (e *Env) Eval(expr string, vars Vars) (bool, error) {
	prg, err := e.program(expr)
	if err != nil {
		return false, err
	}
	out, _, err := prg.Eval(vars.activation())
	if err != nil {
		return false, fmt.Errorf("evaluate %q: %w", expr, err)
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("evaluate %q: got %v, not true or false", expr, out.Value())
	}
	return b, nil
}

// activation is what the variables hold for an evaluation.
func (v Vars) activation() map[string]any {
	return map[string]any{"customer": v.Customer, "event": v.Event, "trigger": v.Trigger, "order": v.Order, "task": v.Task, "now": v.Now,
		"today": func() any { return v.Customer.Today(v.Now) }}
}

func (e *Env) program(expr string) (cel.Program, error) {
	if p, ok := e.programs.Load(expr); ok {
		return p.(cel.Program), nil
	}
	checked := e.check(expr)
	if checked.ast == nil {
		msgs := make([]string, len(checked.issues))
		for i, is := range checked.issues {
			msgs[i] = is.message
		}
		return nil, fmt.Errorf("expression %q: %s", expr, strings.Join(msgs, "; "))
	}
	prg, err := e.env.Program(checked.ast, cel.CostLimit(evalCostLimit))
	if err != nil {
		return nil, fmt.Errorf("expression %q: %w", expr, err)
	}
	p, _ := e.programs.LoadOrStore(expr, prg)
	return p.(cel.Program), nil
}

// checkAudience type-checks an audience condition, where the customer's
// fields are names of their own (orders_count) as well as customer.*.
func (e *Env) checkAudience(src string) checkedExpr {
	checked := e.checkIn(e.audience, src)
	if checked.ast != nil {
		// Audiences look at every customer at once, from their figures:
		// the list of each one's orders is not loaded for them.
		for i, line := range strings.Split(src, "\n") {
			if loc := audienceOrdersRe.FindStringIndex(line); loc != nil {
				return checkedExpr{issues: []exprIssue{{line: i + 1, col: utf8.RuneCountInString(line[:loc[0]]),
					message: "customer.orders is not available in an audience; use orders_count, days_since_last_order or lifetime_value, or check the orders in a branch once the journey starts"}}}
			}
			if loc := audienceSurveysRe.FindStringIndex(line); loc != nil {
				return checkedExpr{issues: []exprIssue{{line: i + 1, col: utf8.RuneCountInString(line[:loc[0]]),
					message: "customer.surveys is not available in an audience; check the answers in a branch once the journey starts"}}}
			}
		}
	}
	return checked
}

// audienceOrdersRe and audienceSurveysRe find customer.orders and
// customer.surveys in an audience condition.
var (
	audienceOrdersRe  = regexp.MustCompile(`\bcustomer\s*\.\s*orders\b`)
	audienceSurveysRe = regexp.MustCompile(`\bcustomer\s*\.\s*surveys\b`)
)

// EvalAudience evaluates an audience condition for a customer, at the
// scan's time now.
func (e *Env) EvalAudience(expr string, c Customer, now time.Time) (bool, error) {
	var prg cel.Program
	if p, ok := e.audProgs.Load(expr); ok {
		prg = p.(cel.Program)
	} else {
		checked := e.checkAudience(expr)
		if checked.ast == nil {
			return false, fmt.Errorf("audience %q: %s", expr, checked.issues[0].message)
		}
		p, err := e.audience.Program(checked.ast, cel.CostLimit(evalCostLimit))
		if err != nil {
			return false, fmt.Errorf("audience %q: %w", expr, err)
		}
		e.audProgs.Store(expr, p)
		prg = p
	}
	vars := map[string]any{"customer": c, "now": now, "today": func() any { return c.Today(now) }}
	v := reflect.ValueOf(c)
	for _, f := range customerFields() {
		val := v.Field(f.index).Interface()
		switch x := val.(type) {
		case []string:
			if x == nil {
				val = []string{}
			}
		case map[string]any:
			if x == nil {
				val = map[string]any{}
			}
		}
		vars[f.name] = val
	}
	out, _, err := prg.Eval(vars)
	if err != nil {
		return false, fmt.Errorf("evaluate audience %q: %w", expr, err)
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("evaluate audience %q: got %v, not true or false", expr, out.Value())
	}
	return b, nil
}

// EvalKey evaluates an entry key expression (trigger.key), which gives
// text.
func (e *Env) EvalKey(expr string, vars Vars) (string, error) {
	cacheKey := "key:" + expr // not valid CEL, so never an expression's own text
	var prg cel.Program
	if p, ok := e.programs.Load(cacheKey); ok {
		prg = p.(cel.Program)
	} else {
		checked := e.checkKey(expr)
		if checked.ast == nil {
			return "", fmt.Errorf("key %q: %s", expr, checked.issues[0].message)
		}
		p, err := e.env.Program(checked.ast, cel.CostLimit(evalCostLimit))
		if err != nil {
			return "", fmt.Errorf("key %q: %w", expr, err)
		}
		prg = p
		e.programs.Store(cacheKey, p)
	}
	out, _, err := prg.Eval(vars.activation())
	if err != nil {
		return "", fmt.Errorf("evaluate key %q: %w", expr, err)
	}
	s, ok := out.Value().(string)
	if !ok {
		return "", fmt.Errorf("evaluate key %q: got %v, not text", expr, out.Value())
	}
	return s, nil
}

// Declarations lists what the environment declares, one line each in a
// stable order: every function's overloads with their signatures, the
// macros and the variables. Two environments that differ in what
// expressions may say differ here (see StringsVersion).
func (e *Env) Declarations() []string {
	var out []string
	for _, env := range []struct {
		name string
		env  *cel.Env
	}{{"conditions", e.env}, {"audiences", e.audience}} {
		for name, fn := range env.env.Functions() {
			for _, o := range fn.OverloadDecls() {
				args := make([]string, len(o.ArgTypes()))
				for i, t := range o.ArgTypes() {
					args[i] = t.String()
				}
				kind := "function"
				if o.IsMemberFunction() {
					kind = "member"
				}
				out = append(out, fmt.Sprintf("%s %s %s %s(%s) %s", env.name, kind, name, o.ID(), strings.Join(args, ", "), o.ResultType()))
			}
		}
		for _, m := range env.env.Macros() {
			out = append(out, fmt.Sprintf("%s macro %s", env.name, m.MacroKey()))
		}
		for _, v := range env.env.Variables() {
			out = append(out, fmt.Sprintf("%s variable %s %s", env.name, v.Name(), v.Type()))
		}
	}
	slices.Sort(out)
	return out
}
