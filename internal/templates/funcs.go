package templates

import (
	"fmt"
	"strings"
	"time"

	"github.com/rapporthq/rapport/internal/money"
)

// funcs are the helpers templates may call.
var funcs = map[string]any{
	"money":  formatMoney,
	"list":   list,
	"plural": plural,
	"upper":  strings.ToUpper,
	"lower":  strings.ToLower,
	"date":   date,
	"season": season,
}

// season names the (northern) season of a day in the locale's words:
// "autumn" for en-GB and most of the world, "fall" for en-US.
func season(t time.Time, locale string) string {
	switch t.Month() {
	case time.December, time.January, time.February:
		return "winter"
	case time.March, time.April, time.May:
		return "spring"
	case time.June, time.July, time.August:
		return "summer"
	}
	if strings.EqualFold(locale, "en-US") || strings.EqualFold(locale, "en") {
		return "fall"
	}
	return "autumn"
}

// date formats a day the way the locale writes it: "31 January 2030" for
// en-GB and most of the world, "January 31, 2030" for en-US.
func date(t time.Time, locale string) string {
	if strings.EqualFold(locale, "en-US") || strings.EqualFold(locale, "en") {
		return t.Format("January 2, 2006")
	}
	return t.Format("2 January 2006")
}

// formatMoney writes an amount in a currency the way a locale does, with
// the currency's decimal places: money .Total .Currency $.Customer.Locale
// is £48.00 for en-GB, 48,00 € for de-DE, ¥4,800 for JPY. Without a
// locale it writes the English way.
func formatMoney(amount money.Amount, currency string, locale ...string) (string, error) {
	if len(locale) > 1 {
		return "", fmt.Errorf("money takes an amount, a currency and at most one locale, not %d locales", len(locale))
	}
	loc := ""
	if len(locale) == 1 {
		loc = locale[0]
	}
	return money.Format(amount, currency, loc), nil
}

// list joins words for a sentence: "Tea", "Tea and Mug", "Tea, Mug and Pot".
func list(words []string) string {
	switch len(words) {
	case 0:
		return ""
	case 1:
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " and " + words[len(words)-1]
}

// plural picks the singular or plural form for n: plural 2 "mug" "mugs".
func plural(n int, singular, pluralForm string) string {
	if n == 1 {
		return singular
	}
	return pluralForm
}
