package workflows

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/rapporthq/rapport/internal/journey"
)

// Steps that produce data: record stores a survey answer, emit sends an
// event to the customer's journeys. Their expressions are evaluated here,
// over the run's variables (deterministic: the same facts give the same
// values on replay); the activities store what was decided, once.

// Activity names of the steps that produce data.
const (
	RecordAnswerActivity = "RecordAnswer"
	EmitEventActivity    = "EmitEvent"
)

// RecordAnswerRequest stores a survey answer a journey learnt.
type RecordAnswerRequest struct {
	// SurveyID identifies the answer: one per run and step, so a retry
	// records nothing twice.
	SurveyID   string `json:"survey_id"`
	Survey     string `json:"survey"`
	CustomerID string `json:"customer_id"`
	WorkflowID string `json:"workflow_id"`
	Journey    string `json:"journey"`
	StepID     string `json:"step_id"`
	Score      int    `json:"score"`
	Comment    string `json:"comment,omitempty"`
	Source     string `json:"source"`
	OrderID    string `json:"order_id,omitempty"`
}

// EmitEventRequest is an event a journey sends to the customer's journeys.
type EmitEventRequest struct {
	Event journey.Event `json:"event"`
}

// EmitDepthKey is the key of an emitted event's data that counts the
// emits that led to it.
const EmitDepthKey = "emit_depth"

// maxEmitDepth bounds a chain of journeys emitting events that start
// each other.
const maxEmitDepth = 5

// EmittedEventID is the id of the event a run's emit step sends: the same
// on every attempt and replay, so routing it twice changes nothing.
func EmittedEventID(workflowID, stepID string) string {
	return "emit-" + stepDigest(workflowID, stepID)
}

// RecordedSurveyID is the survey id of the answer a run's record step
// stores, the same on every attempt and replay.
func RecordedSurveyID(workflowID, stepID string) string {
	return "journey-" + stepDigest(workflowID, stepID)
}

// stepDigest names a run's step in a few characters (a workflow id may be
// long, and holds no secret).
func stepDigest(workflowID, stepID string) string {
	sum := sha256.Sum256([]byte(workflowID + "\x00" + stepID))
	return hex.EncodeToString(sum[:12])
}

// recordAnswer stores the answer the step's expressions give.
func (r *run) recordAnswer(ctx workflow.Context, step journey.Step) error {
	spec := step.Record
	r.tick(ctx)
	v, err := r.env.EvalValue(spec.Score, r.vars)
	if err != nil {
		r.note(fmt.Sprintf("%s: no answer recorded: the score could not be evaluated (%v)", step.ID, err))
		return nil
	}
	score, ok := v.(float64)
	if !ok || score != math.Trunc(score) || score < 1 || score > 5 {
		r.note(fmt.Sprintf("%s: no answer recorded: the score is %v, not a whole number from 1 to 5", step.ID, v))
		return nil
	}
	comment := ""
	if spec.Comment != "" {
		c, err := r.env.EvalValue(spec.Comment, r.vars)
		switch {
		case err != nil:
			r.note(fmt.Sprintf("%s: the comment could not be evaluated (%v); recorded without", step.ID, err))
		case c != nil:
			comment = fmt.Sprint(c)
		}
	}
	if runes := []rune(comment); len(runes) > 2000 {
		comment = string(runes[:2000])
	}
	req := RecordAnswerRequest{
		SurveyID: RecordedSurveyID(r.workflowID, step.ID), Survey: cmp.Or(spec.Survey, r.plan.Journey),
		CustomerID: r.input.CustomerID, WorkflowID: r.workflowID, Journey: r.plan.Journey, StepID: step.ID,
		Score: int(score), Comment: comment, Source: cmp.Or(spec.Source, "journey"), OrderID: r.input.Trigger.Order.ID,
	}
	if r.revision >= 5 {
		req.OrderID = r.answerOrder(step)
	}
	if err := r.produce(ctx, RecordAnswerActivity, fmt.Sprintf("record %s answer %d", req.Survey, req.Score), req); err != nil {
		return err
	}
	r.note(fmt.Sprintf("%s: recorded %s answer %d (%s)", step.ID, req.Survey, req.Score, req.Source))
	return nil
}

// answerOrder is the order a record step's answer is about (revision 5):
// what the step's order expression gives, else the trigger's order
// (trigger.order.id, else trigger.data.order_id).
func (r *run) answerOrder(step journey.Step) string {
	if expr := step.Record.Order; expr != "" {
		v, err := r.env.EvalValue(expr, r.vars)
		if err != nil || v == nil {
			r.note(fmt.Sprintf("%s: the order could not be evaluated (%v); recorded without", step.ID, err))
			return ""
		}
		return cut(fmt.Sprint(v), 128)
	}
	if id := r.input.Trigger.Order.ID; id != "" {
		return id
	}
	if id, ok := r.input.Trigger.Data["order_id"].(string); ok {
		return cut(id, 128)
	}
	return ""
}

// emit sends the step's event, with its data evaluated now.
func (r *run) emit(ctx workflow.Context, step journey.Step) error {
	spec := step.Emit
	r.tick(ctx)
	data := map[string]any{}
	for _, f := range spec.Data { // sorted by key at compile time
		v, err := r.env.EvalValue(f.Expr, r.vars)
		if err != nil {
			r.note(fmt.Sprintf("%s: data.%s could not be evaluated (%v); left out", step.ID, f.Key, err))
			continue
		}
		data[f.Key] = v
	}
	// Journeys that emit each other's triggers could go on for ever: an
	// event carries how many emits led to it, and a chain stops at
	// maxEmitDepth.
	depth := 0
	if d, ok := r.input.Trigger.Data[EmitDepthKey].(float64); ok {
		depth = int(d)
	}
	if depth >= maxEmitDepth {
		r.note(fmt.Sprintf("%s: %s not emitted: it would be the %d-th event in a chain of journeys emitting events (at most %d)", step.ID, spec.Event, depth+1, maxEmitDepth))
		return nil
	}
	data[EmitDepthKey] = depth + 1
	ev := journey.Event{ID: EmittedEventID(r.workflowID, step.ID), Type: spec.Event, CustomerID: r.input.CustomerID,
		OccurredAt: workflow.Now(ctx), Data: data}
	r.remember(ev.ID) // the router may signal it to this run too: it is not taken in
	if err := r.produce(ctx, EmitEventActivity, "emit "+spec.Event, EmitEventRequest{Event: ev}); err != nil {
		return err
	}
	r.note(fmt.Sprintf("%s: emitted %s (%s)", step.ID, spec.Event, ev.ID))
	return nil
}

// produce runs a data-producing activity patiently: the database may be
// away for a while, and the step waits for it rather than losing what it
// decided.
func (r *run) produce(ctx workflow.Context, name, summary string, req any) error {
	return r.patiently(ctx, "the database ("+summary+")", func(budget time.Duration) error {
		actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout:    30 * time.Second,
			ScheduleToCloseTimeout: budget,
			RetryPolicy:            retryPolicy(retryMaxInterval),
			Summary:                summary,
		})
		return workflow.ExecuteActivity(actx, name, req).Get(actx, nil)
	})
}
