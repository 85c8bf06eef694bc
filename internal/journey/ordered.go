package journey

import (
	"cmp"
	"slices"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
)

// orderedRangeFn is the function every comprehension's range passes
// through (see orderRanges). Its name starts with @, so no expression can
// call it by name.
const orderedRangeFn = "@rapport_ordered_range"

// OrderedRangeFn is the name of the function that wraps every
// comprehension's range in a checked expression (for internal/audience,
// which reads the range inside it).
const OrderedRangeFn = orderedRangeFn

// orderedRange declares orderedRangeFn: a list is itself, a map is the
// sorted list of its keys. A comprehension over a map iterates its keys,
// so iterating the sorted keys instead gives the same elements, in a fixed
// order.
func orderedRange() cel.EnvOption {
	t := cel.TypeParamType("T")
	k, v := cel.TypeParamType("K"), cel.TypeParamType("V")
	return cel.Function(orderedRangeFn,
		cel.Overload("rapport_ordered_range_list", []*cel.Type{cel.ListType(t)}, cel.ListType(t)),
		cel.Overload("rapport_ordered_range_map", []*cel.Type{cel.MapType(k, v)}, cel.ListType(k)),
		cel.SingletonUnaryBinding(orderedValues),
	)
}

// orderedValues gives a map's keys sorted (by kind of key, then value),
// and any other value unchanged.
func orderedValues(val ref.Val) ref.Val {
	m, ok := val.(traits.Mapper)
	if !ok {
		return val
	}
	var keys []ref.Val
	for it := m.Iterator(); it.HasNext() == types.True; {
		keys = append(keys, it.Next())
	}
	slices.SortFunc(keys, func(a, b ref.Val) int {
		if c := cmp.Compare(a.Type().TypeName(), b.Type().TypeName()); c != 0 {
			return c
		}
		if ca, ok := a.(traits.Comparer); ok {
			if n, ok := ca.Compare(b).(types.Int); ok {
				return int(n)
			}
		}
		return 0
	})
	return types.NewRefValList(types.DefaultTypeAdapter, keys)
}

// orderRanges makes every comprehension (all, exists, exists_one, map,
// filter) of a parsed expression iterate its range through
// orderedRangeFn, in place. Go maps have no order, and cel-go iterates a
// map in Go's order: without this, event.data.map(k, k)[0] gives a
// different key from one evaluation to the next, which would make a
// workflow that evaluates it non-deterministic. Refusing such
// comprehensions when the journey is compiled could not be sound: the
// values in event.data are dyn, so whether event.data.x is a list or a
// map is known only when the event arrives. Ordering the range when it is
// evaluated covers both, leaves comprehensions over lists as they were,
// and applies alike to conditions workflows evaluate (exit_when,
// until_event, branch) and those evaluated outside them (trigger.when,
// audiences). The check that follows types the new calls.
func orderRanges(tree *ast.AST) {
	fac := ast.NewExprFactory()
	next := ast.MaxID(tree) + 1
	info := tree.SourceInfo()
	ast.PostOrderVisit(tree.Expr(), ast.NewExprVisitor(func(e ast.Expr) {
		if e.Kind() != ast.ComprehensionKind {
			return
		}
		c := e.AsComprehension()
		rng := c.IterRange()
		if c.HasIterVar2() || (rng.Kind() == ast.CallKind && rng.AsCall().FunctionName() == orderedRangeFn) {
			// Two-variable comprehensions (not enabled in this
			// environment) see a map's values too; a sorted key list
			// would change what they mean.
			return
		}
		call := fac.NewCall(next, orderedRangeFn, rng)
		if r, ok := info.GetOffsetRange(rng.ID()); ok {
			info.SetOffsetRange(next, r)
		}
		next++
		e.SetKindCase(fac.NewComprehension(e.ID(), call, c.IterVar(), c.AccuVar(), c.AccuInit(), c.LoopCondition(), c.LoopStep(), c.Result()))
	}))
}
