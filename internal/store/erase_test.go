package store_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/money"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/store/storetest"
)

// The erased customer's personal data, each a string found nowhere else:
// after erasure, none may be left anywhere in the database.
var erasedStrings = []string{
	"c_jane_erase",               // the id itself (messages keep a hash instead)
	"jane.erase@example.com",     // email
	"Jane Eraseworthy",           // name
	"+44 7700 900461",            // phone
	"+447700900461",              // phone, E.164
	"17 Forgetme Lane",           // street
	"203.0.113.77",               // consent evidence IP
	"EraseBrowser/9.1",           // user agent
	"Yes, email me Erasure news", // text shown
	"Moonlit Lantern",            // an order item's name
	"gift for my wife Jane",      // event data
	"WINBACK-JANE-SECRET",        // voucher code
	"Jane, we miss you",          // message subject
	"loved the lantern",          // survey comment
	"prefers calls after six",    // task notes
	"Call Jane about lanterns",   // task brief
}

// seedErasable stores a customer with every kind of record Rapport keeps
// about a customer, and a journey run of theirs (running). It returns the
// run's workflow id.
func seedErasable(t *testing.T, s *store.Store) string {
	t.Helper()
	ctx := context.Background()
	const id = "c_jane_erase"
	_, err := s.UpsertCustomer(ctx, store.Customer{ID: id, Email: "Jane.Erase@example.com", Phone: "+44 7700 900461", PhoneE164: "+447700900461",
		Name: "Jane Eraseworthy", Locale: "en-GB", TimeZone: "Europe/London",
		Address:    store.Address{Line1: "17 Forgetme Lane", City: "London", PostalCode: "SW1A 1AA", Country: "GB"},
		Attributes: map[string]any{"nickname": "Jane Eraseworthy"}})
	require.NoError(t, err)
	// Another customer, who must keep everything.
	_, err = s.UpsertCustomer(ctx, store.Customer{ID: "c_keep", Email: "keep@example.com", Name: "Kept Customer"})
	require.NoError(t, err)

	placed := time.Now().Add(-time.Hour)
	data, _ := json.Marshal(map[string]any{"note": "gift for my wife Jane", "order": map[string]any{"id": "o_jane"}})
	_, _, err = s.RecordEvent(ctx, store.Event{ID: "evt_jane_1", Type: "order.placed", CustomerID: id, OccurredAt: placed, Data: data},
		&store.Order{ID: "o_jane", CustomerID: id, Total: money.MustParse("42"), Currency: "GBP", PlacedAt: placed,
			Items: []store.Item{{ProductID: "lantern", Name: "Moonlit Lantern", Quantity: 1, Price: money.MustParse("42")}}})
	require.NoError(t, err)
	_, _, err = s.RecordEvent(ctx, store.Event{ID: "evt_keep_1", Type: "page.viewed", CustomerID: "c_keep", OccurredAt: placed}, nil)
	require.NoError(t, err)

	wid := "rapport/lapse-winback/c_jane_erase/2026-06"
	require.NoError(t, s.RegisterRun(ctx, store.Run{WorkflowID: wid, Journey: "lapse-winback", CustomerID: id, PlanHash: "h", Listens: true, TriggerEventID: "evt_jane_1"}))
	require.NoError(t, s.RecordWebhook(ctx, "sendgrid", "sg_jane_click", store.Engaged{Kind: store.EmailClicked, CustomerID: id}))

	allow := func(store.GateInput) store.Gate { return store.Gate{Allow: true} }
	claim, _, err := s.ClaimWithGate(ctx, store.Message{IdempotencyKey: wid + "#email_offer#email", WorkflowID: wid, Journey: "lapse-winback",
		StepID: "email_offer", CustomerID: id, Channel: "email", Template: "winback-offer", Purpose: "marketing", Topic: "offers",
		Recipient: "jane.erase@example.com", Subject: "Jane, we miss you", Details: map[string]any{"voucher": "WINBACK-JANE-SECRET"}}, false, time.Now(), allow)
	require.NoError(t, err)
	require.True(t, claim.Send)
	_, err = s.FinishSend(ctx, wid+"#email_offer#email", store.Outcome{Status: store.MessageSent, Provider: "sendgrid", ProviderMessageID: "sg-jane-1"})
	require.NoError(t, err)
	// A postcard that failed, with the address in its reason.
	_, err = s.FailUnsent(ctx, store.Message{IdempotencyKey: wid + "#postcard#mail", WorkflowID: wid, Journey: "lapse-winback", StepID: "postcard",
		CustomerID: id, Channel: "mail", Template: "winback-postcard", Purpose: "marketing", Recipient: "17 Forgetme Lane, London, SW1A 1AA, GB"},
		"address 17 Forgetme Lane undeliverable")
	require.NoError(t, err)

	_, err = s.IssueVoucher(ctx, store.Voucher{Code: "WINBACK-JANE-SECRET", CustomerID: id, WorkflowID: wid, StepID: "email_offer", Kind: "percent", Value: money.MustParse("15"), ExpiresAt: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	_, _, err = s.AnswerSurvey(ctx, store.SurveyAnswer{SurveyID: "survey_jane", CustomerID: id, WorkflowID: wid, StepID: "ask", Score: 5, Comment: "loved the lantern"})
	require.NoError(t, err)
	task, err := s.CreateTask(ctx, store.Task{ID: "task_jane", WorkflowID: wid, Journey: "lapse-winback", StepID: "call", CustomerID: id, Kind: "phone_call",
		Queue: "retention", Brief: "Call Jane about lanterns", Outcomes: []string{"reached"}, DueAt: time.Now().Add(time.Hour),
		Context: map[string]any{"customer": map[string]any{"name": "Jane Eraseworthy", "phone": "+44 7700 900461"}}})
	require.NoError(t, err)
	_, err = s.CompleteTask(ctx, task.ID, "reached", "prefers calls after six", "support")
	require.NoError(t, err)
	require.NoError(t, s.RecordSplit(ctx, store.SplitAssignment{WorkflowID: wid, StepID: "split", Journey: "lapse-winback", CustomerID: id, Path: "a"}))

	ev := store.Evidence{Shown: "Yes, email me Erasure news", IP: "203.0.113.77", UserAgent: "EraseBrowser/9.1"}
	_, err = s.RecordConsent(ctx, id, "email", "opted_in", "preference center", ev)
	require.NoError(t, err)
	_, err = s.RecordTopic(ctx, id, "offers", false, "preference center", ev)
	require.NoError(t, err)
	require.NoError(t, s.SaveSettings(ctx, id, []string{"email"}, map[string]store.QuietHours{"sms": {Start: "21:00", End: "08:00"}}, nil))

	// Jane unsubscribed her email, and her number replied STOP.
	require.NoError(t, s.Suppress(ctx, store.Suppression{Channel: "email", Address: "Jane.Erase@example.com", Reason: "unsubscribed", Source: "sendgrid"}))
	require.NoError(t, s.Suppress(ctx, store.Suppression{Channel: "sms", Address: "+447700900461", Reason: "STOP: replied STOP from +447700900461", Source: "twilio"}))
	require.NoError(t, s.Suppress(ctx, store.Suppression{Channel: "email", Address: "keep@example.com", Reason: "bounced", Source: "sendgrid"}))
	return wid
}

func TestRemoveCustomerDataLeavesNothingOfThem(t *testing.T) {
	t.Parallel()
	s, url := storetest.New(t)
	db := storetest.DB(t, url)
	ctx := context.Background()
	wid := seedErasable(t, s)
	before := storetest.Dump(t, url)
	for _, str := range erasedStrings {
		require.Contains(t, before, str, "the seed stores %q, so its absence later means something", str)
	}

	er, created, err := s.BeginErasure(ctx, "c_jane_erase", "rapport-erase/x", "key dpo", "asked by email")
	require.NoError(t, err)
	assert.True(t, created)
	again, created, err := s.BeginErasure(ctx, "c_jane_erase", "rapport-erase/x", "key dpo", "asked twice")
	require.NoError(t, err)
	assert.False(t, created, "one erasure at a time")
	assert.Equal(t, er.ID, again.ID)

	// From now on, events for Jane are refused and nothing goes to her.
	erased, err := s.Erased(ctx, "c_jane_erase")
	require.NoError(t, err)
	assert.True(t, erased)
	_, _, err = s.RecordEvent(ctx, store.Event{ID: "evt_jane_2", Type: "page.viewed", CustomerID: "c_jane_erase", OccurredAt: time.Now()}, nil)
	assert.ErrorIs(t, err, store.ErrErased)
	_, err = s.RecordEvents(ctx, []store.NewEvent{{Event: store.Event{ID: "evt_jane_3", Type: "page.viewed", CustomerID: "c_jane_erase", OccurredAt: time.Now()}}})
	assert.ErrorIs(t, err, store.ErrErased)
	among, err := s.ErasedAmong(ctx, []string{"c_keep", "c_jane_erase", "c_jane_erase"})
	require.NoError(t, err)
	assert.Equal(t, map[string]bool{"c_jane_erase": true}, among)
	claim, gate, err := s.ClaimWithGate(ctx, store.Message{IdempotencyKey: wid + "#late#email", WorkflowID: wid, Journey: "lapse-winback", StepID: "late",
		CustomerID: "c_jane_erase", Channel: "email", Template: "t", Purpose: "marketing", Recipient: "jane.erase@example.com", Subject: "Jane, we miss you"},
		false, time.Now(), func(store.GateInput) store.Gate { return store.Gate{Allow: true} })
	require.NoError(t, err)
	assert.False(t, claim.Send, "nothing is sent to a customer being erased")
	assert.Equal(t, store.MessageSkipped, claim.Message.Status)
	assert.Equal(t, "the customer was erased", gate.Reason)
	_, err = s.MessagesOfWorkflow(ctx, wid)
	require.NoError(t, err)

	// While a run of hers runs, nothing is removed.
	scrub, err := s.RemoveCustomerData(ctx, er.ID, "c_jane_erase", nil)
	require.NoError(t, err)
	assert.Equal(t, []string{wid}, scrub.Waiting)
	_, err = s.GetCustomer(ctx, "c_jane_erase")
	require.NoError(t, err, "nothing removed yet")
	require.NoError(t, s.FinishRun(ctx, wid, store.RunExited, "exited by key dpo: customer erased"))
	scrub, err = s.RemoveCustomerData(ctx, er.ID, "c_jane_erase", nil)
	require.NoError(t, err)
	assert.Equal(t, []string{wid}, scrub.Waiting, "a run whose execution was not deleted holds it back too")

	scrub, err = s.RemoveCustomerData(ctx, er.ID, "c_jane_erase", []string{wid})
	require.NoError(t, err)
	assert.Empty(t, scrub.Waiting)
	assert.Positive(t, scrub.Rows)
	assert.Equal(t, 2, scrub.Addresses, "her email and her number stay suppressed, as hashes")

	dump := storetest.Dump(t, url)
	for _, str := range erasedStrings {
		assert.Empty(t, storetest.LinesWith(dump, str), "no table may keep %q, in any case", str)
	}
	for _, kept := range []string{"keep@example.com", "Kept Customer", "evt_keep_1", "asked by email", "key dpo"} {
		assert.Contains(t, dump, kept, "what is not hers stays, and so does the erasure record")
	}

	// The outbox keeps counts: how many messages, on which channels, how
	// they ended.
	var n int
	var channels []string
	require.NoError(t, db.QueryRow(ctx, `SELECT count(*), array_agg(channel || ':' || status ORDER BY channel) FROM messages WHERE customer_id LIKE 'erased:%'`).Scan(&n, &channels))
	assert.Equal(t, 2, n)
	assert.Equal(t, []string{"email:sent", "mail:failed"}, channels)

	// Running it again finds nothing more to do.
	scrub, err = s.RemoveCustomerData(ctx, er.ID, "c_jane_erase", []string{wid})
	require.NoError(t, err)
	assert.Zero(t, scrub.Rows, "a second run changes nothing")
	assert.Equal(t, 0, scrub.Addresses)

	done, err := s.FinishErasure(ctx, er.ID)
	require.NoError(t, err)
	assert.True(t, done.Done())
	assert.Equal(t, store.ErasureDone, done.Stage)
	latest, err := s.LatestErasure(ctx, "c_jane_erase")
	require.NoError(t, err)
	assert.Equal(t, er.ID, latest.ID)
	assert.Equal(t, "asked by email", latest.Reason)
	assert.Equal(t, "key dpo", latest.RequestedBy)
	assert.NotContains(t, latest.CustomerHash, "jane")
	erased, err = s.Erased(ctx, "c_jane_erase")
	require.NoError(t, err)
	assert.True(t, erased, "still refused after the erasure ends, until she registers again")
}

func TestErasedAddressStaysSuppressedWhenItComesBack(t *testing.T) {
	t.Parallel()
	s, url := storetest.New(t)
	db := storetest.DB(t, url)
	ctx := context.Background()
	wid := seedErasable(t, s)
	require.NoError(t, s.FinishRun(ctx, wid, store.RunExited, "customer erased"))
	er, _, err := s.BeginErasure(ctx, "c_jane_erase", "rapport-erase/x", "key dpo", "asked")
	require.NoError(t, err)
	_, err = s.RemoveCustomerData(ctx, er.ID, "c_jane_erase", []string{wid})
	require.NoError(t, err)
	_, err = s.FinishErasure(ctx, er.ID)
	require.NoError(t, err)

	// She registers again, same id, same address (in another case).
	created, err := s.UpsertCustomer(ctx, store.Customer{ID: "c_jane_erase", Email: "JANE.ERASE@example.com", Phone: "+447700900461", Name: "Jane"})
	require.NoError(t, err)
	assert.True(t, created, "a new registration")
	erased, err := s.Erased(ctx, "c_jane_erase")
	require.NoError(t, err)
	assert.False(t, erased, "events are taken again")
	_, inserted, err := s.RecordEvent(ctx, store.Event{ID: "evt_jane_new", Type: "page.viewed", CustomerID: "c_jane_erase", OccurredAt: time.Now()}, nil)
	require.NoError(t, err)
	assert.True(t, inserted)
	facts, err := s.CustomerFacts(ctx, "c_jane_erase", time.Now())
	require.NoError(t, err)
	assert.Zero(t, facts.OrdersCount, "none of the old history")
	prefs, err := s.GetPreferences(ctx, "c_jane_erase")
	require.NoError(t, err)
	assert.Empty(t, prefs.Consent)
	assert.Empty(t, prefs.Topics)

	// Her unsubscribe still holds, found through the hash.
	sup, err := s.Suppressed(ctx, "email", "jane.erase@EXAMPLE.com")
	require.NoError(t, err)
	assert.Equal(t, "unsubscribed", sup.Reason)
	assert.Equal(t, "jane.erase@example.com", sup.Address)
	_, err = s.Suppressed(ctx, "sms", "+447700900461")
	require.NoError(t, err)
	var gateSaw string
	claim, _, err := s.ClaimWithGate(ctx, store.Message{IdempotencyKey: "w2#s#email", WorkflowID: "w2", Journey: "j", StepID: "s", CustomerID: "c_jane_erase",
		Channel: "email", Template: "t", Purpose: "marketing", Recipient: "JANE.ERASE@example.com"}, false, time.Now(),
		func(in store.GateInput) store.Gate {
			gateSaw = in.Suppression
			return store.Gate{Reason: "suppressed: " + in.Suppression}
		})
	require.NoError(t, err)
	assert.False(t, claim.Send)
	assert.Equal(t, "unsubscribed", gateSaw, "the contact decision sees the hashed suppression")
	var plain int
	require.NoError(t, db.QueryRow(ctx, `SELECT count(*) FROM suppressions WHERE address LIKE '%jane%'`).Scan(&plain))
	assert.Zero(t, plain, "the suppression list holds her address only as a hash")
	require.NoError(t, db.QueryRow(ctx, `SELECT count(*) FROM suppression_events WHERE reason LIKE '%7700900461%'`).Scan(&plain))
	assert.Zero(t, plain, "a reason that quoted the number keeps its category only")

	// A late complaint about the erased address does not bring it back in
	// plain text: it is suppressed already, as a hash.
	require.NoError(t, s.Suppress(ctx, store.Suppression{Channel: "email", Address: "jane.erase@example.com", Reason: "spam report", Source: "sendgrid"}))
	require.NoError(t, db.QueryRow(ctx, `SELECT (SELECT count(*) FROM suppressions WHERE address LIKE '%jane%') + (SELECT count(*) FROM suppression_events WHERE address LIKE '%jane%')`).Scan(&plain))
	assert.Zero(t, plain)

	// Lifting it (she texts START) lifts the hashed entry too.
	require.NoError(t, s.Unsuppress(ctx, "sms", "+447700900461"))
	_, err = s.Suppressed(ctx, "sms", "+447700900461")
	assert.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.Suppressed(ctx, "email", "keep@example.com")
	require.NoError(t, err, "another customer's suppression is untouched")
}

func TestErasureNeedsTheHashKey(t *testing.T) {
	t.Parallel()
	_, url := storetest.New(t)
	ctx := context.Background()
	s, err := store.Open(ctx, url)
	require.NoError(t, err)
	defer s.Close()
	assert.False(t, s.CanErase())
	_, _, err = s.BeginErasure(ctx, "c_1", "w", "key k", "asked")
	assert.ErrorIs(t, err, store.ErrNoHashKey)
	assert.Contains(t, err.Error(), "RAPPORT_SECRET")
	erased, err := s.Erased(ctx, "c_1")
	require.NoError(t, err)
	assert.False(t, erased)

	k1, err := store.Open(ctx, url, store.WithHashKey([]byte("one")))
	require.NoError(t, err)
	defer k1.Close()
	k2, err := store.Open(ctx, url, store.WithHashKey([]byte("two")))
	require.NoError(t, err)
	defer k2.Close()
	h1, err := k1.CustomerHash("c_1")
	require.NoError(t, err)
	h2, _ := k2.CustomerHash("c_1")
	assert.NotEqual(t, h1, h2, "the hash is keyed")
	assert.Len(t, h1, 32)
	assert.Equal(t, k1.HashedAddress("email", "A@Example.com"), k1.HashedAddress("email", " a@example.com"), "addresses are normalized before hashing")
}

// TestErasureCoversEveryTable fails when a table is added to the schema
// without deciding what erasure does with it (store.ErasureTables).
func TestErasureCoversEveryTable(t *testing.T) {
	t.Parallel()
	_, url := storetest.New(t)
	db := storetest.DB(t, url)
	rows, err := db.Query(context.Background(), `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`)
	require.NoError(t, err)
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	var listed []string
	for name := range store.ErasureTables {
		listed = append(listed, name)
	}
	slices.Sort(tables)
	slices.Sort(listed)
	assert.Equal(t, listed, tables, "add every new table to store.ErasureTables, and erase its customer data in RemoveCustomerData")
}
