package router_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/router"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

const restockJourney = `
journey: back-in-stock
topic: offers
trigger:
  event: product.restocked
  for: customer.events.exists(e, e.type == "product.viewed" && e.data.product_id == event.data.product_id)
steps:
  - send: {channel: email, template: back-in-stock}
`

// A fan-out enters each customer its condition selects, keyed by the
// event; cut short (Temporal gone in the middle of a page), it resumes at
// the page it was on, and enters nobody twice.
func TestAFanoutResumesWhereItStopped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	g := newRig(t, restockJourney)
	var viewers []string
	for i := range 10 {
		id := fmt.Sprintf("f_%02d", i)
		_, err := g.s.UpsertCustomer(ctx, store.Customer{ID: id, Email: id + "@example.com"})
		require.NoError(t, err)
		product := "teapot"
		if i%4 == 3 {
			product = "mug"
		} else {
			viewers = append(viewers, id)
		}
		g.event("v_"+id, "product.viewed", id, `{"product_id": "`+product+`"}`)
	}
	inserted, err := g.s.RecordFanout(ctx, store.Event{ID: "r1", Type: "product.restocked", OccurredAt: time.Now(), Data: []byte(`{"product_id": "teapot"}`)}, []string{"back-in-stock"})
	require.NoError(t, err)
	require.True(t, inserted)
	again, err := g.s.RecordFanout(ctx, store.Event{ID: "r1", Type: "product.restocked", OccurredAt: time.Now(), Data: []byte(`{}`)}, []string{"back-in-stock"})
	require.NoError(t, err)
	assert.False(t, again, "the same event again is stored once")

	// Temporal goes away after four starts: within the second page.
	g.tc.failAfter, g.tc.failWith = 4, errors.New("temporal is down")
	o := router.FanoutOptions{PageSize: 3, Concurrency: 1, Backoff: time.Millisecond}
	did, err := g.r.FanoutOnce(ctx, o)
	assert.True(t, did)
	require.ErrorContains(t, err, "temporal is down")
	fs, err := g.s.Fanouts(ctx, "r1")
	require.NoError(t, err)
	require.Len(t, fs, 1)
	assert.Nil(t, fs[0].DoneAt)
	assert.Equal(t, "f_03", fs[0].Cursor, "two pages (c_1, c_2, f_00; f_01, f_02, f_03) done, the third cut short")
	assert.Equal(t, int64(6), fs[0].Scanned)

	g.tc.mu.Lock()
	g.tc.fail = nil
	g.tc.mu.Unlock()
	var lastErr error
	require.Eventually(t, func() bool { // once the backoff has passed
		did, err := g.r.FanoutOnce(ctx, o)
		lastErr = err
		return did || err != nil
	}, time.Minute, 10*time.Millisecond)
	require.NoError(t, lastErr)
	fs, err = g.s.Fanouts(ctx, "r1")
	require.NoError(t, err)
	require.NotNil(t, fs[0].DoneAt, fs[0].Error)
	assert.Empty(t, fs[0].Error)
	assert.Equal(t, int64(12), fs[0].Scanned, "every customer scanned once: c_1, c_2 and the ten")
	assert.Equal(t, int64(len(viewers)), fs[0].Matched)

	entered, err := g.s.RunsEntered(ctx, "back-in-stock", "r1", 100)
	require.NoError(t, err)
	var want []string
	for _, id := range viewers {
		want = append(want, workflows.WorkflowID("back-in-stock", id, "r1"))
	}
	assert.ElementsMatch(t, want, entered, "each viewer entered once")
	ids := map[string]bool{}
	for _, s := range g.tc.startList() {
		assert.False(t, ids[s.ID], "started twice: %s", s.ID)
		ids[s.ID] = true
		assert.Equal(t, workflows.WorkflowID("back-in-stock", s.Input.CustomerID, "r1"), s.ID)
		assert.Equal(t, "product.restocked", s.Input.Trigger.Type)
		assert.Equal(t, s.Input.CustomerID, s.Input.Trigger.CustomerID)
		assert.Equal(t, "teapot", s.Input.Trigger.Data["product_id"])
	}
	assert.Len(t, ids, len(viewers))

	did, err = g.r.FanoutOnce(ctx, o)
	require.NoError(t, err)
	assert.False(t, did, "nothing left to do")

	// The same event type with a customer does not start the journey.
	res := g.route(g.event("r2", "product.restocked", "f_00", `{"product_id": "teapot"}`))
	assert.Empty(t, res.Started)
	assert.Contains(t, skipped(res, "back-in-stock"), "fans out")
}
