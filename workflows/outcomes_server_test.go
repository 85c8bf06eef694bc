//go:build !race

package workflows

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/rapporthq/rapport/internal/journey"
)

// outcomesJourney asks for a score by text, records the answer, and ends
// when the customer buys again (its goal).
const outcomesJourney = `
journey: outcomes
topic: offers
trigger: {event: order.delivered}
goal: {when: event.type == "order.placed", within: 1h, exit: true}
steps:
  - id: ask
    send: {channel: sms, template: rate}
  - id: wait_reply
    wait: {until_event: event.type == "sms.replied", timeout: 1h}
  - id: answer
    record: {score: int(event.data.body), source: sms}
  - id: pause
    wait: 1h
  - id: offer
    send: {channel: email, template: offer}
`

// TestOutcomesOnARealServer: on a Temporal dev server, a revision 5 run
// records the steps it reached as it rests, keeps its trigger's order
// with the answer it records, and ends when a purchase meets its goal;
// its history replays and is kept for the replay test.
func TestOutcomesOnARealServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*serverPatience)
	defer cancel()
	c := devServer(ctx, t)

	comp, err := journey.NewCompiler(journey.Options{})
	require.NoError(t, err)
	plan, diags := comp.Compile("outcomes.yaml", []byte(outcomesJourney))
	require.False(t, diags.HasErrors(), diags.Error())
	acts := &fakeActivities{answers: map[journey.Channel]SendStatus{}}
	w := worker.New(c, "outcomes-test", worker.Options{})
	NewInterpreter(comp.Env()).Register(w)
	w.RegisterActivityWithOptions(acts.CustomerFacts, activity.RegisterOptions{Name: CustomerFactsActivity})
	w.RegisterActivityWithOptions(acts.SendMessage, activity.RegisterOptions{Name: SendMessageActivity})
	w.RegisterActivityWithOptions(acts.FinishRun, activity.RegisterOptions{Name: FinishRunActivity})
	w.RegisterActivityWithOptions(acts.RecordSteps, activity.RegisterOptions{Name: RecordStepsActivity})
	w.RegisterActivityWithOptions(acts.RecordAnswer, activity.RegisterOptions{Name: RecordAnswerActivity})
	require.NoError(t, w.Start())
	defer w.Stop()

	id := "rapport/outcomes/c_1/evt-del"
	trig := journey.Event{ID: "evt-del", Type: "order.delivered", CustomerID: "c_1", OccurredAt: time.Now().UTC(), Data: map[string]any{"order_id": "o-7"}}
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "outcomes-test"}, JourneyWorkflowName,
		JourneyInput{Plan: *plan, CustomerID: "c_1", EntryKey: "evt-del", Trigger: trig, Revision: Revision})
	require.NoError(t, err)

	require.Eventually(t, func() bool { return len(acts.reachedSteps()) >= 2 }, serverPatience, 50*time.Millisecond, "the steps before the first rest are recorded")
	assert.Equal(t, []string{"ask", "wait_reply"}, acts.reachedSteps())

	require.NoError(t, c.SignalWorkflow(ctx, id, "", EventSignal, journey.Event{ID: "sms-1", Type: "sms.replied", CustomerID: "c_1",
		OccurredAt: time.Now().UTC(), Data: map[string]any{"body": "2"}}))
	require.Eventually(t, func() bool { return len(acts.reachedSteps()) >= 4 }, serverPatience, 50*time.Millisecond, "the steps up to the pause are recorded")
	acts.mu.Lock()
	require.Len(t, acts.recorded, 1)
	assert.Equal(t, "o-7", acts.recorded[0].OrderID, "the answer is about the delivered order")
	acts.mu.Unlock()

	require.NoError(t, c.SignalWorkflow(ctx, id, "", EventSignal, journey.Event{ID: "buy-1", Type: "order.placed", CustomerID: "c_1",
		OccurredAt: time.Now().UTC(), Order: journey.Order{ID: "o-8", Total: 20}}))
	var res JourneyResult
	require.NoError(t, run.Get(ctx, &res))
	assert.Equal(t, Exited, res.Outcome)
	assert.Equal(t, []string{"ask", "wait_reply", "answer", "pause"}, acts.reachedSteps())
	acts.mu.Lock()
	require.Len(t, acts.finished, 1)
	assert.Equal(t, "converted: order.placed event buy-1 met the goal", acts.finished[0].Reason)
	assert.Len(t, acts.sends, 1, "the offer never went")
	acts.mu.Unlock()
	replayAndRecord(t, c, NewInterpreter(comp.Env()), id, run.GetRunID(), "outcomes-goal-exit-r5.json")
}
