package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/money"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/store/storetest"
)

// seedExportable stores one of every kind of record Rapport keeps about
// c_linus, each carrying a string found nowhere else, and some records of
// another customer, c_other, that his export must not show.
func seedExportable(t *testing.T, s *store.Store) {
	t.Helper()
	ctx := context.Background()
	const id = "c_linus"
	// An earlier erasure of the same id, before he registered again.
	er, _, err := s.BeginErasure(ctx, id, "rapport-erase/old", "key dpo", "asked in 2024")
	require.NoError(t, err)
	_, err = s.FinishErasure(ctx, er.ID)
	require.NoError(t, err)

	_, err = s.UpsertCustomer(ctx, store.Customer{ID: id, Email: "linus.export@example.com", Phone: "+1 415 555 0199", PhoneE164: "+14155550199",
		Name: "Linus Exportson", Locale: "en-US", TimeZone: "America/Los_Angeles",
		Address:    store.Address{Line1: "42 Portability Way", City: "Springfield", State: "IL", PostalCode: "62701", Country: "US"},
		Attributes: map[string]any{"favourite_colour": "export-teal"}})
	require.NoError(t, err)
	_, err = s.UpsertCustomer(ctx, store.Customer{ID: "c_other", Email: "other.secret@example.com", Name: "Other Secretperson"})
	require.NoError(t, err)

	placed := time.Now().Add(-2 * time.Hour)
	_, _, err = s.RecordEvent(ctx, store.Event{ID: "evt_linus_order", Type: "order.placed", CustomerID: id, OccurredAt: placed,
		Data: json.RawMessage(`{"note":"wrap it in export paper"}`)},
		&store.Order{ID: "o_linus", CustomerID: id, Total: money.MustParse("19.5"), Currency: "USD", PlacedAt: placed,
			Items: []store.Item{{ProductID: "blanket", Name: "Security Blanket Deluxe", Quantity: 1, Price: money.MustParse("19.5")}}})
	require.NoError(t, err)
	_, _, err = s.RecordEvent(ctx, store.Event{ID: "evt_other", Type: "order.placed", CustomerID: "c_other", OccurredAt: placed,
		Data: json.RawMessage(`{"note":"other customer's secret note"}`)},
		&store.Order{ID: "o_other", CustomerID: "c_other", Total: money.MustParse("5"), Currency: "USD", PlacedAt: placed,
			Items: []store.Item{{ProductID: "x", Name: "Other Secret Item", Quantity: 1, Price: money.MustParse("5")}}})
	require.NoError(t, err)

	wid := "rapport/lapse-winback/c_linus/2026-06"
	require.NoError(t, s.RegisterRun(ctx, store.Run{WorkflowID: wid, Journey: "lapse-winback", CustomerID: id, PlanHash: "h1", Listens: true, TriggerEventID: "evt_linus_order"}))
	require.NoError(t, s.RecordWebhook(ctx, "sendgrid", "sg_linus_open", store.Engaged{Kind: store.EmailOpened, CustomerID: id}))

	allow := func(store.GateInput) store.Gate { return store.Gate{Allow: true} }
	claim, _, err := s.ClaimWithGate(ctx, store.Message{IdempotencyKey: wid + "#email_offer#email", WorkflowID: wid, Journey: "lapse-winback",
		StepID: "email_offer", CustomerID: id, Channel: "email", Template: "winback-offer", Purpose: "marketing", Topic: "offers",
		Recipient: "linus.export@example.com", Subject: "Linus, your export offer", Details: map[string]any{"voucher": "LINUS-EXPORT-15"}}, false, time.Now(), allow)
	require.NoError(t, err)
	require.True(t, claim.Send)
	sent, err := s.FinishSend(ctx, wid+"#email_offer#email", store.Outcome{Status: store.MessageSent, Provider: "sendgrid", ProviderMessageID: "sg-linus-1"})
	require.NoError(t, err)
	require.NoError(t, s.RecordDelivery(ctx, sent.ID, "delivered", time.Now()))
	// A text held back by quiet hours.
	hold := func(store.GateInput) store.Gate {
		return store.Gate{Hold: true, Until: time.Now().Add(8 * time.Hour), Reason: "quiet hours until 08:00 America/Los_Angeles"}
	}
	_, _, err = s.ClaimWithGate(ctx, store.Message{IdempotencyKey: wid + "#sms_nudge#sms", WorkflowID: wid, Journey: "lapse-winback",
		StepID: "sms_nudge", CustomerID: id, Channel: "sms", Template: "winback-sms", Purpose: "marketing", Topic: "offers",
		Recipient: "+14155550199", Subject: "Linus text nudge"}, false, time.Now(), hold)
	require.NoError(t, err)
	_, _, err = s.ClaimWithGate(ctx, store.Message{IdempotencyKey: "w_other#s#email", WorkflowID: "w_other", Journey: "thank-you",
		StepID: "s", CustomerID: "c_other", Channel: "email", Template: "t", Purpose: "marketing",
		Recipient: "other.secret@example.com", Subject: "Other secret subject"}, false, time.Now(), allow)
	require.NoError(t, err)

	_, err = s.IssueVoucher(ctx, store.Voucher{Code: "LINUS-EXPORT-15", CustomerID: id, WorkflowID: wid, StepID: "email_offer", Kind: "percent", Value: money.MustParse("15"), ExpiresAt: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	_, _, err = s.AnswerSurvey(ctx, store.SurveyAnswer{SurveyID: "survey_linus", CustomerID: id, WorkflowID: wid, StepID: "ask", Score: 4, Comment: "the blanket is exportable"})
	require.NoError(t, err)
	_, err = s.CreateTask(ctx, store.Task{ID: "task_linus", WorkflowID: wid, Journey: "lapse-winback", StepID: "call", CustomerID: id, Kind: "phone_call",
		Queue: "retention", Brief: "Call Linus about his blanket", Outcomes: []string{"reached"}, DueAt: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	require.NoError(t, s.RecordSplit(ctx, store.SplitAssignment{WorkflowID: wid, StepID: "split", Journey: "lapse-winback", CustomerID: id, Path: "path-export-b"}))

	ev := store.Evidence{Shown: "Send me export news", IP: "198.51.100.23", UserAgent: "ExportBrowser/2.0"}
	_, err = s.RecordConsent(ctx, id, "email", "opted_in", "preference center", ev)
	require.NoError(t, err)
	_, err = s.RecordConsent(ctx, id, "email", "opted_out", "unsubscribe link", store.Evidence{Note: "one-click"})
	require.NoError(t, err)
	_, err = s.RecordTopic(ctx, id, "offers", false, "preference center", ev)
	require.NoError(t, err)
	require.NoError(t, s.SaveSettings(ctx, id, []string{"sms", "email"}, map[string]store.QuietHours{"sms": {Start: "20:30", End: "07:45"}}, nil))

	require.NoError(t, s.Suppress(ctx, store.Suppression{Channel: "sms", Address: "+14155550199", Reason: "STOP", Source: "twilio"}))
	require.NoError(t, s.Suppress(ctx, store.Suppression{Channel: "email", Address: "other.secret@example.com", Reason: "bounced", Source: "sendgrid"}))
}

// exportDoc is an export document as a reader sees it.
type exportDoc struct {
	Format      string           `json:"format"`
	ExportedAt  time.Time        `json:"exported_at"`
	CustomerID  string           `json:"customer_id"`
	ListLimit   int              `json:"list_limit"`
	Customer    map[string]any   `json:"customer"`
	Orders      []map[string]any `json:"orders"`
	Events      []map[string]any `json:"events"`
	Messages    []map[string]any `json:"messages"`
	Held        []map[string]any `json:"held_messages"`
	Preferences struct {
		Current        store.Preferences `json:"current"`
		Settings       map[string]any    `json:"settings"`
		ConsentEvents  []map[string]any  `json:"consent_events"`
		TopicEvents    []map[string]any  `json:"topic_events"`
		SettingsEvents []map[string]any  `json:"settings_events"`
	} `json:"preferences"`
	Suppressions      []map[string]any         `json:"suppressions"`
	SuppressionEvents []map[string]any         `json:"suppression_events"`
	Vouchers          []map[string]any         `json:"vouchers"`
	SurveyAnswers     []map[string]any         `json:"survey_answers"`
	Tasks             []map[string]any         `json:"tasks"`
	SplitAssignments  []map[string]any         `json:"split_assignments"`
	JourneyRuns       []map[string]any         `json:"journey_runs"`
	RunSteps          []map[string]any         `json:"run_steps"`
	Conversions       []map[string]any         `json:"journey_conversions"`
	Engagement        []map[string]any         `json:"customer_engagement"`
	EngagementDays    []map[string]any         `json:"customer_engagement_days"`
	Erasures          []map[string]any         `json:"erasures"`
	Journeys          []map[string]any         `json:"journeys"`
	Truncated         []store.ExportTruncation `json:"truncated"`
}

func export(t *testing.T, s *store.Store, id string, opts store.ExportOptions) (exportDoc, string) {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, s.ExportCustomer(context.Background(), &buf, id, opts))
	dec := json.NewDecoder(bytes.NewReader(buf.Bytes()))
	dec.DisallowUnknownFields() // every member of the document is known to this test
	var doc exportDoc
	require.NoError(t, dec.Decode(&doc), buf.String())
	return doc, buf.String()
}

func TestExportHoldsEveryKindOfRecord(t *testing.T) {
	t.Parallel()
	s, _ := storetest.New(t)
	ctx := context.Background()
	seedExportable(t, s)
	at := time.Date(2026, 7, 1, 9, 30, 0, 0, time.UTC)
	doc, raw := export(t, s, "c_linus", store.ExportOptions{
		Now:   func() time.Time { return at },
		Extra: []store.ExportMember{{Name: "journeys", Value: []map[string]any{{"workflow_id": "from-temporal"}}}},
	})

	assert.Equal(t, store.ExportFormat, doc.Format)
	assert.Equal(t, at, doc.ExportedAt)
	assert.Equal(t, "c_linus", doc.CustomerID)
	assert.Equal(t, store.DefaultExportLimit, doc.ListLimit)
	assert.Empty(t, doc.Truncated)

	// Profile, with attributes and address.
	assert.Equal(t, "linus.export@example.com", doc.Customer["email"])
	assert.Equal(t, "Linus Exportson", doc.Customer["name"])
	assert.Equal(t, "42 Portability Way", doc.Customer["address_line1"])
	assert.Equal(t, "+14155550199", doc.Customer["phone_e164"])
	assert.Equal(t, map[string]any{"favourite_colour": "export-teal"}, doc.Customer["attributes"])

	// Orders with items; events with data.
	require.Len(t, doc.Orders, 1)
	assert.Equal(t, "o_linus", doc.Orders[0]["id"])
	items := doc.Orders[0]["items"].([]any)
	require.Len(t, items, 1)
	assert.Equal(t, "Security Blanket Deluxe", items[0].(map[string]any)["name"])
	require.Len(t, doc.Events, 1)
	assert.Equal(t, map[string]any{"note": "wrap it in export paper"}, doc.Events[0]["data"])

	// Messages with content, delivery and holds; the held one and why.
	require.Len(t, doc.Messages, 2)
	email, sms := doc.Messages[0], doc.Messages[1]
	if email["channel"] != "email" {
		email, sms = sms, email
	}
	assert.Equal(t, "linus.export@example.com", email["recipient"])
	assert.Equal(t, "Linus, your export offer", email["subject"])
	assert.Equal(t, map[string]any{"voucher": "LINUS-EXPORT-15"}, email["details"])
	assert.Equal(t, "sent", email["status"])
	assert.Equal(t, "delivered", email["delivery_status"])
	assert.NotNil(t, email["delivered_at"])
	assert.NotNil(t, email["sent_at"])
	assert.Empty(t, email["holds"])
	assert.Equal(t, "held", sms["status"])
	require.Len(t, sms["holds"], 1)
	assert.Equal(t, "quiet hours until 08:00 America/Los_Angeles", sms["holds"].([]any)[0].(map[string]any)["reason"])
	require.Len(t, doc.Held, 1)
	assert.Equal(t, "sms_nudge", doc.Held[0]["step_id"])
	assert.Equal(t, "quiet hours until 08:00 America/Los_Angeles", doc.Held[0]["reason"])
	require.Len(t, doc.Held[0]["holds"], 1)

	// Preferences: as they stand, and their history with evidence.
	assert.Equal(t, "opted_out", doc.Preferences.Current.Consent["email"].State)
	assert.False(t, doc.Preferences.Current.Topics["offers"].Subscribed)
	require.Len(t, doc.Preferences.ConsentEvents, 2, "the whole history, not just the latest")
	assert.Equal(t, map[string]any{"shown": "Send me export news", "ip": "198.51.100.23", "user_agent": "ExportBrowser/2.0"}, doc.Preferences.ConsentEvents[0]["evidence"])
	assert.Equal(t, "opted_out", doc.Preferences.ConsentEvents[1]["state"])
	require.Len(t, doc.Preferences.TopicEvents, 1)
	assert.Equal(t, "offers", doc.Preferences.TopicEvents[0]["topic"])
	assert.Equal(t, []any{"sms", "email"}, doc.Preferences.Settings["channel_order"])
	require.Len(t, doc.Preferences.SettingsEvents, 1)
	assert.Equal(t, map[string]any{"sms": map[string]any{"start": "20:30", "end": "07:45"}}, doc.Preferences.SettingsEvents[0]["quiet_hours"])

	// Suppressions of his addresses, and their history.
	require.Len(t, doc.Suppressions, 1)
	assert.Equal(t, "+14155550199", doc.Suppressions[0]["address"])
	assert.Equal(t, "STOP", doc.Suppressions[0]["reason"])
	require.Len(t, doc.SuppressionEvents, 1)
	assert.Equal(t, "suppress", doc.SuppressionEvents[0]["action"])

	// Vouchers, survey answers, tasks, splits, runs, earlier erasures.
	require.Len(t, doc.Vouchers, 1)
	assert.Equal(t, "LINUS-EXPORT-15", doc.Vouchers[0]["code"])
	require.Len(t, doc.SurveyAnswers, 1)
	assert.Equal(t, "the blanket is exportable", doc.SurveyAnswers[0]["comment"])
	require.Len(t, doc.Tasks, 1)
	assert.Equal(t, "Call Linus about his blanket", doc.Tasks[0]["brief"])
	require.Len(t, doc.SplitAssignments, 1)
	assert.Equal(t, "path-export-b", doc.SplitAssignments[0]["path"])
	require.Len(t, doc.Engagement, 1)
	assert.NotNil(t, doc.Engagement[0]["email_last_open_at"])
	require.Len(t, doc.EngagementDays, 1)
	assert.Equal(t, float64(1), doc.EngagementDays[0]["email_opens"])
	require.Len(t, doc.JourneyRuns, 1)
	assert.Equal(t, "rapport/lapse-winback/c_linus/2026-06", doc.JourneyRuns[0]["workflow_id"])
	assert.Equal(t, "running", doc.JourneyRuns[0]["status"])
	assert.Empty(t, doc.Erasures, "the erasure of the earlier customer with this id is not this customer's data")

	// What the caller added (the journeys from Temporal).
	assert.Equal(t, []map[string]any{{"workflow_id": "from-temporal"}}, doc.Journeys)

	// Nothing of the other customer.
	for _, other := range []string{"c_other", "other.secret@example.com", "Other Secretperson", "Other Secret Item", "other customer's secret note", "Other secret subject"} {
		assert.NotContains(t, raw, other)
	}
	// One record per line: a large export stays readable and streams.
	assert.Contains(t, raw, "\n{\"id\": \"evt_linus_order\"")

	_, err := s.GetCustomer(ctx, "c_linus")
	require.NoError(t, err, "exporting changes nothing")
}

func TestExportOfUnknownCustomerWritesNothing(t *testing.T) {
	t.Parallel()
	s, _ := storetest.New(t)
	var buf bytes.Buffer
	err := s.ExportCustomer(context.Background(), &buf, "c_nobody", store.ExportOptions{})
	require.ErrorIs(t, err, store.ErrNotFound)
	assert.Zero(t, buf.Len())
}

func TestExportCutsLongListsAndSaysSo(t *testing.T) {
	t.Parallel()
	s, _ := storetest.New(t)
	ctx := context.Background()
	_, err := s.UpsertCustomer(ctx, store.Customer{ID: "c_busy", Email: "busy@example.com"})
	require.NoError(t, err)
	for i := range 5 {
		_, _, err := s.RecordEvent(ctx, store.Event{ID: "evt_busy_" + string(rune('a'+i)), Type: "page.viewed", CustomerID: "c_busy", OccurredAt: time.Now()}, nil)
		require.NoError(t, err)
	}
	for i := range 3 {
		_, err := s.RecordConsent(ctx, "c_busy", "email", []string{"opted_in", "opted_out", "opted_in"}[i], "test", store.Evidence{})
		require.NoError(t, err)
	}
	doc, _ := export(t, s, "c_busy", store.ExportOptions{Limit: 2})
	assert.Equal(t, 2, doc.ListLimit)
	require.Len(t, doc.Events, 2)
	assert.Equal(t, "evt_busy_a", doc.Events[0]["id"], "the oldest first")
	assert.Len(t, doc.Preferences.ConsentEvents, 2)
	assert.Equal(t, []store.ExportTruncation{
		{List: "events", Included: 2, Total: 5},
		{List: "preferences.consent_events", Included: 2, Total: 3},
	}, doc.Truncated)

	doc, _ = export(t, s, "c_busy", store.ExportOptions{Limit: 5})
	assert.Len(t, doc.Events, 5)
	assert.Empty(t, doc.Truncated, "a list exactly at the limit is whole")
}

// TestExportCoversEveryTable fails when a table is added to the schema
// without deciding where it goes in an export (store.ExportTables), and
// when a table with a customer_id column is left out of it.
func TestExportCoversEveryTable(t *testing.T) {
	t.Parallel()
	_, url := storetest.New(t)
	db := storetest.DB(t, url)
	ctx := context.Background()
	rows, err := db.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`)
	require.NoError(t, err)
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	var listed []string
	for name := range store.ExportTables {
		listed = append(listed, name)
	}
	slices.Sort(tables)
	slices.Sort(listed)
	assert.Equal(t, listed, tables, "add every new table to store.ExportTables, and export its customer data in ExportCustomer")

	rows, err = db.Query(ctx, `SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' AND column_name = 'customer_id'`)
	require.NoError(t, err)
	keyed, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	for _, table := range keyed {
		assert.False(t, strings.HasPrefix(store.ExportTables[table], "not exported"), "%s holds customer data: export it", table)
	}
}
