package templates

import (
	"os"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/locale/localetest"
	"github.com/rapporthq/rapport/internal/money"
)

// frenchData is a fr-FR customer's data with everything a template may
// show: an order of several items, a voucher of each kind, a fallback,
// every link.
func frenchData(voucher *Voucher) Data {
	return Data{
		Customer: Customer{ID: "c_fr", Name: "Amélie Poulain", FirstName: "Amélie", Locale: "fr-FR", Country: "FR", Attributes: map[string]any{}},
		Shop:     Shop{Name: "Théière & Cie", URL: "https://theiere.example", SupportEmail: "aide@theiere.example"},
		Order: &Order{ID: "o-1001", Total: money.MustParse("1234.5"), Currency: "EUR", Gift: true, PlacedAt: time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC),
			Items: []Item{{Name: "Thé vert", Quantity: 2, Price: money.MustParse("4.25")}, {Name: "Tasse", Quantity: 1, Price: money.MustParse("9")}, {Name: "Théière bleue", Quantity: 1, Price: money.MustParse("1217")}}},
		Trigger:  &Event{Data: map[string]any{}},
		Fallback: &Fallback{From: "sms", Reason: "not sent: no phone number"},
		Voucher:  voucher,
		Products: []Product{{ID: "p3", Name: "Miel", Price: money.MustParse("6"), Currency: "EUR", URL: "https://theiere.example/p3"}},
		Links: Links{Survey: "https://theiere.example/survey/t", Preferences: "https://theiere.example/preferences/t",
			Unsubscribe: "https://theiere.example/unsubscribe/t"},
	}
}

// TestFrenchCustomersReadNoEnglish renders every shipped template, on every
// channel it has, for a fr-FR customer, with a percentage voucher and an
// amount voucher, and finds none of Rapport's English in it: no phrase of
// the English catalog that French says otherwise, no English month or
// weekday.
func TestFrenchCustomersReadNoEnglish(t *testing.T) {
	set, err := Load(os.DirFS("../../journeys/templates"), "journeys/templates")
	require.NoError(t, err)
	expires := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	vouchers := []*Voucher{
		{Code: "ABCD-EFGH-JKMN-PQRS", Percent: 15, ExpiresAt: expires},
		{Code: "ABCD-EFGH-JKMN-PQRS", Amount: money.MustParse("10"), Currency: "EUR", ExpiresAt: expires},
	}
	require.NotEmpty(t, set.Names())
	for _, name := range set.Names() {
		for _, v := range vouchers {
			d := frenchData(v)
			var outputs []string
			if set.Check(journey.Email, name) == nil {
				e, err := set.RenderEmail(name, d)
				require.NoError(t, err, name)
				outputs = append(outputs, e.Subject, e.Text, e.HTML)
			}
			if set.Check(journey.SMS, name) == nil {
				sms, err := set.RenderSMS(name, d)
				require.NoError(t, err, name)
				outputs = append(outputs, sms)
			}
			if set.Check(journey.Mail, name) == nil {
				m, err := set.RenderMail(name, d)
				require.NoError(t, err, name)
				outputs = append(outputs, m.HTML, m.Front, m.Back)
			}
			require.NotEmpty(t, outputs, name)
			for _, out := range outputs {
				assert.Empty(t, localetest.EnglishIn(out, "fr"), "%s renders English for a fr-FR customer:\n%s", name, out)
			}
			if strings.Contains(name, "winback") {
				all := strings.Join(outputs, "\n")
				assert.Contains(t, all, "4 décembre 2026", "%s: the voucher's date in French", name)
				assert.Contains(t, all, " de réduction", "%s: the voucher in French", name)
			}
		}
	}
	// The check itself finds what it is meant to.
	assert.Equal(t, []string{"December", "off", "until"}, localetest.EnglishIn("15 % off until 4 December 2026", "fr"))
}

// Rapport's own words in templates follow the customer's locale, with
// the chain fr-CA, fr, en.
func TestRapportsWordsFollowTheLocale(t *testing.T) {
	set, err := Load(fstestMap(map[string]string{
		"offer/email.txt": "Subject: Offer{{with .Voucher}} {{.Description}}{{end}}\n" +
			"{{with .Order}}{{date .PlacedAt $.Customer.Locale}}|{{fulldate .PlacedAt $.Customer.Locale}}|{{month .PlacedAt $.Customer.Locale}}|" +
			"{{weekday .PlacedAt $.Customer.Locale}}|{{list .ItemNames $.Customer.Locale}}|{{season .PlacedAt $.Customer.Locale}}{{end}}|" +
			"{{with .Fallback}}{{.Channel}}: {{.Reason}}{{end}}",
	}), "t")
	require.NoError(t, err)
	for _, tc := range []struct{ locale, subject, text string }{
		{"fr-CA", "Offer 15\u00a0% de réduction", "4 décembre 2026|vendredi 4 décembre 2026|décembre|vendredi|Thé vert, Tasse et Théière bleue|hiver|SMS: non envoyé : pas de numéro de téléphone"},
		{"fr-FR", "Offer 15\u00a0% de réduction", "4 décembre 2026|vendredi 4 décembre 2026|décembre|vendredi|Thé vert, Tasse et Théière bleue|hiver|SMS: non envoyé : pas de numéro de téléphone"},
		{"en-GB", "Offer 15% off", "4 December 2026|Friday, 4 December 2026|December|Friday|Thé vert, Tasse and Théière bleue|winter|text message: not sent: no phone number"},
		{"en-US", "Offer 15% off", "December 4, 2026|Friday, December 4, 2026|December|Friday|Thé vert, Tasse and Théière bleue|winter|text message: not sent: no phone number"},
		{"de-DE", "Offer 15% off", "4 December 2026|Friday, 4 December 2026|December|Friday|Thé vert, Tasse and Théière bleue|winter|text message: not sent: no phone number"},
	} {
		d := frenchData(&Voucher{Code: "C", Percent: 15})
		d.Customer.Locale = tc.locale
		e, err := set.RenderEmail("offer", d)
		require.NoError(t, err)
		assert.Equal(t, tc.subject, e.Subject, tc.locale)
		assert.Equal(t, tc.text, e.Text, tc.locale)
	}
	// A reason Rapport does not know is said by its status alone, never
	// in a provider's English.
	d := frenchData(nil)
	d.Fallback = &Fallback{From: "email", Reason: "failed: sendgrid 400: does not contain a valid address"}
	e, err := set.RenderEmail("offer", d)
	require.NoError(t, err)
	assert.True(t, strings.HasSuffix(e.Text, "|e-mail: échec de l'envoi"), e.Text)
	d.Customer.Locale = "en-GB"
	e, err = set.RenderEmail("offer", d)
	require.NoError(t, err)
	assert.True(t, strings.HasSuffix(e.Text, "|email: failed: sendgrid 400: does not contain a valid address"), "English readers get the reason as recorded: %s", e.Text)
	assert.Equal(t, "10,00\u00a0€ de réduction", (&Voucher{Amount: money.MustParse("10"), Currency: "EUR", Locale: "fr-FR"}).Description())
	assert.Equal(t, "12,5\u00a0% de réduction", (&Voucher{Percent: 12.5, Locale: "fr"}).Description())
}

func fstestMap(files map[string]string) fstest.MapFS {
	fs := fstest.MapFS{}
	for name, src := range files {
		fs[name] = &fstest.MapFile{Data: []byte(src)}
	}
	return fs
}
