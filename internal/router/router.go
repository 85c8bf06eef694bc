// Package router turns a stored event into journey runs: it starts every
// journey the event triggers and delivers it to the customer's running
// journeys that react to events. Routing is idempotent, so an event can be
// routed again after a crash; a sweeper retries events whose routing did
// not finish.
package router

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/lanes"
	"github.com/rapporthq/rapport/internal/policy"
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
	// TaskDueFloor, in dev mode, keeps staff tasks due at least this long
	// after they appear, however fast the day (0: no floor).
	TaskDueFloor time.Duration
	// DefaultZone is the time zone of customers with neither their own
	// nor a known country's (RAPPORT_DEFAULT_TIME_ZONE); empty is UTC.
	DefaultZone string
	// TaskQueue is where journeys start; empty is workflows.TaskQueue.
	TaskQueue string
	// NoLanes starts runs without a priority or fairness key (see
	// internal/lanes), so that their tasks queue in arrival order, as
	// before lanes: `rapport bench` compares the two.
	NoLanes bool
	// LaneQueue, when set, names the task queue of the runs of a priority
	// key ("": the usual one): a queue per lane, each with workers of its
	// own, is the fallback to priority that `rapport bench` measures.
	LaneQueue func(priorityKey int) string

	queue       []chan store.Event // see RunQueue
	fanoutNudge chan struct{}      // see RunFanouts
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
	// Converted are the workflow ids of runs whose goal the event met.
	Converted []string `json:"converted,omitempty"`
}

// Route starts and tells journeys about a stored event, then marks it
// routed. On failure it records why and returns the error; the event
// stays unrouted for the sweeper.
//
// ctx may end routing early (a deadline, or internal/failfast when
// Temporal cannot be reached): the error then says why (its cause), and
// the failure is still recorded.
func (r *Router) Route(ctx context.Context, e store.Event) (Result, error) {
	res, err := r.route(ctx, e, false)
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && !errors.Is(err, cause) {
			err = fmt.Errorf("%w (%w)", err, cause)
		}
		mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markTimeout)
		defer cancel()
		if markErr := r.Store.MarkEventRoutingFailed(mctx, e.ID, err.Error()); markErr != nil {
			r.log().Error("could not record routing failure", "event_id", e.ID, "error", markErr)
		}
		return res, fmt.Errorf("route event %s: %w", e.ID, err)
	}
	return res, r.Store.MarkEventRouted(ctx, e.ID)
}

// markTimeout bounds recording a routing failure, which goes on after
// the routing's own context has ended.
const markTimeout = 5 * time.Second

// Restart routes an event again to start the journeys whose run it
// started failed (see store.EnterRun): the entry rules apply as for a new
// event. Running journeys are not told about it again.
func (r *Router) Restart(ctx context.Context, e store.Event) (Result, error) {
	res, err := r.route(ctx, e, true)
	if err != nil {
		return res, fmt.Errorf("route event %s again: %w", e.ID, err)
	}
	return res, nil
}

func (r *Router) route(ctx context.Context, e store.Event, startOnly bool) (Result, error) {
	res := Result{Started: []string{}, Delivered: []string{}}
	ev, err := JourneyEvent(e)
	if err != nil {
		return res, err
	}
	started := map[string]bool{}
	if plans := byLane(r.Catalog.TriggeredBy(ev.Type)); len(plans) > 0 {
		facts, err := r.Store.CustomerFacts(ctx, e.CustomerID, time.Now())
		if err != nil {
			return res, err
		}
		loc, _ := policy.ResolveZone(facts.TimeZone, facts.Country, r.DefaultZone)
		facts.Zone = loc.String()
		vars := journey.Vars{Customer: facts, Event: ev, Trigger: ev, Order: ev.Order, Now: cmp.Or(e.ReceivedAt, time.Now()).UTC()}
		for _, plan := range plans {
			if plan.Trigger.FanOut() {
				// Started by the event without a customer, for each
				// customer its for condition selects (fanout.go).
				res.Skipped = append(res.Skipped, plan.Journey+": its trigger fans out: post the event without customer_id")
				continue
			}
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
			id, refused, err := r.start(ctx, plan, ev, vars, e.Seq)
			if err != nil {
				return res, err
			}
			if refused != "" {
				res.Skipped = append(res.Skipped, plan.Journey+": "+refused)
				continue
			}
			started[id] = true
			res.Started = append(res.Started, id)
		}
	}

	if startOnly {
		return res, nil
	}
	converted, err := r.convert(ctx, e, ev)
	if err != nil {
		return res, err
	}
	res.Converted = converted
	// Only the runs whose exit_when or until_event can match this type.
	runs, err := r.Store.RunningListeners(ctx, e.CustomerID, ev.Type)
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

// byLane orders the journeys an event starts by their lane, transactional
// first: the customer's order confirmation does not wait for the starts
// of the marketing journeys the order triggers too.
func byLane(plans []*journey.Plan) []*journey.Plan {
	slices.SortStableFunc(plans, func(a, b *journey.Plan) int {
		return lanes.Key(a.Purpose, a.Priority, lanes.Event) - lanes.Key(b.Purpose, b.Priority, lanes.Event)
	})
	return plans
}

// start enters the customer into a journey the event triggers, under the
// entry key the journey's entry rules give, with the event as the run's
// first signal. It returns the workflow id, or why the customer did not
// enter.
func (r *Router) start(ctx context.Context, plan *journey.Plan, ev journey.Event, vars journey.Vars, seq int64) (string, string, error) {
	key := ev.ID
	switch plan.Trigger.EntryMode() {
	case journey.EntryOnce:
		key = "once"
	case journey.EntryOncePerEventKey:
		if plan.Trigger.Key != "" {
			k, err := r.Env.EvalKey(plan.Trigger.Key, vars)
			if err != nil {
				return "", "trigger.key could not be evaluated: " + err.Error(), nil
			}
			key = EntryKey(k)
		}
	}
	id, started, refused, err := r.enter(ctx, plan, ev.CustomerID, key, ev, seq, true, lanes.Event)
	if err == nil && !started && refused == "" {
		refused = fmt.Sprintf("already entered under the key %s", key)
	}
	return id, refused, err
}

// StartOptions are the options a journey run starts with: its id, the
// search attributes staff find it by (RapportStatus=running included),
// what the Temporal UI shows of it, and its lane (lanes.Run: the
// priority and fairness key its tasks, and its activities', wait with).
func StartOptions(id string, plan *journey.Plan, customerID string, ev journey.Event, o lanes.Origin) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:                    id,
		TaskQueue:             workflows.TaskQueue,
		Priority:              lanes.Run(plan, o),
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		// A start retried for a run already under way is told so, not
		// handed the run.
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		TypedSearchAttributes:                    startAttributes(plan, customerID),
		StaticSummary:                            fmt.Sprintf("%s for customer %s, plan %s", plan.Journey, customerID, plan.ShortHash()),
		StaticDetails:                            fmt.Sprintf("Started by %s `%s`.\n\n%s", ev.Type, ev.ID, plan.Description),
	}
}

// startAttributes are the search attributes a run starts with: who,
// which journey and plan, running, and at its first step (a run from
// revision 7 sets RapportStep only when it rests elsewhere: the start
// shows the first step for free).
func startAttributes(plan *journey.Plan, customerID string) temporal.SearchAttributes {
	attrs := []temporal.SearchAttributeUpdate{
		workflows.CustomerIDAttr.ValueSet(customerID),
		workflows.JourneyAttr.ValueSet(plan.Journey),
		workflows.PlanHashAttr.ValueSet(plan.Hash),
		workflows.StatusAttr.ValueSet("running"),
	}
	if len(plan.Steps) > 0 {
		attrs = append(attrs, workflows.StepAttr.ValueSet(plan.Steps[0].ID))
	}
	return temporal.NewSearchAttributes(attrs...)
}

// EntryKey turns a value into an entry key that fits a workflow id: the
// value itself when it can, else a digest of it (so a key holding an email
// address never shows in Temporal).
func EntryKey(v string) string {
	if workflows.ValidIDPart(v) && !strings.Contains(v, "@") {
		return v
	}
	sum := sha256.Sum256([]byte(v))
	return "k-" + hex.EncodeToString(sum[:10])
}

// HeldOut is the reason routing gives for an entry in a journey's control
// group: the customer entered, and gets nothing (see store.Entry.Holdout).
const HeldOut = "held out (control group): entered, gets nothing, tracked for the goal"

// enter registers a run under the journey's entry rules and starts its
// workflow, with the trigger event as its first signal when signal is set
// and the events stored after fromSeq as its backlog, in the lane of its
// origin. started is false
// when the entry already ran; refused says why the customer may not enter
// (HeldOut for the control group, whose run has no workflow).
func (r *Router) enter(ctx context.Context, plan *journey.Plan, customerID, entryKey string, ev journey.Event, fromSeq int64, signal bool, o lanes.Origin) (id string, started bool, refused string, err error) {
	id = workflows.WorkflowID(plan.Journey, customerID, entryKey)
	listensFor := []string{journey.AnyEventType}
	if r.Env != nil {
		listensFor, err = r.Env.ListenedEventTypes(plan)
	}
	if err != nil {
		// Cannot happen for a compiled plan; the run then hears every event.
		r.log().Warn("could not tell which events a journey listens for; it gets all", "journey", plan.Journey, "error", err)
		listensFor = []string{journey.AnyEventType}
	}
	if r.DayLength > 0 {
		plan = plan.Scaled(r.DayLength, r.DayEpoch) // the goal's window too
		if r.TaskDueFloor > 0 {
			plan = plan.WithTaskDueFloor(r.TaskDueFloor)
		}
	}
	entered, err := r.Store.EnterRun(ctx, store.Entry{
		Run: store.Run{
			WorkflowID: id, Journey: plan.Journey, CustomerID: customerID, PlanHash: plan.Hash,
			Listens: plan.ListensForEvents(), ListensFor: listensFor, TriggerEventID: ev.ID, EntryKey: entryKey, FromSeq: fromSeq,
			Goal: plan.Goal,
		},
		Once:      plan.Trigger.EntryMode() == journey.EntryOnce,
		Reentry:   plan.Trigger.Reentry.D,
		MaxActive: plan.Trigger.ActiveCap(),
		Holdout:   plan.Holdout,
	})
	if err != nil {
		return id, false, "", err
	}
	if entered.WorkflowID != "" {
		id = entered.WorkflowID // the entry's earlier runs failed: a new id
	}
	if entered.HeldOut {
		r.log().Debug("journey entry held out", "workflow_id", id, "journey", plan.Journey)
		return id, false, HeldOut, nil
	}
	if !entered.Start {
		return id, false, entered.Refused, nil
	}
	backlog := make([]journey.Event, 0, len(entered.Backlog))
	for _, e := range entered.Backlog {
		jev, err := JourneyEvent(e)
		if err != nil {
			return id, false, "", err
		}
		backlog = append(backlog, jev)
	}
	if kept := boundBacklog(backlog); len(kept) < len(backlog) {
		r.log().Warn("a journey's start backlog was too large to carry; its oldest events were left out", "workflow_id", id,
			"events", len(backlog), "kept", len(kept))
		backlog = kept
	}
	opts := StartOptions(id, plan, customerID, ev, o)
	opts.TaskQueue = cmp.Or(r.TaskQueue, workflows.TaskQueue)
	if r.LaneQueue != nil {
		opts.TaskQueue = cmp.Or(r.LaneQueue(opts.Priority.PriorityKey), opts.TaskQueue)
	}
	if r.NoLanes {
		opts.Priority = temporal.Priority{}
	}
	// Revision is frozen at 1 (see workflows.Revision): the run records
	// the revision it runs at itself.
	input := workflows.JourneyInput{Plan: *plan, CustomerID: customerID, EntryKey: entryKey, Trigger: ev, Backlog: backlog, Revision: workflows.Revision}
	if signal {
		_, err = r.Temporal.SignalWithStartWorkflow(ctx, id, workflows.EventSignal, ev, opts, workflows.JourneyWorkflowName, input)
	} else {
		_, err = r.Temporal.ExecuteWorkflow(ctx, opts, workflows.JourneyWorkflowName, input)
	}
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &already) {
		r.log().Debug("journey entry already started", "workflow_id", id)
		return id, false, "", nil
	}
	if err != nil {
		return id, false, "", fmt.Errorf("start %s: %w", id, err)
	}
	if !entered.New {
		// A repeated trigger reached the run it had started (SignalWithStart
		// signals a run under way), or a start cut short was completed.
		return id, false, "", nil
	}
	r.log().Debug("journey started", "workflow_id", id, "journey", plan.Journey, "trigger", ev.ID, "backlog", len(backlog))
	return id, true, "", nil
}

// deliver signals a running journey. A run registered a moment ago may
// not be started yet (its entry is on its way): delivery is tried again
// for a few seconds, then left to the sweeper. A run Temporal has closed
// without recording its end, or never heard of after StartGrace, is
// marked ended.
func (r *Router) deliver(ctx context.Context, run store.Run, ev journey.Event) (bool, error) {
	grace := r.StartGrace
	if grace == 0 {
		grace = 2 * time.Minute
	}
	wait := 20 * time.Millisecond
	for {
		err := r.Temporal.SignalWorkflow(ctx, run.WorkflowID, "", workflows.EventSignal, ev)
		var notFound *serviceerror.NotFound
		if err == nil {
			return true, nil
		}
		if !errors.As(err, &notFound) {
			return false, fmt.Errorf("deliver to %s: %w", run.WorkflowID, err)
		}
		// Not running: closed, or not started yet.
		if d, derr := r.Temporal.DescribeWorkflowExecution(ctx, run.WorkflowID, ""); derr == nil {
			// Runs record their end before they close; this one was
			// terminated, or timed out.
			status := d.GetWorkflowExecutionInfo().GetStatus().String()
			r.log().Warn("journey closed without recording its end; marking it ended", "workflow_id", run.WorkflowID, "status", status)
			return false, r.Store.GiveUpRun(ctx, run.WorkflowID, "closed in Temporal: "+strings.ToLower(status))
		}
		if time.Since(run.StartedAt) >= grace {
			r.log().Warn("running journey not found in Temporal; marking it ended", "workflow_id", run.WorkflowID)
			return false, r.Store.GiveUpRun(ctx, run.WorkflowID, store.RunNotFound)
		}
		if wait > 2*time.Second {
			return false, fmt.Errorf("journey %s is registered but not started yet; will retry", run.WorkflowID)
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(wait):
		}
		wait *= 2
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

// maxBacklogBytes bounds the events a run starts with (its start input
// carries them, with its plan, inside Temporal's 2 MiB payload limit).
// A backlog is the customer's events stored while the run was being
// registered, which the run listens for: a few at most, in practice.
const maxBacklogBytes = 1 << 20

// boundBacklog keeps the newest events of a backlog that fit in
// maxBacklogBytes as JSON.
func boundBacklog(events []journey.Event) []journey.Event {
	total := 0
	for i := len(events) - 1; i >= 0; i-- {
		b, err := json.Marshal(events[i])
		if err != nil {
			return events[i+1:]
		}
		if total += len(b); total > maxBacklogBytes {
			return events[i+1:]
		}
	}
	return events
}
