package activities

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/locale/localetest"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

// TestFrenchCustomerGetsFrenchMessages sends a fr-FR customer, through the
// real SendGrid, Twilio and Lob clients against the fakes, a marketing
// email with a voucher (the shipped win-back), a marketing text (the
// shipped survey) and a postcard whose template leaves the preference
// link to Rapport: what Rapport adds (footers, the STOP line, the
// voucher, the date) is French, and none of its English is there.
func TestFrenchCustomerGetsFrenchMessages(t *testing.T) {
	h := newHarness(t)
	h.acts.Rules.Caps = nil // three marketing sends in a row
	ctx := context.Background()
	_, err := h.store.UpsertCustomer(ctx, store.Customer{ID: "c_1", Email: "amelie@example.com", Phone: "+33 6 12 34 56 78", Name: "Amélie Poulain", Locale: "fr-FR",
		Address: store.Address{Line1: "12 St James's Square", City: "London", PostalCode: "SW1Y 4LB", Country: "GB"}})
	require.NoError(t, err)
	_, err = h.store.RecordConsent(ctx, "c_1", "sms", "opted_in", "api", store.Evidence{})
	require.NoError(t, err)
	midday := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC) // outside quiet hours

	email := request()
	email.WorkflowID, email.Journey, email.StepID, email.Template = "rapport/lapse-winback/c_1/x", "lapse-winback", "email_offer", "winback-offer"
	email.Purpose, email.Topic, email.PolicyAt = journey.Marketing, "offers", midday
	email.Voucher = &journey.VoucherSpec{Percent: 15, ValidFor: journey.Duration{D: 30 * 24 * time.Hour, Text: "30d"}}
	res, err := h.send(email)
	require.NoError(t, err)
	require.Equal(t, workflows.SendSent, res.Status, res.Reason)

	sms := request()
	sms.WorkflowID, sms.Journey, sms.StepID, sms.Template, sms.Channel = "rapport/satisfaction-check/c_1/x", "satisfaction-check", "ask", "satisfaction-survey", journey.SMS
	sms.Purpose, sms.Topic, sms.PolicyAt = journey.Marketing, "surveys", midday
	res, err = h.send(sms)
	require.NoError(t, err)
	require.Equal(t, workflows.SendSent, res.Status, res.Reason)

	h.useTestTemplates(t) // a postcard that does not place the preference link itself
	mail := marketingOffer(journey.Mail, "rapport/lapse-winback/c_1/y")
	mail.PolicyAt = midday
	res, err = h.send(mail)
	require.NoError(t, err)
	require.Equal(t, workflows.SendSent, res.Status, res.Reason)

	msgs := h.fakes.Recorder.Messages()
	require.Len(t, msgs, 3)
	byChannel := map[string]int{}
	for i, m := range msgs {
		byChannel[m.Channel] = i
		for _, text := range []string{m.Subject, m.Text, m.HTML, m.Back} {
			assert.Empty(t, localetest.EnglishIn(text, "fr"), "%s for a fr-FR customer has English:\n%s", m.Channel, text)
		}
	}
	e := msgs[byChannel["email"]]
	assert.Equal(t, "Vous nous manquez, Amélie : 15\u00a0% de réduction sur votre prochaine commande", e.Subject)
	assert.Regexp(t, `Choisissez ce que nous vous envoyons, et à quelle fréquence : https://rapport\.example/preferences/\S+\nSe désabonner : https://rapport\.example/unsubscribe/\S+\n$`, e.Text)
	assert.Contains(t, e.HTML, `">ce que nous vous envoyons, et à quelle fréquence</a> ou <a href="https://rapport.example/unsubscribe/`)
	expires := time.Now().Add(30 * 24 * time.Hour)
	assert.True(t, strings.Contains(e.Text, "avant le "+frenchDate(expires)) || strings.Contains(e.Text, "avant le "+frenchDate(expires.Add(-24*time.Hour))),
		"the voucher's date in French: %s", e.Text)
	s := msgs[byChannel["sms"]]
	assert.Regexp(t, `^Teapot & Co : bonjour Amélie, comment s'est passée votre commande \? 10 secondes : https://rapport\.example/survey/\S+ Choisissez nos envois : https://rapport\.example/preferences/\S+ Répondez STOP pour vous désabonner\.$`, s.Text)
	p := msgs[byChannel["mail"]]
	assert.Contains(t, p.Back, ">Choisissez ce que nous vous envoyons : https://rapport.example/preferences/")
}

var frenchMonths = []string{"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"}

// frenchDate writes a day as a French reader expects it ("4 décembre
// 2026"), by hand, to check the CLDR-made one against.
func frenchDate(t time.Time) string {
	t = t.UTC()
	return strings.Join([]string{strconv.Itoa(t.Day()), frenchMonths[t.Month()-1], strconv.Itoa(t.Year())}, " ")
}
