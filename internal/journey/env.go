package journey

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/ext"
)

// Env is the CEL environment journeys are checked and evaluated in: the
// variables customer, event and order with the types in vars.go. It caches
// compiled programs and is safe for concurrent use. Evaluation is pure and
// deterministic, so workflows may evaluate expressions directly.
type Env struct {
	env      *cel.Env
	fields   []string // every field name of the declared types, for suggestions
	programs sync.Map // expression source -> cel.Program
}

// Variables are the names expressions can use.
var Variables = []string{"customer", "event", "order"}

// maxExprLen bounds an expression's length; journeys hold conditions, not
// programs.
const maxExprLen = 4000

// evalCostLimit stops a pathological expression (a comprehension over a
// huge list) from burning a workflow task.
const evalCostLimit = 1_000_000

// NewEnv builds the journey CEL environment.
func NewEnv() (*Env, error) {
	types := []reflect.Type{
		reflect.TypeFor[Customer](), reflect.TypeFor[Event](),
		reflect.TypeFor[Order](), reflect.TypeFor[Item](),
	}
	env, err := cel.NewEnv(
		ext.NativeTypes(types[0], types[1], types[2], types[3], ext.ParseStructTag("json")),
		cel.Variable("customer", cel.ObjectType(celTypeName(types[0]))),
		cel.Variable("event", cel.ObjectType(celTypeName(types[1]))),
		cel.Variable("order", cel.ObjectType(celTypeName(types[2]))),
		cel.CrossTypeNumericComparisons(true),
		cel.ParserExpressionSizeLimit(maxExprLen),
		cel.ParserRecursionLimit(64),
		ext.Strings(),
	)
	if err != nil {
		return nil, fmt.Errorf("journey: build CEL environment: %w", err)
	}
	e := &Env{env: env}
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
func (e *Env) check(src string) (out checkedExpr) {
	defer func() {
		if r := recover(); r != nil {
			out = checkedExpr{issues: []exprIssue{{line: 1, message: fmt.Sprintf("this expression could not be checked (%v); simplify it", r)}}}
		}
	}()
	if len(src) > maxExprLen {
		return checkedExpr{issues: []exprIssue{{line: 1, message: fmt.Sprintf("this expression is %d characters long; keep conditions under %d", len(src), maxExprLen)}}}
	}
	ast, iss := e.env.Compile(src)
	if iss != nil && iss.Err() != nil {
		lines := strings.Split(src, "\n")
		for _, ce := range iss.Errors() {
			is := exprIssue{
				line:    max(ce.Location.Line(), 1),
				col:     max(ce.Location.Column(), 0),
				message: e.friendly(ce.Message),
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
	if !ast.OutputType().IsExactType(cel.BoolType) && !ast.OutputType().IsExactType(cel.DynType) {
		out.issues = append(out.issues, exprIssue{line: 1, message: fmt.Sprintf(
			"this must be a condition that is true or false, but it gives a %s", describeType(ast.OutputType()))})
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
func (e *Env) friendly(msg string) string {
	switch {
	case strings.HasPrefix(msg, "undeclared reference to '"):
		name := between(msg, "'", "'")
		return fmt.Sprintf("unknown name %q; expressions can use customer, event and order%s", name, didYouMean(name, Variables))
	case strings.HasPrefix(msg, "undefined field '"):
		name := between(msg, "'", "'")
		return fmt.Sprintf("there is no field %q%s (journeys/README.md lists every field)", name, didYouMean(name, e.fields))
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
	out, _, err := prg.Eval(map[string]any{
		"customer": vars.Customer,
		"event":    vars.Event,
		"order":    vars.Order,
	})
	if err != nil {
		return false, fmt.Errorf("evaluate %q: %w", expr, err)
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("evaluate %q: got %v, not true or false", expr, out.Value())
	}
	return b, nil
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
