package locale

import (
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var verbRe = regexp.MustCompile(`%(\[\d+\])?[-+# 0-9.]*[a-zA-Z%]`)

// Every shipped language says every sentence, with the same fmt verbs in
// the same order (a %d where English has %s would print garbage), and
// says nothing English does not.
func TestEveryKeyIsTranslatedInEveryLocale(t *testing.T) {
	require.Contains(t, Locales(), "en")
	require.Contains(t, Locales(), "fr")
	for _, l := range Locales() {
		for _, k := range Keys() {
			s, ok := Text(l, k)
			if !assert.True(t, ok, "%s.yaml has no %s", l, k) {
				continue
			}
			assert.NotEmpty(t, s, "%s.yaml: %s", l, k)
			en, _ := Text(Default, k)
			assert.Equal(t, verbRe.FindAllString(en, -1), verbRe.FindAllString(s, -1), "%s.yaml: %s has other verbs than en.yaml's", l, k)
		}
		for k := range catalogs[l] {
			_, ok := Text(Default, k)
			assert.True(t, ok, "%s.yaml: %s is not in en.yaml", l, k)
		}
	}
}

func TestChain(t *testing.T) {
	for in, want := range map[string][]string{
		"fr-CA":   {"fr-CA", "fr", "en"},
		"fr_ca":   {"fr-CA", "fr", "en"},
		"fr":      {"fr", "en"},
		"en-GB":   {"en-GB", "en"},
		"en":      {"en"},
		"":        {"en"},
		"klingon": {"en"},
		"de-DE":   {"de-DE", "de", "en"},
	} {
		assert.Equal(t, want, Chain(in), in)
	}
	assert.Equal(t, "fr", Lang("fr-CA"))
	assert.Equal(t, "en", Lang("de-DE"), "no German catalog yet")
}

func TestT(t *testing.T) {
	assert.Equal(t, "10,00 € de réduction", T("fr-CA", "voucher.off", "10,00 €"), "fr-CA falls back to fr")
	assert.Equal(t, "10.00 off", T("de-DE", "voucher.off", "10.00"), "German falls back to English")
	assert.Equal(t, "!no.such.key", T("fr", "no.such.key"))
	assert.Equal(t, "Vos préférences", Words("fr-FR", "center.")["title"])
	assert.Equal(t, "Your preferences", Words("xx", "center.")["title"])
}

// Dates, months and weekdays come from CLDR, in the language Rapport
// writes to the customer.
func TestDates(t *testing.T) {
	d := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct{ locale, date, full string }{
		{"fr-FR", "4 décembre 2026", "vendredi 4 décembre 2026"},
		{"fr-CA", "4 décembre 2026", "vendredi 4 décembre 2026"},
		{"fr", "4 décembre 2026", "vendredi 4 décembre 2026"},
		{"en-US", "December 4, 2026", "Friday, December 4, 2026"},
		{"en", "December 4, 2026", "Friday, December 4, 2026"},
		{"en-GB", "4 December 2026", "Friday, 4 December 2026"},
		{"", "4 December 2026", "Friday, 4 December 2026"},
		{"de-DE", "4 December 2026", "Friday, 4 December 2026"},
	} {
		assert.Equal(t, tc.date, Date(d, tc.locale), tc.locale)
		assert.Equal(t, tc.full, FullDate(d, tc.locale), tc.locale)
	}
	assert.Equal(t, "décembre", Month(time.December, "fr-FR"))
	assert.Equal(t, "December", Month(time.December, "en-GB"))
	assert.Equal(t, "vendredi", Weekday(time.Friday, "fr-CA"))
	assert.Equal(t, "Friday", Weekday(time.Friday, ""))
	assert.Equal(t, "15%", Percent(15, 0, "en-GB"))
	assert.Equal(t, "12,5\u00a0%", Percent(12.5, 1, "fr-FR"))
}
