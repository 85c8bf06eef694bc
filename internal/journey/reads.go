package journey

import (
	"fmt"

	"cel.dev/cel-go/common/ast"
)

// ReadsCustomer reports whether an expression reads the customer's facts
// (the variable customer): a run that evaluates no such expression needs
// not read them. It errs on the side of yes: a comprehension variable
// named customer counts too. The expression must parse.
func (e *Env) ReadsCustomer(expr string) (bool, error) {
	parsed, iss := e.env.Parse(expr)
	if iss != nil && iss.Err() != nil {
		return false, fmt.Errorf("expression %q does not parse: %w", expr, iss.Err())
	}
	reads := false
	ast.PreOrderVisit(parsed.NativeRep().Expr(), ast.NewExprVisitor(func(x ast.Expr) {
		if x.Kind() == ast.IdentKind && x.AsIdent() == "customer" {
			reads = true
		}
	}))
	return reads, nil
}
