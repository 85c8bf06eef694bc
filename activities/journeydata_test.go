package activities

import (
	"context"
	"encoding/json"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/policy"
	"github.com/rapporthq/rapport/internal/router"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/templates"
	"github.com/rapporthq/rapport/workflows"
)

// TestTemplatesSeeTheJourneysData: a template reads the event that started
// the run with its data (numbers as the shop wrote them), the customer's
// attributes and country, and why a message falls back to this channel.
func TestTemplatesSeeTheJourneysData(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	set, err := templates.Load(fstest.MapFS{
		"cart/email.txt": {Data: []byte("Subject: Still thinking, {{.Customer.FirstName}}?\n" +
			"{{range .Trigger.Data.items}}- {{.name}} at {{.price}}\n{{end}}" +
			"Tier {{.Customer.Attributes.tier}}, from {{.Customer.Country}}, event {{.Trigger.Type}}.\n" +
			"{{with .Fallback}}We could not text you ({{.From}}: {{.Reason}}).{{end}}\n")},
	}, "t")
	require.NoError(t, err)
	h.acts.Templates = set
	_, err = h.store.UpsertCustomer(ctx, store.Customer{ID: "c_1", Email: "ada@example.com", Name: "Ada Lovelace", Locale: "en-GB",
		Address: store.Address{Line1: "12 St James's Square", City: "London", PostalCode: "SW1Y 4LB", Country: "GB"}, Attributes: map[string]any{"tier": "gold"}})
	require.NoError(t, err)
	_, _, err = h.store.RecordEvent(ctx, store.Event{ID: "cart-1", Type: "cart.abandoned", CustomerID: "c_1", OccurredAt: time.Now(),
		Data: json.RawMessage(`{"items": [{"name": "Earl Grey", "price": "4.50"}, {"name": "Teapot", "price": 30.00}]}`)}, nil)
	require.NoError(t, err)

	req := workflows.SendRequest{WorkflowID: "rapport/cart/c_1/cart-1", Journey: "cart", StepID: "remind", CustomerID: "c_1",
		Channel: journey.Email, Template: "cart", Purpose: journey.Transactional, TriggerEventID: "cart-1",
		Fallback: &workflows.Fallback{From: journey.SMS, Reason: "not sent: no phone number"}}
	res, err := h.send(req)
	require.NoError(t, err)
	require.Equal(t, workflows.SendSent, res.Status, res.Reason)
	msgs := h.fakes.Recorder.Messages()
	require.Len(t, msgs, 1)
	assert.Equal(t, "Still thinking, Ada?", msgs[0].Subject)
	assert.Contains(t, msgs[0].Text, "- Earl Grey at 4.50\n- Teapot at 30.00\n", "the trigger's items, amounts as sent")
	assert.Contains(t, msgs[0].Text, "Tier gold, from GB, event cart.abandoned.")
	assert.Contains(t, msgs[0].Text, "We could not text you (sms: not sent: no phone number).")

	// A key the shop's data lacks fails the message (the next channel is
	// tried), naming the key; nothing blank goes out.
	_, _, err = h.store.RecordEvent(ctx, store.Event{ID: "cart-2", Type: "cart.abandoned", CustomerID: "c_1", OccurredAt: time.Now(),
		Data: json.RawMessage(`{"basket": []}`)}, nil)
	require.NoError(t, err)
	lacking := req
	lacking.WorkflowID, lacking.TriggerEventID = "rapport/cart/c_1/cart-2", "cart-2"
	res, err = h.send(lacking)
	require.NoError(t, err)
	assert.Equal(t, workflows.SendFailed, res.Status)
	assert.Contains(t, res.Reason, `map has no entry for key "items"`)
	assert.Len(t, h.fakes.Recorder.Messages(), 1)

	// Another customer's event is never shown.
	_, err = h.store.UpsertCustomer(ctx, store.Customer{ID: "c_2", Email: "grace@example.com", Name: "Grace"})
	require.NoError(t, err)
	other := req
	other.WorkflowID, other.CustomerID = "rapport/cart/c_2/cart-1", "c_2"
	_, err = h.send(other)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "event cart-1 is not customer c_2's")
	assert.Len(t, h.fakes.Recorder.Messages(), 1)
}

// TestPinnedTemplateSurvivesEdits: a run renders the template version its
// plan pinned, from the store, after the files were edited and renamed
// (the worker holds only the new ones); a plan that pinned nothing
// renders the current files.
func TestPinnedTemplateSurvivesEdits(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	before, err := templates.Load(fstest.MapFS{
		"cart/email.txt":       {Data: []byte("Subject: Your basket, {{.Customer.FirstName}}\nThe first words.\n")},
		"cart/en-GB/email.txt": {Data: []byte("Subject: Your basket, {{.Customer.FirstName}}\nThe first British words.\n")},
	}, "t")
	require.NoError(t, err)
	pinned, ok := before.Version("cart")
	require.True(t, ok)
	var versions []store.TemplateVersion
	for _, v := range before.Versions() {
		versions = append(versions, store.TemplateVersion{Hash: v.Hash, Name: v.Name, Files: v.Files})
	}
	require.NoError(t, h.store.SaveTemplateVersions(ctx, versions))
	require.NoError(t, h.store.SaveTemplateVersions(ctx, versions), "saving again is harmless")

	// The marketer edits the words and renames the folder; workers restart
	// with the new files.
	after, err := templates.Load(fstest.MapFS{
		"basket/email.txt":   {Data: []byte("Subject: New subject\nThe new words.\n")},
		"cart-old/email.txt": {Data: []byte("Subject: Other\nOther words.\n")},
	}, "t")
	require.NoError(t, err)
	h.acts.Templates = after

	req := workflows.SendRequest{WorkflowID: "rapport/cart/c_1/e1", Journey: "cart", StepID: "remind", CustomerID: "c_1",
		Channel: journey.Email, Template: "cart", TemplateVersion: pinned, Purpose: journey.Transactional}
	res, err := h.send(req)
	require.NoError(t, err)
	require.Equal(t, workflows.SendSent, res.Status, res.Reason)
	msgs := h.fakes.Recorder.Messages()
	require.Len(t, msgs, 1)
	assert.Equal(t, "Your basket, Ada", msgs[0].Subject, "the pinned version, though no file has it now")
	assert.Contains(t, msgs[0].Text, "The first British words.", "with its locale variants")

	// Two templates with the same words share a stored version, saved
	// under the first's name: the run renders it under its own.
	twin := req
	twin.WorkflowID, twin.Template = "rapport/cart/c_1/twin", "twin-cart"
	res, err = h.send(twin)
	require.NoError(t, err)
	require.Equal(t, workflows.SendSent, res.Status, res.Reason)

	unpinned := req
	unpinned.WorkflowID, unpinned.Template, unpinned.TemplateVersion = "rapport/cart/c_1/e2", "basket", ""
	res, err = h.send(unpinned)
	require.NoError(t, err)
	require.Equal(t, workflows.SendSent, res.Status, res.Reason)
	var subjects []string
	for _, m := range h.fakes.Recorder.Messages() {
		subjects = append(subjects, m.Subject)
	}
	assert.ElementsMatch(t, []string{"Your basket, Ada", "Your basket, Ada", "New subject"}, subjects, "a plan without pins renders the current files")
}

// TestPriorityUnderACap: with one marketing message a week, a review
// request held first still yields the next slot to a satisfaction survey
// of higher priority held after it, and says what it waits behind.
func TestPriorityUnderACap(t *testing.T) {
	h := newHarness(t)
	set, err := templates.Load(fstest.MapFS{
		"note/email.txt": {Data: []byte("Subject: A note, {{.Customer.FirstName}}\nHello.\n")},
	}, "t")
	require.NoError(t, err)
	h.acts.Templates = set
	week := 7 * 24 * time.Hour
	h.acts.Rules.Caps = []policy.Cap{{Max: 1, Per: week}}
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	send := func(journeyName, step string, priority journey.Priority, at time.Time) workflows.SendResult {
		t.Helper()
		// A held message waits its turn while its run runs.
		require.NoError(t, h.store.RegisterRun(context.Background(), store.Run{WorkflowID: "rapport/" + journeyName + "/c_1/e1", Journey: journeyName, CustomerID: "c_1", PlanHash: "h"}))
		res, err := h.send(workflows.SendRequest{WorkflowID: "rapport/" + journeyName + "/c_1/e1", Journey: journeyName, StepID: step, CustomerID: "c_1",
			Channel: journey.Email, Template: "note", Purpose: journey.Marketing, Topic: "surveys", Priority: priority, PolicyAt: at})
		require.NoError(t, err)
		return res
	}
	require.Equal(t, workflows.SendSent, send("offers", "offer", "", t0).Status, "the week's slot is taken")

	review := send("review-request", "ask", journey.PriorityLow, t0.Add(time.Hour))
	require.Equal(t, workflows.SendHeld, review.Status)
	assert.Equal(t, t0.Add(week), review.HeldUntil)

	survey := send("satisfaction-check", "ask", journey.PriorityHigh, t0.Add(2*time.Hour))
	require.Equal(t, workflows.SendHeld, survey.Status)
	assert.Equal(t, t0.Add(week), survey.HeldUntil, "the review is held too, but lower: the survey gets the next slot")
	assert.NotContains(t, survey.Reason, "behind")

	// The review wakes first; the survey is ahead of it now.
	review = send("review-request", "ask", journey.PriorityLow, t0.Add(week))
	require.Equal(t, workflows.SendHeld, review.Status)
	assert.Equal(t, t0.Add(2*week), review.HeldUntil)
	assert.Contains(t, review.Reason, "behind satisfaction-check ask (high priority)")

	require.Equal(t, workflows.SendSent, send("satisfaction-check", "ask", journey.PriorityHigh, t0.Add(week)).Status)
	require.Equal(t, workflows.SendSent, send("review-request", "ask", journey.PriorityLow, t0.Add(2*week)).Status)

	// A held message whose run ended is nobody's turn: it holds nothing back.
	orphan := send("old-offer", "ask", journey.PriorityHigh, t0.Add(2*week+time.Hour))
	require.Equal(t, workflows.SendHeld, orphan.Status)
	require.NoError(t, h.store.GiveUpRun(context.Background(), "rapport/old-offer/c_1/e1", "gone"))
	late := send("late-offer", "ask", journey.PriorityLow, t0.Add(3*week))
	assert.Equal(t, workflows.SendSent, late.Status, "not behind the message of a run that ended: %s", late.Reason)
	var journeys []string
	for _, m := range h.fakes.Recorder.Messages() { // newest first
		journeys = append(journeys, m.Journey)
	}
	assert.Equal(t, []string{"late-offer", "review-request", "satisfaction-check", "offers"}, journeys, "sent in priority order")
}

// TestRecordAnswerAndEmitEvent: a journey's recorded answer is stored once
// with its source and told to the customer's journeys (survey.answered,
// stored and routed); an emitted event is stored and routed once.
func TestRecordAnswerAndEmitEvent(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.acts.Router = &router.Router{Store: h.store, Catalog: &journey.Catalog{}}
	req := workflows.RecordAnswerRequest{SurveyID: "journey-abc", Survey: "satisfaction", CustomerID: "c_1", WorkflowID: "rapport/rate/c_1/e1",
		Journey: "rate", StepID: "answer", Score: 2, Comment: "by text: 2", Source: "sms", OrderID: "o1"}
	for range 2 { // a retry records nothing twice
		_, err := h.env.ExecuteActivity(workflows.RecordAnswerActivity, req)
		require.NoError(t, err)
	}
	answer, err := h.store.GetSurveyAnswer(ctx, "journey-abc")
	require.NoError(t, err)
	assert.Equal(t, 2, answer.Score)
	assert.Equal(t, "sms", answer.Source)
	ev, err := h.store.GetEvent(ctx, "survey-journey-abc")
	require.NoError(t, err)
	assert.Equal(t, "survey.answered", ev.Type)
	assert.NotNil(t, ev.RoutedAt, "routed to the customer's journeys")
	var data map[string]any
	require.NoError(t, json.Unmarshal(ev.Data, &data))
	assert.Equal(t, map[string]any{"score": float64(2), "comment": "by text: 2", "survey_id": "journey-abc", "survey": "satisfaction",
		"source": "sms", "workflow_id": "rapport/rate/c_1/e1", "step": "answer", "order_id": "o1"}, data)

	emit := workflows.EmitEventRequest{Event: journey.Event{ID: workflows.EmittedEventID("rapport/rate/c_1/e1", "tell"), Type: "care.needed",
		CustomerID: "c_1", OccurredAt: time.Now(), Data: map[string]any{"score": 2, workflows.EmitDepthKey: 1}}}
	for range 2 {
		_, err = h.env.ExecuteActivity(workflows.EmitEventActivity, emit)
		require.NoError(t, err)
	}
	stored, err := h.store.GetEvent(ctx, emit.Event.ID)
	require.NoError(t, err)
	assert.Equal(t, "care.needed", stored.Type)
	assert.NotNil(t, stored.RoutedAt)
	assert.JSONEq(t, `{"score": 2, "emit_depth": 1}`, string(stored.Data))

	h.acts.Router = nil
	_, err = h.env.ExecuteActivity(workflows.EmitEventActivity, emit)
	assert.ErrorContains(t, err, "no router")
}
