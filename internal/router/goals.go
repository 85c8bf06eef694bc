package router

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/money"
	"github.com/rapporthq/rapport/internal/policy"
	"github.com/rapporthq/rapport/internal/store"
)

// convert records the conversions an event makes: each of the customer's
// runs with a goal, entered before the event was stored and not converted
// yet, whose goal condition holds for the event inside its window. Runs
// that ended count as running ones do, and so do the control group's,
// which never had a workflow: the arms are measured alike. It returns the
// converted runs' workflow ids.
//
// The condition sees the event as `event`, the run's trigger as `trigger`
// (and its order as `order`) and the customer as they are now. A
// condition that cannot be evaluated converts nothing (it is logged).
func (r *Router) convert(ctx context.Context, e store.Event, ev journey.Event) ([]string, error) {
	if r.Env == nil {
		return nil, nil
	}
	cands, err := r.Store.GoalCandidates(ctx, e)
	if err != nil || len(cands) == 0 {
		return nil, err
	}
	facts, err := r.Store.CustomerFacts(ctx, e.CustomerID, time.Now())
	if err != nil {
		return nil, err
	}
	loc, _ := policy.ResolveZone(facts.TimeZone, facts.Country, r.DefaultZone)
	facts.Zone = loc.String()
	var converted []string
	for _, c := range cands {
		if !inWindow(c, ev.OccurredAt) {
			continue
		}
		trigger, err := r.triggerOf(ctx, c.Run)
		if err != nil {
			return converted, err
		}
		vars := journey.Vars{Customer: facts, Event: ev, Trigger: trigger, Order: trigger.Order, Now: ev.OccurredAt}
		ok, err := r.Env.Eval(c.Goal.When, vars)
		if err != nil {
			r.log().Warn("a goal could not be evaluated; the event converts nothing", "workflow_id", c.WorkflowID, "event_id", e.ID, "error", err)
			continue
		}
		if !ok {
			continue
		}
		conv := store.Conversion{WorkflowID: c.WorkflowID, Journey: c.Journey, CustomerID: e.CustomerID, EventID: e.ID, EventType: e.Type, ConvertedAt: ev.OccurredAt}
		if err := r.revenue(ctx, &conv, ev); err != nil {
			return converted, err
		}
		if err := r.Store.RecordConversion(ctx, conv); err != nil {
			return converted, err
		}
		converted = append(converted, c.WorkflowID)
	}
	return converted, nil
}

// inWindow says whether an event at t falls in a candidate's goal window:
// from entry (the store checked its end), or within the goal's window of
// the latest message the run sent before it (of its entry, when it sent
// none: the control group's runs).
func inWindow(c store.GoalCandidate, t time.Time) bool {
	var lastSent time.Time
	if c.LastSentAt != nil {
		lastSent = *c.LastSentAt
	}
	return c.Goal.Covers(c.StartedAt, lastSent, t)
}

// triggerOf returns the event that started a run, as journeys see it; an
// audience run's, or one no longer stored, is empty.
func (r *Router) triggerOf(ctx context.Context, run store.Run) (journey.Event, error) {
	if run.TriggerEventID == "" {
		return journey.Event{}, nil
	}
	e, err := r.Store.GetEvent(ctx, run.TriggerEventID)
	if errors.Is(err, store.ErrNotFound) {
		return journey.Event{}, nil
	}
	if err != nil {
		return journey.Event{}, fmt.Errorf("trigger of run %s: %w", run.WorkflowID, err)
	}
	return JourneyEvent(e)
}

// revenue fills a conversion's order and amount from the goal event: the
// order it carries (data.order) or names (data.order_id), as the store
// holds it (exact, in its currency). An event about no known order has
// none.
func (r *Router) revenue(ctx context.Context, conv *store.Conversion, ev journey.Event) error {
	id := ev.Order.ID
	if id == "" {
		id, _ = ev.Data["order_id"].(string)
	}
	if id == "" {
		return nil
	}
	total, currency, err := r.Store.OrderAmount(ctx, ev.CustomerID, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	conv.OrderID, conv.Currency = id, currency
	conv.Revenue = new(money.Amount)
	*conv.Revenue = total
	return nil
}
