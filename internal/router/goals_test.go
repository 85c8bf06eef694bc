package router_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/money"
	"github.com/rapporthq/rapport/internal/report"
	"github.com/rapporthq/rapport/internal/router"
	"github.com/rapporthq/rapport/internal/store"
)

// winbackGoal is a journey with a goal and a control group: started by a
// delivery, it converts on a purchase within 14 days of entry.
const winbackGoal = `
journey: nudge
topic: offers
trigger:
  event: order.delivered
goal:
  when: event.type == "order.placed" && event.order.total >= 10.0
  within: 14d
holdout: 50%
steps:
  - id: hello
    send: {channel: email, template: nudge}
`

// placeOrder stores an order.placed event with its order.
func (g *rig) placeOrder(id, customerID, total string, at time.Time) store.Event {
	g.t.Helper()
	amount := money.MustParse(total)
	data, err := json.Marshal(map[string]any{"order": map[string]any{"id": id, "total": json.Number(total), "currency": "EUR",
		"items": []map[string]any{{"product_id": "tea", "name": "Tea", "quantity": 1, "price": json.Number(total)}}}})
	require.NoError(g.t, err)
	o := &store.Order{ID: id, CustomerID: customerID, Total: amount, Currency: "EUR", PlacedAt: at,
		Items: []store.Item{{ProductID: "tea", Name: "Tea", Quantity: 1, Price: amount}}}
	e, inserted, err := g.s.RecordEvent(context.Background(), store.Event{ID: "evt-" + id, Type: "order.placed", CustomerID: customerID, OccurredAt: at, Data: data}, o)
	require.NoError(g.t, err)
	require.True(g.t, inserted)
	return e
}

// The control group enters (registered, ended at once, no workflow), the
// treated customers' runs start; a purchase inside the window converts
// both arms' runs alike, with the order's exact revenue; the trigger, a
// purchase under the goal's amount, a second purchase and one after the
// window convert nothing more.
func TestGoalsConvertBothArmsAlike(t *testing.T) {
	t.Parallel()
	g := newRig(t, winbackGoal)
	ctx := context.Background()
	held, treated := "", ""
	for i := 0; held == "" || treated == ""; i++ {
		id := fmt.Sprintf("c_goal_%d", i)
		if journey.HeldOut("nudge", id, 50) {
			held = id
		} else {
			treated = id
		}
	}
	for _, c := range []string{held, treated} {
		_, err := g.s.UpsertCustomer(ctx, store.Customer{ID: c, Email: c + "@example.com"})
		require.NoError(t, err)
	}
	now := time.Now().UTC()

	res := g.route(g.eventAt("d-held", "order.delivered", held, `{"order_id": "o-0"}`, now))
	assert.Empty(t, res.Started)
	assert.Equal(t, router.HeldOut, skipped(res, "nudge"))
	res = g.route(g.eventAt("d-treated", "order.delivered", treated, `{"order_id": "o-1"}`, now))
	require.Len(t, res.Started, 1)
	treatedRun := res.Started[0]
	assert.Len(t, g.tc.startedIDs(), 1, "the control group has no workflow")

	heldRuns, err := g.s.RunsEntered(ctx, "nudge", "d-held", 10)
	require.NoError(t, err)
	require.Len(t, heldRuns, 1)
	heldRun := g.run(heldRuns[0])
	assert.Equal(t, store.ArmHoldout, heldRun.Arm)
	assert.Equal(t, store.RunExited, heldRun.Status)
	assert.Equal(t, store.ArmTreatment, g.run(treatedRun).Arm)

	// A purchase under 10 is not the goal.
	res = g.route(g.placeOrder("small", held, "4.00", now.Add(time.Minute)))
	assert.Empty(t, res.Converted)

	res = g.route(g.placeOrder("big-held", held, "25.50", now.Add(2*time.Minute)))
	assert.Equal(t, []string{heldRun.WorkflowID}, res.Converted, "the control group converts though its run ended")
	res = g.route(g.placeOrder("big-treated", treated, "12.00", now.Add(3*time.Minute)))
	assert.Equal(t, []string{treatedRun}, res.Converted)
	res = g.route(g.placeOrder("again", treated, "30.00", now.Add(4*time.Minute)))
	assert.Empty(t, res.Converted, "a run converts once")

	convs, err := g.s.Conversions(ctx, "nudge")
	require.NoError(t, err)
	require.Len(t, convs, 2)
	byRun := map[string]store.Conversion{}
	for _, c := range convs {
		byRun[c.WorkflowID] = c
	}
	require.NotNil(t, byRun[heldRun.WorkflowID].Revenue)
	assert.Equal(t, "25.50", byRun[heldRun.WorkflowID].Revenue.String())
	assert.Equal(t, "big-held", byRun[heldRun.WorkflowID].OrderID)
	assert.Equal(t, "12.00", byRun[treatedRun].Revenue.String())
	assert.Equal(t, "EUR", byRun[treatedRun].Currency)

	// The report counts the revenue net of what became of the orders: a
	// refund of 5.50 of the held-out customer's order, and the treated
	// one's cancelled.
	amount := money.MustParse("5.50")
	for _, ch := range []struct {
		id, customer string
		change       store.OrderChange
	}{
		{"refund-1", held, store.OrderChange{Event: "order.refunded", OrderID: "big-held", Amount: &amount}},
		{"cancel-1", treated, store.OrderChange{Event: "order.cancelled", OrderID: "big-treated"}},
	} {
		_, err := g.s.RecordNewEvent(ctx, store.NewEvent{Event: store.Event{ID: ch.id, Type: ch.change.Event, CustomerID: ch.customer,
			OccurredAt: now.Add(5 * time.Minute), Data: json.RawMessage(`{"order_id": "` + ch.change.OrderID + `"}`)}, Change: &ch.change})
		require.NoError(t, err)
	}
	plan, ok := g.r.Catalog.Get("nudge")
	require.True(t, ok)
	rep, err := report.Build(ctx, g.s, plan, report.Options{})
	require.NoError(t, err)
	for _, a := range rep.Arms {
		require.Len(t, a.Revenue, 1, a.Name)
		want := map[string]string{report.ArmHoldout: "20.00", report.ArmTreatment: "0.00"}[a.Name]
		assert.Equal(t, want, a.Revenue[0].Total, "%s: net of refunds and cancellations", a.Name)
		assert.Equal(t, 1, a.Conversions, "%s: the purchase still converted", a.Name)
	}

	// Routing an event again converts nothing twice.
	again, err := g.s.GetEvent(ctx, "evt-big-treated")
	require.NoError(t, err)
	_, err = g.r.Route(ctx, again)
	require.NoError(t, err)
	convs, err = g.s.Conversions(ctx, "nudge")
	require.NoError(t, err)
	assert.Len(t, convs, 2)
}

// A purchase after the window does not convert; a window counted from the
// last message runs from the latest message sent before the purchase.
func TestGoalWindows(t *testing.T) {
	t.Parallel()
	g := newRig(t, `
journey: late
topic: offers
trigger:
  event: order.delivered
goal: {when: event.type == "order.placed", within: 1d}
steps:
  - send: {channel: email, template: nudge}
`, `
journey: after-message
topic: offers
trigger:
  event: order.delivered
goal: {when: event.type == "order.placed", within: 1d, from: last_message}
steps:
  - send: {channel: email, template: nudge}
`)
	now := time.Now().UTC()
	res := g.route(g.eventAt("d-1", "order.delivered", "c_1", `{}`, now))
	require.Len(t, res.Started, 2)
	res = g.route(g.placeOrder("o-late", "c_1", "20.00", now.Add(36*time.Hour)))
	assert.Empty(t, res.Converted, "36h after entry, with nothing sent, is outside both windows")

	res = g.route(g.eventAt("d-2", "order.delivered", "c_2", `{}`, now))
	require.Len(t, res.Started, 2)
	var afterMessage string
	for _, id := range res.Started {
		if g.run(id).Journey == "after-message" {
			afterMessage = id
		}
	}
	require.NotEmpty(t, afterMessage)
	// The run's message went 30 hours after entry.
	conn, err := pgx.Connect(context.Background(), g.url)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	_, err = conn.Exec(context.Background(), `INSERT INTO messages (idempotency_key, workflow_id, journey, step_id, customer_id, channel, template, purpose, status, sent_at)
		VALUES ('k-1', $1, 'after-message', 'send_1', 'c_2', 'email', 'nudge', 'marketing', 'sent', $2)`, afterMessage, now.Add(30*time.Hour))
	require.NoError(t, err)
	res = g.route(g.placeOrder("o-after", "c_2", "20.00", now.Add(36*time.Hour)))
	assert.Equal(t, []string{afterMessage}, res.Converted, "6h after the message")
}
