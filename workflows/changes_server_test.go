//go:build !race

package workflows

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/rapporthq/rapport/internal/journey"
)

// The runs below, at revision 6, take the narrow changes that no other
// recorded history takes (see changes): their histories are kept for the
// replay test.

// thanksJourney sends one email.
const thanksJourney = `
journey: thanks
purpose: transactional
topic: orders
trigger: {event: order.placed}
steps:
  - id: thanks
    send: {channel: email, template: thank-you}
`

// changeServer starts a dev server and a worker of in, at revision 6 (from
// 7 a run takes the narrow changes without a marker), on its own task
// queue, with acts as the activities, and returns a client.
func changeServer(ctx context.Context, t *testing.T, in *Interpreter, acts *fakeActivities, queue string) client.Client {
	t.Helper()
	c := devServer(ctx, t)
	registerWorker(t, c, in, acts, queue, worker.Options{PreferredVersionProvider: PinRevision(6)})
	return c
}

// registerWorker starts a worker of in on queue with acts as the
// activities, for the test's life.
func registerWorker(t *testing.T, c client.Client, in *Interpreter, acts *fakeActivities, queue string, opts ...worker.Options) {
	t.Helper()
	var o worker.Options
	if len(opts) > 0 {
		o = opts[0]
	}
	w := worker.New(c, queue, o)
	in.Register(w)
	w.RegisterActivityWithOptions(acts.CustomerFacts, activity.RegisterOptions{Name: CustomerFactsActivity})
	w.RegisterActivityWithOptions(acts.SendMessage, activity.RegisterOptions{Name: SendMessageActivity})
	w.RegisterActivityWithOptions(acts.FinishRun, activity.RegisterOptions{Name: FinishRunActivity})
	w.RegisterActivityWithOptions(acts.RecordSteps, activity.RegisterOptions{Name: RecordStepsActivity})
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)
}

// startThanks starts the thanks journey for c_1 on queue.
func startThanks(ctx context.Context, t *testing.T, c client.Client, queue, id string) client.WorkflowRun {
	t.Helper()
	comp, err := journey.NewCompiler(journey.Options{})
	require.NoError(t, err)
	plan, diags := comp.Compile("thanks.yaml", []byte(thanksJourney))
	require.False(t, diags.HasErrors(), diags.Error())
	trig := journey.Event{ID: "evt-1", Type: "order.placed", CustomerID: "c_1", OccurredAt: time.Now().UTC(), Order: journey.Order{ID: "o-1"}}
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue}, JourneyWorkflowName,
		JourneyInput{Plan: *plan, CustomerID: "c_1", EntryKey: "evt-1", Trigger: trig, Revision: Revision})
	require.NoError(t, err)
	return run
}

// TestCustomerGoneExitsOnARealServer: on a Temporal dev server, a run
// whose customer no longer exists exits before its first step (the
// customer-gone-exits change), sending nothing.
func TestCustomerGoneExitsOnARealServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*serverPatience)
	defer cancel()
	env, err := journey.NewEnv()
	require.NoError(t, err)
	in := NewInterpreter(env)
	acts := &fakeActivities{answers: map[journey.Channel]SendStatus{}, missing: true}
	c := changeServer(ctx, t, in, acts, "gone-test")

	const id = "rapport/thanks/c_1/evt-1"
	run := startThanks(ctx, t, c, "gone-test", id)
	var res JourneyResult
	require.NoError(t, run.Get(ctx, &res))
	assert.Equal(t, Exited, res.Outcome)
	assert.Equal(t, CustomerGoneReason, res.Reason)
	acts.mu.Lock()
	assert.Empty(t, acts.sends)
	require.Len(t, acts.finished, 1)
	assert.Equal(t, Exited, acts.finished[0].Outcome)
	acts.mu.Unlock()
	replayAndRecord(t, c, NewInterpreter(env), id, run.GetRunID(), "customer-gone-exits-r6.json")
}

// TestSendWaitsOutAnOutageOnARealServer: on a Temporal dev server, with a
// retry budget of a second, a send failing past it (the database down)
// makes the run wait and try again (the send-waits-out-outages change),
// not give the email up; it goes once the outage ends, which it does
// when the run shows that it waits, however slow the machine.
func TestSendWaitsOutAnOutageOnARealServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*serverPatience)
	defer cancel()
	env, err := journey.NewEnv()
	require.NoError(t, err)
	in := NewInterpreter(env)
	in.RetryBudget = time.Second
	var down atomic.Bool
	down.Store(true)
	acts := &fakeActivities{answers: map[journey.Channel]SendStatus{}, sendDown: down.Load}
	c := changeServer(ctx, t, in, acts, "send-outage-test")

	const id = "rapport/thanks/c_1/evt-1"
	run := startThanks(ctx, t, c, "send-outage-test", id)
	require.Eventually(t, func() bool {
		v, err := c.QueryWorkflow(ctx, id, "", StateQuery)
		var st State
		return err == nil && v.Get(&st) == nil && st.PendingWait != nil && st.PendingWait.Kind == WaitRetry
	}, serverPatience, 50*time.Millisecond, "the run to wait for the database")
	down.Store(false)

	var res JourneyResult
	require.NoError(t, run.Get(ctx, &res))
	assert.Equal(t, Completed, res.Outcome, res.Reason)
	v, err := c.QueryWorkflow(ctx, id, "", StateQuery)
	require.NoError(t, err)
	var st State
	require.NoError(t, v.Get(&st))
	require.NotEmpty(t, st.Sends)
	assert.Equal(t, SendSent, st.Sends[len(st.Sends)-1].Status, "the email went once the database was back")
	notes := strings.Join(st.Notes, "\n")
	assert.Contains(t, notes, "failed past the retry budget of 1s")
	assert.Contains(t, notes, "is back after")
	replayAndRecord(t, c, in, id, run.GetRunID(), "send-waits-out-outages-r6.json")
}
