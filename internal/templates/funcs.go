package templates

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// funcs are the helpers templates may call.
var funcs = map[string]any{
	"money":  money,
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

var currencySymbols = map[string]string{
	"USD": "$", "GBP": "£", "EUR": "€", "JPY": "¥", "CAD": "CA$", "AUD": "A$", "NZD": "NZ$", "INR": "₹",
}

var zeroDecimal = map[string]bool{"JPY": true, "KRW": true}

// money formats an amount in a currency: money 12.5 "GBP" is £12.50.
func money(amount float64, currency string) string {
	currency = strings.ToUpper(currency)
	format := "%.2f"
	if zeroDecimal[currency] {
		format = "%.0f"
		amount = math.Round(amount)
	}
	n := fmt.Sprintf(format, math.Abs(amount))
	intPart, frac, hasFrac := strings.Cut(n, ".")
	var b strings.Builder
	for i, r := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if hasFrac {
		b.WriteString("." + frac)
	}
	sign := ""
	if amount < 0 {
		sign = "-"
	}
	if sym, ok := currencySymbols[currency]; ok {
		return sign + sym + b.String()
	}
	return sign + b.String() + " " + currency
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
