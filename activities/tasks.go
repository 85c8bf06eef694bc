package activities

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/rapporthq/rapport/internal/policy"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

// CreateTask stores a staff task with what staff need to act: who the
// customer is and how to reach them, their recent orders, what this journey
// already sent them, and the latest event (a survey answer, say).
// A phone call is not asked for when the customer opted out of phone
// calls or their number is suppressed.
func (a *Activities) CreateTask(ctx context.Context, req workflows.CreateTaskRequest) (workflows.CreateTaskResult, error) {
	steps, err := a.recordSteps(ctx, req.WorkflowID, req.Record)
	if err != nil {
		return workflows.CreateTaskResult{}, err
	}
	res, err := a.createTask(ctx, req)
	res.Recorded.Steps = steps
	return res, err
}

// createTask is CreateTask's task.
func (a *Activities) createTask(ctx context.Context, req workflows.CreateTaskRequest) (workflows.CreateTaskResult, error) {
	c, err := a.Store.GetCustomer(ctx, req.CustomerID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return workflows.CreateTaskResult{}, err
	}
	var callWindow string
	if strings.Contains(req.Kind, "call") || strings.Contains(req.Kind, "phone") {
		prefs, err := a.Store.GetPreferences(ctx, req.CustomerID)
		if err != nil {
			return workflows.CreateTaskResult{}, err
		}
		p := policyPreferences(a.Rules, prefs, c)
		if c.PhoneE164 != "" {
			if sup, err := a.Store.Suppressed(ctx, string(policy.Phone), c.PhoneE164); err == nil {
				p.Suppressed = map[policy.Channel]string{policy.Phone: sup.Reason}
			} else if !errors.Is(err, store.ErrNotFound) {
				return workflows.CreateTaskResult{}, err
			}
		}
		// Staff call when they can: the quiet hours become the window to
		// call in, and caps do not apply to a person's call. Consent,
		// opt-in, topics and suppression do.
		if q, ok := p.Quiet[policy.Phone]; ok && q != (policy.Window{}) {
			callWindow = fmt.Sprintf("%s-%s %s (their time)", q.End, q.Start, p.Location)
		}
		p.Quiet, p.Caps = nil, nil
		d := policy.Decide(p, policy.Message{Channel: policy.Phone, Purpose: policy.Purpose(req.Purpose), Topic: req.Topic}, time.Now(), nil)
		if d.Verdict == policy.Deny {
			return workflows.CreateTaskResult{Reason: "no call: " + d.Reason}, nil
		}
	}
	orders, err := a.Store.RecentOrders(ctx, req.CustomerID, 3)
	if err != nil {
		return workflows.CreateTaskResult{}, err
	}
	sent, err := a.Store.MessagesOfWorkflow(ctx, req.WorkflowID)
	if err != nil {
		return workflows.CreateTaskResult{}, err
	}
	orderSummaries := make([]map[string]any, 0, len(orders))
	for _, o := range orders {
		var items []string
		for _, it := range o.Items {
			items = append(items, fmt.Sprintf("%d × %s", it.Quantity, it.Name))
		}
		orderSummaries = append(orderSummaries, map[string]any{
			"id": o.ID, "placed_at": o.PlacedAt, "total": o.Total, "currency": o.Currency, "gift": o.Gift, "items": items,
		})
	}
	messages := make([]map[string]any, 0, len(sent))
	for _, m := range sent {
		messages = append(messages, map[string]any{
			"step": m.StepID, "channel": m.Channel, "template": m.Template, "status": m.Status, "reason": m.Reason, "at": m.UpdatedAt,
			"details": m.Details,
		})
	}
	taskContext := map[string]any{
		"customer": map[string]any{
			"id": c.ID, "name": c.Name, "email": c.Email, "phone": c.Phone, "locale": c.Locale, "time_zone": c.TimeZone,
			"address": formatAddress(c),
		},
		"recent_orders": orderSummaries,
		"sent":          messages,
	}
	if callWindow != "" {
		taskContext["call_window"] = callWindow
	}
	if req.LastEvent.ID != "" {
		taskContext["last_event"] = map[string]any{"id": req.LastEvent.ID, "type": req.LastEvent.Type, "data": req.LastEvent.Data}
	}
	_, err = a.Store.CreateTask(ctx, store.Task{
		ID: req.TaskID, WorkflowID: req.WorkflowID, Journey: req.Journey, StepID: req.StepID, CustomerID: req.CustomerID,
		Kind: req.Kind, Queue: req.Queue, Brief: req.Brief, Outcomes: req.Outcomes, DueAt: req.DueAt, Context: taskContext,
	})
	if err != nil {
		return workflows.CreateTaskResult{}, err
	}
	a.logger(ctx).Info("task created", "task_id", req.TaskID, "queue", req.Queue, "kind", req.Kind)
	return workflows.CreateTaskResult{Created: true}, nil
}

// UpdateTask records what happened to a task: its outcome, an escalation to
// another queue, or that it is overdue or cancelled; and, for a run of
// revision 7, the steps it reached and its end when the task was its last
// step (req.Record).
func (a *Activities) UpdateTask(ctx context.Context, req workflows.UpdateTaskRequest) (workflows.UpdateTaskResult, error) {
	var res workflows.UpdateTaskResult
	var err error
	if res.Recorded.Steps, err = a.recordSteps(ctx, req.WorkflowID, req.Record); err != nil {
		return res, err
	}
	if err := a.updateTask(ctx, req); err != nil {
		return workflows.UpdateTaskResult{}, err
	}
	if res.Recorded.End, err = a.recordEnd(ctx, req.Record); err != nil {
		return workflows.UpdateTaskResult{}, err
	}
	return res, nil
}

// updateTask is UpdateTask's change of the task row.
func (a *Activities) updateTask(ctx context.Context, req workflows.UpdateTaskRequest) error {
	var err error
	switch req.Status {
	case "completed":
		_, err = a.Store.CompleteTask(ctx, req.TaskID, req.Outcome, req.Notes, "")
		if errors.Is(err, store.ErrConflict) {
			// Completed differently through the API a moment ago; the
			// workflow's record (in its history) is what counts.
			a.logger(ctx).Warn("task outcome differs from the stored one", "task_id", req.TaskID, "error", err)
			return nil
		}
	case "escalated":
		_, err = a.Store.EscalateTask(ctx, req.TaskID, req.Queue, req.DueAt)
	case store.TaskOverdue, store.TaskCancelled:
		_, err = a.Store.SetTaskStatus(ctx, req.TaskID, req.Status)
	default:
		return temporal.NewNonRetryableApplicationError("unknown task status "+req.Status, "BadRequest", nil)
	}
	return err
}

// RecordSplit stores the path a run took at a split.
func (a *Activities) RecordSplit(ctx context.Context, req workflows.RecordSplitRequest) error {
	return a.Store.RecordSplit(ctx, store.SplitAssignment{
		WorkflowID: req.WorkflowID, StepID: req.StepID, Journey: req.Journey, CustomerID: req.CustomerID, Path: req.Path, Holdout: req.Holdout,
	})
}

// NextLocalTime finds the next moment after req.After at which the clock
// shows req.At in the customer's time zone (the configured default when
// they have none), on one of req.On's weekdays. Days are built from the
// calendar date, so the answer is right across daylight saving changes.
func (a *Activities) NextLocalTime(ctx context.Context, req workflows.NextLocalTimeRequest) (workflows.NextLocalTime, error) {
	zone := a.Rules.DefaultZone
	c, err := a.Store.GetCustomer(ctx, req.CustomerID)
	switch {
	case err == nil && c.TimeZone != "":
		zone = c.TimeZone
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return workflows.NextLocalTime{}, err
	}
	if zone == "" {
		zone = "UTC"
	}
	t, err := NextOccurrence(req.After, zone, req.At, req.On)
	if err != nil {
		return workflows.NextLocalTime{}, temporal.NewNonRetryableApplicationError(err.Error(), "BadTime", err)
	}
	return workflows.NextLocalTime{Time: t, Zone: zone}, nil
}

var dayNames = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// NextOccurrence is the first time after `after` when the clock in zone
// shows hh:mm on one of the days (any day when days is empty).
func NextOccurrence(after time.Time, zone, hhmm string, days []string) (time.Time, error) {
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return time.Time{}, fmt.Errorf("time zone %q: %w", zone, err)
	}
	hs, ms, ok := strings.Cut(hhmm, ":")
	h, errH := strconv.Atoi(hs)
	m, errM := strconv.Atoi(ms)
	if !ok || errH != nil || errM != nil || h > 23 || m > 59 {
		return time.Time{}, fmt.Errorf("%q is not a time of day", hhmm)
	}
	local := after.In(loc)
	for i := 0; i < 9; i++ {
		d := local.AddDate(0, 0, i)
		t := time.Date(d.Year(), d.Month(), d.Day(), h, m, 0, 0, loc)
		if !t.After(after) {
			continue
		}
		if len(days) > 0 && !slices.Contains(days, dayNames[t.Weekday()]) {
			continue
		}
		return t, nil
	}
	return time.Time{}, fmt.Errorf("no day in %v", days)
}
