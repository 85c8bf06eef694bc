package templates

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/money"
)

func TestThankYouIsPersonal(t *testing.T) {
	set, err := Load(os.DirFS("../../journeys/templates"), "journeys/templates")
	require.NoError(t, err)
	require.NoError(t, set.Check(journey.Email, "thank-you"))

	d := Data{
		Customer: Customer{Name: "Ada Lovelace", FirstName: "Ada", Locale: "en-GB"},
		Shop:     Shop{Name: "Teapot & Co", SupportEmail: "care@teapot.example"},
		Order: &Order{ID: "o-1001", Total: money.MustParse("1234.5"), Currency: "GBP",
			Items: []Item{{Name: "Earl Grey", Quantity: 2, Price: money.MustParse("4.25")}, {Name: "Blue Teapot", Quantity: 1, Price: money.MustParse("1226")}}},
	}
	e, err := set.RenderEmail("thank-you", d)
	require.NoError(t, err)
	assert.Equal(t, "Thank you for your order, Ada", e.Subject, "en-GB copy")
	assert.Contains(t, e.Text, "Hi Ada,")
	assert.Contains(t, e.Text, "Thank you for ordering Earl Grey and Blue Teapot from Teapot & Co. We're getting them ready")
	assert.Contains(t, e.Text, "cosy winter afternoon with your favourite cuppa", "seasonal copy in British English")
	assert.Contains(t, e.Text, "comes to £1,234.50")
	assert.NotContains(t, e.Text, "gift")
	assert.Contains(t, e.HTML, "Teapot &amp; Co", "HTML escapes")
	assert.Contains(t, e.HTML, `lang="en-GB"`)

	d.Order.Gift = true
	d.Order.Items = d.Order.Items[:1]
	e, err = set.RenderEmail("thank-you", d)
	require.NoError(t, err)
	assert.Contains(t, e.Text, "ordering Earl Grey from Teapot & Co. We're getting it ready")
	assert.Contains(t, e.Text, "this one is a gift")
	assert.Contains(t, e.HTML, "this one is a gift")

	d.Customer.Locale = "en-US"
	d.Order.PlacedAt = time.Date(2026, 10, 3, 0, 0, 0, 0, time.UTC)
	e, err = set.RenderEmail("thank-you", d)
	require.NoError(t, err)
	assert.Equal(t, "Thank you for your order, Ada!", e.Subject)
	assert.Contains(t, e.Text, "We are getting it ready")
	assert.Contains(t, e.Text, "cozy fall afternoon with your favorite cup")
	assert.Contains(t, e.HTML, "cozy fall afternoon")
}

// Amounts are written in the customer's locale, with the currency's own
// decimal places, in templates (money with $.Customer.Locale) and in a
// voucher's description.
func TestAmountsFollowTheLocale(t *testing.T) {
	set, err := Load(fstest.MapFS{
		"offer/email.txt": {Data: []byte("Subject: Offer{{with .Voucher}}: {{.Description}}{{end}}\n" +
			"{{with .Order}}{{money .Total .Currency $.Customer.Locale}}{{range .Items}} {{money .Price $.Order.Currency $.Customer.Locale}}{{end}}{{end}}")},
	}, "t")
	require.NoError(t, err)
	d := Data{Customer: Customer{Locale: "de-DE"},
		Order: &Order{ID: "o", Total: money.MustParse("1234.50"), Currency: "EUR",
			Items: []Item{{Name: "Tee", Quantity: 1, Price: money.MustParse("1234.50")}}},
		Voucher: &Voucher{Code: "C", Amount: money.MustParse("10"), Currency: "EUR"}}
	e, err := set.RenderEmail("offer", d)
	require.NoError(t, err)
	assert.Equal(t, "Offer: 10,00\u00a0€ off", e.Subject)
	assert.Equal(t, "1.234,50\u00a0€ 1.234,50\u00a0€", e.Text)
	assert.Empty(t, d.Voucher.Locale, "rendering leaves the caller's voucher alone")

	d.Customer.Locale = "en-GB"
	d.Order.Currency, d.Order.Total, d.Order.Items[0].Price = "JPY", money.MustParse("4800"), money.MustParse("4800")
	e, err = set.RenderEmail("offer", d)
	require.NoError(t, err)
	assert.Equal(t, "Offer: €10.00 off", e.Subject)
	assert.Equal(t, "¥4,800 ¥4,800", e.Text)
}

func TestLoadReportsBrokenTemplates(t *testing.T) {
	_, err := Load(fstest.MapFS{
		"a/email.txt":  {Data: []byte("Subject: Hi {{.Customer.Nmae}}\nBody")},
		"b/email.txt":  {Data: []byte("No subject line\n")},
		"c/email.txt":  {Data: []byte("Subject: x\n{{if}}")},
		"d/email.html": {Data: []byte("<p>html only</p>")},
	}, "journeys/templates")
	require.Error(t, err)
	msg := err.Error()
	assert.Contains(t, msg, "journeys/templates/a/email.txt:1:")
	assert.Contains(t, msg, "can't evaluate field Nmae")
	assert.Contains(t, msg, "journeys/templates/b/email.txt:1: the first line must be the subject")
	assert.Contains(t, msg, "journeys/templates/c/email.txt:2:")
	assert.Contains(t, msg, "journeys/templates/d/email.html: an email needs a text version")
}

func TestCheck(t *testing.T) {
	set, err := Load(fstest.MapFS{"a/email.txt": {Data: []byte("Subject: x\ny")}}, "t")
	require.NoError(t, err)
	assert.NoError(t, set.Check(journey.Email, "a"))
	assert.EqualError(t, set.Check(journey.Email, "winter-sale"), `there is no template "winter-sale"; add t/winter-sale/email.txt`)
	assert.EqualError(t, set.Check(journey.Email, "A"), `there is no template "A"; did you mean "a"? (the templates are the folders of t)`)
	assert.EqualError(t, set.Check(journey.SMS, "a"), `template "a" has no sms version; add t/a/sms.txt`)
	assert.Equal(t, []string{"a"}, set.Names())
}

func TestFuncs(t *testing.T) {
	for _, tc := range []struct {
		amount, currency string
		locale           []string
		want             string
	}{
		{"1000000", "usd", nil, "$1,000,000.00"},
		{"4800", "JPY", []string{"ja-JP"}, "¥4,800"},
		{"-3.1", "EUR", nil, "-€3.10"},
		{"48.00", "GBP", []string{"en-GB"}, "£48.00"},
		{"48.00", "EUR", []string{"de-DE"}, "48,00\u00a0€"},
		{"12", "CHF", []string{"de-CH"}, "CHF\u00a012.00"},
	} {
		got, err := formatMoney(money.MustParse(tc.amount), tc.currency, tc.locale...)
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, "%s %s %v", tc.amount, tc.currency, tc.locale)
	}
	_, err := formatMoney(money.MustParse("1"), "EUR", "de", "fr")
	assert.Error(t, err, "one locale at most")
	for _, tc := range []struct {
		words  []string
		locale []string
		want   string
	}{
		{[]string{"a", "b", "c"}, nil, "a, b and c"},
		{nil, nil, ""},
		{[]string{"a"}, []string{"fr"}, "a"},
		{[]string{"a", "b", "c"}, []string{"en-GB"}, "a, b and c"},
		{[]string{"a", "b", "c"}, []string{"fr-CA"}, "a, b et c"},
	} {
		got, err := list(tc.words, tc.locale...)
		require.NoError(t, err)
		assert.Equal(t, tc.want, got)
	}
	_, err = list([]string{"a"}, "en", "fr")
	assert.Error(t, err, "one locale at most")
	assert.Equal(t, "mug", plural(1, "mug", "mugs"))
}

// TestSeasonFollowsTheHemisphere: November is autumn in London, spring in
// Sydney, by the customer's country or else their locale's region.
func TestSeasonFollowsTheHemisphere(t *testing.T) {
	nov, may := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC), time.Date(2026, 5, 3, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		day     time.Time
		locale  string
		country []string
		want    string
	}{
		{nov, "en-GB", []string{"GB"}, "autumn"},
		{nov, "en-AU", []string{"AU"}, "spring"},
		{nov, "en-AU", nil, "spring"},
		{nov, "en-GB", []string{"NZ"}, "spring" /* the country wins over the locale */},
		{nov, "en-AU", []string{""}, "spring"},
		{nov, "en-US", nil, "fall"},
		{may, "es-AR", nil, "autumn"},
		{may, "en-US", []string{"US"}, "spring"},
		{time.Date(2026, 12, 25, 0, 0, 0, 0, time.UTC), "en", []string{"za"}, "summer"},
	} {
		got, err := season(tc.day, tc.locale, tc.country...)
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, "%s %s %v", tc.day.Month(), tc.locale, tc.country)
	}
	_, err := season(nov, "en", "GB", "AU")
	assert.Error(t, err)
}

func TestChannelsAndLocales(t *testing.T) {
	set, err := Load(fstest.MapFS{
		"offer/email.txt":           {Data: []byte("Subject: Your favorite tea{{with .Voucher}}, {{.Description}}{{end}}\nColor me happy.")},
		"offer/en-GB/email.txt":     {Data: []byte("Subject: Your favourite tea{{with .Voucher}}, {{.Description}}{{end}}\nColour me happy.")},
		"offer/sms.txt":             {Data: []byte("{{.Shop.Name}}: {{with .Voucher}}{{.Code}} gives {{.Description}} until {{date .ExpiresAt $.Customer.Locale}}{{end}}")},
		"offer/postcard.front.html": {Data: []byte("<h1>We miss you, {{.Customer.FirstName}}</h1>")},
		"offer/postcard.back.html":  {Data: []byte("<p>{{with .Voucher}}{{.Code}}{{end}}</p>")},
		"letter/letter.html":        {Data: []byte("<p>Dear {{.Customer.Name}}</p>")},
		"picks/email.txt":           {Data: []byte("Subject: For you\n{{range .Products}}- {{.Name}} {{money .Price .Currency}}\n{{end}}")},
		"survey/email.txt":          {Data: []byte("Subject: How did we do?\n{{.Links.Survey}}")},
	}, "t")
	require.NoError(t, err)
	for _, ch := range []journey.Channel{journey.Email, journey.SMS, journey.Mail} {
		assert.NoError(t, set.Check(ch, "offer"), ch)
	}
	assert.NoError(t, set.Check(journey.Mail, "letter"))
	assert.EqualError(t, set.Check(journey.SMS, "letter"), `template "letter" has no sms version; add t/letter/sms.txt`)

	v := &Voucher{Code: "AAAA-BBBB", Percent: 15, ExpiresAt: time.Date(2030, 1, 31, 0, 0, 0, 0, time.UTC)}
	d := Data{Customer: Customer{FirstName: "Ada", Name: "Ada Lovelace", Locale: "en-GB"}, Voucher: v, Shop: Shop{Name: "Teapot"}}
	e, err := set.RenderEmail("offer", d)
	require.NoError(t, err)
	assert.Equal(t, "Your favourite tea, 15% off", e.Subject, "en-GB gets its own spelling")
	d.Customer.Locale = "en-US"
	e, err = set.RenderEmail("offer", d)
	require.NoError(t, err)
	assert.Equal(t, "Your favorite tea, 15% off", e.Subject)
	d.Customer.Locale = "fr-FR"
	e, _ = set.RenderEmail("offer", d)
	assert.Equal(t, "Your favorite tea, 15\u00a0% de réduction", e.Subject, "other locales fall back to the default template; Rapport's own words follow the locale")

	d.Customer.Locale = "en-GB"
	sms, err := set.RenderSMS("offer", d)
	require.NoError(t, err)
	assert.Equal(t, "Teapot: AAAA-BBBB gives 15% off until 31 January 2030", sms, "en-GB has no sms.txt: the default is used")
	d.Customer.Locale = "en-US"
	sms, _ = set.RenderSMS("offer", d)
	assert.Contains(t, sms, "January 31, 2030")

	m, err := set.RenderMail("offer", d)
	require.NoError(t, err)
	assert.Equal(t, "postcard", m.Kind)
	assert.Equal(t, "<h1>We miss you, Ada</h1>", m.Front)
	assert.Equal(t, "<p>AAAA-BBBB</p>", m.Back)
	m, err = set.RenderMail("letter", d)
	require.NoError(t, err)
	assert.Equal(t, "letter", m.Kind)
	assert.Equal(t, "<p>Dear Ada Lovelace</p>", m.HTML)

	e, err = set.RenderEmail("picks", Data{Products: []Product{{Name: "Teapot", Price: money.MustParse("25"), Currency: "GBP"}}})
	require.NoError(t, err)
	assert.Equal(t, "- Teapot £25.00\n", e.Text)

	assert.Equal(t, "£10.00 off", (&Voucher{Amount: money.MustParse("10"), Currency: "GBP"}).Description())
	assert.Equal(t, "12.5% off", (&Voucher{Percent: 12.5}).Description())
}

func TestLoadRejectsBadChannelFiles(t *testing.T) {
	long := strings.Repeat("x", 1700)
	for name, tc := range map[string]struct {
		files fstest.MapFS
		want  string
	}{
		"half a postcard":        {fstest.MapFS{"a/postcard.front.html": {Data: []byte("x")}}, "t/a: a postcard needs both"},
		"letter and postcard":    {fstest.MapFS{"a/letter.html": {Data: []byte("x")}, "a/postcard.front.html": {Data: []byte("x")}, "a/postcard.back.html": {Data: []byte("x")}}, "a letter or a postcard, not both"},
		"sms too long":           {fstest.MapFS{"a/sms.txt": {Data: []byte(long)}}, "t/a/sms.txt: renders to 1700 characters"},
		"locale only":            {fstest.MapFS{"a/email.txt": {Data: []byte("Subject: x\n")}, "a/en-GB/sms.txt": {Data: []byte("x")}}, "has a sms version for en-gb but none for other customers"},
		"not a locale":           {fstest.MapFS{"a/email.txt": {Data: []byte("Subject: x\n")}, "a/drafts/email.txt": {Data: []byte("Subject: x\n")}}, "t/a/drafts: a folder in a template must be named after a locale"},
		"unguarded voucher":      {fstest.MapFS{"a/sms.txt": {Data: []byte("{{.Voucher.Code}}")}}, "nil pointer"},
		"broken html in variant": {fstest.MapFS{"a/letter.html": {Data: []byte("x")}, "a/en-GB/letter.html": {Data: []byte("{{.Nope}}")}}, "t/a/en-GB/letter.html:1:"},
	} {
		_, err := Load(tc.files, "t")
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), tc.want, name)
	}
}

// TestVersions: a template's version hashes all its files (locale
// variants too), changes with any of them, and loads back as it was.
func TestVersions(t *testing.T) {
	files := fstest.MapFS{
		"a/email.txt":       {Data: []byte("Subject: Hi\nHello\n")},
		"a/en-GB/email.txt": {Data: []byte("Subject: Hi\nHello, mate\n")},
		"b/sms.txt":         {Data: []byte("Hi {{.Customer.FirstName}}")},
	}
	set, err := Load(files, "t")
	require.NoError(t, err)
	va, ok := set.Version("a")
	require.True(t, ok)
	_, ok = set.Version("nope")
	assert.False(t, ok)
	versions := set.Versions()
	require.Len(t, versions, 2)
	assert.Equal(t, "a", versions[0].Name)
	assert.Equal(t, map[string]string{"email.txt": "Subject: Hi\nHello\n", "en-GB/email.txt": "Subject: Hi\nHello, mate\n"}, versions[0].Files)

	files["a/en-GB/email.txt"] = &fstest.MapFile{Data: []byte("Subject: Hi\nHello, friend\n")}
	edited, err := Load(files, "t")
	require.NoError(t, err)
	va2, _ := edited.Version("a")
	assert.NotEqual(t, va, va2, "a locale variant's edit is a new version")
	vb, _ := set.Version("b")
	vb2, _ := edited.Version("b")
	assert.Equal(t, vb, vb2)

	back, err := LoadVersion(versions[0], "pinned")
	require.NoError(t, err)
	got, _ := back.Version("a")
	assert.Equal(t, va, got)
	e, err := back.RenderEmail("a", Data{Customer: Customer{Locale: "en-GB"}})
	require.NoError(t, err)
	assert.Equal(t, "Hello, mate", strings.TrimSpace(e.Text))

	tampered := versions[0]
	tampered.Hash = "0000"
	_, err = LoadVersion(tampered, "pinned")
	assert.ErrorContains(t, err, "hash to")
}

// A subject is one line, whatever the data holds: the subject line and
// the body are templates of their own, so a customer's name with CR LF
// and header-like text stays in the subject, on one line, and the body
// is what the template says.
func TestASubjectIsOneLineWhateverTheData(t *testing.T) {
	set, err := Load(fstest.MapFS{
		"offer/email.txt": {Data: []byte("Subject: Offer for {{.Customer.Name}}\r\nHello {{.Customer.FirstName}},\nhere it is.\n")},
		"offer/sms.txt":   {Data: []byte("Hi {{.Customer.Name}}:\r\n{{.Trigger.Data.note}}")},
	}, "t")
	require.NoError(t, err)
	name := "Bob\r\nBcc: evil@example.com\r\nX-Injected: 1"
	d := Data{Customer: Customer{Name: name, FirstName: "Bob"}, Trigger: &Event{Data: map[string]any{"note": "a\u2028b\x07c\u0085d"}}}
	e, err := set.RenderEmail("offer", d)
	require.NoError(t, err)
	assert.Equal(t, "Offer for Bob Bcc: evil@example.com X-Injected: 1", e.Subject)
	assert.NotContains(t, e.Subject, "\r")
	assert.NotContains(t, e.Subject, "\n")
	assert.Equal(t, "Hello Bob,\nhere it is.\n", e.Text, "the body is the template's, nothing of the subject moved into it")

	for _, sep := range []string{"\n", "\r", "\u2028", "\u2029", "\u0085", "\t", "\x00", "\x1b", "  \r\n  "} {
		d.Customer.Name = "Ada" + sep + "Lovelace"
		e, err := set.RenderEmail("offer", d)
		require.NoError(t, err)
		assert.Equal(t, "Offer for Ada Lovelace", e.Subject, "%q", sep)
	}

	// A very long value is cut, so the subject stays a subject.
	d.Customer.Name = strings.Repeat("Bob ", 5000)
	e, err = set.RenderEmail("offer", d)
	require.NoError(t, err)
	assert.Equal(t, maxSubject, len([]rune(e.Subject)))
	assert.True(t, strings.HasSuffix(e.Subject, "…"))
	assert.True(t, strings.HasPrefix(e.Subject, "Offer for Bob Bob"))

	// A text message keeps its lines, as "\n", and no other control
	// character.
	d.Customer.Name = "Bob\r\nBcc"
	body, err := set.RenderSMS("offer", d)
	require.NoError(t, err)
	assert.Equal(t, "Hi Bob\nBcc:\na\nb c\nd", body)

	// One longer than a text message can be is refused when rendered,
	// rather than by the provider.
	d.Customer.Name = strings.Repeat("b", 2000)
	_, err = set.RenderSMS("offer", d)
	assert.ErrorContains(t, err, "a text message can be at most 1600")
}

// The subject is the first line, a template of its own: an action that
// goes on to the next line is refused when the templates load, saying
// so.
func TestASubjectActionEndsOnItsLine(t *testing.T) {
	_, err := Load(fstest.MapFS{
		"a/email.txt": {Data: []byte("Subject: Hi {{if .Customer.FirstName}}\n{{.Customer.FirstName}}{{end}}\nBody")},
	}, "journeys/templates")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "journeys/templates/a/email.txt:1:")
	assert.Contains(t, err.Error(), "each {{...}} in it must end on that line")
}

// money takes a literal amount as a template writes it, exactly: a whole
// number, a number with a point (read as the decimal written, not as the
// nearest binary fraction) or a decimal string.
func TestMoneyTakesALiteralAmountExactly(t *testing.T) {
	for _, tc := range []struct{ tmpl, want string }{
		{`{{money 10 "EUR"}}`, "€10.00"},
		{`{{money 10 "EUR" "de-DE"}}`, "10,00\u00a0€"},
		{`{{money 9.99 "GBP"}}`, "£9.99"},
		{`{{money "9.99" "GBP"}}`, "£9.99"},
		{`{{money 1.005 "USD"}}`, money.Format(money.MustParse("1.005"), "USD", "")},
		{`{{money 0.1 "KWD"}}`, money.Format(money.MustParse("0.1"), "KWD", "")},
		{`{{money 12345678.91 "EUR"}}`, "€12,345,678.91"},
		{`{{money -3 "JPY"}}`, "-¥3"},
		{`{{money "1234.5" "EUR" "fr-FR"}}`, money.Format(money.MustParse("1234.5"), "EUR", "fr-FR")},
	} {
		set, err := Load(fstest.MapFS{"m/email.txt": {Data: []byte("Subject: x\n" + tc.tmpl)}}, "t")
		require.NoError(t, err, tc.tmpl)
		e, err := set.RenderEmail("m", Data{})
		require.NoError(t, err, tc.tmpl)
		assert.Equal(t, tc.want, e.Text, tc.tmpl)
	}
	// 1.005 is not the float 1.00499999999999989...: it rounds as written.
	assert.Equal(t, "$1.01", money.Format(money.MustParse("1.005"), "USD", ""), "half away from zero, as written")
	for _, bad := range []string{`{{money "ten" "EUR"}}`, `{{money true "EUR"}}`, `{{money "1e999" "EUR"}}`} {
		_, err := Load(fstest.MapFS{"m/email.txt": {Data: []byte("Subject: x\n" + bad)}}, "t")
		assert.ErrorContains(t, err, "is not an amount", "refused when the template is loaded: %s", bad)
	}
}

// A webhook template renders one JSON value; {{json}} keeps any value
// inside it, and a template that renders something else is refused when
// loaded, or fails the message when only the customer's data breaks it.
func TestWebhookTemplatesRenderJSON(t *testing.T) {
	set, err := Load(fstest.MapFS{
		"hook/webhook.json": {Data: []byte(`{"customer": {{json .Customer.ID}}, "name": {{json .Customer.Name}}, "tier": {{json .Customer.Attributes.tier}}{{with .Order}}, "total": {{json .Total}}{{end}}}`)},
		"bare/webhook.json": {Data: []byte(`{"tier": {{.Customer.Attributes.tier}}}`)},
	}, "t")
	require.NoError(t, err)
	require.NoError(t, set.Check(journey.Webhook, "hook"))
	d := Data{Customer: Customer{ID: "c_1", Name: "Ada \"A\"\n</script>", Attributes: map[string]any{"tier": "gold"}},
		Order: &Order{ID: "o", Total: money.MustParse("12.50"), Currency: "EUR"}}
	body, err := set.RenderWebhook("hook", d)
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.Unmarshal(body, &got))
	assert.Equal(t, "Ada \"A\"\n</script>", got["name"])
	assert.Equal(t, "gold", got["tier"])
	assert.InDelta(t, 12.5, got["total"], 0)

	_, err = set.RenderWebhook("bare", d)
	require.Error(t, err, "gold unquoted is not JSON")
	assert.Contains(t, err.Error(), "does not render valid JSON")
	d.Customer.Attributes["tier"] = 3
	_, err = set.RenderWebhook("bare", d)
	require.NoError(t, err)

	_, err = Load(fstest.MapFS{"broken/webhook.json": {Data: []byte(`{"id": {{.Customer.ID}}}`)}}, "journeys/templates")
	require.Error(t, err, "the sample customer's id unquoted is not JSON")
	assert.Contains(t, err.Error(), "journeys/templates/broken/webhook.json: does not render valid JSON")
	_, err = Load(fstest.MapFS{"two/webhook.json": {Data: []byte(`{} {}`)}}, "t")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "more than one JSON value")
}
