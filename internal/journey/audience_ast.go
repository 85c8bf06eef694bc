package journey

import (
	"errors"

	"cel.dev/cel-go/cel"
)

// AudienceAST returns the type-checked syntax tree of an audience
// condition, for translating its common predicates to SQL.
func (e *Env) AudienceAST(expr string) (*cel.Ast, error) {
	checked := e.checkAudience(expr)
	if checked.ast == nil {
		msg := "the audience could not be checked"
		if len(checked.issues) > 0 {
			msg = checked.issues[0].message
		}
		return nil, errors.New("audience " + expr + ": " + msg)
	}
	return checked.ast, nil
}
