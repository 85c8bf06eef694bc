//go:build !production

package main

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"

	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

// TestAFailedRunStartsAgainWhenItsEventIsPostedAgain, on the Temporal dev
// server and PostgreSQL: a run that failed (as runs did in a database
// outage before revision 2: the registry says failed, Temporal saw the
// workflow complete) does not block its entry. Posting its event again
// starts the journey again under id~2, which Temporal accepts under the
// reject-duplicate policy; posting it once more starts nothing. A batch
// restarts failed runs the same way.
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

	// In a batch too: that run failed as well; the batch starts a third.
	require.NoError(t, s.store.FinishRun(ctx, id+"~2", store.RunFailed, "load customer c_1: connection refused"))
	status, body = s.post("/v1/events", map[string]any{"events": []any{orderPlaced("evt-1", "c_1", false)}})
	require.Equal(t, http.StatusOK, status, body)
	assert.EqualValues(t, 1, body["duplicates"])
	assert.Equal(t, workflows.Completed, s.waitForRun(id+"~3").Outcome)
	status, body = s.post("/v1/events", map[string]any{"events": []any{orderPlaced("evt-1", "c_1", false)}})
	require.Equal(t, http.StatusOK, status, body)

	ids, err := s.store.RunsEntered(ctx, "thank-you", "evt-1", 10)
	require.NoError(t, err)
	assert.Equal(t, []string{id, id + "~2", id + "~3"}, ids)
	_, err = s.client.DescribeWorkflowExecution(ctx, id+"~4", "")
	var notFound *serviceerror.NotFound
	assert.ErrorAs(t, err, &notFound, "no fourth run")
	assert.Len(t, s.outbox(), 3)
}

// databaseDown fails the activities a thank-you reads the database with
// first (the customer's facts, which runs before revision 7 read; the
// send, which reads the customer) while down is set, as an outage of the
// database would.
type databaseDown struct {
	interceptor.WorkerInterceptorBase
	down atomic.Bool
}

func (d *databaseDown) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &downActivity{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}, d: d}
}

type downActivity struct {
	interceptor.ActivityInboundInterceptorBase
	d *databaseDown
}

func (a *downActivity) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	name := activity.GetInfo(ctx).ActivityType.Name
	if (name == workflows.CustomerFactsActivity || name == workflows.SendMessageActivity) && a.d.down.Load() {
		return nil, errors.New("load customer: dial tcp 127.0.0.1:5432: connect: connection refused")
	}
	return a.Next.ExecuteActivity(ctx, in)
}

// TestARunWaitsOutAnOutageLongerThanItsBudget, on the Temporal dev
// server: with a retry budget of 2s, the database failing past it (the
// thank-you's send, which reads the customer) makes the run wait and try
// again, not fail; it sends once the database is back.
// The outage ends when the run shows that it waits, not after a time, so
// the run fails past its budget however slowly the machine runs it.
func TestARunWaitsOutAnOutageLongerThanItsBudget(t *testing.T) {
	down := &databaseDown{}
	down.down.Store(true)
	s := startStack(t, "../../journeys", withInterceptors(down), func(o *devOptions) { o.RetryBudget = 2 * time.Second })
	const id = "rapport/thank-you/c_1/evt-1"
	status, body := s.post("/v1/customers", customer("c_1", "ada@example.com"))
	require.Equal(t, http.StatusCreated, status, body)
	status, body = s.post("/v1/events", orderPlaced("evt-1", "c_1", false))
	require.Equal(t, http.StatusAccepted, status, body)

	s.waitFor("the run to wait for the database", func() bool {
		v, err := s.client.QueryWorkflow(context.Background(), id, "", workflows.StateQuery)
		if err != nil {
			return false // not started yet
		}
		var st workflows.State
		require.NoError(t, v.Get(&st))
		return st.PendingWait != nil && st.PendingWait.Kind == workflows.WaitRetry
	})
	assert.Empty(t, s.outbox(), "nothing is sent while the database is down")
	down.down.Store(false)

	res := s.waitForRun(id)
	assert.Equal(t, workflows.Completed, res.Outcome, res.Reason)
	assert.Len(t, s.outbox(), 1)
	v, err := s.client.QueryWorkflow(context.Background(), id, "", workflows.StateQuery)
	require.NoError(t, err)
	var st workflows.State
	require.NoError(t, v.Get(&st))
	notes := strings.Join(st.Notes, "\n")
	assert.Contains(t, notes, "the email provider or the database (email thank-you) failed past the retry budget of 2s")
	assert.Contains(t, notes, "the email provider or the database (email thank-you) is back after")
	recordHistory(t, s.client, id, revisionFile("thank-you-outage"))
}
