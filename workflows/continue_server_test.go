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
	"strings"
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
	w.RegisterActivityWithOptions(acts.RecordSteps, activity.RegisterOptions{Name: RecordStepsActivity})
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
	w.RegisterActivityWithOptions(acts.RecordSteps, activity.RegisterOptions{Name: RecordStepsActivity})
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
	w.RegisterActivityWithOptions(acts.RecordSteps, activity.RegisterOptions{Name: RecordStepsActivity})
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

// TestMaximumSizeEventsContinueAsNewOnARealServer: on a Temporal server
// that suggests continuing as new once a history passes 1 MiB, a run fed
// 150 events of the largest data the API takes (32 KiB) while it waits
// continues as new several times, each time with an input well inside
// the payload limit (it keeps at most 256 KiB of events for later waits),
// and behaves as the journey says: the answer that came last is still
// there for the wait after, and nothing is sent twice.
func TestMaximumSizeEventsContinueAsNewOnARealServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	attrs := map[string]enumspb.IndexedValueType{}
	for _, a := range SearchAttributes {
		attrs[a.GetName()] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
	}
	srv, err := devstack.StartTemporal(ctx, devstack.TemporalOptions{UIPort: -1, LogLevel: 100, SearchAttributes: attrs, Dynamic: map[string]any{
		"limit.historySize.suggestContinueAsNew": 1 << 20,
	}})
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	c, err := client.Dial(client.Options{HostPort: srv.Address(), Namespace: srv.Namespace()})
	require.NoError(t, err)
	t.Cleanup(c.Close)

	comp, err := journey.NewCompiler(journey.Options{})
	require.NoError(t, err)
	plan, diags := comp.Compile("big.yaml", []byte(`
journey: big-events
purpose: transactional
trigger: {event: order.placed}
exit_when: event.type == "order.cancelled"
steps:
  - id: hello
    send: {channel: email, template: thank-you}
  - id: soak
    wait: 1d
  - id: answer
    wait: {until_event: 'event.type == "survey.answered" && event.data.score >= 4', timeout: 7d}
  - id: thanks
    send: {channel: email, template: thank-you}
`))
	require.False(t, diags.HasErrors(), diags.Error())
	acts := &fakeActivities{answers: map[journey.Channel]SendStatus{}}
	w := worker.New(c, "big-events-test", worker.Options{})
	NewInterpreter(comp.Env()).Register(w)
	w.RegisterActivityWithOptions(acts.CustomerFacts, activity.RegisterOptions{Name: CustomerFactsActivity})
	w.RegisterActivityWithOptions(acts.SendMessage, activity.RegisterOptions{Name: SendMessageActivity})
	w.RegisterActivityWithOptions(acts.FinishRun, activity.RegisterOptions{Name: FinishRunActivity})
	w.RegisterActivityWithOptions(acts.RecordSteps, activity.RegisterOptions{Name: RecordStepsActivity})
	require.NoError(t, w.Start())
	defer w.Stop()

	id := "rapport/big-events/c_1/k"
	_, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "big-events-test"}, JourneyWorkflowName,
		JourneyInput{Plan: *plan, CustomerID: "c_1", EntryKey: "k", Trigger: trigger(journey.Order{}), Revision: Revision})
	require.NoError(t, err)
	blob := strings.Repeat("x", 32<<10-20)
	fed := 0
	received := func() int {
		v, err := c.QueryWorkflow(ctx, id, "", StateQuery)
		var st State
		if err != nil || v.Get(&st) != nil {
			return -1
		}
		return st.EventsReceived
	}
	for i := range 150 {
		ev := journey.Event{ID: fmt.Sprintf("view-%d", i), Type: "page.viewed", CustomerID: "c_1", Data: map[string]any{"blob": blob}}
		require.NoError(t, c.SignalWorkflow(ctx, id, "", EventSignal, ev))
		fed += len(blob)
		if i%10 == 9 { // in batches the run takes in as they come
			require.Eventually(t, func() bool { return received() == i+1 }, time.Minute, 50*time.Millisecond, "events taken in")
		}
	}
	require.NoError(t, c.SignalWorkflow(ctx, id, "", EventSignal, journey.Event{ID: "answer-1", Type: "survey.answered", CustomerID: "c_1", Data: map[string]any{"score": 5}}))
	require.Eventually(t, func() bool { // the soak ends (staff skip it) once the answer is in
		h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: id, UpdateName: SkipWaitUpdate, Args: []any{SkipWait{Step: "soak", By: "test"}}, WaitForStage: client.WorkflowUpdateStageCompleted})
		return err == nil && h.Get(ctx, nil) == nil
	}, time.Minute, 200*time.Millisecond)

	var res JourneyResult
	require.NoError(t, c.GetWorkflow(ctx, id, "").Get(ctx, &res))
	assert.Equal(t, Completed, res.Outcome, res.Reason)
	assert.Equal(t, []string{"hello", "soak", "answer", "thanks"}, res.StepsDone)
	acts.mu.Lock()
	assert.Len(t, acts.sends, 2, "nothing sent twice")
	acts.mu.Unlock()
	v, err := c.QueryWorkflow(ctx, id, "", StateQuery)
	require.NoError(t, err)
	var st State
	require.NoError(t, v.Get(&st))
	assert.Equal(t, 151, st.EventsReceived)
	assert.Contains(t, strings.Join(st.Notes, "\n"), "answer: ended by survey.answered event answer-1")

	// Follow the chain back from the last execution: every start input
	// (the first one's included) is well inside the 2 MiB limit, though
	// far more event data than that reached the run.
	executions := 0
	for runID := ""; ; {
		h := &historypb.History{}
		it := c.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			require.NoError(t, err)
			h.Events = append(h.Events, ev)
		}
		started := h.GetEvents()[0].GetWorkflowExecutionStartedEventAttributes()
		sigs := 0
		for _, ev := range h.GetEvents() {
			if ev.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED {
				sigs++
			}
		}
		var in JourneyInput
		require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(started.GetInput(), &in))
		if in.Resume != nil {
			inbox := 0
			for _, ev := range in.Resume.Inbox {
				inbox += eventBytes(ev)
			}
			assert.LessOrEqual(t, inbox, maxInboxBytes, "events kept for later waits")
		}
		t.Logf("execution %d from the last: %d signals", executions+1, sigs)
		size := 0
		for _, p := range started.GetInput().GetPayloads() {
			size += len(p.GetData())
		}
		assert.Less(t, size, maxContinueBytes, "the input of execution %s", started.GetOriginalExecutionRunId())
		executions++
		replay(t, NewInterpreter(comp.Env()), h, fmt.Sprintf("execution %d from the last", executions))
		runID = started.GetContinuedExecutionRunId()
		if runID == "" {
			break
		}
		require.Less(t, executions, 50)
	}
	assert.Greater(t, executions, 2, "continued as new more than once (the server suggested it)")
	assert.Greater(t, fed, 4<<20, "more than twice the payload limit of event data reached the run")
}

// TestHeldSendContinuesAsNewOnARealServer: on a Temporal server that
// suggests continuing as new after 40 events, a text the contact rules
// keep holding continues as new in the middle of its send step, and the
// next execution asks the outbox again and sends it once it may. Both
// executions are kept for the replay test.
func TestHeldSendContinuesAsNewOnARealServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	attrs := map[string]enumspb.IndexedValueType{}
	for _, a := range SearchAttributes {
		attrs[a.GetName()] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
	}
	srv, err := devstack.StartTemporal(ctx, devstack.TemporalOptions{UIPort: -1, LogLevel: 100, SearchAttributes: attrs, Dynamic: map[string]any{
		"limit.historyCount.suggestContinueAsNew": 40,
	}})
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	c, err := client.Dial(client.Options{HostPort: srv.Address(), Namespace: srv.Namespace()})
	require.NoError(t, err)
	t.Cleanup(c.Close)

	comp, err := journey.NewCompiler(journey.Options{})
	require.NoError(t, err)
	plan, diags := comp.Compile("held.yaml", []byte(`
journey: held
purpose: transactional
trigger: {event: order.placed}
steps:
  - {id: text, send: {channel: sms, template: t}}
  - {id: after, send: {channel: email, template: e}}
`))
	require.False(t, diags.HasErrors(), diags.Error())
	holds := make([]time.Duration, 12)
	for i := range holds {
		holds[i] = time.Hour // a scaled day of 2.4 s: each hold lasts 0.1 s
	}
	acts := &fakeActivities{answers: map[journey.Channel]SendStatus{}, holds: map[journey.Channel][]time.Duration{journey.SMS: holds}}
	w := worker.New(c, "held-test", worker.Options{})
	NewInterpreter(comp.Env()).Register(w)
	w.RegisterActivityWithOptions(acts.CustomerFacts, activity.RegisterOptions{Name: CustomerFactsActivity})
	w.RegisterActivityWithOptions(acts.SendMessage, activity.RegisterOptions{Name: SendMessageActivity})
	w.RegisterActivityWithOptions(acts.FinishRun, activity.RegisterOptions{Name: FinishRunActivity})
	w.RegisterActivityWithOptions(acts.RecordSteps, activity.RegisterOptions{Name: RecordStepsActivity})
	require.NoError(t, w.Start())
	defer w.Stop()

	id := "rapport/held/c_1/k"
	p := plan.Scaled(2400*time.Millisecond, time.Now())
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "held-test"}, JourneyWorkflowName,
		JourneyInput{Plan: *p, CustomerID: "c_1", EntryKey: "k", Trigger: trigger(journey.Order{}), Revision: Revision})
	require.NoError(t, err)
	var res JourneyResult
	require.NoError(t, c.GetWorkflow(ctx, id, "").Get(ctx, &res))
	assert.Equal(t, Completed, res.Outcome, res.Reason)
	assert.Equal(t, []string{"text", "after"}, res.StepsDone)

	acts.mu.Lock()
	var asks []string
	for _, s := range acts.sends {
		if s.StepID == "text" {
			asks = append(asks, s.IdempotencyKey())
		}
	}
	acts.mu.Unlock()
	require.Len(t, asks, len(holds)+1, "held twelve times, then sent")
	for _, k := range asks {
		assert.Equal(t, asks[0], k, "one outbox key across executions")
	}
	d, err := c.DescribeWorkflowExecution(ctx, id, "")
	require.NoError(t, err)
	last := d.GetWorkflowExecutionInfo().GetExecution().GetRunId()
	require.NotEqual(t, run.GetRunID(), last, "continued as new while held")

	first := fetchHistoryOf(ctx, t, c, id, run.GetRunID())
	var next JourneyInput
	for _, ev := range first.GetEvents() {
		if a := ev.GetWorkflowExecutionContinuedAsNewEventAttributes(); a != nil {
			require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(a.GetInput(), &next))
		}
	}
	require.NotNil(t, next.Resume)
	assert.True(t, next.Resume.Restart, "in the middle of the send step")
	assert.Equal(t, []int{0}, next.Resume.Path)
	replayAndRecord(t, c, NewInterpreter(comp.Env()), id, run.GetRunID(), fmt.Sprintf("suggested-held-first-r%d.json", CurrentRevision))
	replayAndRecord(t, c, NewInterpreter(comp.Env()), id, last, fmt.Sprintf("suggested-held-last-r%d.json", CurrentRevision))
}

func fetchHistoryOf(ctx context.Context, t *testing.T, c client.Client, id, runID string) *historypb.History {
	t.Helper()
	h := &historypb.History{}
	it := c.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		h.Events = append(h.Events, ev)
	}
	return h
}
