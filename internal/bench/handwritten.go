// Package bench measures Rapport against the engine it runs on. It holds
// the two hand-written Go workflows `rapport bench` compares the
// interpreted thank-you journey (journeys/thank-you.yaml) with, and the
// count of what a run costs, read from its history (cost.go).
//
//   - SameStepsWorkflow issues the commands the interpreter issues for the
//     thank-you journey, with the same kinds (local or regular) and
//     options, without the interpreter: the ratio against it measures the
//     interpreter alone. A test (samesteps_test.go) fails when their
//     histories differ.
//   - LeanWorkflow is what a Temporal engineer would write to thank the
//     customer with no journey engine around it: one activity that loads
//     the customer and sends through the outbox. The ratio against it
//     shows what the engine costs.
package bench

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/workflows"
)

// Names the hand-written workflows are registered under.
const (
	SameStepsWorkflowName = "BenchSameStepsThankYou"
	LeanWorkflowName      = "BenchLeanThankYou"
)

// Register adds the hand-written workflows to a worker that also runs
// Rapport's activities, under the names the bench starts them by. The
// bench's in-process worker and the worker processes of `rapport bench
// --workers N` both call it.
func Register(w worker.Registry) {
	w.RegisterWorkflowWithOptions(SameStepsWorkflow, workflow.RegisterOptions{Name: SameStepsWorkflowName})
	w.RegisterWorkflowWithOptions(LeanWorkflow, workflow.RegisterOptions{Name: LeanWorkflowName})
}

// ThankYouInput is what the hand-written workflows need: who, and which
// order.
type ThankYouInput struct {
	CustomerID string `json:"customer_id"`
	OrderID    string `json:"order_id"`
	// EventID is the event that started the run, and TemplateVersion the
	// thank-you template's content hash the plan pinned: the interpreter
	// passes both to SendMessage, so same-steps does too.
	EventID         string `json:"event_id,omitempty"`
	TemplateVersion string `json:"template_version,omitempty"`
}

// The thank-you journey's step, as journeys/thank-you.yaml has it.
const (
	thankYouJourney  = "thank-you"
	thankYouStep     = "thank_you"
	thankYouTemplate = "thank-you"
	thankYouTopic    = "orders"
)

// The interpreter's options, copied by hand (workflows/retry.go,
// workflows/contract.go): the same retry budget, timeouts and backoff.
// The regular activity's options show in the history, and the test
// compares them; a local activity's do not.
const (
	retryBudget       = workflows.DefaultRetryBudget
	sendStartToClose  = 30 * time.Second
	localActivityTime = 10 * time.Second
)

func retryPolicy(maxInterval time.Duration, nonRetryable ...string) *temporal.RetryPolicy {
	return &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: maxInterval, NonRetryableErrorTypes: nonRetryable}
}

// localOptions are revision 4's for a local activity's first try (two
// minutes, backoff capped at a minute; past them the interpreter hands
// the same activity to the server, which a healthy run never meets).
func localOptions(summary string, nonRetryable ...string) workflow.LocalActivityOptions {
	return workflow.LocalActivityOptions{
		StartToCloseTimeout:    localActivityTime,
		ScheduleToCloseTimeout: 2 * time.Minute,
		RetryPolicy:            retryPolicy(time.Minute, nonRetryable...),
		Summary:                summary,
	}
}

// SameStepsWorkflow is journeys/thank-you.yaml written by hand with the
// commands the interpreter (workflows.CurrentRevision) issues for it, in
// the same workflow tasks: it records the interpreter revision (a version
// marker, whose TemporalChangeVersion upsert the SDK adds), sends the
// thank-you email with one activity that decides, sends, and records the
// step and (once sent) the run's end in the run registry, then sets
// RapportStatus and RapportOutcome in one upsert (the starter showed the
// step). It reads no customer facts: nothing in the journey needs them.
// It records the end with a local activity only when the send did not.
// It leaves out what issues no command: the state query, the staff
// updates, listening for events, the details shown in the UI.
func SameStepsWorkflow(ctx workflow.Context, in ThankYouInput) (workflows.JourneyResult, error) {
	id := workflow.GetInfo(ctx).WorkflowExecution.ID
	workflow.GetVersion(ctx, workflows.RevisionChange, workflow.DefaultVersion, workflows.CurrentRevision)

	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    sendStartToClose,
		ScheduleToCloseTimeout: retryBudget,
		RetryPolicy:            retryPolicy(time.Minute),
		Summary:                string(journey.Email) + " " + thankYouTemplate,
	})
	end := &workflows.FinishRunRequest{WorkflowID: id, Outcome: workflows.Completed}
	var sent workflows.SendResult
	err := workflow.ExecuteActivity(actx, workflows.SendMessageActivity, workflows.SendRequest{
		WorkflowID: id, Journey: thankYouJourney, StepID: thankYouStep, CustomerID: in.CustomerID,
		Channel: journey.Email, Template: thankYouTemplate, TemplateVersion: in.TemplateVersion, Purpose: journey.Transactional,
		Topic: thankYouTopic, OrderID: in.OrderID, TriggerEventID: in.EventID,
		Record: &workflows.Record{Steps: []workflows.StepReached{{Step: thankYouStep, At: workflow.Now(ctx).UTC()}}, End: end},
	}).Get(ctx, &sent)
	if err != nil {
		return finish(ctx, id, workflows.Failed, err.Error(), false)
	}
	if sent.Status != workflows.SendSent {
		return finishAs(ctx, id, workflows.Completed, workflows.OutcomeNothingDelivered, "", false)
	}
	return finish(ctx, id, workflows.Completed, "", sent.Recorded.End)
}

// finish records how the run ended as the interpreter does; recorded says
// the send recorded it in the run registry already.
func finish(ctx workflow.Context, id string, outcome workflows.Outcome, reason string, recorded bool) (workflows.JourneyResult, error) {
	runOutcome := workflows.OutcomeCompleted
	if outcome == workflows.Failed {
		runOutcome = workflows.OutcomeFailed
	}
	return finishAs(ctx, id, outcome, runOutcome, reason, recorded)
}

// finishAs is finish with what the run came to for the customer
// (RapportOutcome).
func finishAs(ctx workflow.Context, id string, outcome workflows.Outcome, runOutcome workflows.RunOutcome, reason string, recorded bool) (workflows.JourneyResult, error) {
	if err := workflow.UpsertTypedSearchAttributes(ctx, workflows.StatusAttr.ValueSet(string(outcome)),
		workflows.OutcomeAttr.ValueSet(string(runOutcome))); err != nil {
		workflow.GetLogger(ctx).Warn("could not update search attributes", "error", err)
	}
	if !recorded {
		lctx := workflow.WithLocalActivityOptions(ctx, localOptions("record "+string(outcome)))
		req := workflows.FinishRunRequest{WorkflowID: id, Outcome: outcome, Reason: reason}
		if err := workflow.ExecuteLocalActivity(lctx, workflows.FinishRunActivity, req).Get(ctx, nil); err != nil {
			workflow.GetLogger(ctx).Warn("could not record the end of the run", "error", err)
		}
	}
	res := workflows.JourneyResult{Outcome: outcome, Reason: reason, StepsDone: []string{}}
	if outcome == workflows.Completed {
		res.StepsDone = []string{thankYouStep}
	}
	return res, nil
}

// LeanWorkflow thanks the customer as a Temporal engineer would without
// a journey engine: one activity (Rapport's SendMessage, which reads the
// customer, renders the template, claims the outbox row and calls the
// provider) with a start-to-close timeout and the SDK's default retry
// policy, and nothing else: no version marker, no facts, no search
// attributes, no run registry. It returns what the send did.
func LeanWorkflow(ctx workflow.Context, in ThankYouInput) (workflows.SendResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: sendStartToClose})
	var sent workflows.SendResult
	err := workflow.ExecuteActivity(ctx, workflows.SendMessageActivity, workflows.SendRequest{
		WorkflowID: workflow.GetInfo(ctx).WorkflowExecution.ID, Journey: thankYouJourney, StepID: thankYouStep, CustomerID: in.CustomerID,
		Channel: journey.Email, Template: thankYouTemplate, Purpose: journey.Transactional, Topic: thankYouTopic, OrderID: in.OrderID,
	}).Get(ctx, &sent)
	return sent, err
}
