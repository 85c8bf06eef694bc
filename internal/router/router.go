// Package router turns a stored event into journey runs: it starts every
// journey the event triggers and delivers it to the customer's running
// journeys that react to events. Routing is idempotent, so an event can be
// routed again after a crash; a sweeper retries events whose routing did
// not finish.
package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

// Router routes events to journeys.
type Router struct {
	Store    *store.Store
	Temporal client.Client
	Catalog  *journey.Catalog
	Env      *journey.Env
	Log      *slog.Logger
	// StartGrace is how long a registered run may take to appear in
	// Temporal before a "not found" means it is gone. Default 2 minutes.
	StartGrace time.Duration
	// DayLength, in dev mode, makes journeys run faster than real time: a
	// day lasts this long, counted from DayEpoch. Zero (production) is real
	// time.
	DayLength time.Duration
	DayEpoch  time.Time
}

// Result says what routing an event did.
type Result struct {
	// Started are the workflow ids of journeys the event triggered.
	Started []string `json:"started"`
	// Delivered are the workflow ids of running journeys told about it.
	Delivered []string `json:"delivered"`
	// Skipped explains journeys the event's type triggers that it did not
	// start (trigger.when was false, say).
	Skipped []string `json:"skipped,omitempty"`
}

// Route starts and tells journeys about a stored event, then marks it
// routed. On failure it records why and returns the error; the event
// stays unrouted for the sweeper.
func (r *Router) Route(ctx context.Context, e store.Event) (Result, error) {
	res, err := r.route(ctx, e)
	if err != nil {
		if markErr := r.Store.MarkEventRoutingFailed(ctx, e.ID, err.Error()); markErr != nil {
			r.log().Error("could not record routing failure", "event_id", e.ID, "error", markErr)
		}
		return res, fmt.Errorf("route event %s: %w", e.ID, err)
	}
	return res, r.Store.MarkEventRouted(ctx, e.ID)
}

func (r *Router) route(ctx context.Context, e store.Event) (Result, error) {
	res := Result{Started: []string{}, Delivered: []string{}}
	ev, err := JourneyEvent(e)
	if err != nil {
		return res, err
	}
	started := map[string]bool{}
	if plans := r.Catalog.TriggeredBy(ev.Type); len(plans) > 0 {
		facts, err := r.Store.CustomerFacts(ctx, e.CustomerID, time.Now())
		if err != nil {
			return res, err
		}
		vars := journey.Vars{Customer: facts, Event: ev, Order: ev.Order}
		for _, plan := range plans {
			if age := plan.Trigger.MaxEventAge.D; age > 0 && time.Since(ev.OccurredAt) > age {
				res.Skipped = append(res.Skipped, fmt.Sprintf("%s: the event is older than max_event_age %s", plan.Journey, plan.Trigger.MaxEventAge))
				continue
			}
			if plan.Trigger.When != "" {
				ok, err := r.Env.Eval(plan.Trigger.When, vars)
				if err != nil || !ok {
					why := "trigger.when is false"
					if err != nil {
						why = "trigger.when could not be evaluated: " + err.Error()
					}
					res.Skipped = append(res.Skipped, plan.Journey+": "+why)
					continue
				}
			}
			id, err := r.start(ctx, plan, ev)
			if err != nil {
				return res, err
			}
			started[id] = true
			res.Started = append(res.Started, id)
		}
	}

	runs, err := r.Store.RunningListeners(ctx, e.CustomerID)
	if err != nil {
		return res, err
	}
	for _, run := range runs {
		if started[run.WorkflowID] || run.TriggerEventID == ev.ID {
			continue // the trigger reaches its own journey as the start signal
		}
		delivered, err := r.deliver(ctx, run, ev)
		if err != nil {
			return res, err
		}
		if delivered {
			res.Delivered = append(res.Delivered, run.WorkflowID)
		}
	}
	return res, nil
}

// start registers the run and starts its workflow with the event as its
// first signal. Starting an entry that already ran is a no-op.
func (r *Router) start(ctx context.Context, plan *journey.Plan, ev journey.Event) (string, error) {
	id, _, err := r.startRun(ctx, plan, ev.CustomerID, ev.ID, ev, true)
	return id, err
}

// startRun registers a run and starts its workflow, with the trigger event
// as its first signal when signal is set. started is false when the entry
// already ran.
func (r *Router) startRun(ctx context.Context, plan *journey.Plan, customerID, entryKey string, ev journey.Event, signal bool) (id string, started bool, err error) {
	id = workflows.WorkflowID(plan.Journey, customerID, entryKey)
	err = r.Store.RegisterRun(ctx, store.Run{
		WorkflowID: id, Journey: plan.Journey, CustomerID: customerID, PlanHash: plan.Hash,
		Listens: plan.ListensForEvents(), TriggerEventID: ev.ID,
	})
	if err != nil {
		return id, false, err
	}
	if r.DayLength > 0 {
		plan = plan.Scaled(r.DayLength, r.DayEpoch)
	}
	opts := client.StartWorkflowOptions{
		ID:                    id,
		TaskQueue:             workflows.TaskQueue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.CustomerIDAttr.ValueSet(customerID),
			workflows.JourneyAttr.ValueSet(plan.Journey),
			workflows.PlanHashAttr.ValueSet(plan.Hash),
			workflows.StatusAttr.ValueSet("running"),
		),
		StaticSummary: fmt.Sprintf("%s for customer %s, plan %s", plan.Journey, customerID, plan.ShortHash()),
		StaticDetails: fmt.Sprintf("Started by %s `%s`.\n\n%s", ev.Type, ev.ID, plan.Description),
	}
	input := workflows.JourneyInput{Plan: *plan, CustomerID: customerID, EntryKey: entryKey, Trigger: ev}
	if signal {
		_, err = r.Temporal.SignalWithStartWorkflow(ctx, id, workflows.EventSignal, ev, opts, workflows.JourneyWorkflowName, input)
	} else {
		_, err = r.Temporal.ExecuteWorkflow(ctx, opts, workflows.JourneyWorkflowName, input)
	}
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &already) {
		r.log().Info("journey entry already ran", "workflow_id", id)
		return id, false, nil
	}
	if err != nil {
		return id, false, fmt.Errorf("start %s: %w", id, err)
	}
	r.log().Info("journey started", "workflow_id", id, "journey", plan.Journey, "trigger", ev.ID)
	return id, true, nil
}

// AudienceResult counts what an audience run did.
type AudienceResult struct {
	Journey  string   `json:"journey"`
	EntryKey string   `json:"entry_key"`
	Scanned  int      `json:"scanned"`
	Matched  int      `json:"matched"`
	Started  []string `json:"started"`
	// Skipped counts matching customers not entered: already in a running
	// run of the journey, or already entered under this entry key.
	Skipped int `json:"skipped"`
}

// RunAudience enters every customer who matches a journey's audience now
// and is not already in it. The entry key is the day (audience-20261122),
// so running it twice in a day enters nobody twice.
func (r *Router) RunAudience(ctx context.Context, plan *journey.Plan, now time.Time) (AudienceResult, error) {
	res := AudienceResult{Journey: plan.Journey, EntryKey: "audience-" + now.UTC().Format("20060102"), Started: []string{}}
	if plan.Trigger.Audience == "" {
		return res, fmt.Errorf("journey %s has no trigger.audience", plan.Journey)
	}
	after := ""
	for {
		ids, err := r.Store.CustomerIDs(ctx, after, 500)
		if err != nil {
			return res, err
		}
		if len(ids) == 0 {
			return res, nil
		}
		after = ids[len(ids)-1]
		for _, id := range ids {
			res.Scanned++
			facts, err := r.Store.CustomerFacts(ctx, id, now)
			if err != nil {
				return res, err
			}
			ok, err := r.Env.EvalAudience(plan.Trigger.Audience, facts)
			if err != nil {
				r.log().Warn("audience could not be evaluated for a customer; left out", "journey", plan.Journey, "customer_id", id, "error", err)
				continue
			}
			if !ok {
				continue
			}
			res.Matched++
			running, err := r.Store.HasRunningRun(ctx, plan.Journey, id)
			if err != nil {
				return res, err
			}
			if running {
				res.Skipped++
				continue
			}
			ev := journey.Event{ID: res.EntryKey, Type: "audience", CustomerID: id, OccurredAt: now.UTC(), Data: map[string]any{}}
			wid, started, err := r.startRun(ctx, plan, id, res.EntryKey, ev, false)
			if err != nil {
				return res, err
			}
			if started {
				res.Started = append(res.Started, wid)
			} else {
				res.Skipped++
			}
		}
	}
}

// deliver signals a running journey. A journey Temporal no longer knows is
// marked gone, unless it was registered so recently that its start may
// still be on its way (then routing fails and is retried).
func (r *Router) deliver(ctx context.Context, run store.Run, ev journey.Event) (bool, error) {
	err := r.Temporal.SignalWorkflow(ctx, run.WorkflowID, "", workflows.EventSignal, ev)
	var notFound *serviceerror.NotFound
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &notFound):
		grace := r.StartGrace
		if grace == 0 {
			grace = 2 * time.Minute
		}
		if time.Since(run.StartedAt) < grace {
			return false, fmt.Errorf("journey %s is registered but not found yet; will retry", run.WorkflowID)
		}
		r.log().Warn("running journey not found in Temporal; marking it ended", "workflow_id", run.WorkflowID)
		return false, r.Store.FinishRun(ctx, run.WorkflowID, store.RunFailed, store.RunNotFound)
	default:
		return false, fmt.Errorf("deliver to %s: %w", run.WorkflowID, err)
	}
}

// Sweep routes events whose routing did not finish (Temporal was down, the
// process died), every interval, until ctx ends.
func (r *Router) Sweep(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		events, err := r.Store.UnroutedEvents(ctx, time.Now().Add(-interval), 100)
		if err != nil {
			r.log().Warn("sweeper could not list unrouted events", "error", err)
			continue
		}
		for _, e := range events {
			if _, err := r.Route(ctx, e); err != nil {
				r.log().Warn("sweeper could not route event", "event_id", e.ID, "error", err)
			}
		}
	}
}

func (r *Router) log() *slog.Logger {
	if r.Log == nil {
		return slog.Default()
	}
	return r.Log
}

// JourneyEvent turns a stored event into the value journeys see: its data,
// and for order events the order in data.order.
func JourneyEvent(e store.Event) (journey.Event, error) {
	ev := journey.Event{ID: e.ID, Type: e.Type, CustomerID: e.CustomerID, OccurredAt: e.OccurredAt.UTC(), Data: map[string]any{}}
	if len(e.Data) > 0 {
		if err := json.Unmarshal(e.Data, &ev.Data); err != nil {
			return ev, fmt.Errorf("event %s data: %w", e.ID, err)
		}
	}
	if raw, ok := ev.Data["order"]; ok {
		b, _ := json.Marshal(raw)
		if err := json.Unmarshal(b, &ev.Order); err != nil {
			return ev, fmt.Errorf("event %s data.order: %w", e.ID, err)
		}
		if ev.Order.PlacedAt.IsZero() {
			ev.Order.PlacedAt = ev.OccurredAt
		}
	}
	return ev, nil
}
