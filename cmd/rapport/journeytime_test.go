//go:build !production

package main

import (
	"context"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/rapporthq/rapport/workflows"
)

// patience bounds every wait of these tests for a run, a message or the
// stack to get somewhere (waitFor, waitForRun, skipWait): a detector of
// what never happens, minutes long, not a speed the machine must keep. A
// test never needs a journey to be quick; one that must act before a
// journey's own time runs out runs on slowDay and moves the run on with
// skipWait.
const patience = 3 * time.Minute

// slowDay is the day length of tests that must act before a journey's own
// time runs out (answer a survey, complete a task): an hour, so nothing a
// test waits on times out however busy the machine. Such a test moves a
// run past its waits with skipWait, on the run's state, not the clock.
const slowDay = time.Hour

// skipWait waits until the run rests on the wait step, then ends that wait
// with the skip-wait update, as staff would, and returns once the run has
// left it.
func (s *stack) skipWait(workflowID, step string) {
	s.t.Helper()
	s.waitFor(workflowID+" to wait at "+step, func() bool {
		return s.restsAt(workflowID, step, workflows.WaitStep)
	})
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	h, err := s.client.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: workflowID, UpdateName: workflows.SkipWaitUpdate, WaitForStage: client.WorkflowUpdateStageCompleted,
		Args: []any{workflows.SkipWait{Step: step, Reason: "the test moves journey time on", By: "test"}},
	})
	require.NoError(s.t, err, "skip-wait %s at %s", workflowID, step)
	require.NoError(s.t, h.Get(ctx, nil), "skip-wait %s at %s", workflowID, step)
}
