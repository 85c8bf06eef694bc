//go:build !race

// The tests on a real server (the embedded Temporal server) are left out
// of -race builds: a race-instrumented build of the server takes minutes
// to build and to run. .ci/test runs them without -race.

package workflows

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/rapporthq/rapport/internal/devstack"
	"github.com/rapporthq/rapport/internal/journey"
)

// TestRunContinuesAsNewOnARealServer: on a Temporal dev server, a run told
// to continue as new after 5 events does so mid-wait, keeps its workflow
// id and search attributes, and its last execution completes the journey
// without sending the first message again.
func TestRunContinuesAsNewOnARealServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*serverPatience)
	defer cancel()
	c := devServer(ctx, t)

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
	plan = plan.Scaled(slowDay, time.Now()) // the day's wait outlasts the test, which skips it

	acts := &fakeActivities{answers: map[journey.Channel]SendStatus{}}
	w := worker.New(c, "continue-test", worker.Options{})
	in := NewInterpreter(comp.Env())
	in.ContinueAfterEvents = continuedTestEvents
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
	restsAt(ctx, t, c, id, "wait_for_return")
	for i := range 12 {
		require.NoError(t, c.SignalWorkflow(ctx, id, "", EventSignal, journey.Event{ID: fmt.Sprintf("view-%d", i), Type: "page.viewed", CustomerID: "c_1"}))
	}
	// Once the last execution has taken in every event and rests in the
	// wait again, the test ends the wait.
	require.Eventually(t, func() bool {
		v, err := c.QueryWorkflow(ctx, id, "", StateQuery)
		var st State
		return err == nil && v.Get(&st) == nil && st.EventsReceived == 12 && st.PendingWait != nil && st.PendingWait.Step == "wait_for_return"
	}, serverPatience, 50*time.Millisecond, "the run to take in the 12 events and rest in its wait")
	skipWaitOnServer(ctx, t, c, id, "wait_for_return")

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

	// Both ends of the chain replay with this code, and are kept for the
	// replay test.
	replayAndRecord(t, c, in, id, firstRun, "continued-winback-first-r2.json")
	replayAndRecord(t, c, in, id, last.GetExecution().GetRunId(), "continued-winback-last-r2.json")
}

// devServer starts a Temporal dev server with Rapport's search
// attributes, for the test's life, and connects to it.
func devServer(ctx context.Context, t *testing.T) client.Client {
	t.Helper()
	attrs := map[string]enumspb.IndexedValueType{}
	for _, a := range SearchAttributes {
		attrs[a.GetName()] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
	}
	srv, err := devstack.StartTemporal(ctx, devstack.TemporalOptions{UIPort: -1, LogLevel: 100, SearchAttributes: attrs})
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	c, err := client.Dial(client.Options{HostPort: srv.Address(), Namespace: srv.Namespace()})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// TestInDoubtSendSettledOnARealServer: on a Temporal dev server, a text
// whose send ends in doubt is settled by evidence before the journey goes
// on; its history replays and is kept for the replay test.
func TestInDoubtSendSettledOnARealServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*serverPatience)
	defer cancel()
	c := devServer(ctx, t)

	comp, err := journey.NewCompiler(journey.Options{})
	require.NoError(t, err)
	plan, diags := comp.Compile("in-doubt.yaml", []byte(inDoubtJourney))
	require.False(t, diags.HasErrors(), diags.Error())
	acts := &fakeActivities{answers: map[journey.Channel]SendStatus{journey.SMS: SendUnknown}, settles: []Settlement{Settled}}
	w := worker.New(c, "settle-test", worker.Options{})
	NewInterpreter(comp.Env()).Register(w)
	w.RegisterActivityWithOptions(acts.CustomerFacts, activity.RegisterOptions{Name: CustomerFactsActivity})
	w.RegisterActivityWithOptions(acts.SendMessage, activity.RegisterOptions{Name: SendMessageActivity})
	w.RegisterActivityWithOptions(acts.SettleSend, activity.RegisterOptions{Name: SettleSendActivity})
	w.RegisterActivityWithOptions(acts.FinishRun, activity.RegisterOptions{Name: FinishRunActivity})
	require.NoError(t, w.Start())
	defer w.Stop()

	id := "rapport/in-doubt/c_1/k"
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "settle-test"}, JourneyWorkflowName,
		JourneyInput{Plan: *plan, CustomerID: "c_1", EntryKey: "k", Trigger: trigger(journey.Order{}), Revision: Revision})
	require.NoError(t, err)
	var res JourneyResult
	require.NoError(t, run.Get(ctx, &res))
	assert.Equal(t, Completed, res.Outcome)
	acts.mu.Lock()
	require.Len(t, acts.sends, 2, "the text once (no fallback to email), then the next step")
	assert.Equal(t, journey.SMS, acts.sends[0].Channel)
	assert.Len(t, acts.settleCalls, 1)
	acts.mu.Unlock()
	replayAndRecord(t, c, NewInterpreter(comp.Env()), id, run.GetRunID(), "in-doubt-settled-r2.json")
}

// replayAndRecord replays one execution's history with this code (in, set
// as the worker that ran it was), and writes it to testdata when RAPPORT_RECORD_HISTORIES is set (keeping a
// file already there unless it says "overwrite"), for
// TestReplayRecordedHistories.
func replayAndRecord(t *testing.T, c client.Client, in *Interpreter, workflowID, runID, file string) {
	t.Helper()
	hist := &historypb.History{}
	it := c.GetWorkflowHistory(context.Background(), workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		hist.Events = append(hist.Events, ev)
	}
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflowWithOptions(in.JourneyWorkflow, workflow.RegisterOptions{Name: JourneyWorkflowName})
	require.NoError(t, r.ReplayWorkflowHistory(nil, hist), "%s replays", file)

	mode := os.Getenv("RAPPORT_RECORD_HISTORIES")
	path := filepath.Join("testdata", file)
	if _, err := os.Stat(path); mode == "" || (err == nil && mode != "overwrite") {
		return
	}
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(hist)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, b, 0o644))
	t.Logf("recorded %s", file)
}

// TestOutcomeAttributeOnARealServer: on a Temporal dev server, a run that
// walked every step but delivered nothing (its text failed and it had no
// email address) ends Completed for Temporal, and its RapportOutcome says
// nothing_delivered, which staff can filter on; its history replays and
// is kept for the replay test.
func TestOutcomeAttributeOnARealServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*serverPatience)
	defer cancel()
	c := devServer(ctx, t)

	comp, err := journey.NewCompiler(journey.Options{})
	require.NoError(t, err)
	plan, diags := comp.Compile("in-doubt.yaml", []byte(inDoubtJourney))
	require.False(t, diags.HasErrors(), diags.Error())
	acts := &fakeActivities{answers: map[journey.Channel]SendStatus{journey.SMS: SendFailed, journey.Email: SendSkipped}}
	w := worker.New(c, "outcome-test", worker.Options{})
	NewInterpreter(comp.Env()).Register(w)
	w.RegisterActivityWithOptions(acts.CustomerFacts, activity.RegisterOptions{Name: CustomerFactsActivity})
	w.RegisterActivityWithOptions(acts.SendMessage, activity.RegisterOptions{Name: SendMessageActivity})
	w.RegisterActivityWithOptions(acts.FinishRun, activity.RegisterOptions{Name: FinishRunActivity})
	require.NoError(t, w.Start())
	defer w.Stop()

	id := "rapport/in-doubt/c_1/nothing"
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "outcome-test"}, JourneyWorkflowName,
		JourneyInput{Plan: *plan, CustomerID: "c_1", EntryKey: "nothing", Trigger: trigger(journey.Order{}), Revision: Revision})
	require.NoError(t, err)
	var res JourneyResult
	require.NoError(t, run.Get(ctx, &res))
	assert.Equal(t, Completed, res.Outcome, "for Temporal the run completed")

	desc, err := c.DescribeWorkflowExecution(ctx, id, run.GetRunID())
	require.NoError(t, err)
	fields := desc.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()
	var got string
	require.Contains(t, fields, OutcomeAttr.GetName())
	require.NoError(t, converter.GetDefaultDataConverter().FromPayload(fields[OutcomeAttr.GetName()], &got))
	assert.Equal(t, string(OutcomeNothingDelivered), got)

	// Staff find it with a list filter, as in the Temporal UI.
	query := fmt.Sprintf("%s = %q", OutcomeAttr.GetName(), OutcomeNothingDelivered)
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		list, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query})
		require.NoError(ct, err)
		require.Len(ct, list.GetExecutions(), 1)
		assert.Equal(ct, id, list.GetExecutions()[0].GetExecution().GetWorkflowId())
	}, serverPatience, 200*time.Millisecond, "a list filter on %s", query)
	replayAndRecord(t, c, NewInterpreter(comp.Env()), id, run.GetRunID(), "nothing-delivered-r3.json")
}
