package workflows

import (
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// Register adds the journey and audience workflows to a worker.
func (in *Interpreter) Register(w worker.Registry) {
	w.RegisterWorkflowWithOptions(in.JourneyWorkflow, workflow.RegisterOptions{Name: JourneyWorkflowName})
	w.RegisterWorkflowWithOptions(AudienceWorkflow, workflow.RegisterOptions{Name: AudienceWorkflowName})
}
