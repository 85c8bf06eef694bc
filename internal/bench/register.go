package bench

import (
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// Register registers the hand-written baselines (and whatever they need
// that Rapport's worker does not already run) on w, under the names the
// bench starts them by. The bench's in-process worker and the worker
// processes of `rapport bench --workers N` both call it.
func Register(w worker.Registry) {
	w.RegisterWorkflowWithOptions(ThankYouWorkflow, workflow.RegisterOptions{Name: ThankYouWorkflowName})
}
