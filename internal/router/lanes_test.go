package router_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/rapporthq/rapport/internal/router"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

// Runs start in their journey's lane (internal/lanes): an event's
// transactional journey first and at the top, so that its start does not
// wait for the marketing ones the same order triggers; a run an audience
// or a fan-out enters a level below one an event starts; with NoLanes,
// none.
func TestRunsStartInTheirLane(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	g := newRig(t, reviewJourney, thanksJourney, audienceJourney, restockJourney)
	g.route(g.event("evt-1", "order.placed", "c_1",
		`{"order": {"id": "o-1", "total": 48.00, "currency": "GBP", "items": [{"product_id": "p", "name": "Tea", "quantity": 1, "price": 48.00}]}}`))
	starts := g.tc.startList()
	require.Len(t, starts, 2)
	assert.Equal(t, workflows.WorkflowID("thanks", "c_1", "evt-1"), starts[0].ID, "the transactional journey starts first")
	assert.Equal(t, temporal.Priority{PriorityKey: 1, FairnessKey: "thanks"}, starts[0].Opts.Priority)
	assert.Equal(t, temporal.Priority{PriorityKey: 3, FairnessKey: "review"}, starts[1].Opts.Priority)

	plan, ok := g.r.Catalog.Get("winback")
	require.True(t, ok)
	now := time.Now().UTC()
	require.NotEmpty(t, audienceCustomers(t, g.s, now, 8))
	_, err := g.r.EnterAudience(ctx, plan, router.AudienceRun{EntryKey: "audience-lanes", AsOf: now}, nil)
	require.NoError(t, err)
	_, err = g.s.UpsertCustomer(ctx, store.Customer{ID: "f_1", Email: "f_1@example.com"})
	require.NoError(t, err)
	g.event("v_f_1", "product.viewed", "f_1", `{"product_id": "teapot"}`)
	_, err = g.s.RecordFanout(ctx, store.Event{ID: "r1", Type: "product.restocked", OccurredAt: now, Data: []byte(`{"product_id": "teapot"}`)}, []string{"back-in-stock"})
	require.NoError(t, err)
	_, err = g.r.FanoutOnce(ctx, router.FanoutOptions{})
	require.NoError(t, err)
	bulk := map[string]int{}
	for _, st := range g.tc.startList()[2:] {
		assert.Equal(t, 4, st.Opts.Priority.PriorityKey, st.ID)
		assert.Equal(t, st.Input.Plan.Journey, st.Opts.Priority.FairnessKey, st.ID)
		bulk[st.Input.Plan.Journey]++
	}
	assert.Equal(t, 1, bulk["back-in-stock"], "the fan-out's entry")
	assert.NotZero(t, bulk["winback"], "the audience's entries")

	g.r.NoLanes = true
	g.route(g.event("evt-2", "order.placed", "c_2",
		`{"order": {"id": "o-2", "total": 48.00, "currency": "GBP", "items": [{"product_id": "p", "name": "Tea", "quantity": 1, "price": 48.00}]}}`))
	last := g.tc.startList()
	for _, st := range last[len(last)-2:] {
		assert.Equal(t, temporal.Priority{}, st.Opts.Priority, "%s without lanes", st.ID)
	}
}

// With LaneQueue (the fallback to priority the bench measures), a lane's
// runs start on a task queue of their own; the others where they would.
func TestALaneOnAQueueOfItsOwn(t *testing.T) {
	t.Parallel()
	g := newRig(t, reviewJourney, thanksJourney)
	g.r.NoLanes = true
	g.r.LaneQueue = func(key int) string {
		if key == 1 {
			return "transactional"
		}
		return ""
	}
	g.route(g.event("evt-1", "order.placed", "c_1",
		`{"order": {"id": "o-1", "total": 48.00, "currency": "GBP", "items": [{"product_id": "p", "name": "Tea", "quantity": 1, "price": 48.00}]}}`))
	queues := map[string]string{}
	for _, st := range g.tc.startList() {
		queues[st.Input.Plan.Journey] = st.Opts.TaskQueue
		assert.Equal(t, temporal.Priority{}, st.Opts.Priority, st.ID)
	}
	assert.Equal(t, map[string]string{"thanks": "transactional", "review": workflows.TaskQueue}, queues)
}
