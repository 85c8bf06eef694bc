package audience_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/audience"
	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/money"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/store/storetest"
)

// backInStock is the for condition of docs/examples/back-in-stock.yaml.
const backInStock = `customer.events.exists(e, e.type == "product.viewed" && e.data.product_id == event.data.product_id && e.at > now - duration("720h"))
  && !customer.orders.exists(o, o.items.exists(i, i.product_id == event.data.product_id))`

// TestTranslateForOnTheDatabase: customer.events and customer.orders
// conditions, compiled to SQL with the event's values as parameters,
// select exactly the customers they describe on a real database.
func TestTranslateForOnTheDatabase(t *testing.T) {
	env := newEnv(t)
	s, url := storetest.New(t)
	db := storetest.DB(t, url)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	odd := `p1'); DROP TABLE customers; --` // a product id no SQL may splice

	for _, id := range []string{"c_viewer", "c_buyer", "c_other", "c_stale", "c_old", "c_odd", "c_none", "c_gold"} {
		_, err := s.UpsertCustomer(ctx, store.Customer{ID: id, Email: id + "@example.com"})
		require.NoError(t, err)
	}
	_, err := db.Exec(ctx, `UPDATE customers SET attributes = '{"tier": "gold"}' WHERE id = 'c_gold'`)
	require.NoError(t, err)
	view := func(id, customer, product string, ago time.Duration) {
		t.Helper()
		data, _ := json.Marshal(map[string]any{"product_id": product, "price": 12.5})
		_, _, err := s.RecordEvent(ctx, store.Event{ID: id, Type: "product.viewed", CustomerID: customer, OccurredAt: now.Add(-ago), Data: data}, nil)
		require.NoError(t, err)
	}
	view("v1", "c_viewer", "p1", 2*day)
	view("v2", "c_buyer", "p1", 3*day)
	view("v3", "c_other", "p2", 1*day)
	view("v4", "c_stale", "p1", 40*day) // outside the condition's 30 days
	view("v5", "c_old", "p1", 100*day)  // outside customer.events' 90 days
	view("v6", "c_odd", odd, 1*day)     // viewed the product with the odd id
	view("v7", "c_gold", "p1", 1*day)   // a gold customer
	_, err = s.RecordOrder(ctx, store.Order{ID: "o1", CustomerID: "c_buyer", Currency: "GBP", PlacedAt: now.Add(-day),
		Total: money.MustParse("10"), Items: []store.Item{{ProductID: "p0", Name: "Mug", Quantity: 1, Price: money.MustParse("5")}, {ProductID: "p1", Name: "Tea", Quantity: 1, Price: money.MustParse("5")}}})
	require.NoError(t, err)

	restock := func(product string) journey.Event {
		return journey.Event{ID: "r1", Type: "product.restocked", OccurredAt: now, Data: map[string]any{"product_id": product}}
	}
	for _, tc := range []struct {
		name, expr, product string
		want                []string
		exact               bool
	}{
		{"viewers who did not buy", backInStock, "p1", []string{"c_gold", "c_viewer"}, true},
		{"another product", backInStock, "p2", []string{"c_other"}, true},
		{"values are parameters", backInStock, odd, []string{"c_odd"}, true},
		{"the window of customer.events", `customer.events.exists(e, e.data.product_id == event.data.product_id)`, "p1",
			[]string{"c_buyer", "c_gold", "c_stale", "c_viewer"}, true},
		{"buyers", `customer.orders.exists(o, o.total >= 10.0 && o.status == "placed" && o.items.exists(i, i.product_id == event.data.product_id && i.quantity == 1))`, "p1",
			[]string{"c_buyer"}, true},
		{"data by index, numbers, and or", `customer.events.exists(e, e.data["price"] > 12 && (e.type == "x" || e.data.product_id == event.data.product_id)) && customer.has_email`, "p2",
			[]string{"c_other"}, true},
		{"the rest is left to CEL", backInStock + ` && customer.attributes.tier == "gold"`, "p1", []string{"c_gold"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := restock(tc.product)
			f, err := audience.TranslateFor(env, tc.expr, ev, now, store.AudienceArgBase)
			require.NoError(t, err)
			assert.Equal(t, tc.exact, f.Exact, "exact")
			assert.NotContains(t, f.Where, tc.product, "the event's values are bound, never spliced")
			page, err := s.ScanCustomers(ctx, "", 100, f.Where, f.Args, now)
			require.NoError(t, err, f.Where)
			var got []string
			for _, p := range page.Prospects {
				if !f.Exact {
					// An error (no tier attribute) leaves the customer out, as
					// the fan-out does.
					ok, err := env.EvalFor(strings.Join(f.CEL, " && "), p.Facts, ev, now)
					if err != nil || !ok {
						continue
					}
				}
				got = append(got, p.Facts.ID)
			}
			assert.Equal(t, tc.want, got, f.Where)
		})
	}
	var n int
	require.NoError(t, db.QueryRow(ctx, `SELECT count(*) FROM customers`).Scan(&n))
	assert.Equal(t, 8, n)
}

// TestTranslateForRefuses: what the database cannot decide of
// customer.events and customer.orders is an error, at compile time
// (CheckFor) as when the event comes (TranslateFor); an event without the
// data the condition names enters nobody.
func TestTranslateForRefuses(t *testing.T) {
	env := newEnv(t)
	now := time.Now()
	for _, expr := range []string{
		`customer.events.size() > 2`,
		`customer.events.all(e, e.type == "product.viewed")`,
		`customer.events.exists(e, e.type.startsWith("product."))`,
		`customer.orders.exists(o, o.items.size() > 1)`,
		`customer.orders_count > 1 || customer.events.exists(e, e.type == "x" && now.getHours() > 2)`,
	} {
		err := audience.CheckFor(env, expr)
		require.Error(t, err, expr)
		assert.Contains(t, err.Error(), "customer.events.exists", expr)
	}
	require.NoError(t, audience.CheckFor(env, backInStock), "data the sample event lacks is no error")
	_, err := audience.TranslateFor(env, backInStock, journey.Event{ID: "r", Type: "product.restocked", Data: map[string]any{}}, now, store.AudienceArgBase)
	require.ErrorContains(t, err, "the event has no data.product_id")
}
