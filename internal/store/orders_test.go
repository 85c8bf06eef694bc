package store_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/money"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/store/storetest"
)

func amount(s string) *money.Amount {
	a := money.MustParse(s)
	return &a
}

// The rules of journeys/README.md's table of order events.
func TestNextOrderState(t *testing.T) {
	t.Parallel()
	at := func(status, refunded string) store.OrderState {
		return store.OrderState{ID: "o-1", Status: status, Total: money.MustParse("50.00"), Refunded: money.MustParse(refunded), Currency: "GBP"}
	}
	for _, tc := range []struct {
		name     string
		from     store.OrderState
		change   store.OrderChange
		status   string // "" when nothing changes (a note)
		refunded string
		refused  string // the field refused
	}{
		{"fulfilled", at("placed", "0"), store.OrderChange{Event: "order.fulfilled"}, "fulfilled", "0", ""},
		{"fulfilled twice", at("fulfilled", "0"), store.OrderChange{Event: "order.fulfilled"}, "", "", ""},
		{"fulfilled after delivery", at("delivered", "0"), store.OrderChange{Event: "order.fulfilled"}, "", "", ""},
		{"delivered unfulfilled", at("placed", "0"), store.OrderChange{Event: "order.delivered"}, "delivered", "0", ""},
		{"delivered", at("fulfilled", "0"), store.OrderChange{Event: "order.delivered"}, "delivered", "0", ""},
		{"a cancelled order is not delivered", at("cancelled", "0"), store.OrderChange{Event: "order.delivered"}, "", "", ""},
		{"a cancelled order is not refunded again", at("cancelled", "0"), store.OrderChange{Event: "order.refunded"}, "", "", ""},
		{"a refunded order is not cancelled", at("refunded", "50.00"), store.OrderChange{Event: "order.cancelled"}, "", "", ""},
		{"cancelled", at("fulfilled", "0"), store.OrderChange{Event: "order.cancelled"}, "cancelled", "0", ""},
		{"cancelled after a partial refund", at("partly_refunded", "5.00"), store.OrderChange{Event: "order.cancelled"}, "cancelled", "5.00", ""},
		{"full refund", at("delivered", "0"), store.OrderChange{Event: "order.refunded"}, "refunded", "50.00", ""},
		{"partial refund", at("delivered", "0"), store.OrderChange{Event: "order.refunded", Amount: amount("10")}, "partly_refunded", "10.00", ""},
		{"partial refunds add up", at("partly_refunded", "10.00"), store.OrderChange{Event: "order.refunded", Amount: amount("15.5"), Currency: "GBP"}, "partly_refunded", "25.50", ""},
		{"to the total", at("partly_refunded", "10.00"), store.OrderChange{Event: "order.refunded", Amount: amount("40")}, "refunded", "50.00", ""},
		{"beyond the total together", at("partly_refunded", "10.00"), store.OrderChange{Event: "order.refunded", Amount: amount("40.01")}, "", "", "data.amount"},
		{"beyond the total alone", at("placed", "0"), store.OrderChange{Event: "order.refunded", Amount: amount("50.01")}, "", "", "data.amount"},
		{"beyond the total of a refunded order", at("refunded", "50.00"), store.OrderChange{Event: "order.refunded", Amount: amount("60")}, "", "", "data.amount"},
		{"another currency", at("placed", "0"), store.OrderChange{Event: "order.refunded", Amount: amount("5"), Currency: "EUR"}, "", "", "data.currency"},
		{"finer than the currency", at("placed", "0"), store.OrderChange{Event: "order.refunded", Amount: amount("5.001")}, "", "", "data.amount"},
		{"returned", at("delivered", "0"), store.OrderChange{Event: "order.returned"}, "returned", "0", ""},
		{"returned with a refund", at("delivered", "0"), store.OrderChange{Event: "order.returned", Amount: amount("20")}, "returned", "20.00", ""},
		{"a returned order refunded in part stays returned", at("returned", "20.00"), store.OrderChange{Event: "order.refunded", Amount: amount("10")}, "returned", "30.00", ""},
		{"returned and refunded in full", at("partly_refunded", "20.00"), store.OrderChange{Event: "order.returned", Amount: amount("30")}, "refunded", "50.00", ""},
		{"returned twice without a refund", at("returned", "0"), store.OrderChange{Event: "order.returned"}, "", "", ""},
		{"a returned order cancelled", at("returned", "0"), store.OrderChange{Event: "order.cancelled"}, "cancelled", "0", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.change.OrderID = "o-1"
			next, note, refused := store.NextOrderState(tc.from, tc.change)
			if tc.refused != "" {
				require.NotNil(t, refused, "refused")
				assert.Equal(t, tc.refused, refused.Field)
				assert.Contains(t, refused.Message, tc.refused+": ")
				assert.Equal(t, tc.from, next, "a refusal changes nothing")
				return
			}
			require.Nil(t, refused)
			if tc.status == "" {
				assert.Equal(t, tc.from, next)
				assert.Contains(t, note, "order o-1 is "+tc.from.Status)
				return
			}
			assert.Empty(t, note)
			assert.Equal(t, tc.status, next.Status)
			assert.Equal(t, tc.refunded, next.Refunded.String())
		})
	}
}

// An order event changes its order once however often it is posted; a
// refund the order cannot take is not stored and holds back nothing else
// of its batch; the figures kept on the customer and the facts journeys
// read follow the order's status.
func TestOrderEventsMoveTheOrderOnce(t *testing.T) {
	t.Parallel()
	s, _ := storetest.New(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	_, err := s.UpsertCustomer(ctx, store.Customer{ID: "c_1"})
	require.NoError(t, err)
	for _, o := range []store.Order{
		{ID: "o-old", Total: money.MustParse("30.00"), PlacedAt: now.Add(-40 * 24 * time.Hour)},
		{ID: "o-new", Total: money.MustParse("50.00"), PlacedAt: now.Add(-2 * 24 * time.Hour)},
	} {
		o.CustomerID, o.Currency = "c_1", "GBP"
		o.Items = []store.Item{{ProductID: "tea", Name: "Tea", Quantity: 1, Price: o.Total}}
		_, err := s.RecordOrder(ctx, o)
		require.NoError(t, err)
	}
	event := func(id, typ string, ch store.OrderChange) store.NewEvent {
		data, err := json.Marshal(map[string]any{"order_id": ch.OrderID, "amount": ch.Amount})
		require.NoError(t, err)
		ch.Event = typ
		return store.NewEvent{Event: store.Event{ID: id, Type: typ, CustomerID: "c_1", OccurredAt: now, Data: data}, Change: &ch}
	}
	figures := func() (count int64, value float64, days int64) {
		t.Helper()
		f, err := s.CustomerFacts(ctx, "c_1", now)
		require.NoError(t, err)
		page, err := s.ScanCustomers(ctx, "", 10, "true", nil, now)
		require.NoError(t, err)
		require.Len(t, page.Prospects, 1)
		p := page.Prospects[0].Facts
		assert.Equal(t, []any{f.OrdersCount, f.LifetimeValue, f.DaysSinceLastOrder}, []any{p.OrdersCount, p.LifetimeValue, p.DaysSinceLastOrder},
			"the figures kept on the customer are those of the orders")
		return f.OrdersCount, f.LifetimeValue, f.DaysSinceLastOrder
	}
	count, value, days := figures()
	assert.Equal(t, []any{int64(2), 80.0, int64(2)}, []any{count, value, days})

	// A partial refund, with a refund over what is left and an event of
	// another kind in the same batch.
	recs, err := s.RecordEvents(ctx, []store.NewEvent{
		event("r-1", "order.refunded", store.OrderChange{OrderID: "o-new", Amount: amount("10")}),
		event("r-2", "order.refunded", store.OrderChange{OrderID: "o-new", Amount: amount("45")}),
		{Event: store.Event{ID: "p-1", Type: "page.viewed", CustomerID: "c_1", OccurredAt: now}},
		event("r-3", "order.refunded", store.OrderChange{OrderID: "o-gone", Amount: amount("45")}),
	})
	require.NoError(t, err)
	require.True(t, recs[0].Inserted)
	require.NotNil(t, recs[0].Order)
	assert.Equal(t, store.OrderOutcome{OrderID: "o-new", Status: "partly_refunded", Refunded: money.MustParse("10.00"), Changed: true}, *recs[0].Order)
	require.NotNil(t, recs[1].Refused, "10 and 45 are more than 50")
	assert.Equal(t, "data.amount", recs[1].Refused.Field)
	assert.False(t, recs[1].Inserted)
	_, err = s.GetEvent(ctx, "r-2")
	assert.ErrorIs(t, err, store.ErrNotFound, "a refused event is not stored")
	assert.True(t, recs[2].Inserted, "the rest of the batch is stored")
	assert.True(t, recs[3].Inserted, "an event naming no order of theirs is stored")
	assert.Contains(t, recs[3].Order.Note, "no order o-gone")
	assert.False(t, recs[3].Order.Changed)
	count, value, days = figures()
	assert.Equal(t, []any{int64(2), 70.0, int64(2)}, []any{count, value, days}, "net of the refund")

	// The same refund again changes nothing; another one adds up.
	recs, err = s.RecordEvents(ctx, []store.NewEvent{
		event("r-1", "order.refunded", store.OrderChange{OrderID: "o-new", Amount: amount("10")}),
		event("r-4", "order.refunded", store.OrderChange{OrderID: "o-new", Amount: amount("15")}),
	})
	require.NoError(t, err)
	assert.False(t, recs[0].Inserted)
	assert.Nil(t, recs[0].Order, "an event stored before says nothing of the order")
	assert.Equal(t, "25.00", recs[1].Order.Refunded.String())
	count, value, _ = figures()
	assert.Equal(t, []any{int64(2), 55.0}, []any{count, value})

	// One by one (RecordNewEvent): a refusal is an error, and the same
	// event posted again is a duplicate that changes nothing.
	_, err = s.RecordNewEvent(ctx, event("r-5", "order.refunded", store.OrderChange{OrderID: "o-new", Amount: amount("26")}))
	var refusal *store.OrderRefusal
	require.ErrorAs(t, err, &refusal)
	assert.Equal(t, "data.amount", refusal.Field)
	for range 2 {
		_, err = s.RecordNewEvent(ctx, event("x-1", "order.cancelled", store.OrderChange{OrderID: "o-new"}))
		require.NoError(t, err)
	}
	o, err := s.GetOrder(ctx, "o-new")
	require.NoError(t, err)
	assert.Equal(t, []string{"cancelled", "25.00"}, []string{o.Status, o.Refunded.String()})
	count, value, days = figures()
	assert.Equal(t, []any{int64(1), 30.0, int64(40)}, []any{count, value, days}, "a cancelled order counts nothing")

	// Later events of a cancelled order change nothing, and say so.
	rec, err := s.RecordNewEvent(ctx, event("d-1", "order.delivered", store.OrderChange{OrderID: "o-new"}))
	require.NoError(t, err)
	assert.True(t, rec.Inserted, "stored all the same")
	assert.Equal(t, "cancelled", rec.Order.Status)
	assert.Contains(t, rec.Order.Note, "order o-new is cancelled, which order.delivered does not change")

	// Refunded in full, the last order that counted leaves no orders.
	_, err = s.RecordNewEvent(ctx, event("r-6", "order.refunded", store.OrderChange{OrderID: "o-old"}))
	require.NoError(t, err)
	count, value, days = figures()
	assert.Equal(t, []any{int64(0), 0.0, int64(-1)}, []any{count, value, days})

	// Conditions still see both orders, with their status.
	f, err := s.CustomerFacts(ctx, "c_1", now)
	require.NoError(t, err)
	require.Len(t, f.Orders, 2)
	assert.Equal(t, []any{"o-new", "cancelled", 25.0}, []any{f.Orders[0].ID, f.Orders[0].Status, f.Orders[0].Refunded})
	assert.Equal(t, []any{"o-old", "refunded", 30.0}, []any{f.Orders[1].ID, f.Orders[1].Status, f.Orders[1].Refunded})
}

// Orders loaded with a status count as that status says.
func TestLoadedOrdersCountByTheirStatus(t *testing.T) {
	t.Parallel()
	s, _ := storetest.New(t)
	ctx := context.Background()
	now := time.Now().UTC()
	_, err := s.UpsertCustomer(ctx, store.Customer{ID: "c_1"})
	require.NoError(t, err)
	for _, o := range []store.Order{
		{ID: "o-1", Total: money.MustParse("40.00"), Status: "cancelled", PlacedAt: now.Add(-time.Hour)},
		{ID: "o-2", Total: money.MustParse("40.00"), Status: "partly_refunded", Refunded: money.MustParse("15.00"), PlacedAt: now.Add(-72 * time.Hour)},
		{ID: "o-3", Total: money.MustParse("20.00"), Status: "refunded", Refunded: money.MustParse("20.00"), PlacedAt: now.Add(-24 * time.Hour)},
		{ID: "o-4", Total: money.MustParse("10.00"), PlacedAt: now.Add(-96 * time.Hour)},
	} {
		o.CustomerID, o.Currency = "c_1", "GBP"
		_, err := s.RecordOrder(ctx, o)
		require.NoError(t, err)
	}
	f, err := s.CustomerFacts(ctx, "c_1", now)
	require.NoError(t, err)
	assert.Equal(t, []any{int64(2), 35.0, int64(3)}, []any{f.OrdersCount, f.LifetimeValue, f.DaysSinceLastOrder})
	page, err := s.ScanCustomers(ctx, "", 10, "true", nil, now)
	require.NoError(t, err)
	p := page.Prospects[0].Facts
	assert.Equal(t, []any{int64(2), 35.0, int64(3)}, []any{p.OrdersCount, p.LifetimeValue, p.DaysSinceLastOrder})
}

// The failing scenario of issue 24: a customer orders sencha, cancels it,
// then orders a gift. The gift says nothing of their taste, and the
// cancelled sencha no longer does either: no sencha complements, but
// those of what they kept. What they cancelled they do not have, so it
// may be suggested again.
func TestRecommendationsSkipCancelledOrders(t *testing.T) {
	t.Parallel()
	s, _ := storetest.New(t)
	ctx := context.Background()
	p := func(id string, comps map[string]float64) store.Product {
		return store.Product{ID: id, Name: id, Price: money.MustParse("5"), Currency: "GBP", Active: true, Complements: comps}
	}
	require.NoError(t, s.UpsertProducts(ctx, []store.Product{
		p("sencha", map[string]float64{"kyusu": 0.9, "matcha-whisk": 0.5}),
		p("assam", map[string]float64{"milk-jug": 0.8, "sencha": 0.4}),
		p("kyusu", nil), p("matcha-whisk", nil), p("milk-jug", nil), p("socks", nil),
	}))
	_, err := s.UpsertCustomer(ctx, store.Customer{ID: "c_1"})
	require.NoError(t, err)
	now := time.Now()
	order := func(id string, gift bool, when time.Time, product string) {
		_, err := s.RecordOrder(ctx, store.Order{ID: id, CustomerID: "c_1", Total: money.MustParse("5"), Currency: "GBP", Gift: gift, PlacedAt: when,
			Items: []store.Item{{ProductID: product, Name: product, Quantity: 1, Price: money.MustParse("5")}}})
		require.NoError(t, err)
	}
	order("o-assam", false, now.Add(-30*24*time.Hour), "assam")
	order("o-sencha", false, now.Add(-48*time.Hour), "sencha")
	basis, err := s.TasteBasis(ctx, "c_1", "o-sencha")
	require.NoError(t, err)
	assert.Equal(t, []string{"sencha"}, basis, "before the cancellation")

	_, err = s.RecordNewEvent(ctx, store.NewEvent{
		Event:  store.Event{ID: "evt-cancel", Type: "order.cancelled", CustomerID: "c_1", OccurredAt: now, Data: json.RawMessage(`{"order_id": "o-sencha"}`)},
		Change: &store.OrderChange{Event: "order.cancelled", OrderID: "o-sencha"},
	})
	require.NoError(t, err)
	order("o-gift", true, now, "socks")

	basis, err = s.TasteBasis(ctx, "c_1", "o-gift")
	require.NoError(t, err)
	assert.Equal(t, []string{"assam"}, basis, "the gift and the cancelled sencha say nothing of their taste")
	recs, err := s.Recommend(ctx, "c_1", basis, 3)
	require.NoError(t, err)
	var ids []string
	for _, r := range recs {
		ids = append(ids, r.ID)
	}
	assert.Equal(t, []string{"milk-jug", "sencha"}, ids, "no sencha complements; the sencha they cancelled they do not have")

	basis, err = s.TasteBasis(ctx, "c_1", "o-sencha")
	require.NoError(t, err)
	assert.Equal(t, []string{"assam"}, basis, "a cancelled triggering order says nothing either")
}
