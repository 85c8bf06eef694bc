package main

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"

	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

// TestAFailedRunStartsAgainWhenItsEventIsPostedAgain, on the Temporal dev
// server and PostgreSQL: a run that failed (as runs did in a database
// outage before revision 2: the registry says failed, Temporal saw the
// workflow complete) does not block its entry. Posting its event again
// starts the journey again under id~2, which Temporal accepts under the
// reject-duplicate policy; posting it once more starts nothing.
func TestAFailedRunStartsAgainWhenItsEventIsPostedAgain(t *testing.T) {
	s := startStack(t, "../../journeys")
	ctx := context.Background()
	const id = "rapport/thank-you/c_1/evt-1"

	status, body := s.post("/v1/customers", customer("c_1", "ada@example.com"))
	require.Equal(t, http.StatusCreated, status, body)
	status, body = s.post("/v1/events", orderPlaced("evt-1", "c_1", false))
	require.Equal(t, http.StatusAccepted, status, body)
	s.waitForRun(id)
	require.Len(t, s.outbox(), 1)
	require.NoError(t, s.store.FinishRun(ctx, id, store.RunFailed, "load customer c_1: connection refused"))

	status, body = s.post("/v1/events", orderPlaced("evt-1", "c_1", false))
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, "duplicate", body["status"])
	assert.Equal(t, []any{id + "~2"}, body["started"])
	res := s.waitForRun(id + "~2")
	assert.Equal(t, workflows.Completed, res.Outcome)
	assert.Len(t, s.outbox(), 2, "the journey ran again")

	// Once more: the entry ran, nothing starts.
	status, body = s.post("/v1/events", orderPlaced("evt-1", "c_1", false))
	require.Equal(t, http.StatusOK, status, body)
	assert.Empty(t, body["started"])
	ids, err := s.store.RunsEntered(ctx, "thank-you", "evt-1", 10)
	require.NoError(t, err)
	assert.Equal(t, []string{id, id + "~2"}, ids)
	_, err = s.client.DescribeWorkflowExecution(ctx, id+"~3", "")
	var notFound *serviceerror.NotFound
	assert.ErrorAs(t, err, &notFound, "no third run")
	assert.Len(t, s.outbox(), 2)
}
