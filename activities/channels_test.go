package activities

import (
	"context"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/links"
	"github.com/rapporthq/rapport/internal/money"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/store/storetest"
	"github.com/rapporthq/rapport/internal/templates"
	"github.com/rapporthq/rapport/workflows"
)

// testTemplates has a version of "offer" for every channel.
func (h *harness) useTestTemplates(t *testing.T) {
	set, err := templates.Load(fstest.MapFS{
		"offer/email.txt":           {Data: []byte("Subject: For you{{with .Voucher}}: {{.Description}}{{end}}\nHello.\n{{with .Voucher}}Code {{.Code}}{{end}}\n{{range .Products}}* {{.Name}}\n{{end}}")},
		"offer/sms.txt":             {Data: []byte("{{.Shop.Name}}: {{with .Voucher}}{{.Code}} for {{.Description}}{{else}}hello{{end}}")},
		"offer/postcard.front.html": {Data: []byte("<h1>We miss you, {{.Customer.FirstName}}</h1>")},
		"offer/postcard.back.html":  {Data: []byte("<p>{{with .Voucher}}{{.Code}}{{end}}</p>")},
		"survey/email.txt":          {Data: []byte("Subject: How did we do?\n{{.Links.Survey}}")},
	}, "t")
	require.NoError(t, err)
	h.acts.Templates = set
}

func offer(ch journey.Channel) workflows.SendRequest {
	r := request()
	r.Template, r.StepID, r.Channel = "offer", "offer", ch
	if ch == journey.SMS {
		// Midday in London: outside the default SMS quiet hours whenever
		// the tests run.
		r.PolicyAt = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	}
	return r
}

func TestSendSMS(t *testing.T) {
	h := newHarness(t)
	h.useTestTemplates(t)
	res, err := h.send(offer(journey.SMS))
	require.NoError(t, err)
	assert.Equal(t, workflows.SendSent, res.Status)
	msgs := h.fakes.Recorder.Messages()
	require.Len(t, msgs, 1)
	assert.Equal(t, "+447911123456", msgs[0].To, "normalised to E.164 with the customer's country")
	assert.Equal(t, "Teapot & Co: hello", msgs[0].Text)
	assert.Equal(t, res.MessageID, msgs[0].MessageID, "the status callback names the outbox row")
}

func TestSendSMSInvalidNumberFails(t *testing.T) {
	h := newHarness(t)
	h.useTestTemplates(t)
	_, err := h.store.UpsertCustomer(context.Background(), store.Customer{ID: "c_1", Email: "ada@example.com", Phone: "+44 20 1234", Name: "Ada"})
	require.NoError(t, err)
	res, err := h.send(offer(journey.SMS))
	require.NoError(t, err)
	assert.Equal(t, workflows.SendFailed, res.Status)
	assert.Contains(t, res.Reason, "invalid phone number")
	assert.Empty(t, h.fakes.Recorder.Messages())
}

func TestSendSMSStopSuppressesTheNumber(t *testing.T) {
	h := newHarness(t)
	h.useTestTemplates(t)
	h.fakes.Twilio.Stop("+447911123456")
	res, err := h.send(offer(journey.SMS))
	require.NoError(t, err)
	assert.Equal(t, workflows.SendFailed, res.Status)
	assert.Contains(t, res.Reason, "replied STOP")
	sup, err := h.store.Suppressed(context.Background(), "sms", "+447911123456")
	require.NoError(t, err)
	assert.Equal(t, "twilio 21610", sup.Source)

	// The next journey does not even try.
	req := offer(journey.SMS)
	req.WorkflowID = "rapport/other/c_1/e9"
	res, err = h.send(req)
	require.NoError(t, err)
	assert.Equal(t, workflows.SendSkipped, res.Status)
	assert.Contains(t, res.Reason, "suppressed")
}

func TestSendPostcardWithVoucher(t *testing.T) {
	h := newHarness(t)
	h.useTestTemplates(t)
	req := offer(journey.Mail)
	req.Purpose = journey.Marketing
	req.Voucher = &journey.VoucherSpec{Percent: 15, ValidFor: journey.Duration{D: 30 * 24 * time.Hour, Text: "30d"}}
	res, err := h.send(req)
	require.NoError(t, err)
	assert.Equal(t, workflows.SendSent, res.Status)
	assert.Regexp(t, `^psc_`, res.ProviderMessageID)
	msgs := h.fakes.Recorder.Messages()
	require.Len(t, msgs, 1)
	assert.Equal(t, "mail", msgs[0].Channel)
	assert.Contains(t, msgs[0].HTML, "We miss you, Ada", "the front")
	assert.Contains(t, msgs[0].To, "London")

	rows, err := h.store.MessagesFor(context.Background(), "c_1")
	require.NoError(t, err)
	code, _ := rows[0].Details["voucher"].(string)
	v, err := h.store.GetVoucher(context.Background(), code)
	require.NoError(t, err)
	assert.Contains(t, msgs[0].Back, "<p>"+code+"</p>", "the postcard carries the code on its back")
	assert.Equal(t, "percent", v.Kind)
	assert.Equal(t, "15", v.Value.String())
	assert.WithinDuration(t, time.Now().Add(30*24*time.Hour), v.ExpiresAt, time.Minute)

	// Falling back to email in the same step gives the same voucher. (As
	// marketing, the postcard would hold it back under the daily cap.)
	req.Channel, req.Purpose = journey.Email, journey.Transactional
	_, err = h.send(req)
	require.NoError(t, err)
	msgs = h.fakes.Recorder.Messages()
	assert.Contains(t, msgs[0].Text, "Code "+v.Code)
	assert.Equal(t, "For you: 15% off", msgs[0].Subject)
}

func TestSendMailWithoutAddressIsSkipped(t *testing.T) {
	h := newHarness(t)
	h.useTestTemplates(t)
	_, err := h.store.UpsertCustomer(context.Background(), store.Customer{ID: "c_1", Email: "ada@example.com", Name: "Ada",
		Address: store.Address{Line1: "1 Main St", City: "Springfield", PostalCode: "12345", Country: "US"}})
	require.NoError(t, err)
	res, err := h.send(offer(journey.Mail))
	require.NoError(t, err)
	assert.Equal(t, workflows.SendSkipped, res.Status)
	assert.Contains(t, res.Reason, "no complete postal address")
}

func TestLobRetryWithTheSameKeyMakesOnePiece(t *testing.T) {
	h := newHarness(t)
	h.useTestTemplates(t)
	// An attempt that died after calling Lob left the row in sending.
	req := offer(journey.Mail)
	claim, _, err := h.store.ClaimWithGate(context.Background(), store.Message{IdempotencyKey: req.IdempotencyKey(), WorkflowID: req.WorkflowID,
		Journey: req.Journey, StepID: req.StepID, CustomerID: req.CustomerID, Channel: "mail", Template: "offer", Purpose: "transactional"}, true,
		time.Now(), func(store.GateInput) store.Gate { return store.Gate{Allow: true} })
	require.NoError(t, err)
	require.True(t, claim.Send)
	first, err := h.send(req)
	require.NoError(t, err)
	assert.Equal(t, workflows.SendSent, first.Status, "mail is resumed, not given up as unknown")

	// A retry whose answer was lost gets the same piece back.
	require.NoError(t, h.resetToSending(t, req.IdempotencyKey()))
	again, err := h.send(req)
	require.NoError(t, err)
	assert.Equal(t, first.ProviderMessageID, again.ProviderMessageID)
	assert.Equal(t, 1, h.fakes.Lob.Created(), "Lob created one postcard")
}

func (h *harness) resetToSending(t *testing.T, key string) error {
	_, err := storetest.DB(t, h.dbURL).Exec(context.Background(), "UPDATE messages SET status = 'sending' WHERE idempotency_key = $1", key)
	return err
}

func TestRecommendationsInTheMessage(t *testing.T) {
	h := newHarness(t)
	h.useTestTemplates(t)
	ctx := context.Background()
	req := offer(journey.Email)
	req.Recommend = &journey.RecommendSpec{From: "order", Limit: 2}
	res, err := h.send(req)
	require.NoError(t, err)
	assert.Equal(t, workflows.SendSkipped, res.Status, "nothing to recommend yet")
	assert.Contains(t, res.Reason, "nothing to recommend")

	require.NoError(t, h.store.UpsertProducts(ctx, []store.Product{
		{ID: "p", Name: "Earl Grey", Active: true, Complements: map[string]float64{"pot": 1, "cup": 0.5, "cosy": 0.2}},
		{ID: "pot", Name: "Blue teapot", Price: money.MustParse("25"), Currency: "GBP", Active: true},
		{ID: "cup", Name: "Cup", Price: money.MustParse("8"), Currency: "GBP", Active: true},
		{ID: "cosy", Name: "Tea cosy", Price: money.MustParse("12"), Currency: "GBP", Active: true},
	}))
	req.StepID = "offer2"
	res, err = h.send(req)
	require.NoError(t, err)
	assert.Equal(t, workflows.SendSent, res.Status)
	msgs := h.fakes.Recorder.Messages()
	assert.Contains(t, msgs[0].Text, "* Blue teapot\n* Cup\n")
	rows, _ := h.store.MessagesFor(ctx, "c_1")
	assert.Equal(t, []any{"pot", "cup"}, rows[len(rows)-1].Details["products"])
}

func TestSurveyLinkIsSigned(t *testing.T) {
	h := newHarness(t)
	h.useTestTemplates(t)
	req := request()
	req.Template, req.StepID = "survey", "ask"
	_, err := h.send(req)
	require.NoError(t, err)
	body := h.fakes.Recorder.Messages()[0].Text
	require.True(t, strings.HasPrefix(body, "https://rapport.example/survey/"), body)
	var claims links.Survey
	require.NoError(t, h.acts.Links.Verify(strings.TrimPrefix(strings.TrimSpace(body), "https://rapport.example/survey/"), links.SurveyPurpose, time.Now(), &claims))
	assert.Equal(t, links.Survey{SurveyID: links.SurveyID(req.WorkflowID, "ask"), CustomerID: "c_1", WorkflowID: req.WorkflowID, StepID: "ask", OrderID: "o1"}, claims)
}

func TestNextOccurrence(t *testing.T) {
	utc := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		require.NoError(t, err)
		return tm
	}
	for _, tc := range []struct {
		after, zone, at string
		days            []string
		want            string
	}{
		{"2026-03-28T12:00:00Z", "Europe/London", "10:00", nil, "2026-03-29T09:00:00Z"},                       // clocks go forward that night
		{"2026-10-24T12:00:00Z", "Europe/London", "10:00", nil, "2026-10-25T10:00:00Z"},                       // and back
		{"2026-06-01T08:59:00Z", "Europe/London", "10:00", nil, "2026-06-01T09:00:00Z"},                       // later today
		{"2026-06-01T09:00:00Z", "Europe/London", "10:00", nil, "2026-06-02T09:00:00Z"},                       // not the same instant
		{"2026-06-05T12:00:00Z", "America/New_York", "09:30", []string{"mon", "wed"}, "2026-06-08T13:30:00Z"}, // Friday -> Monday
		{"2026-06-05T12:00:00Z", "Asia/Tokyo", "08:00", []string{"sat"}, "2026-06-05T23:00:00Z"},
	} {
		got, err := NextOccurrence(utc(tc.after), tc.zone, tc.at, tc.days)
		require.NoError(t, err)
		assert.Equal(t, utc(tc.want), got.UTC(), "%+v", tc)
	}
	_, err := NextOccurrence(time.Now(), "Mars/Base", "10:00", nil)
	assert.Error(t, err)
}
