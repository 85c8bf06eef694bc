package journey

import (
	"fmt"

	"cel.dev/cel-go/cel"
)

// AudienceAST returns the type-checked syntax tree of an audience
// condition (customer fields as names of their own, as EvalAudience sees
// them), for translating its common predicates to SQL. An expression the
// audience environment rejects is an error naming its first problem.
func (e *Env) AudienceAST(expr string) (*cel.Ast, error) {
	checked := e.checkAudience(expr)
	if checked.ast == nil {
		msg := "the audience could not be checked"
		if len(checked.issues) > 0 {
			msg = checked.issues[0].message
		}
		return nil, fmt.Errorf("audience %q: %s", expr, msg)
	}
	return checked.ast, nil
}
