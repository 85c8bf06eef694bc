//go:build !production

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/fakes"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

// The four seed journeys end to end, on the embedded server with real
// PostgreSQL and the real provider clients talking to the fakes, at dev
// time scale so weeks pass in seconds.

func (s *stack) get(path string, out any) int {
	s.t.Helper()
	resp, err := s.http.Get(s.APIURL + path)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	if out != nil {
		raw, _ := io.ReadAll(resp.Body)
		require.NoError(s.t, json.Unmarshal(raw, out), string(raw))
	}
	return resp.StatusCode
}

// waitFor polls cond until it holds, and fails the test when it still
// does not after patience. cond runs on the test's goroutine (not in
// require.Eventually's), so it may use require and write the test's
// variables.
func (s *stack) waitFor(what string, cond func() bool) {
	s.t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			s.t.Fatalf("waited %s for %s: it did not happen", patience, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// messagesTo returns what the fakes accepted for a customer, oldest first.
func (s *stack) messagesTo(customerID string) []fakes.Message {
	var out []fakes.Message
	msgs := s.outbox()
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].CustomerID == customerID {
			out = append(out, msgs[i])
		}
	}
	return out
}

func (s *stack) tasks(query string) []store.Task {
	var out struct {
		Tasks []store.Task `json:"tasks"`
	}
	require.Equal(s.t, http.StatusOK, s.get("/v1/tasks?"+query, &out))
	return out.Tasks
}

func lapsedCustomer(id, email string) map[string]any {
	return map[string]any{"id": id, "email": email, "phone": "+44 7911 123456", "name": "Ada Lovelace", "locale": "en-GB",
		"time_zone": "Europe/London",
		"address":   map[string]any{"line1": "12 St James's Square", "city": "London", "postal_code": "SW1Y 4LB", "country": "GB"}}
}

// weeklyCap is a customer's frequency for tests that skip a journey's
// waits: at most three marketing messages a week, the default's weekly cap
// without its daily one.
var weeklyCap = map[string]any{"caps": []any{map[string]any{"channel": "all", "max": 3, "per": "7d"}}}

func pastOrder(id, customerID string, daysAgo int) map[string]any {
	return map[string]any{"id": id, "customer_id": customerID, "placed_at": time.Now().AddDate(0, 0, -daysAgo).UTC().Format(time.RFC3339),
		"total": 17, "currency": "GBP", "items": []any{map[string]any{"product_id": "tea", "name": "Earl Grey tea", "quantity": 2, "price": 8.5}}}
}

// TestWinback takes a lapsed customer through lapse-winback: the voucher
// email, then the postcard (through a Lob answer lost on the way, retried
// with the same idempotency key), then the phone task, completed through
// the API, which ends the journey. A second customer orders after the
// email and gets nothing more from it.
func TestWinback(t *testing.T) {
	// A slow day: the second customer's order must reach her run during
	// its two weeks' wait, and the task is due in five days, however busy
	// the machine; the test ends the waits with skip-wait.
	s := startStack(t, "../../journeys", withDay(slowDay))
	for _, c := range []string{"c_1", "c_2"} {
		status, body := s.post("/v1/customers", lapsedCustomer(c, c+"@example.com"))
		require.Equal(t, http.StatusCreated, status, body)
		status, body = s.post("/v1/orders", pastOrder("o-old-"+c, c, 120))
		require.Equal(t, http.StatusCreated, status, body)
		// A marketing call needs the customer's yes to calls. Skipping the
		// wait brings the postcard within a journey day of the email, so
		// the default cap of one marketing message a day would hold it a
		// (slow) day: these customers take three a week.
		status, body = s.put("/v1/customers/"+c+"/preferences", map[string]any{
			"channels":  map[string]any{"phone": map[string]any{"consent": "opted_in"}},
			"frequency": weeklyCap,
			"evidence":  map[string]any{"source": "checkout", "shown": "You may call me about offers"}})
		require.Equal(t, http.StatusOK, status, body)
	}
	s.post("/v1/customers", customer("c_recent", "recent@example.com"))
	s.post("/v1/orders", pastOrder("o-recent", "c_recent", 10))
	s.fakes.Lob.LoseAnswers(1)

	status, run := s.post("/v1/journeys/lapse-winback/audience-runs", nil)
	require.Equal(t, http.StatusOK, status, run)
	assert.Equal(t, "done", run["status"])
	assert.ElementsMatch(t, []any{"rapport/lapse-winback/c_1/" + run["entry_key"].(string), "rapport/lapse-winback/c_2/" + run["entry_key"].(string)}, run["runs"],
		"the two lapsed customers, not the recent one")
	assert.EqualValues(t, 2, run["counts"].(map[string]any)["started"])
	_, again := s.post("/v1/journeys/lapse-winback/audience-runs", nil)
	assert.EqualValues(t, 0, again["counts"].(map[string]any)["started"], "running it again enters nobody twice")
	assert.EqualValues(t, 2, again["counts"].(map[string]any)["skipped"])
	wid1 := "rapport/lapse-winback/c_1/" + run["entry_key"].(string)
	wid2 := "rapport/lapse-winback/c_2/" + run["entry_key"].(string)

	// Both get the voucher email at once.
	s.waitFor("the voucher emails", func() bool { return len(s.messagesTo("c_1")) == 1 && len(s.messagesTo("c_2")) == 1 })
	// Both runs rest in their two weeks' wait (an hour a day: 14 hours).
	email := s.messagesTo("c_1")[0]
	assert.Equal(t, "email", email.Channel)
	assert.Equal(t, "We miss you, Ada: 15% off your next order", email.Subject)
	code := regexp.MustCompile(`code ([2-9A-Z-]{19})`).FindStringSubmatch(email.Text)
	require.NotNil(t, code, email.Text)

	// c_2 orders: the win-back ends at once.
	status, body := s.post("/v1/events", orderPlaced("evt-c2-order", "c_2", false))
	require.Equal(t, http.StatusAccepted, status, body)
	assert.Contains(t, body["delivered"], wid2)
	res := s.waitForRun(wid2)
	assert.Equal(t, workflows.Exited, res.Outcome)
	assert.Equal(t, "exit_when matched order.placed event evt-c2-order", res.Reason)

	// Two weeks later, c_1 gets a postcard.
	s.skipWait(wid1, "wait_for_return")
	s.waitFor("the postcard", func() bool { return len(s.messagesTo("c_1")) == 2 })
	postcard := s.messagesTo("c_1")[1]
	assert.Equal(t, "mail", postcard.Channel)
	assert.Contains(t, postcard.To, "12 St James's Square")
	assert.Contains(t, postcard.HTML, "We miss you", "the front")
	assert.Contains(t, postcard.Back, "20% off", "a better offer on the back")
	assert.Regexp(t, `Choose what we send you, and how often: http://\S+/preferences/[\w-]+\.[0-9a-z]+\.[\w-]{16}<`, postcard.Back, "printed marketing says where to choose")
	assert.Regexp(t, `code [2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4}, until`, postcard.Text, "the text version has no stray space before the comma")
	assert.Equal(t, 1, s.fakes.Lob.Created(), "the lost answer was retried with the same key: one postcard")

	// Three weeks later, a phone task in the retention queue.
	s.skipWait(wid1, "wait_after_postcard")
	var task store.Task
	s.waitFor("the phone task", func() bool {
		ts := s.tasks("queue=retention&customer_id=c_1")
		if len(ts) == 1 {
			task = ts[0]
		}
		return len(ts) == 1
	})
	assert.Equal(t, "phone_call", task.Kind)
	assert.Equal(t, wid1, task.WorkflowID)
	ctxCustomer := task.Context["customer"].(map[string]any)
	assert.Equal(t, "+44 7911 123456", ctxCustomer["phone"], "staff see how to reach the customer")
	assert.Len(t, task.Context["sent"], 2, "and what the journey already sent")
	assert.Len(t, task.Context["recent_orders"], 1)

	status, body = s.post("/v1/tasks/"+task.ID+"/complete", map[string]any{"outcome": "sent-flowers"})
	assert.Equal(t, http.StatusBadRequest, status, "an outcome the task does not list")
	assert.Equal(t, "outcome", body["field"])
	status, body = s.post("/v1/tasks/"+task.ID+"/claim", map[string]any{"assignee": "sam"})
	require.Equal(t, http.StatusOK, status, body)
	status, body = s.post("/v1/tasks/"+task.ID+"/complete", map[string]any{"outcome": "reached", "notes": "Moved house; will order again."})
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, "completed", body["status"])
	assert.Equal(t, "dev-admin", body["claimed_by_key"], "staff actions record the key they came with")
	assert.Equal(t, "dev-admin", body["completed_by_key"])
	status, _ = s.post("/v1/tasks/"+task.ID+"/complete", map[string]any{"outcome": "reached"})
	assert.Equal(t, http.StatusConflict, status, "completing twice")

	res = s.waitForRun(wid1)
	assert.Equal(t, workflows.Completed, res.Outcome)
	assert.Equal(t, []string{"email_offer", "wait_for_return", "postcard", "wait_after_postcard", "call", "call_if_we_can", "after_the_call"}, res.StepsDone)

	// c_2 got nothing more from the win-back; the recent customer nothing.
	for _, m := range s.messagesTo("c_2") {
		assert.NotEqual(t, "mail", m.Channel)
		if m.Journey == "lapse-winback" {
			assert.Equal(t, "email_offer", m.Step)
		}
	}
	assert.Empty(t, s.tasks("customer_id=c_2&status=all"))
	assert.Empty(t, s.messagesTo("c_recent"))

	// The voucher can be redeemed once.
	status, _ = s.post("/v1/vouchers/"+code[1]+"/redeem", map[string]any{"order_id": "o-next"})
	assert.Equal(t, http.StatusOK, status)
	status, _ = s.post("/v1/vouchers/"+code[1]+"/redeem", map[string]any{"order_id": "o-next"})
	assert.Equal(t, http.StatusConflict, status)

	rows, err := s.store.MessagesOfWorkflow(context.Background(), wid1)
	require.NoError(t, err)
	require.Len(t, rows, 2)
	assert.Equal(t, 2, rows[1].Attempts, "the postcard took two attempts")

	recordHistory(t, s.client, wid1, revisionFile("lapse-winback-completed"))
	recordHistory(t, s.client, wid2, revisionFile("lapse-winback-purchase"))
}

// TestSatisfactionUnhappyCustomerGetsAPerson: the survey goes by SMS, but
// the number is invalid, so it falls back to email; a score of 1 opens a
// care task carrying the comment.
func TestSatisfactionUnhappyCustomerGetsAPerson(t *testing.T) {
	// The task is due in a day and the survey open for seven: a slow day,
	// so neither runs out while the test answers and completes them.
	s := startStack(t, "../../journeys", withDay(slowDay))
	c := customer("c_1", "ada@example.com")
	c["phone"] = "+44 20 1234"
	status, body := s.post("/v1/customers", c)
	require.Equal(t, http.StatusCreated, status, body)
	s.post("/v1/events", orderPlaced("evt-1", "c_1", false))
	s.post("/v1/events", map[string]any{"id": "evt-2", "type": "order.delivered", "customer_id": "c_1", "data": map[string]any{"order_id": "o-evt-1"}})
	s.skipWait("rapport/satisfaction-check/c_1/evt-1", "wait_2") // the two days after delivery

	var survey fakes.Message
	s.waitFor("the survey", func() bool {
		for _, m := range s.messagesTo("c_1") {
			if m.Journey == "satisfaction-check" {
				survey = m
				return true
			}
		}
		return false
	})
	assert.Equal(t, "email", survey.Channel, "the invalid number falls back to email")
	// The provider has it; the outbox records so a moment later.
	var rows []store.Message
	s.waitFor("the survey email recorded as sent", func() bool {
		var err error
		rows, err = s.store.MessagesOfWorkflow(context.Background(), "rapport/satisfaction-check/c_1/evt-1")
		require.NoError(t, err)
		return len(rows) == 2 && rows[1].Status != store.MessageSending
	})
	require.Len(t, rows, 2)
	assert.Equal(t, store.MessageFailed, rows[0].Status)
	assert.Equal(t, "sms", rows[0].Channel)
	assert.Contains(t, rows[0].Reason, "invalid phone number")
	assert.Equal(t, store.MessageSent, rows[1].Status)

	link := regexp.MustCompile(`http://\S+/survey/\S+`).FindString(survey.Text)
	require.NotEmpty(t, link, survey.Text)
	resp, err := http.Get(link)
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(page), `<input type="radio" name="score" value="1"`)

	resp, err = http.PostForm(link+"x", url.Values{"score": {"5"}})
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "a forged link changes nothing")

	resp, err = http.PostForm(link, url.Values{"score": {"1"}, "comment": {"The teapot arrived broken."}})
	require.NoError(t, err)
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(page))
	assert.Contains(t, string(page), "Someone from our team will read your comment")

	var task store.Task
	s.waitFor("the care task", func() bool {
		ts := s.tasks("queue=care")
		if len(ts) == 1 {
			task = ts[0]
		}
		return len(ts) == 1
	})
	last := task.Context["last_event"].(map[string]any)
	assert.Equal(t, "survey.answered", last["type"])
	assert.Equal(t, "The teapot arrived broken.", last["data"].(map[string]any)["comment"])
	assert.Contains(t, task.Brief, "unhappy")

	// Answering again changes nothing.
	resp, err = http.PostForm(link, url.Values{"score": {"5"}})
	require.NoError(t, err)
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Contains(t, string(page), "You gave us 1 out of 5", "the first answer stands")
	assert.Len(t, s.tasks("queue=care&status=all"), 1, "one task, one answer")

	status, body = s.post("/v1/tasks/"+task.ID+"/complete", map[string]any{"outcome": "refunded", "notes": "Sent a new teapot."})
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, workflows.Completed, s.waitForRun("rapport/satisfaction-check/c_1/evt-1").Outcome)
	recordHistory(t, s.client, "rapport/satisfaction-check/c_1/evt-1", revisionFile("satisfaction-care-task"))
}

// TestComplementaryProducts suggests what goes with the order once it has
// arrived, leaving out what the customer already has.
func TestComplementaryProducts(t *testing.T) {
	// A slow day: the delivery must arrive within the week's wait however
	// busy the machine; the test then skips the three days.
	s := startStack(t, "../../journeys", withDay(slowDay))
	status, body := s.post("/v1/products", map[string]any{"products": []any{
		map[string]any{"id": "tea", "name": "Earl Grey tea", "price": 8.5, "currency": "GBP"},
		map[string]any{"id": "pot", "name": "Blue teapot", "price": 32, "currency": "GBP", "url": "https://shop.example/pot"},
		map[string]any{"id": "cup", "name": "Stoneware cup", "price": 12, "currency": "GBP"},
		map[string]any{"id": "honey", "name": "Wildflower honey", "price": 7, "currency": "GBP"},
	}})
	require.Equal(t, http.StatusOK, status, body)
	status, body = s.post("/v1/products", map[string]any{"products": []any{
		map[string]any{"id": "tea", "name": "Earl Grey tea", "complements": map[string]any{"pot": 0.9, "cup": 0.6, "honey": 0.3}},
	}})
	require.Equal(t, http.StatusOK, status, body)
	s.post("/v1/customers", customer("c_1", "ada@example.com"))
	// Ada already has a cup.
	s.post("/v1/orders", map[string]any{"id": "o-old", "customer_id": "c_1", "placed_at": time.Now().AddDate(0, -1, 0).UTC().Format(time.RFC3339),
		"total": 12, "currency": "GBP", "items": []any{map[string]any{"product_id": "cup", "name": "Stoneware cup", "quantity": 1, "price": 12}}})
	s.post("/v1/events", map[string]any{"id": "evt-1", "type": "order.placed", "customer_id": "c_1",
		"data": map[string]any{"order": map[string]any{"id": "o-1", "total": 8.5, "currency": "GBP",
			"items": []any{map[string]any{"product_id": "tea", "name": "Earl Grey tea", "quantity": 1, "price": 8.5}}}}})
	s.post("/v1/events", map[string]any{"id": "evt-2", "type": "order.delivered", "customer_id": "c_1", "data": map[string]any{"order_id": "o-1"}})
	s.skipWait("rapport/complementary-products/c_1/evt-1", "let_them_enjoy_it")

	res := s.waitForRun("rapport/complementary-products/c_1/evt-1")
	assert.Equal(t, workflows.Completed, res.Outcome)
	recordHistory(t, s.client, "rapport/complementary-products/c_1/evt-1", revisionFile("complementary-products-delivered"))
	var m fakes.Message
	for _, x := range s.messagesTo("c_1") {
		if x.Journey == "complementary-products" {
			m = x
		}
	}
	assert.Equal(t, "Ada, a few things that go with your Earl Grey tea", m.Subject)
	assert.Contains(t, m.Text, "- Blue teapot, £32.00: https://shop.example/pot\n- Wildflower honey, £7.00")
	assert.NotContains(t, m.Text, "Stoneware cup", "she already has one")
}

// TestOldEventsDoNotStartJourneys: loading history never thanks anyone for
// last year's order.
func TestOldEventsDoNotStartJourneys(t *testing.T) {
	s := startStack(t, "../../journeys")
	s.post("/v1/customers", customer("c_1", "ada@example.com"))
	ev := orderPlaced("evt-old", "c_1", false)
	ev["occurred_at"] = time.Now().AddDate(0, 0, -3).UTC().Format(time.RFC3339)
	status, body := s.post("/v1/events", ev)
	require.Equal(t, http.StatusAccepted, status, body)
	assert.Empty(t, body["started"])
	assert.Contains(t, body["skipped"], "thank-you: the event is older than max_event_age 24h")
}

// TestStaffAndImportCommands drives the CLI against a running API.
func TestStaffAndImportCommands(t *testing.T) {
	s := startStack(t, "../../journeys")
	dir := t.TempDir()
	write := func(name, content string) string {
		p := dir + "/" + name
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
		return p
	}
	api := "--api=" + s.APIURL
	t.Setenv("RAPPORT_API_KEY", s.APIKey) // the CLI reads its key from the environment

	out, errOut, err := run("catalog", "import", api, write("catalog.csv",
		"product_id,name,price,currency,complements\npot,Blue teapot,32,GBP,cup:0.5\ncup,Stoneware cup,12,GBP,\n"))
	require.NoError(t, err, errOut)
	assert.Equal(t, "imported 2 products from "+dir+"/catalog.csv\n", out)
	_, errOut, err = run("catalog", "import", api, write("bad.csv", "product_id,name,complements\npot,Pot,cup=0.5\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "bad.csv:2: complement \"cup=0.5\" is not product:weight")
	_ = errOut

	s.post("/v1/customers", customer("c_1", "ada@example.com"))
	orders := write("orders.csv", "order_id,customer_id,placed_at,currency,product_id,name,quantity,price\n"+
		"o-1,c_1,2026-01-10T10:00:00Z,GBP,pot,Blue teapot,1,32\n"+
		"o-1,c_1,2026-01-10T10:00:00Z,GBP,cup,Stoneware cup,2,12\n"+
		"o-2,c_nobody,2026-01-11T10:00:00Z,GBP,cup,Stoneware cup,1,12\n")
	out, errOut, err = run("import", "orders", api, orders)
	var exit *exitError
	require.ErrorAs(t, err, &exit, "one order was refused")
	assert.Contains(t, out, "imported 1 order (0 already there, 1 refused)")
	assert.Contains(t, errOut, "orders.csv:4: order o-2: customer_id: no customer c_nobody")
	o, err := s.store.GetOrder(context.Background(), "o-1")
	require.NoError(t, err)
	assert.Equal(t, "56.00", o.Total.String(), "32 + 2 × 12, exactly, at GBP's places")
	assert.Len(t, o.Items, 2)
	assert.Empty(t, s.outbox(), "history starts no journey")

	out, _, err = run("audience", "run", api, "lapse-winback")
	require.NoError(t, err)
	assert.Contains(t, out, "lapse-winback: 1 customer scanned, 1 match, 1 entered")
	_, _, err = run("audience", "run", api, "thank-you")
	assert.ErrorContains(t, err, "is started by order.placed events, not by an audience")

	_, err = s.store.CreateTask(context.Background(), store.Task{ID: "task_x", WorkflowID: "rapport/gone/c_1/x", Journey: "gone", StepID: "call",
		CustomerID: "c_1", Kind: "phone_call", Queue: "retention", Brief: "Call Ada", Outcomes: []string{"reached"}, DueAt: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	out, _, err = run("tasks", "list", api, "--queue", "retention")
	require.NoError(t, err)
	assert.Contains(t, out, "task_x")
	assert.Contains(t, out, "Call Ada")
	out, _, err = run("tasks", "claim", api, "task_x", "--as", "sam")
	require.NoError(t, err)
	assert.Contains(t, out, "task task_x is yours, sam")
	assert.Contains(t, out, "\n  not recorded in the journey's run: the journey run that asked for the task has ended (the task keeps it)\n",
		"its run never existed: the claim stands")
	out, _, err = run("tasks", "show", api, "task_x")
	require.NoError(t, err)
	assert.Contains(t, out, `"assignee": "sam"`)
	_, _, err = run("tasks", "complete", api, "task_x", "--outcome", "reached")
	assert.ErrorContains(t, err, "the journey that asked for it has ended")
	_, _, err = run("tasks", "list", "--api=http://127.0.0.1:1")
	assert.ErrorContains(t, err, "cannot reach the Rapport API")
}

// TestSurveyBySMS: a customer with a mobile number gets the survey as a
// text; the dev outbox names the customer and journey (read from the
// outbox, since an SMS carries only the message id).
func TestSurveyBySMS(t *testing.T) {
	s := startStack(t, "../../journeys", withDay(100*time.Millisecond))
	c := customer("c_1", "ada@example.com")
	c["phone"] = "07911 123456"
	c["address"] = map[string]any{"country": "GB"}
	s.post("/v1/customers", c)
	_, err := s.store.RecordConsent(context.Background(), "c_1", "sms", "opted_in", "test", store.Evidence{})
	require.NoError(t, err)
	s.post("/v1/events", orderPlaced("evt-1", "c_1", false))
	s.post("/v1/events", map[string]any{"id": "evt-2", "type": "order.delivered", "customer_id": "c_1", "data": map[string]any{"order_id": "o-evt-1"}})
	var sms fakes.Message
	s.waitFor("the survey text", func() bool {
		for _, m := range s.outbox() {
			if m.Channel == "sms" {
				sms = m
				return true
			}
		}
		return false
	})
	assert.Equal(t, "+447911123456", sms.To)
	assert.Equal(t, "c_1", sms.CustomerID)
	assert.Equal(t, "satisfaction-check", sms.Journey)
	assert.Equal(t, "ask", sms.Step)
	assert.Regexp(t, `^The Shop: hi Ada, how did your order go\? 10 seconds: http://\S+/survey/\S+ Choose what we send: http://\S+/preferences/\S+ Reply STOP to opt out\.$`, sms.Text)
}

// TestDateJourneyEndToEnd: a yearly renewal-date journey on the real
// stack: the customer lives where it is now between 09:00 and 12:00, their
// renewal is in a week, so an audience run of the journey (as its
// quarter-hourly schedule would) enters them under the date's key and the
// reminder email goes out naming the date.
func TestDateJourneyEndToEnd(t *testing.T) {
	s := startStack(t, "../../docs/examples")
	now := time.Now().UTC()
	// Etc/GMT-k is UTC+k: pick k so the local hour is 10.
	k := 10 - now.Hour()
	if k < -12 {
		k += 24
	}
	if k > 14 {
		k -= 24
	}
	zone := fmt.Sprintf("Etc/GMT%+d", -k)
	if k == 0 {
		zone = "Etc/GMT"
	}
	loc, err := time.LoadLocation(zone)
	require.NoError(t, err)
	renews := now.In(loc).AddDate(0, 0, 7).Format(time.DateOnly)
	t.Logf("now %s UTC; customer in %s (%s local); renews %s", now.Format("15:04"), zone, now.In(loc).Format("15:04"), renews)
	c := customer("c_1", "ada@example.com")
	c["time_zone"] = zone
	c["attributes"] = map[string]any{"renewal_date": "2020-" + renews[5:]} // a leap year: 29 February is a date
	status, body := s.post("/v1/customers", c)
	require.Equal(t, http.StatusCreated, status, body)
	other := customer("c_2", "bob@example.com") // renews next month
	other["attributes"] = map[string]any{"renewal_date": now.AddDate(0, 1, 0).Format(time.DateOnly)}
	s.post("/v1/customers", other)

	t.Setenv("RAPPORT_API_KEY", s.APIKey)
	out, errOut, err := run("audience", "run", "--api="+s.APIURL, "renewal-reminder")
	require.NoError(t, err, errOut)
	assert.Contains(t, out, "1 match", "the quarter-hourly schedule may have entered her first; either way, once")

	id := workflows.WorkflowID("renewal-reminder", "c_1", "date-"+renews)
	s.waitFor("the reminder", func() bool { return len(s.messagesTo("c_1")) > 0 })
	msgs := s.messagesTo("c_1")
	require.Len(t, msgs, 1)
	assert.Equal(t, "Your plan renews on "+renews, msgs[0].Subject)
	assert.Equal(t, "renewal-reminder", msgs[0].Journey)
	r, err := s.store.GetRun(context.Background(), id)
	require.NoError(t, err, "the run is keyed by the date it is about")
	assert.Equal(t, "date-"+renews, r.EntryKey)
	assert.Empty(t, s.messagesTo("c_2"))
}
