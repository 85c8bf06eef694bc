package templates

import (
	"os"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/journey"
)

func TestThankYouIsPersonal(t *testing.T) {
	set, err := Load(os.DirFS("../../journeys/templates"), "journeys/templates")
	require.NoError(t, err)
	require.NoError(t, set.Check(journey.Email, "thank-you"))

	d := Data{
		Customer: Customer{Name: "Ada Lovelace", FirstName: "Ada", Locale: "en-GB"},
		Shop:     Shop{Name: "Teapot & Co", SupportEmail: "care@teapot.example"},
		Order: &Order{ID: "o-1001", Total: 1234.5, Currency: "GBP",
			Items: []Item{{Name: "Earl Grey", Quantity: 2, Price: 4.25}, {Name: "Blue Teapot", Quantity: 1, Price: 1226}}},
	}
	e, err := set.RenderEmail("thank-you", d)
	require.NoError(t, err)
	assert.Equal(t, "Thank you for your order, Ada!", e.Subject)
	assert.Contains(t, e.Text, "Hi Ada,")
	assert.Contains(t, e.Text, "Thank you for ordering Earl Grey and Blue Teapot from Teapot & Co. We are getting them ready")
	assert.Contains(t, e.Text, "comes to £1,234.50")
	assert.NotContains(t, e.Text, "gift")
	assert.Contains(t, e.HTML, "Teapot &amp; Co", "HTML escapes")
	assert.Contains(t, e.HTML, `lang="en-GB"`)

	d.Order.Gift = true
	d.Order.Items = d.Order.Items[:1]
	e, err = set.RenderEmail("thank-you", d)
	require.NoError(t, err)
	assert.Contains(t, e.Text, "ordering Earl Grey from Teapot & Co. We are getting it ready")
	assert.Contains(t, e.Text, "this one is a gift")
	assert.Contains(t, e.HTML, "this one is a gift")
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
	assert.EqualError(t, set.Check(journey.Email, "b"), `template "b" has no email version; add t/b/email.txt`)
	assert.Error(t, set.Check(journey.SMS, "a"))
	assert.Equal(t, []string{"a"}, set.Names())
}

func TestFuncs(t *testing.T) {
	assert.Equal(t, "$1,000,000.00", money(1e6, "usd"))
	assert.Equal(t, "¥1,235", money(1234.6, "JPY"))
	assert.Equal(t, "-€3.10", money(-3.1, "EUR"))
	assert.Equal(t, "12.00 CHF", money(12, "CHF"))
	assert.Equal(t, "a, b and c", list([]string{"a", "b", "c"}))
	assert.Equal(t, "", list(nil))
	assert.Equal(t, "mug", plural(1, "mug", "mugs"))
}
