package workflows

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/rapporthq/rapport/internal/journey"
)

// split sends the customer down one path, chosen by a hash of journey, step
// and customer: random across customers, but always the same for one
// customer, so re-entering a journey keeps them in their group. The path
// is recorded so the paths can be compared. A holdout path ends the run.
func (r *run) split(ctx workflow.Context, step journey.Step) error {
	if i, ok := r.resumingBranch(); ok { // continued as new inside this path
		return r.into(i, func() error { return r.walk(ctx, step.Split.Paths[i].Steps) })
	}
	path := ChoosePath(r.plan.Journey, step.ID, r.input.CustomerID, step.Split.Paths)
	index := slices.IndexFunc(step.Split.Paths, func(p journey.SplitPath) bool { return p.Name == path.Name })
	err := r.patiently(ctx, "the database (split record)", func(budget time.Duration) error {
		actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout: 30 * time.Second, ScheduleToCloseTimeout: budget, RetryPolicy: retryPolicy(retryMaxInterval), Summary: "split: " + path.Name,
		})
		return workflow.ExecuteActivity(actx, RecordSplitActivity, RecordSplitRequest{
			WorkflowID: r.workflowID, StepID: step.ID, Journey: r.plan.Journey, CustomerID: r.input.CustomerID, Path: path.Name, Holdout: path.Holdout,
		}).Get(ctx, nil)
	})
	if err != nil {
		return err
	}
	r.state.Splits = append(r.state.Splits, step.ID+": "+path.Name)
	r.note(fmt.Sprintf("%s: took path %s", step.ID, path.Name))
	if path.Holdout {
		return &exitError{reason: fmt.Sprintf("holdout group %s of split %s", path.Name, step.ID)}
	}
	return r.into(index, func() error { return r.walk(ctx, path.Steps) })
}

// ChoosePath picks a split's path for a customer. Weights are percentages
// that add up to 100.
func ChoosePath(journeyName, stepID, customerID string, paths []journey.SplitPath) journey.SplitPath {
	sum := sha256.Sum256([]byte(journeyName + "\x00" + stepID + "\x00" + customerID))
	bucket := int(binary.BigEndian.Uint64(sum[:8]) % 100)
	for _, p := range paths {
		if bucket < p.Weight {
			return p
		}
		bucket -= p.Weight
	}
	return paths[len(paths)-1]
}
