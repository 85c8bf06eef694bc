package api_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/api"
	"github.com/rapporthq/rapport/internal/failfast"
	"github.com/rapporthq/rapport/internal/failfast/failfasttest"
	"github.com/rapporthq/rapport/internal/router"
	"github.com/rapporthq/rapport/internal/store/storetest"
	"github.com/rapporthq/rapport/workflows"
)

func orderPlaced(id, customerID, orderID string) string {
	return fmt.Sprintf(`{"id": %q, "type": "order.placed", "customer_id": %q,
		"data": {"order": {"id": %q, "total": "48.00", "currency": "GBP",
			"items": [{"product_id": "tea", "name": "Assam", "quantity": 2, "price": 24}]}}}`, id, customerID, orderID)
}

// One event is stored, then routed before the answer, which says what it
// started; sent again it is a duplicate that starts nothing; its id on
// another event is refused.
func TestAnEventIsStoredRoutedAndTakenOnce(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	s.customer(`{"id": "c_1", "email": "ada@example.com"}`)

	a := s.must(http.StatusAccepted, "POST", "/v1/events", orderPlaced("evt-1", "c_1", "o-1"))
	assert.Equal(t, "evt-1", a["id"])
	assert.Equal(t, "accepted", a["status"])
	assert.Equal(t, "done", a["routing"])
	thanks, review := workflows.WorkflowID("thanks", "c_1", "evt-1"), workflows.WorkflowID("review", "c_1", "evt-1")
	assert.ElementsMatch(t, []string{thanks, review}, strs(a["started"]))
	assert.Empty(t, strs(a["delivered"]))
	assert.ElementsMatch(t, []string{thanks, review}, s.temporal.startIDs())
	for _, st := range s.temporal.startList() {
		assert.Equal(t, "evt-1", st.Event.ID, "started with the event as its signal")
		assert.Equal(t, "o-1", st.Event.Order.ID)
		assert.InDelta(t, 48.0, st.Event.Order.Total, 0.001)
	}

	e := s.must(http.StatusOK, "GET", "/v1/events/evt-1", "")
	assert.Equal(t, "order.placed", e["type"])
	assert.NotEmpty(t, e["routed_at"])
	order := e["data"].(map[string]any)["order"].(map[string]any)
	assert.Equal(t, 48.0, order["total"], "amounts stored in canonical form, at the currency's places")
	assert.Equal(t, 24.0, order["items"].([]any)[0].(map[string]any)["price"])

	// Again: a duplicate, answered 200, starting nothing.
	dup := s.must(http.StatusOK, "POST", "/v1/events", orderPlaced("evt-1", "c_1", "o-1"))
	assert.Equal(t, "duplicate", dup["status"])
	assert.Empty(t, strs(dup["started"]))
	assert.Len(t, s.temporal.startIDs(), 2)

	// The same id for another event is refused.
	conflict := s.call("POST", "/v1/events", `{"id": "evt-1", "type": "page.viewed", "customer_id": "c_1"}`)
	assert.Equal(t, http.StatusConflict, conflict.Code)
	assert.Equal(t, "id", conflict.JSON["field"])
	assert.Equal(t, "order.placed", s.must(http.StatusOK, "GET", "/v1/events/evt-1", "")["type"], "the stored event is untouched")

	// A later event reaches the running review, as a signal.
	d := s.must(http.StatusAccepted, "POST", "/v1/events", `{"id": "evt-2", "type": "order.delivered", "customer_id": "c_1", "data": {"order_id": "o-1"}}`)
	assert.Equal(t, []string{review}, strs(d["delivered"]))
	assert.Empty(t, strs(d["started"]))
	signals := s.temporal.signalList()
	require.Len(t, signals, 1)
	assert.Equal(t, review, signals[0].ID)
	assert.Equal(t, "evt-2", signals[0].Event.ID)

	assert.Equal(t, http.StatusNotFound, s.call("GET", "/v1/events/evt-nope", "").Code)
}

// While Temporal is out of reach an event is still taken: stored, and
// answered "pending"; the sweeper routes it once Temporal is back.
func TestAnEventIsTakenWhileTemporalIsDown(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	s.customer(`{"id": "c_1", "email": "ada@example.com"}`)
	s.temporal.setFail(errors.New("connection refused"))

	a := s.must(http.StatusAccepted, "POST", "/v1/events", orderPlaced("evt-1", "c_1", "o-1"))
	assert.Equal(t, "accepted", a["status"])
	assert.Equal(t, "pending", a["routing"])
	e := s.must(http.StatusOK, "GET", "/v1/events/evt-1", "")
	assert.Nil(t, e["routed_at"])
	assert.Empty(t, s.temporal.startIDs())

	s.temporal.setFail(nil)
	st, err := s.router.SweepOnce(context.Background(), routerSweep())
	require.NoError(t, err)
	assert.Equal(t, 1, st.Routed)
	assert.NotNil(t, s.must(http.StatusOK, "GET", "/v1/events/evt-1", "")["routed_at"])
	assert.Len(t, s.temporal.startIDs(), 2)
}

// While Temporal is gone (the client connected once, then the server went
// away, so the SDK would retry each call until its deadline), the answer
// does not wait on it: routing gives up at the first call that finds no
// server (internal/failfast), long before the hour-long RouteTimeout,
// and the event is stored, answered "pending", its routing error saying
// why. Once Temporal is back, the sweeper routes it.
func TestAnEventIsAnsweredAtOnceWhileTemporalIsGone(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	s.customer(`{"id": "c_1", "email": "ada@example.com"}`)
	gone := failfasttest.GoneAway(t)
	back := s.h
	s.h = (&api.Server{Store: s.st, Temporal: gone, RouteTimeout: time.Hour,
		Router:      &router.Router{Store: s.st, Temporal: gone, Catalog: s.router.Catalog, Env: s.router.Env},
		PublicLimit: api.PublicLimit{Rate: 1000, Burst: 1000, WebhookRate: 1000, WebhookBurst: 1000}}).Handler()

	start := time.Now()
	a := s.must(http.StatusAccepted, "POST", "/v1/events", orderPlaced("evt-1", "c_1", "o-1"))
	took := time.Since(start)
	t.Logf("answered in %s", took)
	assert.Equal(t, "accepted", a["status"])
	assert.Equal(t, "pending", a["routing"])
	assert.Less(t, took, 10*time.Minute, "the answer did not wait for the hour-long route timeout")
	var routingError string
	require.NoError(t, storetest.DB(t, s.dbURL).QueryRow(context.Background(), `SELECT routing_error FROM events WHERE id = 'evt-1'`).Scan(&routingError))
	assert.Contains(t, routingError, failfast.ErrUnreachable.Error(), "routing gave up because Temporal could not be reached, not at a deadline")

	s.h = back // Temporal is back
	st, err := s.router.SweepOnce(context.Background(), routerSweep())
	require.NoError(t, err)
	assert.Equal(t, 1, st.Routed)
	assert.NotNil(t, s.must(http.StatusOK, "GET", "/v1/events/evt-1", "")["routed_at"])
	assert.ElementsMatch(t, []string{workflows.WorkflowID("thanks", "c_1", "evt-1"), workflows.WorkflowID("review", "c_1", "evt-1")}, s.temporal.startIDs())
}

// An event the API refuses is answered with the field at fault, and is
// not stored.
func TestEventValidationNamesTheFieldAndStoresNothing(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	s.customer(`{"id": "c_1"}`)
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	for _, tc := range []struct {
		name, body string
		code       int
		field      string
	}{
		{"no id", `{"type": "page.viewed", "customer_id": "c_1"}`, 400, "id"},
		{"no type", `{"id": "e_x", "customer_id": "c_1"}`, 400, "type"},
		{"a type in words", `{"id": "e_x", "type": "Order Placed", "customer_id": "c_1"}`, 400, "type"},
		{"no customer", `{"id": "e_x", "type": "page.viewed"}`, 400, "customer_id"},
		{"an unknown customer", `{"id": "e_x", "type": "page.viewed", "customer_id": "c_nobody"}`, 422, "customer_id"},
		{"in the future", `{"id": "e_x", "type": "page.viewed", "customer_id": "c_1", "occurred_at": "` + future + `"}`, 400, "occurred_at"},
		{"an order without its order", `{"id": "e_x", "type": "order.placed", "customer_id": "c_1"}`, 400, "data.order"},
		{"half a quantity", `{"id": "e_x", "type": "order.placed", "customer_id": "c_1", "data": {"order": {"id": "o", "total": 1, "currency": "GBP",
			"items": [{"product_id": "p", "name": "Tea", "quantity": 1.5, "price": 1}]}}}`, 400, "data.order.items[0].quantity"},
		{"three places in pounds", `{"id": "e_x", "type": "order.placed", "customer_id": "c_1", "data": {"order": {"id": "o", "total": "1.005", "currency": "GBP",
			"items": [{"product_id": "p", "name": "Tea", "quantity": 1, "price": 1}]}}}`, 400, "data.order.total"},
		{"data not an object", `{"id": "e_x", "type": "page.viewed", "customer_id": "c_1", "data": [1]}`, 400, "data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := s.call("POST", "/v1/events", tc.body)
			require.Equal(t, tc.code, a.Code, a.Body)
			assert.Equal(t, tc.field, a.JSON["field"], a.Body)
		})
	}
	assert.Equal(t, http.StatusNotFound, s.call("GET", "/v1/events/e_x", "").Code, "no refused event was stored")
	assert.Empty(t, s.temporal.startIDs())
}

// A batch is checked event by event: the good ones are stored together,
// the others answered with the field at fault, duplicates (in the batch,
// or of events stored before) counted; the answer has a line per event,
// in order. Routing follows in the background.
func TestEventBatchesSayWhatBecameOfEachEvent(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	s.customer(`{"id": "c_1", "email": "ada@example.com"}`)
	s.customer(`{"id": "c_2", "email": "grace@example.com"}`)
	s.must(http.StatusAccepted, "POST", "/v1/events", `{"id": "old", "type": "page.viewed", "customer_id": "c_1"}`)

	batch := `{"events": [
		` + orderPlaced("b-1", "c_1", "o-1") + `,
		{"id": "b-2", "type": "page.viewed", "customer_id": "c_2"},
		` + orderPlaced("b-1", "c_1", "o-1") + `,
		{"id": "old", "type": "page.viewed", "customer_id": "c_1"},
		{"id": "b-3", "type": "Page Viewed", "customer_id": "c_1"},
		{"id": "b-4", "type": "page.viewed", "customer_id": "c_nobody"},
		{"id": "old", "type": "order.cancelled", "customer_id": "c_1"},
		{"id": "b-5", "type": "page.viewed", "customer_id": "c_2", "colour": "blue"},
		{"id": "b-6", "type": "page.viewed", "customer_id": "c_2"},
		{"id": "b-6", "type": "page.viewed", "customer_id": "c_1"}
	]}`
	a := s.must(http.StatusOK, "POST", "/v1/events", batch)
	assert.EqualValues(t, 3, a["accepted"])
	assert.EqualValues(t, 2, a["duplicates"])
	assert.EqualValues(t, 5, a["rejected"])
	results := a["results"].([]any)
	require.Len(t, results, 10)
	want := []struct{ status, field string }{
		{"accepted", ""}, {"accepted", ""}, {"duplicate", ""}, {"duplicate", ""},
		{"rejected", "type"}, {"rejected", "customer_id"}, {"rejected", "id"}, {"rejected", "colour"},
		{"accepted", ""}, {"rejected", "id"}, // another event under an id the batch used: not a duplicate
	}
	for i, w := range want {
		r := results[i].(map[string]any)
		assert.EqualValues(t, i, r["index"])
		assert.Equal(t, w.status, r["status"], "event %d: %v", i, r)
		if w.field != "" {
			assert.Equal(t, w.field, r["field"], "event %d: %v", i, r)
			assert.NotEmpty(t, r["error"], "event %d", i)
		}
	}
	for _, id := range []string{"b-1", "b-2", "b-6"} {
		assert.Equal(t, http.StatusOK, s.call("GET", "/v1/events/"+id, "").Code, id)
	}
	assert.Equal(t, "c_2", s.must(http.StatusOK, "GET", "/v1/events/b-6", "")["customer_id"], "the first event under the id")
	for _, id := range []string{"b-3", "b-4", "b-5"} {
		assert.Equal(t, http.StatusNotFound, s.call("GET", "/v1/events/"+id, "").Code, "rejected %s is not stored", id)
	}
	assert.Equal(t, "page.viewed", s.must(http.StatusOK, "GET", "/v1/events/old", "")["type"])

	// Stored, not yet routed (no queue runs here): the sweeper routes them.
	assert.Nil(t, s.must(http.StatusOK, "GET", "/v1/events/b-1", "")["routed_at"])
	st, err := s.router.SweepOnce(context.Background(), routerSweep())
	require.NoError(t, err)
	assert.Equal(t, 3, st.Routed)
	assert.ElementsMatch(t, []string{workflows.WorkflowID("thanks", "c_1", "b-1"), workflows.WorkflowID("review", "c_1", "b-1")}, s.temporal.startIDs())

	// The same batch again: nothing new.
	again := s.must(http.StatusOK, "POST", "/v1/events", batch)
	assert.EqualValues(t, 0, again["accepted"])
	assert.EqualValues(t, 5, again["duplicates"])
	assert.EqualValues(t, 5, again["rejected"])

	// Batches have bounds.
	for _, tc := range []struct{ body, says string }{
		{`{"events": []}`, "is empty"},
		{`{"events": {"id": "x"}}`, "must be a list"},
		{`{"events": [` + strings.Repeat(`{"id": "x", "type": "a", "customer_id": "c_1"},`, api.MaxBatch) + `{}]}`, fmt.Sprintf("send at most %d", api.MaxBatch)},
	} {
		a := s.call("POST", "/v1/events", tc.body)
		assert.Equal(t, http.StatusBadRequest, a.Code, a.Body)
		assert.Equal(t, "events", a.JSON["field"])
		assert.Contains(t, a.JSON["error"], tc.says)
	}
}

// A batch is routed in the background when the routing queue runs.
func TestABatchIsRoutedByTheQueue(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	s.customer(`{"id": "c_1", "email": "ada@example.com"}`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.router.RunQueue(ctx, 2)
	a := s.must(http.StatusOK, "POST", "/v1/events", `{"events": [`+orderPlaced("b-1", "c_1", "o-1")+`, `+orderPlaced("b-2", "c_1", "o-2")+`]}`)
	assert.EqualValues(t, 2, a["accepted"])
	eventually(t, time.Minute, "the batch's events routed", func() bool {
		for _, id := range []string{"b-1", "b-2"} {
			if s.must(http.StatusOK, "GET", "/v1/events/"+id, "")["routed_at"] == nil {
				return false
			}
		}
		return true
	})
	assert.Len(t, s.temporal.startIDs(), 4, "thanks and review for each order")
}
