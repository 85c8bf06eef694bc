package journey

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
)

// A fan-out trigger (trigger.for) starts a journey for every customer an
// event concerns: an event posted without a customer (product.restocked)
// enters each customer for whom the for condition holds, a condition over
// the customer, their recent events and orders, and the event.

// RecentEventsWindow bounds customer.events in a for condition: the
// customer's events that occurred in the window before the fan-out's scan.
const RecentEventsWindow = 90 * 24 * time.Hour

// RecentEvent is one of a customer's recent events, as a for condition
// sees it in customer.events.
type RecentEvent struct {
	ID   string         `json:"id"`
	Type string         `json:"type"`
	Data map[string]any `json:"data"`
	// At is when it occurred.
	At time.Time `json:"at"`
}

// FanoutCustomer is the customer a for condition sees: the customer's
// facts, and their recent events. Its lists (events, orders) are decided
// by the database only (internal/audience), never loaded.
type FanoutCustomer struct {
	Customer
	Events []RecentEvent `json:"events"`
}

// ForChecker, when set (internal/audience sets it), says whether the
// database can decide the parts of a for condition that name
// customer.events or customer.orders: a problem it returns is reported at
// the condition. Without it, for conditions are only type-checked.
var ForChecker func(env *Env, expr string) error

// newFanoutEnv builds the environment of for conditions: customer (with
// events), event, now and today.
func newFanoutEnv(common []cel.EnvOption) (*cel.Env, error) {
	opts := append(common,
		cel.Variable("customer", cel.ObjectType(celTypeName(reflect.TypeFor[FanoutCustomer]()))),
		cel.Variable("event", cel.ObjectType(celTypeName(reflect.TypeFor[Event]()))),
	)
	env, err := cel.NewEnv(opts...)
	if err != nil {
		return nil, fmt.Errorf("journey: build CEL fan-out environment: %w", err)
	}
	return env, nil
}

// checkFor type-checks a for condition.
func (e *Env) checkFor(src string) checkedExpr {
	checked := e.checkIn(e.fanout, src)
	if checked.ast != nil {
		for i, line := range strings.Split(src, "\n") {
			if loc := audienceSurveysRe.FindStringIndex(line); loc != nil {
				return checkedExpr{issues: []exprIssue{{line: i + 1, col: len([]rune(line[:loc[0]])),
					message: "customer.surveys is not available in a for condition"}}}
			}
		}
	}
	return checked
}

// ForAST returns the type-checked syntax tree of a for condition, for
// translating it to SQL.
func (e *Env) ForAST(expr string) (*cel.Ast, error) {
	checked := e.checkFor(expr)
	if checked.ast == nil {
		msg := "the condition could not be checked"
		if len(checked.issues) > 0 {
			msg = checked.issues[0].message
		}
		return nil, fmt.Errorf("trigger.for %q: %s", expr, msg)
	}
	return checked.ast, nil
}

// EvalFor evaluates (the parts left to CEL of) a for condition for a
// customer and the fan-out's event, at the scan's time now.
func (e *Env) EvalFor(expr string, c Customer, ev Event, now time.Time) (bool, error) {
	key := "for:" + expr // not valid CEL, so never an expression's own text
	var prg cel.Program
	if p, ok := e.programs.Load(key); ok {
		prg = p.(cel.Program)
	} else {
		checked := e.checkFor(expr)
		if checked.ast == nil {
			return false, fmt.Errorf("trigger.for %q: %s", expr, checked.issues[0].message)
		}
		p, err := e.fanout.Program(checked.ast, cel.CostLimit(evalCostLimit))
		if err != nil {
			return false, fmt.Errorf("trigger.for %q: %w", expr, err)
		}
		e.programs.Store(key, p)
		prg = p
	}
	if ev.Data == nil {
		ev.Data = map[string]any{}
	}
	out, _, err := prg.Eval(map[string]any{"customer": FanoutCustomer{Customer: c, Events: []RecentEvent{}},
		"event": ev, "now": now, "today": func() any { return c.Today(now) }})
	if err != nil {
		return false, fmt.Errorf("evaluate trigger.for %q: %w", expr, err)
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("evaluate trigger.for %q: got %v, not true or false", expr, out.Value())
	}
	return b, nil
}

// FanOut reports whether the journey is started by events without a
// customer, for each customer its for condition selects.
func (t Trigger) FanOut() bool { return t.For != "" }
