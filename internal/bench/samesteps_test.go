package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/rapporthq/rapport/internal/devstack"
	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/lanes"
	"github.com/rapporthq/rapport/internal/router"
	"github.com/rapporthq/rapport/internal/templates"
	"github.com/rapporthq/rapport/workflows"
)

// fakeActivities stand in for Rapport's: the commands a workflow issues
// do not depend on how the activities do their work.
type fakeActivities struct{}

func (fakeActivities) CustomerFacts(_ context.Context, id string) (journey.Customer, error) {
	return journey.Customer{ID: id, Locale: "en-GB", TimeZone: "Europe/London", HasEmail: true, OrdersCount: 1}, nil
}

func (fakeActivities) SendMessage(_ context.Context, req workflows.SendRequest) (workflows.SendResult, error) {
	res := workflows.SendResult{Channel: req.Channel, Status: workflows.SendSent, MessageID: "m-" + req.StepID, Provider: "fake"}
	if rec := req.Record; rec != nil { // recorded, as the send activity does
		res.Recorded = workflows.Recorded{Steps: len(rec.Steps) > 0, End: rec.End != nil}
	}
	return res, nil
}

func (fakeActivities) FinishRun(context.Context, workflows.FinishRunRequest) error { return nil }

// TestSameStepsIssuesTheInterpretersCommands runs journeys/thank-you.yaml
// through the interpreter and SameStepsWorkflow on a Temporal dev server,
// started alike, and compares their histories event by event: types,
// activity and marker names, activity options and inputs, search
// attributes, summaries and results. It fails when either changes
// alone, so the baseline cannot drift from what it stands for. It also
// holds the exact cost of the three kinds, which README.md quotes.
func TestSameStepsIssuesTheInterpretersCommands(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	attrs := map[string]enumspb.IndexedValueType{}
	for _, a := range workflows.SearchAttributes {
		attrs[a.GetName()] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
	}
	srv, err := devstack.StartTemporal(ctx, devstack.TemporalOptions{UIPort: -1, LogLevel: 100, SearchAttributes: attrs})
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	c, err := client.Dial(client.Options{HostPort: srv.Address(), Namespace: srv.Namespace()})
	require.NoError(t, err)
	defer c.Close()

	tmpl, err := templates.Load(os.DirFS("../../journeys/templates"), "journeys/templates")
	require.NoError(t, err)
	comp, err := journey.NewCompiler(journey.Options{Templates: tmpl}) // pinned templates, as the bench's plans
	require.NoError(t, err)
	src, err := os.ReadFile("../../journeys/thank-you.yaml")
	require.NoError(t, err)
	plan, diags := comp.Compile("thank-you.yaml", src)
	require.False(t, diags.HasErrors(), diags.Error())

	const queue = "bench-test"
	w := worker.New(c, queue, worker.Options{})
	workflows.NewInterpreter(comp.Env()).Register(w)
	Register(w)
	acts := fakeActivities{}
	w.RegisterActivityWithOptions(acts.CustomerFacts, activity.RegisterOptions{Name: workflows.CustomerFactsActivity})
	w.RegisterActivityWithOptions(acts.SendMessage, activity.RegisterOptions{Name: workflows.SendMessageActivity})
	w.RegisterActivityWithOptions(acts.FinishRun, activity.RegisterOptions{Name: workflows.FinishRunActivity})
	require.NoError(t, w.Start())
	defer w.Stop()

	// Both start as the router starts a journey (the same search
	// attributes, summary and details); the lean one as anyone would.
	ev := journey.Event{ID: "evt-1", Type: "order.placed", CustomerID: "c_1", OccurredAt: time.Now().UTC(), Order: journey.Order{ID: "o-1"}, Data: map[string]any{}}
	start := func(kind string) []*historypb.HistoryEvent {
		id := "bench-test/" + kind
		opts := router.StartOptions(id, plan, "c_1", ev, lanes.Event)
		opts.TaskQueue = queue
		var run client.WorkflowRun
		var err error
		switch kind {
		case "interpreted":
			run, err = c.ExecuteWorkflow(ctx, opts, workflows.JourneyWorkflowName,
				workflows.JourneyInput{Plan: *plan, CustomerID: "c_1", EntryKey: ev.ID, Trigger: ev, Revision: workflows.Revision})
		case "same-steps":
			run, err = c.ExecuteWorkflow(ctx, opts, SameStepsWorkflowName, ThankYouInput{CustomerID: "c_1", OrderID: "o-1",
				EventID: ev.ID, TemplateVersion: plan.Templates["thank-you"]})
		case "lean":
			run, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue}, LeanWorkflowName, ThankYouInput{CustomerID: "c_1", OrderID: "o-1"})
		}
		require.NoError(t, err)
		require.NoError(t, run.Get(ctx, nil), kind)
		events, err := History(ctx, c, id, run.GetRunID())
		require.NoError(t, err)
		return events
	}
	interpreted, sameSteps, lean := start("interpreted"), start("same-steps"), start("lean")

	assert.Equal(t, describe(t, interpreted), describe(t, sameSteps), "same-steps must issue the interpreter's commands, with its options")
	assert.NotEqual(t, describe(t, interpreted), describe(t, lean), "the comparison tells different workflows apart")

	// The exact cost of each kind (README.md, Performance).
	assert.Equal(t, Cost{Events: 14, WorkflowTasks: 2, Activities: 1, Upserts: 1, Actions: 3}, CountHistory(interpreted))
	assert.Equal(t, CountHistory(interpreted), CountHistory(sameSteps))
	assert.Equal(t, Cost{Events: 11, WorkflowTasks: 2, Activities: 1, Actions: 2}, CountHistory(lean))
}

// describe writes a history as one line per event with what the workflow
// decided: what a run's commands and their options are, not when or
// where they ran (ids, times, identities are left out, and the workflow
// id inside an activity's input).
func describe(t *testing.T, events []*historypb.HistoryEvent) []string {
	t.Helper()
	data := func(p *commonpb.Payload) string { return string(p.GetData()) }
	var out []string
	for _, e := range events {
		line := strings.TrimPrefix(e.GetEventType().String(), "EVENT_TYPE_")
		if s := e.GetUserMetadata().GetSummary(); s != nil {
			line += " summary=" + data(s)
		}
		switch e.GetEventType() {
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			a := e.GetActivityTaskScheduledEventAttributes()
			var in map[string]any
			require.NoError(t, json.Unmarshal(a.GetInput().GetPayloads()[0].GetData(), &in))
			delete(in, "workflow_id")
			if rec, ok := in["record"].(map[string]any); ok { // when, and whose: not what
				for _, st := range rec["steps"].([]any) {
					delete(st.(map[string]any), "at")
				}
				if end, ok := rec["end"].(map[string]any); ok {
					delete(end, "workflow_id")
				}
			}
			input, err := json.Marshal(in)
			require.NoError(t, err)
			line += fmt.Sprintf(" %s queue=%s schedule-to-close=%s schedule-to-start=%s start-to-close=%s heartbeat=%s retry={%s} input=%s",
				a.GetActivityType().GetName(), a.GetTaskQueue().GetName(), a.GetScheduleToCloseTimeout().AsDuration(), a.GetScheduleToStartTimeout().AsDuration(),
				a.GetStartToCloseTimeout().AsDuration(), a.GetHeartbeatTimeout().AsDuration(), a.GetRetryPolicy().String(), input)
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
			line += fmt.Sprintf(" attempt=%d", e.GetActivityTaskStartedEventAttributes().GetAttempt())
		case enumspb.EVENT_TYPE_MARKER_RECORDED:
			a := e.GetMarkerRecordedEventAttributes()
			line += " " + a.GetMarkerName()
			details := a.GetDetails()
			switch a.GetMarkerName() {
			case localActivityMarker:
				var la struct{ ActivityType string }
				require.NoError(t, json.Unmarshal(details["data"].GetPayloads()[0].GetData(), &la))
				line += " " + la.ActivityType
			case versionMarker:
				line += " " + data(details["change-id"].GetPayloads()[0]) + "=" + data(details["version"].GetPayloads()[0])
			}
		case enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
			var kv []string
			for k, v := range e.GetUpsertWorkflowSearchAttributesEventAttributes().GetSearchAttributes().GetIndexedFields() {
				kv = append(kv, k+"="+data(v))
			}
			slices.Sort(kv)
			line += " " + strings.Join(kv, " ")
		case enumspb.EVENT_TYPE_TIMER_STARTED:
			line += " " + e.GetTimerStartedEventAttributes().GetStartToFireTimeout().AsDuration().String()
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
			line += " " + e.GetWorkflowExecutionSignaledEventAttributes().GetSignalName()
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
			line += " " + data(e.GetWorkflowExecutionCompletedEventAttributes().GetResult().GetPayloads()[0])
		}
		out = append(out, line)
	}
	return out
}
