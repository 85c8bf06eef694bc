package onedit

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/rapporthq/rapport/workflows"
	"github.com/stretchr/testify/assert"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"
)

// TestAnswersAreSorted: a run's refusal is its own words (kept, with the
// reason), a run that is gone has ended, and anything else is a failure
// to reach it, to try again. (TestRunsMoveToTheNewPlan in cmd/rapport
// moves real runs on a real server.)
func TestAnswersAreSorted(t *testing.T) {
	refusal := fmt.Errorf("update move-plan: %w", temporal.NewApplicationError("step get_to_know is not in the new plan 1234567", "", nil))
	assert.True(t, refused(refusal))
	assert.Equal(t, "step get_to_know is not in the new plan 1234567", rootCause(refusal))

	again := fmt.Errorf("update move-plan: %w", temporal.NewApplicationError("this run already moves to plan 1234567 at its next wait", workflows.ErrAlreadyMoving))
	assert.True(t, alreadyMoving(again))
	assert.False(t, alreadyMoving(refusal))

	for _, err := range []error{
		serviceerror.NewNotFound("workflow not found"),
		errors.New("workflow execution already completed"),
	} {
		assert.True(t, isEnded(err), "%v", err)
		assert.False(t, refused(err), "%v", err)
	}
	for _, err := range []error{
		serviceerror.NewUnavailable("connection refused"),
		context.DeadlineExceeded,
	} {
		assert.False(t, isEnded(err), "%v", err)
		assert.False(t, refused(err), "%v", err)
	}
}
