package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/money"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/store/storetest"
)

func TestCustomersUpsertAndFacts(t *testing.T) {
	t.Parallel()
	s, _ := storetest.New(t)
	ctx := context.Background()

	c := store.Customer{ID: "c_1", Email: "ada@example.com", Name: "Ada Lovelace", Locale: "en-GB", TimeZone: "Europe/London",
		Address:    store.Address{Line1: "1 St James's Square", City: "London", PostalCode: "SW1Y 4JU", Country: "GB"},
		Attributes: map[string]any{"tier": "gold", "tags": []any{"vip"}}}
	created, err := s.UpsertCustomer(ctx, c)
	require.NoError(t, err)
	assert.True(t, created)
	c.Name = "Ada King"
	created, err = s.UpsertCustomer(ctx, c)
	require.NoError(t, err)
	assert.False(t, created)

	got, err := s.GetCustomer(ctx, "c_1")
	require.NoError(t, err)
	assert.Equal(t, "Ada King", got.Name)
	assert.Equal(t, "Ada", got.FirstName())
	assert.True(t, got.Address.Complete())
	_, err = s.GetCustomer(ctx, "nobody")
	assert.ErrorIs(t, err, store.ErrNotFound)

	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	for i, placed := range []time.Time{now.AddDate(0, 0, -100), now.AddDate(0, 0, -30), now.AddDate(0, 0, 5)} {
		_, _, err := s.RecordEvent(ctx, store.Event{ID: "e" + string(rune('a'+i)), Type: "order.placed", CustomerID: "c_1", OccurredAt: placed},
			&store.Order{ID: "o" + string(rune('a'+i)), CustomerID: "c_1", Total: money.MustParse("10.5"), Currency: "GBP", PlacedAt: placed,
				Items: []store.Item{{ProductID: "p", Name: "Tea", Quantity: 1, Price: money.MustParse("10.5")}}})
		require.NoError(t, err)
	}
	facts, err := s.CustomerFacts(ctx, "c_1", now)
	require.NoError(t, err)
	assert.Equal(t, int64(2), facts.OrdersCount, "orders after now do not count")
	assert.InDelta(t, 21.0, facts.LifetimeValue, 0.001)
	assert.Equal(t, int64(30), facts.DaysSinceLastOrder)
	assert.True(t, facts.HasEmail)
	assert.False(t, facts.HasPhone)
	assert.True(t, facts.HasPostalAddress)
	assert.Equal(t, "GB", facts.Country)
	assert.Equal(t, []string{"vip"}, facts.Tags)
	require.Len(t, facts.Orders, 2, "recent orders placed by now, for conditions")
	assert.Equal(t, []string{"ob", "oa"}, []string{facts.Orders[0].ID, facts.Orders[1].ID}, "newest first")
	assert.Equal(t, journey.Order{ID: "ob", Total: 10.5, Currency: "GBP", PlacedAt: now.AddDate(0, 0, -30),
		Items: []journey.Item{{ProductID: "p", Name: "Tea", Quantity: 1, Price: 10.5}}, Status: "placed"}, facts.Orders[0])

	// Bounded: the latest journey.MaxFactOrders orders, each with its
	// first journey.MaxFactItems items.
	var items []store.Item
	for i := range journey.MaxFactItems + 5 {
		items = append(items, store.Item{ProductID: fmt.Sprintf("p%02d", i), Name: "Tea", Quantity: 1, Price: money.MustParse("1")})
	}
	for i := range journey.MaxFactOrders + 2 {
		placed := now.AddDate(0, 0, -20).Add(time.Duration(i) * time.Hour)
		_, _, err := s.RecordEvent(ctx, store.Event{ID: fmt.Sprintf("big%d", i), Type: "order.placed", CustomerID: "c_1", OccurredAt: placed, Data: json.RawMessage(`{}`)},
			&store.Order{ID: fmt.Sprintf("big%d", i), CustomerID: "c_1", Total: money.MustParse("25"), Currency: "GBP", Gift: i%2 == 0, PlacedAt: placed, Items: items})
		require.NoError(t, err)
	}
	facts, err = s.CustomerFacts(ctx, "c_1", now)
	require.NoError(t, err)
	require.Len(t, facts.Orders, journey.MaxFactOrders)
	assert.Equal(t, fmt.Sprintf("big%d", journey.MaxFactOrders+1), facts.Orders[0].ID)
	assert.True(t, facts.Orders[1].Gift)
	require.Len(t, facts.Orders[0].Items, journey.MaxFactItems)
	assert.Equal(t, "p00", facts.Orders[0].Items[0].ProductID, "in the order's own line order")
}

func TestRecordEventIsIdempotent(t *testing.T) {
	t.Parallel()
	s, _ := storetest.New(t)
	ctx := context.Background()
	_, err := s.UpsertCustomer(ctx, store.Customer{ID: "c_1"})
	require.NoError(t, err)

	e := store.Event{ID: "evt_1", Type: "order.placed", CustomerID: "c_1", OccurredAt: time.Now(), Data: json.RawMessage(`{"order":{"id":"o1"}}`)}
	o := &store.Order{ID: "o1", CustomerID: "c_1", Total: money.MustParse("42"), Currency: "EUR", Gift: true, PlacedAt: time.Now(),
		Items: []store.Item{{ProductID: "p1", Name: "Mug", Quantity: 2, Price: money.MustParse("21")}}}
	stored, inserted, err := s.RecordEvent(ctx, e, o)
	require.NoError(t, err)
	assert.True(t, inserted)
	assert.Nil(t, stored.RoutedAt)

	o.Total = money.MustParse("99")
	_, inserted, err = s.RecordEvent(ctx, e, o)
	require.NoError(t, err)
	assert.False(t, inserted, "the same event id again is a duplicate")
	order, err := s.GetOrder(ctx, "o1")
	require.NoError(t, err)
	assert.Equal(t, "42", order.Total.String(), "a duplicate changes nothing")
	assert.Equal(t, []store.Item{{ProductID: "p1", Name: "Mug", Quantity: 2, Price: money.MustParse("21")}}, order.Items)

	_, _, err = s.RecordEvent(ctx, store.Event{ID: "evt_2", Type: "x", CustomerID: "nobody", OccurredAt: time.Now()}, nil)
	assert.Error(t, err, "events need a known customer")

	unrouted, err := s.UnroutedEvents(ctx, time.Now().Add(time.Minute), 10)
	require.NoError(t, err)
	require.Len(t, unrouted, 1)
	require.NoError(t, s.MarkEventRouted(ctx, "evt_1"))
	unrouted, err = s.UnroutedEvents(ctx, time.Now().Add(time.Minute), 10)
	require.NoError(t, err)
	assert.Empty(t, unrouted)
}

func outboxMessage(key string) store.Message {
	return store.Message{IdempotencyKey: key, WorkflowID: "rapport/j/c_1/e1", Journey: "j", StepID: "s", CustomerID: "c_1",
		Channel: "email", Template: "t", Purpose: "transactional", Recipient: "a@example.com", Subject: "Hi"}
}

// begin claims a message with rules that allow everything.
func begin(ctx context.Context, s *store.Store, m store.Message, resumable bool) (store.Claim, error) {
	c, _, err := s.ClaimWithGate(ctx, m, resumable, time.Now(), func(store.GateInput) store.Gate { return store.Gate{Allow: true} })
	return c, err
}

func TestOutboxSendsOnce(t *testing.T) {
	t.Parallel()
	s, _ := storetest.New(t)
	ctx := context.Background()

	// First attempt claims, a retryable error hands it back, the next
	// attempt claims again and succeeds; later attempts find it sent.
	claim, err := begin(ctx, s, outboxMessage("k1"), false)
	require.NoError(t, err)
	require.True(t, claim.Send)
	_, err = s.FinishSend(ctx, "k1", store.Outcome{Status: store.MessagePending, Reason: "rate limited"})
	require.NoError(t, err)
	claim, err = begin(ctx, s, outboxMessage("k1"), false)
	require.NoError(t, err)
	require.True(t, claim.Send)
	assert.Equal(t, 2, claim.Message.Attempts)
	m, err := s.FinishSend(ctx, "k1", store.Outcome{Status: store.MessageSent, Provider: "sendgrid", ProviderMessageID: "abc"})
	require.NoError(t, err)
	assert.NotNil(t, m.SentAt)
	claim, err = begin(ctx, s, outboxMessage("k1"), false)
	require.NoError(t, err)
	assert.False(t, claim.Send)
	assert.Equal(t, store.MessageSent, claim.Message.Status)
	assert.Equal(t, "abc", claim.Message.ProviderMessageID)

	// An attempt that died after claiming leaves the row in sending: the
	// next one must not send, and says why.
	claim, err = begin(ctx, s, outboxMessage("k2"), false)
	require.NoError(t, err)
	require.True(t, claim.Send)
	claim, err = begin(ctx, s, outboxMessage("k2"), false)
	require.NoError(t, err)
	assert.False(t, claim.Send)
	assert.Equal(t, store.MessageUnknown, claim.Message.Status)
	assert.Contains(t, claim.Message.Reason, "not sent again")
	// ...and if the interrupted attempt reports after all, its outcome wins.
	m, err = s.FinishSend(ctx, "k2", store.Outcome{Status: store.MessageSent, Provider: "sendgrid", ProviderMessageID: "late"})
	require.NoError(t, err)
	assert.Equal(t, store.MessageSent, m.Status)

	// A delivery report that came while the interrupted attempt was in
	// the provider's hands proves it was taken: sent, not in doubt.
	claim, err = begin(ctx, s, outboxMessage("k5"), false)
	require.NoError(t, err)
	require.True(t, claim.Send)
	require.NoError(t, s.RecordDelivery(ctx, claim.Message.ID, "delivered", time.Now()))
	claim, err = begin(ctx, s, outboxMessage("k5"), false)
	require.NoError(t, err)
	assert.False(t, claim.Send)
	assert.Equal(t, store.MessageSent, claim.Message.Status)
	assert.Contains(t, claim.Message.Reason, "settled as sent by the provider's delivery webhook (delivered)")
	assert.NotNil(t, claim.Message.SentAt)

	// In doubt, then proven not sent: pending again, and the next attempt
	// sends; a row that is not unknown is left alone.
	claim, err = begin(ctx, s, outboxMessage("k6"), false)
	require.NoError(t, err)
	_, err = s.FinishSend(ctx, "k6", store.Outcome{Status: store.MessageUnknown, Reason: "504"})
	require.NoError(t, err)
	_, noted, err := s.NoteInDoubt(ctx, claim.Message.ID, "still in doubt")
	require.NoError(t, err)
	assert.True(t, noted)
	reopened, ok, err := s.ReopenInDoubt(ctx, claim.Message.ID, "proven not sent")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, store.MessagePending, reopened.Status)
	_, ok, err = s.ReopenInDoubt(ctx, claim.Message.ID, "again")
	require.NoError(t, err)
	assert.False(t, ok, "only an unknown row is reopened")
	_, ok, err = s.SettleInDoubt(ctx, claim.Message.ID, "a webhook", "")
	require.NoError(t, err)
	assert.False(t, ok, "only an unknown row is settled")
	claim, err = begin(ctx, s, outboxMessage("k6"), false)
	require.NoError(t, err)
	assert.True(t, claim.Send, "sent again")
	assert.Equal(t, 2, claim.Message.Attempts)

	// A provider that deduplicates by key (Lob) may be called again.
	claim, err = begin(ctx, s, outboxMessage("k4"), true)
	require.NoError(t, err)
	require.True(t, claim.Send)
	claim, err = begin(ctx, s, outboxMessage("k4"), true)
	require.NoError(t, err)
	assert.True(t, claim.Send, "resumed with the same key")
	assert.Equal(t, 2, claim.Message.Attempts)

	// Skips are recorded, but never overwrite an outcome.
	m, err = s.SkipSend(ctx, outboxMessage("k3"), "no email address")
	require.NoError(t, err)
	assert.Equal(t, store.MessageSkipped, m.Status)
	m, err = s.SkipSend(ctx, outboxMessage("k1"), "no email address")
	require.NoError(t, err)
	assert.Equal(t, store.MessageSent, m.Status)

	msgs, err := s.MessagesFor(ctx, "c_1")
	require.NoError(t, err)
	assert.Len(t, msgs, 6)

	// What was not sent, newest first, with why: k3 skipped, then k4 and
	// k6 still sending (not listed), k1, k2, k5 sent (not listed).
	unsent, err := s.LatestUnsent(ctx, 10)
	require.NoError(t, err)
	var keys []string
	for _, m := range unsent {
		keys = append(keys, m.IdempotencyKey)
	}
	assert.Equal(t, []string{"k3"}, keys)
	assert.Equal(t, "no email address", unsent[0].Reason)
}

func TestOutboxConcurrentAttemptsSendOnce(t *testing.T) {
	t.Parallel()
	s, _ := storetest.New(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	claims := 0
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := begin(ctx, s, outboxMessage("race"), false)
			if assert.NoError(t, err) && c.Send {
				mu.Lock()
				claims++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, 1, claims)
}

func TestRunRegistry(t *testing.T) {
	t.Parallel()
	s, _ := storetest.New(t)
	ctx := context.Background()
	require.NoError(t, s.RegisterRun(ctx, store.Run{WorkflowID: "w1", Journey: "a", CustomerID: "c_1", PlanHash: "h", Listens: true}))
	require.NoError(t, s.RegisterRun(ctx, store.Run{WorkflowID: "w1", Journey: "a", CustomerID: "c_1", PlanHash: "h", Listens: true}))
	require.NoError(t, s.RegisterRun(ctx, store.Run{WorkflowID: "w2", Journey: "b", CustomerID: "c_1", PlanHash: "h", Listens: false}))
	runs, err := s.RunningListeners(ctx, "c_1", "")
	require.NoError(t, err)
	require.Len(t, runs, 1)
	assert.Equal(t, "w1", runs[0].WorkflowID)
	require.NoError(t, s.FinishRun(ctx, "w1", store.RunExited, "order placed"))
	runs, err = s.RunningListeners(ctx, "c_1", "")
	require.NoError(t, err)
	assert.Empty(t, runs)
	r, err := s.GetRun(ctx, "w1")
	require.NoError(t, err)
	assert.Equal(t, "order placed", r.Outcome)
	assert.NotNil(t, r.EndedAt)
	require.NoError(t, s.RegisterRun(ctx, store.Run{WorkflowID: "w1", Journey: "a", CustomerID: "c_1", PlanHash: "h", Listens: true}))
	r, _ = s.GetRun(ctx, "w1")
	assert.Equal(t, store.RunExited, r.Status, "an ended run stays ended")

	// A run given up as not found is running again when its start is retried.
	require.NoError(t, s.FinishRun(ctx, "w2", store.RunFailed, store.RunNotFound))
	require.NoError(t, s.RegisterRun(ctx, store.Run{WorkflowID: "w2", Journey: "b", CustomerID: "c_1", PlanHash: "h"}))
	r, _ = s.GetRun(ctx, "w2")
	assert.Equal(t, store.RunRunning, r.Status)
	assert.Nil(t, r.EndedAt)
}

// TestOpenSMS: a reply answers the latest text sent to that number in the
// last week whose journey still runs.
func TestOpenSMS(t *testing.T) {
	t.Parallel()
	s, _ := storetest.New(t)
	ctx := context.Background()
	_, err := s.UpsertCustomer(ctx, store.Customer{ID: "c_1", Phone: "+447911123456"})
	require.NoError(t, err)
	send := func(wf, step, to string) {
		t.Helper()
		require.NoError(t, s.RegisterRun(ctx, store.Run{WorkflowID: wf, Journey: "rate", CustomerID: "c_1", PlanHash: "h"}))
		m := store.Message{IdempotencyKey: wf + "#" + step + "#sms", WorkflowID: wf, Journey: "rate", StepID: step, CustomerID: "c_1",
			Channel: "sms", Template: "t", Purpose: "transactional", Recipient: to}
		claim, _, err := s.ClaimWithGate(ctx, m, false, time.Now(), func(store.GateInput) store.Gate { return store.Gate{Allow: true} })
		require.NoError(t, err)
		require.True(t, claim.Send)
		_, err = s.FinishSend(ctx, m.IdempotencyKey, store.Outcome{Status: store.MessageSent, Provider: "twilio"})
		require.NoError(t, err)
	}
	_, ok, err := s.OpenSMS(ctx, "c_1", "+447911123456")
	require.NoError(t, err)
	assert.False(t, ok, "nothing sent yet")

	send("wf-old", "ask", "+447911123456")
	send("wf-new", "ask_again", "+447911123456")
	send("wf-other", "ask", "+447700900123")
	m, ok, err := s.OpenSMS(ctx, "c_1", "+447911123456")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "wf-new", m.WorkflowID, "the latest to that number")
	assert.Equal(t, "ask_again", m.StepID)

	require.NoError(t, s.FinishRun(ctx, "wf-new", store.RunCompleted, ""))
	m, ok, err = s.OpenSMS(ctx, "c_1", "+447911123456")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "wf-old", m.WorkflowID, "a journey that ended answers nothing")
}
