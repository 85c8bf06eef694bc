package workflows

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/rapporthq/rapport/internal/devstack"
	"github.com/rapporthq/rapport/internal/journey"
)

// TestRunContinuesAsNewOnARealServer: on a Temporal dev server, a run told
// to continue as new after 5 events does so mid-wait, keeps its workflow
// id and search attributes, and its last execution completes the journey
// without sending the first message again.
func TestRunContinuesAsNewOnARealServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	attrs := map[string]enumspb.IndexedValueType{}
	for _, a := range SearchAttributes {
		attrs[a.GetName()] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
	}
	srv, err := devstack.StartTemporal(ctx, devstack.TemporalOptions{UIPort: -1, LogLevel: 100, SearchAttributes: attrs})
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	c, err := client.Dial(client.Options{HostPort: srv.Address(), Namespace: srv.Namespace()})
	require.NoError(t, err)
	defer c.Close()

	comp, err := journey.NewCompiler(journey.Options{})
	require.NoError(t, err)
	plan, diags := comp.Compile("short.yaml", []byte(`
journey: short-winback
topic: offers
trigger: {event: customer.lapsed}
exit_when: event.type == "order.placed"
steps:
  - id: offer
    send: {channel: email, template: winback-offer}
  - id: wait_for_return
    wait: 1d
  - id: last_word
    send: {channel: email, template: winback-last}
`))
	require.False(t, diags.HasErrors(), diags.Error())
	plan = plan.Scaled(8*time.Second, time.Now()) // the day's wait lasts 8 s

	acts := &fakeActivities{answers: map[journey.Channel]SendStatus{}}
	w := worker.New(c, "continue-test", worker.Options{})
	in := NewInterpreter(comp.Env())
	in.ContinueAfterEvents = 5
	in.Register(w)
	w.RegisterActivityWithOptions(acts.CustomerFacts, activity.RegisterOptions{Name: CustomerFactsActivity})
	w.RegisterActivityWithOptions(acts.SendMessage, activity.RegisterOptions{Name: SendMessageActivity})
	w.RegisterActivityWithOptions(acts.FinishRun, activity.RegisterOptions{Name: FinishRunActivity})
	require.NoError(t, w.Start())
	defer w.Stop()

	id := "rapport/short-winback/c_1/k"
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: "continue-test",
		TypedSearchAttributes: temporal.NewSearchAttributes(CustomerIDAttr.ValueSet("c_1"), JourneyAttr.ValueSet(plan.Journey), StatusAttr.ValueSet("running")),
	}, JourneyWorkflowName, JourneyInput{Plan: *plan, CustomerID: "c_1", EntryKey: "k", Trigger: journey.Event{ID: "evt_lapsed", Type: "customer.lapsed", CustomerID: "c_1"}, Revision: Revision})
	require.NoError(t, err)
	firstRun := run.GetRunID()
	require.Eventually(t, func() bool { // the run rests in its wait
		v, err := c.QueryWorkflow(ctx, id, "", StateQuery)
		var st State
		return err == nil && v.Get(&st) == nil && st.PendingWait != nil && st.PendingWait.Step == "wait_for_return"
	}, 30*time.Second, 50*time.Millisecond)
	for i := range 12 {
		require.NoError(t, c.SignalWorkflow(ctx, id, "", EventSignal, journey.Event{ID: fmt.Sprintf("view-%d", i), Type: "page.viewed", CustomerID: "c_1"}))
	}

	var res JourneyResult
	require.NoError(t, c.GetWorkflow(ctx, id, "").Get(ctx, &res)) // follows the chain
	assert.Equal(t, Completed, res.Outcome)
	assert.Equal(t, []string{"offer", "wait_for_return", "last_word"}, res.StepsDone)
	acts.mu.Lock()
	require.Len(t, acts.sends, 2, "the offer is not sent again")
	acts.mu.Unlock()

	v, err := c.QueryWorkflow(ctx, id, "", StateQuery)
	require.NoError(t, err)
	var st State
	require.NoError(t, v.Get(&st))
	assert.Equal(t, 12, st.EventsReceived, "every event counted across executions")

	d, err := c.DescribeWorkflowExecution(ctx, id, "")
	require.NoError(t, err)
	last := d.GetWorkflowExecutionInfo()
	assert.NotEqual(t, firstRun, last.GetExecution().GetRunId(), "the run continued as new")
	sa := last.GetSearchAttributes().GetIndexedFields()
	assert.Contains(t, sa, CustomerIDAttr.GetName(), "search attributes carry over")
	assert.Contains(t, sa, JourneyAttr.GetName())

	// The history of the last execution: it continued from another, sent
	// only the last word, and received the events after the continue.
	executions, scheduled, signals := 1, 0, 0
	var continuedFrom string
	it := c.GetWorkflowHistory(ctx, id, last.GetExecution().GetRunId(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
			continuedFrom = ev.GetWorkflowExecutionStartedEventAttributes().GetContinuedExecutionRunId()
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			assert.Equal(t, SendMessageActivity, ev.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName())
			scheduled++
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
			signals++
		}
	}
	assert.NotEmpty(t, continuedFrom)
	assert.Equal(t, 1, scheduled, "the last execution sends only the last word")
	for prev := continuedFrom; prev != ""; {
		executions++
		it := c.GetWorkflowHistory(ctx, id, prev, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		prev = ""
		for it.HasNext() {
			ev, err := it.Next()
			require.NoError(t, err)
			if ev.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED {
				prev = ev.GetWorkflowExecutionStartedEventAttributes().GetContinuedExecutionRunId()
			}
		}
	}
	t.Logf("continue-as-new on a dev server: 12 events, %d executions (%d continues), %d events in the last", executions, executions-1, signals)
	assert.GreaterOrEqual(t, executions, 2)
}
