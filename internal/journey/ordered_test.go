package journey

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Go map iteration order is random; before comprehension ranges were
// ordered, event.data.map(k, k)[0] == "a" was false in 179 of 200
// evaluations. Workflows evaluate conditions, so one answer is required.
func TestMapComprehensionsGiveOneAnswer(t *testing.T) {
	env, err := NewEnv()
	require.NoError(t, err)
	data := map[string]any{"nested": map[string]any{}, "items": []any{
		map[string]any{"price": 3.0, "b": 1, "a": 2}, map[string]any{"price": 5.0},
	}}
	for _, k := range []string{"h", "b", "g", "a", "f", "c", "e", "d"} {
		data[k] = 1
		data["nested"].(map[string]any)[k] = 1
	}
	vars := Vars{Event: Event{ID: "e1", Type: "page.viewed", Data: data}}
	for expr, want := range map[string]bool{
		`event.data.map(k, k)[0] == "a"`:                                   true,
		`event.data.filter(k, k != "a")[0] == "b"`:                         true,
		`event.data.map(k, k).join(",") == "a,b,c,d,e,f,g,h,items,nested"`: true,
		`event.data.nested.map(k, k)[0] == "a"`:                            true, // a dyn range that is a map
		`event.data.items[0].filter(k, k != "price") == ["a", "b"]`:        true,
		`event.data.exists_one(k, k == "a")`:                               true,
	} {
		for i := range 1000 {
			got, err := env.Eval(expr, vars)
			require.NoError(t, err, expr)
			require.Equal(t, want, got, "%s, evaluation %d", expr, i)
		}
	}

	c := Customer{ID: "c_1", Attributes: map[string]any{"z": 1, "y": 1, "x": 1, "a": 1, "m": 1}}
	for i := range 1000 {
		got, err := env.EvalAudience(`attributes.map(k, k)[0] == "a" && customer.attributes.map(k, k)[4] == "z"`, c, time.Time{})
		require.NoError(t, err)
		require.True(t, got, "audience evaluation %d", i)
	}
}

// Comprehensions over lists keep their element types and their order.
func TestListComprehensionsStillWork(t *testing.T) {
	env, err := NewEnv()
	require.NoError(t, err)
	vars := Vars{
		Event: Event{ID: "e1", Type: "order.placed", Data: map[string]any{"items": []any{
			map[string]any{"price": 30.0}, map[string]any{"price": 5.0}, map[string]any{"price": 12.0},
		}}},
		Order: Order{ID: "o1", Items: []Item{{ProductID: "p2", Price: 9}, {ProductID: "p1", Price: 60}}},
	}
	for expr, want := range map[string]bool{
		`event.data.items.map(i, i.price) == [30.0, 5.0, 12.0]`:          true, // list order kept, not sorted
		`event.data.items.filter(i, i.price > 10).size() == 2`:           true,
		`order.items.map(i, i.product_id)[0] == "p2"`:                    true,
		`order.items.filter(i, i.price > 50)[0].product_id == "p1"`:      true,
		`order.items.all(i, i.price > 1) && [3, 1, 2].map(x, x)[0] == 3`: true,
		`{"b": 1, "a": 2}.map(k, k) == ["a", "b"]`:                       true,
	} {
		got, err := env.Eval(expr, vars)
		require.NoError(t, err, expr)
		assert.Equal(t, want, got, expr)
	}
	// The element type is still known: a misspelt field is refused.
	checked := env.check(`order.items.exists(i, i.prce > 1)`)
	require.Len(t, checked.issues, 1)
	assert.Contains(t, checked.issues[0].message, `there is no field "prce"`)
}
