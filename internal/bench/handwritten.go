// Package bench measures Rapport against the engine it runs on. It holds
// the hand-written Go workflow the interpreted thank-you journey is
// compared with: the same activities, in the same order, with the same
// options, without the interpreter.
package bench

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/workflows"
)

// ThankYouWorkflowName is the hand-written thank-you workflow's name.
const ThankYouWorkflowName = "BenchHandWrittenThankYou"

// ThankYouInput is what the hand-written workflow needs: who, and which
// order.
type ThankYouInput struct {
	CustomerID string `json:"customer_id"`
	OrderID    string `json:"order_id"`
}

// ThankYouWorkflow is journeys/thank-you.yaml written by hand: learn
// about the customer (a local activity), send the thank-you email (one
// activity that decides and sends), record the end of the run.
func ThankYouWorkflow(ctx workflow.Context, in ThankYouInput) (workflows.JourneyResult, error) {
	id := workflow.GetInfo(ctx).WorkflowExecution.ID
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 5},
	})
	var facts journey.Customer
	if err := workflow.ExecuteLocalActivity(lctx, workflows.CustomerFactsActivity, in.CustomerID).Get(ctx, &facts); err != nil {
		return workflows.JourneyResult{Outcome: workflows.Failed, Reason: err.Error()}, nil
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Minute},
	})
	var sent workflows.SendResult
	err := workflow.ExecuteActivity(actx, workflows.SendMessageActivity, workflows.SendRequest{
		WorkflowID: id, Journey: "thank-you", StepID: "thank_you", CustomerID: in.CustomerID,
		Channel: journey.Email, Template: "thank-you", Purpose: journey.Transactional, Topic: "orders", OrderID: in.OrderID,
	}).Get(ctx, &sent)
	if err != nil {
		return workflows.JourneyResult{Outcome: workflows.Failed, Reason: err.Error()}, nil
	}
	fctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second, ScheduleToCloseTimeout: time.Hour})
	err = workflow.ExecuteActivity(fctx, workflows.FinishRunActivity, workflows.FinishRunRequest{WorkflowID: id, Outcome: workflows.Completed}).Get(ctx, nil)
	if err != nil {
		workflow.GetLogger(ctx).Warn("could not record the end of the run", "error", err)
	}
	return workflows.JourneyResult{Outcome: workflows.Completed, StepsDone: []string{"thank_you"}}, nil
}
