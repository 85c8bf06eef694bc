//go:build !race

package workflows

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/rapporthq/rapport/internal/journey"
)

// TestTheFirstStepShownAtTheStartOnARealServer: on a Temporal dev server,
// runs started as the router starts them (RapportStep showing the first
// step) keep showing it while they rest there, with no upsert of their
// own, and one that exits before its first step (a purchase in its
// backlog) ends showing no step.
func TestTheFirstStepShownAtTheStartOnARealServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*serverPatience)
	defer cancel()
	env, err := journey.NewEnv()
	require.NoError(t, err)
	acts := &fakeActivities{answers: map[journey.Channel]SendStatus{}}
	c := devServer(ctx, t)
	registerWorker(t, c, NewInterpreter(env), acts, "shown-test")
	comp, err := journey.NewCompiler(journey.Options{})
	require.NoError(t, err)
	plan, diags := comp.Compile("later.yaml", []byte(`
journey: later
topic: offers
trigger: {event: order.placed}
exit_when: event.type == "order.placed" && event.id == "p1"
steps:
  - {id: pause, wait: 1d}
  - {id: thanks, send: {channel: email, template: thank-you}}
`))
	require.False(t, diags.HasErrors(), diags.Error())
	start := func(id string, backlog ...journey.Event) client.WorkflowRun {
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "shown-test",
			TypedSearchAttributes: temporal.NewSearchAttributes(StatusAttr.ValueSet("running"), StepAttr.ValueSet("pause")),
		}, JourneyWorkflowName, JourneyInput{Plan: *plan, CustomerID: "c_1", EntryKey: "k", Revision: Revision, Backlog: backlog,
			Trigger: journey.Event{ID: "evt-1", Type: "order.placed", CustomerID: "c_1", OccurredAt: time.Now().UTC()}})
		require.NoError(t, err)
		return run
	}

	resting := start("rapport/later/c_1/k")
	restsAt(ctx, t, c, resting.GetID(), "pause")
	upserts := 0
	it := c.GetWorkflowHistory(ctx, resting.GetID(), "", false, 0)
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		if a := ev.GetUpsertWorkflowSearchAttributesEventAttributes(); a != nil {
			if _, step := a.GetSearchAttributes().GetIndexedFields()[StepAttr.GetName()]; step {
				upserts++
			}
		}
	}
	assert.Zero(t, upserts, "the start showed the step it rests at")
	desc, err := c.DescribeWorkflow(ctx, resting.GetID(), "")
	require.NoError(t, err)
	step, _ := desc.TypedSearchAttributes.GetKeyword(StepAttr)
	assert.Equal(t, "pause", step)

	exited := start("rapport/later/c_2/k", journey.Event{ID: "p1", Type: "order.placed", CustomerID: "c_1"})
	var res JourneyResult
	require.NoError(t, exited.Get(ctx, &res))
	assert.Equal(t, Exited, res.Outcome)
	desc, err = c.DescribeWorkflow(ctx, exited.GetID(), "")
	require.NoError(t, err)
	_, shown := desc.TypedSearchAttributes.GetKeyword(StepAttr)
	assert.False(t, shown, "no step: it never reached one")
	status, _ := desc.TypedSearchAttributes.GetKeyword(StatusAttr)
	assert.Equal(t, "exited", status)
}
