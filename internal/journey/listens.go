package journey

import (
	"fmt"
	"slices"

	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
)

// AnyEventType in a run's listened types means every event type: some
// condition the run evaluates on incoming events does not say which types
// it matches.
const AnyEventType = "*"

// ListenedEventTypes returns the event types a running journey can react
// to: the types its exit_when, goal (when it exits on it) and wait
// until_event conditions can match, sorted. It is nil when the journey reacts to no event, and
// []string{AnyEventType} when some condition does not constrain
// event.type (such a run must receive every event).
//
// A condition constrains the type when, read as CEL, it can only be true
// for some types: `event.type == "a"`, `event.type in ["a", "b"]`, a
// conjunction with at least one constrained side (the intersection, or the
// constrained side), or a disjunction of constrained sides (the union).
// Anything else (a negation, a comparison with a non-literal, a
// condition on customer facts alone) may hold for any type.
func (e *Env) ListenedEventTypes(p *Plan) ([]string, error) {
	var conds []string
	if p.ExitWhen != "" {
		conds = append(conds, p.ExitWhen)
	}
	if p.Goal != nil && p.Goal.Exit {
		conds = append(conds, p.Goal.When)
	}
	p.Walk(func(s *Step) {
		if s.Wait != nil && s.Wait.UntilEvent != "" {
			conds = append(conds, s.Wait.UntilEvent)
		}
	})
	if len(conds) == 0 {
		return nil, nil
	}
	all := map[string]bool{}
	for _, c := range conds {
		types, err := e.EventTypesOf(c)
		if err != nil {
			return nil, err
		}
		if types == nil {
			return []string{AnyEventType}, nil
		}
		for _, t := range types {
			all[t] = true
		}
	}
	out := make([]string, 0, len(all))
	for t := range all {
		out = append(out, t)
	}
	slices.Sort(out)
	return out, nil
}

// EventTypesOf returns the event types a condition can be true for,
// sorted, or nil when it does not constrain event.type. A condition that
// can be true for no type at all (`event.type == "a" && event.type ==
// "b"`) gives an empty, non-nil slice. The condition must compile.
func (e *Env) EventTypesOf(condition string) ([]string, error) {
	checked := e.check(condition)
	if checked.ast == nil {
		return nil, fmt.Errorf("condition %q does not compile", condition)
	}
	set := typesOf(checked.ast.NativeRep().Expr())
	if set == nil {
		return nil, nil
	}
	out := make([]string, 0, len(set))
	for t := range set {
		out = append(out, t)
	}
	slices.Sort(out)
	return out, nil
}

// typeSet is a set of event types; nil means unconstrained (any type).
type typeSet map[string]bool

// typesOf returns the event types for which expr can be true, or nil when
// it may be true for any type.
func typesOf(expr ast.Expr) typeSet {
	if expr.Kind() != ast.CallKind {
		return nil
	}
	call := expr.AsCall()
	args := call.Args()
	switch call.FunctionName() {
	case operators.LogicalAnd:
		var out typeSet
		for _, a := range args {
			s := typesOf(a)
			switch {
			case s == nil:
			case out == nil:
				out = s
			default:
				out = intersect(out, s)
			}
		}
		return out
	case operators.LogicalOr:
		out := typeSet{}
		for _, a := range args {
			s := typesOf(a)
			if s == nil {
				return nil
			}
			for t := range s {
				out[t] = true
			}
		}
		return out
	case operators.Equals:
		if len(args) != 2 {
			return nil
		}
		for i := range 2 {
			if isEventType(args[i]) {
				if lit, ok := stringLiteral(args[1-i]); ok {
					return typeSet{lit: true}
				}
			}
		}
		return nil
	case operators.In, operators.OldIn:
		if len(args) != 2 || !isEventType(args[0]) || args[1].Kind() != ast.ListKind {
			return nil
		}
		list := args[1].AsList()
		if len(list.OptionalIndices()) > 0 {
			return nil
		}
		out := typeSet{}
		for _, el := range list.Elements() {
			lit, ok := stringLiteral(el)
			if !ok {
				return nil
			}
			out[lit] = true
		}
		return out
	}
	return nil
}

// isEventType reports whether expr is the field selection event.type.
func isEventType(expr ast.Expr) bool {
	if expr.Kind() != ast.SelectKind {
		return false
	}
	sel := expr.AsSelect()
	if sel.IsTestOnly() || sel.FieldName() != "type" {
		return false
	}
	op := sel.Operand()
	return op.Kind() == ast.IdentKind && op.AsIdent() == "event"
}

func stringLiteral(expr ast.Expr) (string, bool) {
	if expr.Kind() != ast.LiteralKind {
		return "", false
	}
	s, ok := expr.AsLiteral().(types.String)
	return string(s), ok
}

func intersect(a, b typeSet) typeSet {
	out := typeSet{}
	for t := range a {
		if b[t] {
			out[t] = true
		}
	}
	return out
}
