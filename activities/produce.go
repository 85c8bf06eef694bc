package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

// RecordAnswer stores a survey answer a journey's record step learnt (an
// SMS reply, say), once, and tells the customer's journeys with a
// survey.answered event, as the survey page does.
func (a *Activities) RecordAnswer(ctx context.Context, req workflows.RecordAnswerRequest) error {
	answer, _, err := a.Store.AnswerSurvey(ctx, store.SurveyAnswer{SurveyID: req.SurveyID, CustomerID: req.CustomerID,
		WorkflowID: req.WorkflowID, StepID: req.StepID, Score: req.Score, Comment: req.Comment, Source: req.Source,
		Survey: req.Survey, OrderID: req.OrderID})
	if err != nil {
		return err
	}
	data := map[string]any{"score": answer.Score, "comment": answer.Comment, "survey_id": answer.SurveyID, "survey": req.Survey,
		"source": answer.Source, "workflow_id": req.WorkflowID, "step": req.StepID, "order_id": req.OrderID}
	return a.recordAndRoute(ctx, "survey-"+req.SurveyID, "survey.answered", req.CustomerID, answer.AnsweredAt, data)
}

// EmitEvent stores an event a journey's emit step sends and routes it to
// the customer's journeys, as an event the shop posted (store first: if
// routing fails now, the sweeper routes it later).
func (a *Activities) EmitEvent(ctx context.Context, req workflows.EmitEventRequest) error {
	ev := req.Event
	return a.recordAndRoute(ctx, ev.ID, ev.Type, ev.CustomerID, ev.OccurredAt, ev.Data)
}

// recordAndRoute stores an event (a second time changes nothing) and
// routes it unless it was routed already.
func (a *Activities) recordAndRoute(ctx context.Context, id, typ, customerID string, at time.Time, data map[string]any) error {
	if a.Router == nil {
		return temporal.NewNonRetryableApplicationError("this worker cannot send events to journeys (no router)", "NoRouter", nil)
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("event %s data: %v", id, err), "BadEventData", err)
	}
	e := store.Event{ID: id, Type: typ, CustomerID: customerID, OccurredAt: at, Data: raw}
	stored, inserted, err := a.Store.RecordEvent(ctx, e, nil)
	if err != nil {
		return err
	}
	if !inserted && stored.RoutedAt != nil {
		return nil // an earlier attempt routed it
	}
	if _, err := a.Router.Route(ctx, stored); err != nil {
		a.logger(ctx).Warn("event stored, routing deferred to the sweeper", "event_id", id, "error", err)
	}
	return nil
}
