//go:build !production

package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/fakes"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

// TestAnSMSRatingOfTwoStopsTheReviewRequest: on the dev stack, a customer
// rates an order 2 by text (rate-by-text records the answer, with the
// order of the delivery that started it); the review request for that
// order, waiting two days, ends at once and never goes. Another customer
// rating 5 gets theirs. (Before, the recorded answer carried no order and
// the review went out 1.8 s after the score-2 answer.)
func TestAnSMSRatingOfTwoStopsTheReviewRequest(t *testing.T) {
	s := startStack(t, "testdata/rating", withDay(slowDay))
	for _, c := range []struct{ id, phone string }{{"c_1", "+44 7911 123456"}, {"c_2", "+44 7911 123457"}} {
		body := customer(c.id, c.id+"@example.com")
		body["phone"] = c.phone
		s.post("/v1/customers", body)
		// Texts at any hour and no cap in the way: this test is about the
		// answer, not about when the contact rules let it go.
		status, prefs := s.put("/v1/customers/"+c.id+"/preferences", map[string]any{
			"channels":  map[string]any{"sms": map[string]any{"consent": "opted_in", "quiet_hours": nil}},
			"frequency": map[string]any{"caps": []any{map[string]any{"channel": "all", "max": 100, "per": "1d"}}},
			"evidence":  map[string]any{"source": "test"},
		})
		require.Equal(t, http.StatusOK, status, prefs)
		s.post("/v1/events", orderPlaced("evt-"+c.id, c.id, false))
		status, body2 := s.post("/v1/events", map[string]any{"id": "del-" + c.id, "type": "order.delivered", "customer_id": c.id,
			"data": map[string]any{"order_id": "o-evt-" + c.id}})
		require.Equal(t, http.StatusAccepted, status, body2)
	}
	defer func() {
		if t.Failed() {
			for _, id := range []string{"rapport/rate-by-text/c_2/del-c_2", "rapport/review-request/c_1/del-c_1"} {
				t.Logf("%s: %+v", id, s.state(id))
			}
			for _, m := range s.outbox() {
				t.Logf("outbox: %s %s %s %s", m.Channel, m.Journey, m.CustomerID, m.To)
			}
		}
	}()
	s.waitFor("both rating texts", func() bool {
		n := 0
		for _, m := range s.outbox() {
			if m.Journey == "rate-by-text" {
				n++
			}
		}
		return n == 2
	})

	reply := func(from, sid, text string) {
		form := url.Values{"From": {from}, "To": {devTwilioFrom}, "Body": {text}, "MessageSid": {sid}}
		u := s.APIURL + "/webhooks/twilio/inbound"
		req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", twilioSign(devTwilioToken, u, form))
		resp, err := s.http.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}
	reply("+447911123456", "SM-rate-1", "2")
	reply("+447911123457", "SM-rate-2", "5")

	unhappy := s.waitForRun("rapport/review-request/c_1/del-c_1")
	assert.Equal(t, workflows.Exited, unhappy.Outcome, "the score-2 answer about that order ended the review request")
	run, err := s.store.GetRun(context.Background(), "rapport/review-request/c_1/del-c_1")
	require.NoError(t, err)
	assert.Contains(t, run.Outcome, "exit_when matched survey.answered event")

	answers, err := s.store.CustomerFacts(context.Background(), "c_1", time.Now())
	require.NoError(t, err)
	require.Len(t, answers.Surveys, 1)
	assert.Equal(t, "o-evt-c_1", answers.Surveys[0].OrderID, "the answer keeps its order")
	assert.Equal(t, int64(2), answers.Surveys[0].Score)
	assert.Equal(t, "satisfaction", answers.Surveys[0].Survey)
	assert.Equal(t, "sms", answers.Surveys[0].Source)

	// The happy customer's review request waits on; it goes when its wait
	// ends.
	s.skipWait("rapport/review-request/c_2/del-c_2", "settle_in")
	happy := s.waitForRun("rapport/review-request/c_2/del-c_2")
	assert.Equal(t, workflows.Completed, happy.Outcome)
	var reviews []fakes.Message
	for _, m := range s.outbox() {
		if m.Journey == "review-request" {
			reviews = append(reviews, m)
		}
	}
	require.Len(t, reviews, 1, "only the happy customer is asked for a review")
	assert.Equal(t, "c_2", reviews[0].CustomerID)
}

// TestACancelledOrderFeedsNoRecommendations: on the dev stack, a
// customer orders sencha and cancels it; a later gift order's suggestions
// come from what they bought for themselves before, never from the
// cancelled sencha (before, its complements were suggested).
func TestACancelledOrderFeedsNoRecommendations(t *testing.T) {
	s := startStack(t, "../../journeys", withDay(slowDay))
	status, body := s.post("/v1/products", map[string]any{"products": []any{
		map[string]any{"id": "tea", "name": "Earl Grey tea", "price": 8.5, "currency": "GBP"},
		map[string]any{"id": "pot", "name": "Blue teapot", "price": 32, "currency": "GBP", "url": "https://shop.example/pot"},
		map[string]any{"id": "sencha", "name": "Sencha", "price": 9, "currency": "GBP"},
		map[string]any{"id": "strainer", "name": "Tea strainer", "price": 5, "currency": "GBP"},
		map[string]any{"id": "cup", "name": "Stoneware cup", "price": 12, "currency": "GBP"},
		map[string]any{"id": "honey", "name": "Wildflower honey", "price": 7, "currency": "GBP"},
		map[string]any{"id": "mug", "name": "Gift mug", "price": 10, "currency": "GBP"},
	}})
	require.Equal(t, http.StatusOK, status, body)
	status, body = s.post("/v1/products", map[string]any{"products": []any{
		map[string]any{"id": "tea", "name": "Earl Grey tea", "complements": map[string]any{"pot": 0.9}},
		map[string]any{"id": "sencha", "name": "Sencha", "complements": map[string]any{"strainer": 0.9, "cup": 0.6, "honey": 0.3}},
	}})
	require.Equal(t, http.StatusOK, status, body)
	s.post("/v1/customers", customer("c_1", "ada@example.com"))
	// Her own taste: Earl Grey, a month ago.
	s.post("/v1/orders", map[string]any{"id": "o-old", "customer_id": "c_1", "placed_at": time.Now().AddDate(0, -1, 0).UTC().Format(time.RFC3339),
		"total": 8.5, "currency": "GBP", "items": []any{map[string]any{"product_id": "tea", "name": "Earl Grey tea", "quantity": 1, "price": 8.5}}})
	s.post("/v1/events", map[string]any{"id": "evt-sencha", "type": "order.placed", "customer_id": "c_1",
		"data": map[string]any{"order": map[string]any{"id": "o-sencha", "total": 9, "currency": "GBP",
			"items": []any{map[string]any{"product_id": "sencha", "name": "Sencha", "quantity": 1, "price": 9}}}}})
	status, body = s.post("/v1/events", map[string]any{"id": "evt-cancel", "type": "order.cancelled", "customer_id": "c_1", "data": map[string]any{"order_id": "o-sencha"}})
	require.Equal(t, http.StatusAccepted, status, body)
	assert.Equal(t, workflows.Exited, s.waitForRun("rapport/complementary-products/c_1/evt-sencha").Outcome, "the cancellation ends the sencha's suggestions")

	s.post("/v1/events", map[string]any{"id": "evt-gift", "type": "order.placed", "customer_id": "c_1",
		"data": map[string]any{"order": map[string]any{"id": "o-gift", "total": 10, "currency": "GBP", "gift": true,
			"items": []any{map[string]any{"product_id": "mug", "name": "Gift mug", "quantity": 1, "price": 10}}}}})
	s.post("/v1/events", map[string]any{"id": "evt-gift-del", "type": "order.delivered", "customer_id": "c_1", "data": map[string]any{"order_id": "o-gift"}})
	id := "rapport/complementary-products/c_1/evt-gift"
	run, err := s.store.GetRun(context.Background(), id)
	require.NoError(t, err)
	if run.Arm == store.ArmHoldout {
		t.Fatalf("c_1 is in complementary-products' control group: choose another customer id for this test")
	}
	s.skipWait(id, "let_them_enjoy_it")
	assert.Equal(t, workflows.Completed, s.waitForRun(id).Outcome)
	var m fakes.Message
	for _, x := range s.messagesTo("c_1") {
		if x.Journey == "complementary-products" {
			m = x
		}
	}
	require.NotEmpty(t, m.Text, "a suggestion went, from her own earlier order")
	assert.Contains(t, m.Text, "Blue teapot")
	for _, p := range []string{"Tea strainer", "Stoneware cup", "Wildflower honey"} {
		assert.NotContains(t, m.Text, p, "the cancelled sencha feeds no suggestion")
	}
	o, err := s.store.GetOrder(context.Background(), "o-sencha")
	require.NoError(t, err)
	assert.Equal(t, "cancelled", o.Status)
}

// TestTheSunsetExampleCountsOnlyAPersonsOpens: on the dev stack with the
// examples, three customers were first emailed long ago. One has only
// machine opens (Apple Mail fetching images), one clicked twenty days ago,
// one was first emailed a month ago. SendGrid's signed events reach the
// API; the sunset journey's audience run enters only the first, asks
// them, and after its two weeks (skipped here) emits email.sunset with
// the facts it read.
func TestTheSunsetExampleCountsOnlyAPersonsOpens(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	require.NoError(t, err)
	t.Setenv("SENDGRID_WEBHOOK_PUBLIC_KEY", base64.StdEncoding.EncodeToString(pub))
	s := startStack(t, "../../docs/examples", withDay(slowDay))
	ctx := context.Background()
	ago := func(d time.Duration) int64 { return time.Now().Add(-d).Unix() }
	const day = 24 * time.Hour

	var events []map[string]any
	for _, c := range []struct {
		id    string
		since time.Duration // first emailed
	}{{"c_machine", 200 * day}, {"c_clicker", 200 * day}, {"c_new", 30 * day}} {
		status, body := s.post("/v1/customers", customer(c.id, c.id+"@example.com"))
		require.Equal(t, http.StatusCreated, status, body)
		// An email sent long before this test: the outbox row, as the
		// worker leaves it, and SendGrid's events about it, dated then.
		m := store.Message{IdempotencyKey: "old-" + c.id, WorkflowID: "rapport/newsletter/" + c.id + "/e", Journey: "newsletter",
			StepID: "send", CustomerID: c.id, Channel: "email", Template: "newsletter", Purpose: "marketing", Topic: "offers", Recipient: c.id + "@example.com"}
		claim, _, err := s.store.ClaimWithGate(ctx, m, false, time.Now(), func(store.GateInput) store.Gate { return store.Gate{Allow: true} })
		require.NoError(t, err)
		require.True(t, claim.Send)
		out, err := s.store.FinishSend(ctx, m.IdempotencyKey, store.Outcome{Status: store.MessageSent, Provider: "sendgrid", ProviderMessageID: "sg-" + c.id})
		require.NoError(t, err)
		// Sent then: it counts toward no cap today.
		_, err = s.db().Exec(ctx, `UPDATE messages SET created_at = $2, updated_at = $2, sent_at = $2, policy_at = $2 WHERE id = $1`, out.ID, time.Now().Add(-c.since))
		require.NoError(t, err)
		events = append(events,
			map[string]any{"sg_event_id": "p-" + c.id, "event": "processed", "message_id": out.ID, "timestamp": ago(c.since)},
			map[string]any{"sg_event_id": "d-" + c.id, "event": "delivered", "message_id": out.ID, "timestamp": ago(c.since)})
		for i := range 3 {
			events = append(events, map[string]any{"sg_event_id": fmt.Sprintf("m%d-%s", i, c.id), "event": "open",
				"sg_machine_open": true, "message_id": out.ID, "timestamp": ago(time.Duration(i+1) * day)})
		}
		if c.id == "c_clicker" {
			events = append(events, map[string]any{"sg_event_id": "k-" + c.id, "event": "click", "message_id": out.ID, "timestamp": ago(20 * day)})
		}
	}
	body, err := json.Marshal(events)
	require.NoError(t, err)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req, err := http.NewRequest(http.MethodPost, s.APIURL+"/webhooks/sendgrid", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("X-Twilio-Email-Event-Webhook-Signature", sendgridSign(t, key, ts, body))
	req.Header.Set("X-Twilio-Email-Event-Webhook-Timestamp", ts)
	resp, err := s.http.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	status, run := s.post("/v1/journeys/email-sunset/audience-runs", nil)
	require.Equal(t, http.StatusOK, status, run)
	wid := "rapport/email-sunset/c_machine/" + run["entry_key"].(string)
	assert.Equal(t, []any{wid}, run["runs"], "only the customer with nothing but machine opens")
	defer func() {
		if t.Failed() {
			t.Logf("%s: %+v", wid, s.state(wid))
			for _, m := range s.outbox() {
				t.Logf("outbox: %s %s %s %s", m.Channel, m.Journey, m.CustomerID, m.To)
			}
		}
	}()

	s.waitFor("the sunset question", func() bool { return len(s.messagesTo("c_machine")) == 1 })
	assert.Equal(t, "email-sunset", s.messagesTo("c_machine")[0].Journey)
	s.skipWait(wid, "wait_for_them")
	assert.Equal(t, workflows.Completed, s.waitForRun(wid).Outcome)

	var data []byte
	require.NoError(t, s.db().QueryRow(ctx, `SELECT data FROM events WHERE type = 'email.sunset' AND customer_id = 'c_machine'`).Scan(&data))
	var sunset map[string]any
	require.NoError(t, json.Unmarshal(data, &sunset))
	assert.EqualValues(t, 3, sunset["machine_opens_30d"], "the machine's opens are counted apart")
	assert.GreaterOrEqual(t, sunset["days_since_first_sent"], float64(199))
	var others int
	require.NoError(t, s.db().QueryRow(ctx, `SELECT count(*) FROM events WHERE type = 'email.sunset'`).Scan(&others))
	assert.Equal(t, 1, others, "the clicker and the newcomer are not sunset")
	assert.Empty(t, s.messagesTo("c_clicker"))
	assert.Empty(t, s.messagesTo("c_new"))
}
