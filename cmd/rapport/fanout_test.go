//go:build !production

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/api/wire"
	"github.com/rapporthq/rapport/internal/fakes"
	"github.com/rapporthq/rapport/workflows"
)

// TestBackInStockFansOut: docs/examples/back-in-stock.yaml on the real
// stack. One product.restocked event without a customer reaches exactly
// the customers who viewed the product and did not buy it; a second
// restock of it enters them again, and the first posted again enters
// nobody.
func TestBackInStockFansOut(t *testing.T) {
	// A fast day: the frequency cap (one marketing message a day) that
	// holds the second restock's email lapses in seconds.
	s := startStack(t, "../../docs/examples", withDay(2*time.Second))
	ctx := context.Background()
	zone := middayZone(time.Now().UTC())
	for _, id := range []string{"c_viewer", "c_buyer", "c_other", "c_none"} {
		c := customer(id, id+"@example.com")
		c["time_zone"] = zone
		status, body := s.post("/v1/customers", c)
		require.Equal(t, http.StatusCreated, status, body)
	}
	view := func(id, customerID, product string) {
		t.Helper()
		status, body := s.post("/v1/events", map[string]any{"id": id, "type": "product.viewed", "customer_id": customerID,
			"data": map[string]any{"product_id": product}})
		require.Equal(t, http.StatusAccepted, status, body)
	}
	view("v1", "c_viewer", "teapot")
	view("v2", "c_buyer", "teapot")
	view("v3", "c_other", "mug")
	status, body := s.post("/v1/orders", map[string]any{"id": "o1", "customer_id": "c_buyer", "total": 15, "currency": "GBP",
		"placed_at": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339),
		"items":     []any{map[string]any{"product_id": "teapot", "name": "Blue teapot", "quantity": 1, "price": 15}}})
	require.Equal(t, http.StatusCreated, status, body)

	// An event type no journey fans out on still needs its customer.
	status, body = s.post("/v1/events", map[string]any{"id": "x1", "type": "product.viewed", "data": map[string]any{"product_id": "teapot"}})
	require.Equal(t, http.StatusBadRequest, status, body)
	assert.Equal(t, "customer_id", body["field"], body)

	restock := func(id string, want int) {
		t.Helper()
		status, body := s.post("/v1/events", map[string]any{"id": id, "type": "product.restocked",
			"data": map[string]any{"product_id": "teapot", "name": "Blue teapot"}})
		require.Equal(t, want, status, body)
		assert.Equal(t, "fan_out", body["routing"], body)
		assert.Equal(t, []any{"back-in-stock"}, body["fan_out"], body)
	}
	sent := func(customerID string) []fakes.Message {
		var out []fakes.Message
		for _, m := range s.messagesTo(customerID) {
			if m.Journey == "back-in-stock" {
				out = append(out, m)
			}
		}
		return out
	}
	fanoutDone := func(id string) bool {
		var done bool
		require.NoError(t, s.db().QueryRow(ctx, `SELECT coalesce(bool_and(done_at IS NOT NULL), false) FROM fanouts WHERE event_id = $1`, id).Scan(&done))
		return done
	}
	entrants := func() map[string]int {
		rows, err := s.db().Query(ctx, `SELECT customer_id, count(*) FROM journey_runs WHERE journey = 'back-in-stock' GROUP BY customer_id`)
		require.NoError(t, err)
		defer rows.Close()
		out := map[string]int{}
		for rows.Next() {
			var id string
			var n int
			require.NoError(t, rows.Scan(&id, &n))
			out[id] = n
		}
		require.NoError(t, rows.Err())
		return out
	}

	outcome := func(id string) {
		t.Helper()
		var scanned, matched, started int64
		var why string
		require.NoError(t, s.db().QueryRow(ctx, `SELECT scanned, matched, started, error FROM fanouts WHERE event_id = $1`, id).Scan(&scanned, &matched, &started, &why))
		t.Logf("fan-out %s: scanned %d, matched %d, started %d %s", id, scanned, matched, started, why)
		require.Empty(t, why)
		assert.Equal(t, int64(4), scanned, "every customer")
		assert.Equal(t, int64(1), matched, "the viewer who did not buy")
	}

	restock("r1", http.StatusAccepted)
	s.waitFor("the first fan-out", func() bool { return fanoutDone("r1") })
	outcome("r1")
	// rapport fanouts shows it through the API.
	t.Setenv("RAPPORT_API_KEY", s.APIKey)
	out, _, err := run("fanouts", "--api="+s.APIURL, "r1", "--json")
	require.NoError(t, err)
	var listed wire.FanoutList
	require.NoError(t, json.Unmarshal([]byte(out), &listed))
	require.Len(t, listed.Fanouts, 1)
	f := listed.Fanouts[0]
	assert.Equal(t, []any{"back-in-stock", "done", int64(4), int64(1), int64(1), 1}, []any{f.Journey, f.Status, f.Scanned, f.Matched, f.Started, f.Attempts})
	assert.NotNil(t, f.DoneAt)
	require.Equal(t, map[string]int{"c_viewer": 1}, entrants(), "only the viewer who did not buy")
	s.waitFor("the first email", func() bool { return len(sent("c_viewer")) == 1 })
	msg := sent("c_viewer")[0]
	assert.Equal(t, "Blue teapot is back in stock", msg.Subject)
	r, err := s.store.GetRun(ctx, workflows.WorkflowID("back-in-stock", "c_viewer", "r1"))
	require.NoError(t, err, "the entry is keyed by the restock event")
	assert.Equal(t, "r1", r.EntryKey)

	// The same event again: a duplicate, no fan-out, nobody entered.
	restock("r1", http.StatusOK)
	// The next restock enters the viewer again.
	restock("r2", http.StatusAccepted)
	s.waitFor("the second fan-out", func() bool { return fanoutDone("r2") })
	outcome("r2")
	require.Equal(t, map[string]int{"c_viewer": 2}, entrants(), "once per restock")
	s.waitFor("the second email", func() bool { return len(sent("c_viewer")) == 2 })
	var rows int
	require.NoError(t, s.db().QueryRow(ctx, `SELECT count(*) FROM fanouts`).Scan(&rows))
	assert.Equal(t, 2, rows, "the repeated event stored nothing")
	for _, id := range []string{"c_buyer", "c_other", "c_none"} {
		assert.Empty(t, sent(id), id)
	}
}

// middayZone is a fixed zone where it is now about noon.
func middayZone(now time.Time) string {
	k := 12 - now.Hour() // Etc/GMT-k is UTC+k
	if k < -12 {
		k += 24
	}
	if k > 14 {
		k -= 24
	}
	if k == 0 {
		return "Etc/GMT"
	}
	return fmt.Sprintf("Etc/GMT%+d", -k)
}

// TestValidateRefusesForConditionsTheDatabaseCannotDecide: customer.events
// used other than in an exists the database decides is reported at the
// condition by rapport validate.
func TestValidateRefusesForConditionsTheDatabaseCannotDecide(t *testing.T) {
	t.Setenv("DATABASE_URL", "")
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "templates", "back-in-stock"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "templates", "back-in-stock", "email.txt"), []byte("Subject: Back\nHello\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "back-in-stock.yaml"), []byte(`journey: back-in-stock
topic: offers
trigger:
  event: product.restocked
  for: customer.events.size() > 2
steps:
  - send: {channel: email, template: back-in-stock}
`), 0o644))
	_, errOut, err := run("validate", dir)
	var exit *exitError
	require.ErrorAs(t, err, &exit)
	assert.Contains(t, errOut, "back-in-stock.yaml:5:8: trigger.for: the database cannot decide customer.events.size() > 2: use customer.events and customer.orders only in `customer.events.exists(e, ...)`")
}
