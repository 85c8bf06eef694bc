package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/api"
	"github.com/rapporthq/rapport/internal/api/contracttest"
	"github.com/rapporthq/rapport/internal/api/wire"
	"github.com/rapporthq/rapport/internal/apikey"
	"github.com/rapporthq/rapport/internal/router"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/store/storetest"
)

// contractServer serves the real API handlers over a real database, the
// shipped journeys compiled, Temporal mocked (journeys, erasures and
// audience runs run for real in the tests of the whole stack), every
// request and answer validated against docs/openapi.yaml.
func contractServer(t *testing.T) (*store.Store, *contracttest.Checker, string) {
	t.Helper()
	st, _ := storetest.New(t)
	cat, env := contracttest.ShippedCatalog(t, filepath.Join("..", ".."))
	tc := contracttest.Temporal()

	s := &api.Server{Store: st, Temporal: tc, Topics: []string{"offers"}, Log: slog.New(slog.DiscardHandler),
		Router: &router.Router{Store: st, Catalog: cat, Env: env, Temporal: tc}}
	check := contracttest.New(t)
	srv := httptest.NewServer(check.Handler(s.Handler()))
	t.Cleanup(srv.Close)
	_, key, err := st.CreateAPIKey(context.Background(), "cli", []apikey.Scope{apikey.Admin})
	require.NoError(t, err)
	t.Setenv("RAPPORT_API_KEY", key)
	return st, check, srv.URL
}

// TestCLIAndAPIShareTheContract runs every command that talks to the API
// against the real handlers, which check each request and answer against
// docs/openapi.yaml: the CLI and the API use the same bodies (package
// wire), and this holds both to the contract, error answers included.
func TestCLIAndAPIShareTheContract(t *testing.T) {
	st, check, url := contractServer(t)
	ctx := context.Background()
	apiFlag := "--api=" + url
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
		return p
	}

	_, err := st.UpsertCustomer(ctx, store.Customer{ID: "c_ada", Email: "ada@example.com", Name: "Ada Lovelace", TimeZone: "Europe/London",
		Address: store.Address{Country: "GB"}, Attributes: map[string]any{"tier": "gold"}})
	require.NoError(t, err)
	_, err = st.UpsertCustomer(ctx, store.Customer{ID: "c_gone", Email: "gone@example.com"})
	require.NoError(t, err)
	_, err = st.RecordConsent(ctx, "c_ada", "email", "opted_in", "support", store.Evidence{Note: "asked on the phone"})
	require.NoError(t, err)

	// POST /v1/products
	out, errOut, err := run("catalog", "import", apiFlag, write("catalog.csv",
		"product_id,name,price,currency,active,complements\npot,Blue teapot,32,GBP,true,cup:0.5\ncup,Stoneware cup,12,GBP,,\n"))
	require.NoError(t, err, errOut)
	assert.Equal(t, "imported 2 products from "+dir+"/catalog.csv\n", out)

	// POST /v1/orders: two loaded (one partly refunded), one refused (422).
	out, errOut, err = run("import", "orders", apiFlag, write("orders.csv", "order_id,customer_id,placed_at,currency,product_id,name,quantity,price,gift,status,refunded\n"+
		"o-1,c_ada,2025-11-10T10:00:00Z,GBP,pot,Blue teapot,1,32,true,,\n"+
		"o-1,c_ada,2025-11-10T10:00:00Z,GBP,cup,Stoneware cup,2,12,true,,\n"+
		"o-2,c_nobody,2025-11-11T10:00:00Z,GBP,cup,Stoneware cup,1,12,,,\n"+
		"o-3,c_ada,2025-11-12T10:00:00Z,GBP,cup,Stoneware cup,1,12,,partly_refunded,2.50\n"))
	var exit *exitError
	require.ErrorAs(t, err, &exit)
	assert.Contains(t, out, "imported 2 orders (0 already there, 1 refused)")
	assert.Contains(t, errOut, "orders.csv:4: order o-2: customer_id: no customer c_nobody")
	o3, err := st.GetOrder(ctx, "o-3")
	require.NoError(t, err)
	assert.Equal(t, []string{"partly_refunded", "2.50"}, []string{o3.Status, o3.Refunded.String()})

	// POST /v1/events, in batches: an id sent again with the same event
	// is a duplicate; with another type or other data it is refused,
	// whether the first is in the same batch or was sent before.
	events := write("events.jsonl", strings.Join([]string{
		`{"id":"e-1","type":"page.viewed","customer_id":"c_ada","data":{"page":"/teapots"}}`,
		`{"id":"e-1","type":"page.viewed","customer_id":"c_ada","data":{"page":"/teapots"}}`,
		`{"id":"e-1","type":"cart.abandoned","customer_id":"c_ada","data":{"page":"/teapots"}}`,
		`{"id":"e-1","type":"page.viewed","customer_id":"c_ada","data":{"page":"/cups"}}`,
		`{"id":"e-2","type":"page.viewed","customer_id":"c_nobody"}`,
		`{"id":"e-3","type":"page.viewed","customer_id":"c_ada","occurred_at":"2026-01-02T10:00:00Z"}`,
	}, "\n")+"\n")
	out, _, err = run("events", "send", apiFlag, "-q", events)
	require.ErrorAs(t, err, &exit)
	assert.Contains(t, out, events+":3: id: event e-1 is also at index 0 of this batch with type page.viewed, not cart.abandoned;")
	assert.Contains(t, out, events+":4: id: event e-1 is also at index 0 of this batch with other data;")
	assert.Contains(t, out, events+":5: customer_id: no customer c_nobody")
	assert.Contains(t, out, ": 2 accepted, 1 duplicate, 3 rejected\n")
	out, _, err = run("events", "send", apiFlag, "-q", "--batch=1", events)
	require.ErrorAs(t, err, &exit)
	assert.Contains(t, out, events+":3: id: event e-1 was already received with type page.viewed, not cart.abandoned;")
	assert.Contains(t, out, events+":4: id: event e-1 was already received with other data;")
	assert.Contains(t, out, ": 0 accepted, 3 duplicates, 3 rejected\n", "one event a batch: the same answers")

	// GET /v1/customers/{id} and its preferences; --json prints the two
	// answers as the API gave them.
	out, errOut, err = run("customers", "show", apiFlag, "c_ada")
	require.NoError(t, err, errOut)
	assert.Contains(t, out, "c_ada  Ada Lovelace")
	assert.Regexp(t, `email\s+opted_in\s+\d{4}-\d\d-\d\d \d\d:\d\d \(support\)`, out)
	assert.Contains(t, out, "(asked on the phone)")
	out, _, err = run("customers", "show", apiFlag, "c_ada", "--json")
	require.NoError(t, err)
	var shown struct {
		Customer    wire.Customer    `json:"customer"`
		Preferences wire.Preferences `json:"preferences"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &shown))
	assert.Equal(t, "gold", shown.Customer.Attributes["tier"])
	assert.Equal(t, "c_ada", shown.Preferences.CustomerID, "the whole answer, not a part of it")
	assert.Equal(t, "asked on the phone", shown.Preferences.Channels["email"].Evidence.Note)
	require.NotNil(t, shown.Preferences.History)
	assert.Len(t, shown.Preferences.History.Consent, 1)
	_, _, err = run("customers", "show", apiFlag, "c_nobody")
	assert.EqualError(t, err, "no customer c_nobody", "a 404's message")

	// Tasks: GET /v1/tasks (--json: the API's answer), GET, claim and
	// complete.
	_, err = st.CreateTask(ctx, store.Task{ID: "task_call_ada", WorkflowID: "rapport/lapse-winback/c_ada/x", Journey: "lapse-winback", StepID: "call",
		CustomerID: "c_ada", Kind: "phone_call", Queue: "retention", Brief: "Call Ada", Outcomes: []string{"reached", "voicemail"}, DueAt: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	out, _, err = run("tasks", "list", apiFlag, "--queue", "retention")
	require.NoError(t, err)
	assert.Contains(t, out, "task_call_ada")
	out, _, err = run("tasks", "list", apiFlag, "--json")
	require.NoError(t, err)
	var list wire.TaskList
	require.NoError(t, json.Unmarshal([]byte(out), &list), "tasks list --json prints GET /v1/tasks's answer")
	require.Len(t, list.Tasks, 1)
	out, _, err = run("tasks", "claim", apiFlag, "task_call_ada", "--as", "sam")
	require.NoError(t, err)
	assert.Contains(t, out, "task task_call_ada is yours, sam")
	_, _, err = run("tasks", "claim", apiFlag, "task_nope", "--as", "sam")
	assert.EqualError(t, err, "no task task_nope")
	out, _, err = run("tasks", "show", apiFlag, "task_call_ada")
	require.NoError(t, err)
	assert.Contains(t, out, `"assignee": "sam"`)

	// Tasks change hands: Alex cannot claim Sam's task, but Kim can
	// assign it to Alex; Alex puts it back, writes a note, and Sam claims
	// it again. Each is kept with who did it.
	_, _, err = run("tasks", "claim", apiFlag, "task_call_ada", "--as", "alex")
	assert.EqualError(t, err, "the task is claimed by sam")
	out, _, err = run("tasks", "assign", apiFlag, "task_call_ada", "alex", "--by", "kim")
	require.NoError(t, err)
	assert.Contains(t, out, "task task_call_ada is alex's now (due ")
	out, _, err = run("tasks", "unclaim", apiFlag, "task_call_ada", "--by", "alex")
	require.NoError(t, err)
	assert.Equal(t, "task task_call_ada is back in the retention queue\n  recorded in the journey's run\n", out)
	_, _, err = run("tasks", "unclaim", apiFlag, "task_call_ada", "--by", "alex")
	assert.EqualError(t, err, "nobody holds the task")
	out, _, err = run("tasks", "note", apiFlag, "task_call_ada", "Ada asked for a call after 6pm.", "--by", "alex")
	require.NoError(t, err)
	assert.Equal(t, "noted on task task_call_ada\n  recorded in the journey's run\n", out)
	_, _, err = run("tasks", "assign", apiFlag, "task_nope", "alex")
	assert.EqualError(t, err, "no task task_nope")
	_, _, err = run("tasks", "claim", apiFlag, "task_call_ada", "--as", "sam")
	require.NoError(t, err)
	out, _, err = run("tasks", "show", apiFlag, "task_call_ada")
	require.NoError(t, err)
	var shownTask wire.Task
	require.NoError(t, json.Unmarshal([]byte(out), &shownTask))
	var did []string
	for _, a := range shownTask.Actions {
		did = append(did, a.Kind+" by "+a.By+": "+a.From+" > "+a.Assignee+" "+a.Note)
	}
	assert.Equal(t, []string{
		"claim by sam (key cli):  > sam ",
		"assign by kim (key cli): sam > alex ",
		"unclaim by alex (key cli): alex >  ",
		"note by alex (key cli):  >  Ada asked for a call after 6pm.",
		"claim by sam (key cli):  > sam ",
	}, did)
	_, _, err = run("tasks", "complete", apiFlag, "task_call_ada", "--outcome", "emailed")
	assert.ErrorContains(t, err, `outcome: "emailed" is not one of this task's outcomes: reached, voicemail`)
	out, _, err = run("tasks", "complete", apiFlag, "task_call_ada", "--outcome", "reached", "--notes", "happy", "--as", "sam")
	require.NoError(t, err)
	assert.Equal(t, "task task_call_ada completed: reached\n", out)

	// Audiences: GET /v1/journeys/{name}/audience (the lapsed order
	// above makes Ada match) and POST .../audience-runs.
	out, _, err = run("audience", "preview", apiFlag, "lapse-winback")
	require.NoError(t, err)
	assert.Contains(t, out, "1 of 2 customers match now")
	assert.Contains(t, out, "c_ada")
	out, _, err = run("audience", "preview", apiFlag, "lapse-winback", "--json")
	require.NoError(t, err)
	var preview wire.AudiencePreview
	require.NoError(t, json.Unmarshal([]byte(out), &preview))
	assert.EqualValues(t, 1, preview.Matched)
	out, _, err = run("audience", "run", apiFlag, "lapse-winback")
	require.NoError(t, err)
	assert.Contains(t, out, "lapse-winback: 0 customers scanned", "Temporal is mocked: the run counts nothing")
	_, _, err = run("audience", "run", apiFlag, "thank-you")
	assert.ErrorContains(t, err, "is started by order.placed events, not by an audience")

	// GET /v1/customers/{id}/export.
	out, _, err = run("customers", "export", apiFlag, "c_ada")
	require.NoError(t, err)
	var doc wire.Export
	require.NoError(t, json.Unmarshal([]byte(out), &doc))
	assert.Equal(t, "c_ada", doc.CustomerID)
	assert.Equal(t, "ada@example.com", doc.Customer["email"])
	_, _, err = run("customers", "export", apiFlag, "c_nobody")
	assert.EqualError(t, err, "no customer c_nobody")

	// DELETE /v1/customers/{id}, then GET .../erasure until the wait ends
	// (the mocked workflow never finishes).
	out, _, err = run("customers", "erase", apiFlag, "c_gone", "--reason", "asked by email", "--no-wait")
	require.NoError(t, err)
	assert.Contains(t, out, "erasing c_gone (erasure 1, asked by key cli)")
	_, _, err = run("customers", "erase", apiFlag, "c_gone", "--reason", "asked by email", "--timeout", "500ms")
	assert.ErrorContains(t, err, "the erasure of c_gone is still under way after 500ms")
	_, _, err = run("customers", "erase", apiFlag, "c_ada")
	assert.ErrorContains(t, err, "--reason is required")

	// GET /v1/fanouts and POST /v1/fanouts/{event_id}/{journey}/retry:
	// a restock posted without a customer, its fan-out failed.
	_, err = st.RecordFanout(ctx, store.Event{ID: "restock-1", Type: "product.restocked", OccurredAt: time.Now(),
		Data: json.RawMessage(`{"product_id":"pot"}`)}, []string{"back-in-stock"})
	require.NoError(t, err)
	f, err := st.ClaimFanout(ctx, time.Minute)
	require.NoError(t, err)
	f.Scanned, f.Matched, f.Started, f.Cursor = 1200, 14, 12, "c_m"
	require.NoError(t, st.FailFanout(ctx, *f, "start rapport/back-in-stock/c_n/restock-1: temporal is down"))
	out, _, err = run("fanouts", apiFlag)
	require.NoError(t, err)
	assert.Regexp(t, `restock-1\s+back-in-stock\s+failed\s+1200\s+14\s+12\s+0\s+1\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+start rapport/back-in-stock/c_n/restock-1: temporal is down`, out)
	assert.Contains(t, out, "1 failed fan-out; once the cause is fixed, `rapport fanouts retry EVENT_ID JOURNEY` resumes one")
	out, _, err = run("fanouts", apiFlag, "restock-1", "--status", "failed", "--json")
	require.NoError(t, err)
	var fanouts wire.FanoutList
	require.NoError(t, json.Unmarshal([]byte(out), &fanouts), "fanouts --json prints GET /v1/fanouts's answer")
	require.Len(t, fanouts.Fanouts, 1)
	assert.Equal(t, "c_m", fanouts.Fanouts[0].Cursor)
	out, _, err = run("fanouts", apiFlag, "restock-2")
	require.NoError(t, err)
	assert.Equal(t, "no fan-outs\n", out)
	_, _, err = run("fanouts", apiFlag, "--status", "stuck")
	assert.ErrorContains(t, err, `status: "stuck" is not a fan-out status`)
	out, _, err = run("fanouts", "retry", apiFlag, "restock-1", "back-in-stock")
	require.NoError(t, err)
	assert.Equal(t, "fan-out of restock-1 to back-in-stock is pending again (1200 customers scanned so far); the API's runner takes it up within seconds\n", out)
	_, _, err = run("fanouts", "retry", apiFlag, "restock-1", "back-in-stock")
	assert.EqualError(t, err, "the fan-out of restock-1 to back-in-stock is pending, not failed; only a failed fan-out is retried")
	_, _, err = run("fanouts", "retry", apiFlag, "restock-1", "winback")
	assert.EqualError(t, err, "no fan-out of event restock-1 to journey winback")

	// Every operation the CLI uses was checked, successes and errors.
	assert.Equal(t, []string{
		"DELETE /v1/customers/{id}",
		"GET /v1/customers/{id}",
		"GET /v1/customers/{id}/erasure",
		"GET /v1/customers/{id}/export",
		"GET /v1/customers/{id}/preferences",
		"GET /v1/fanouts",
		"GET /v1/journeys/{name}/audience",
		"GET /v1/tasks",
		"GET /v1/tasks/{id}",
		"POST /v1/events",
		"POST /v1/fanouts/{event_id}/{journey}/retry",
		"POST /v1/journeys/{name}/audience-runs",
		"POST /v1/orders",
		"POST /v1/products",
		"POST /v1/tasks/{id}/assign",
		"POST /v1/tasks/{id}/claim",
		"POST /v1/tasks/{id}/complete",
		"POST /v1/tasks/{id}/notes",
		"POST /v1/tasks/{id}/unclaim",
	}, check.Seen(), check.String())
	assert.Equal(t, []int{201, 422, 201}, check.Statuses("POST /v1/orders"))
}
