package templates

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/language"

	loc "github.com/rapporthq/rapport/internal/locale"
	"github.com/rapporthq/rapport/internal/money"
)

// funcs are the helpers templates may call.
var funcs = map[string]any{
	"money":    formatMoney,
	"list":     list,
	"plural":   plural,
	"upper":    strings.ToUpper,
	"lower":    strings.ToLower,
	"date":     date,
	"fulldate": fullDate,
	"month":    month,
	"weekday":  weekday,
	"season":   season,
	"json":     jsonValue,
}

// jsonValue writes a value as JSON text ({{json .Customer.Name}} is
// "Ada \"A\" Lovelace" with its quotes), for webhook.json: whatever a
// value holds, it stays one JSON value.
func jsonValue(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// season names the season of a day in the locale's words ("autumn" for
// en-GB and most of the world, "fall" for en-US), in the hemisphere of the
// country given (season .PlacedAt $.Customer.Locale $.Customer.Country),
// else of the locale's region (en-AU: southern), else northern.
func season(t time.Time, locale string, country ...string) (string, error) {
	if len(country) > 1 {
		return "", fmt.Errorf("season takes a day, a locale and at most one country, not %d countries", len(country))
	}
	where := ""
	if len(country) == 1 {
		where = country[0]
	}
	if where == "" {
		if tag, err := language.Parse(locale); err == nil {
			if r, conf := tag.Region(); conf != language.No {
				where = r.String()
			}
		}
	}
	m := t.Month()
	if southern[strings.ToUpper(where)] {
		m = (m+5)%12 + 1 // six months on: November is May's season
	}
	switch m {
	case time.December, time.January, time.February:
		return loc.T(locale, "season.winter"), nil
	case time.March, time.April, time.May:
		return loc.T(locale, "season.spring"), nil
	case time.June, time.July, time.August:
		return loc.T(locale, "season.summer"), nil
	}
	if strings.EqualFold(locale, "en-US") || strings.EqualFold(locale, "en") {
		return loc.T(locale, "season.fall"), nil
	}
	return loc.T(locale, "season.autumn"), nil
}

// southern are the countries (ISO 3166 codes) that lie mostly in the
// southern hemisphere, where the seasons are the other way round.
var southern = map[string]bool{
	"AR": true, "AU": true, "BO": true, "BR": true, "BW": true, "CL": true, "FJ": true, "LS": true, "MG": true,
	"MU": true, "MW": true, "MZ": true, "NA": true, "NC": true, "NZ": true, "PE": true, "PF": true, "PY": true,
	"SZ": true, "UY": true, "ZA": true, "ZM": true, "ZW": true, "AO": true, "RE": true, "WS": true, "TO": true,
}

// date formats a day the way the locale writes it, from CLDR: "31 January
// 2030" for en-GB (and languages Rapport has no words for), "January 31,
// 2030" for en-US, "31 janvier 2030" for fr.
func date(t time.Time, locale string) string {
	return loc.Date(t, locale)
}

// fullDate is date with the weekday: "Thursday, 31 January 2030",
// "jeudi 31 janvier 2030".
func fullDate(t time.Time, locale string) string {
	return loc.FullDate(t, locale)
}

// month names the month of a day in the locale: "January", "janvier".
func month(t time.Time, locale string) string {
	return loc.Month(t.Month(), locale)
}

// weekday names the weekday of a day in the locale: "Thursday", "jeudi".
func weekday(t time.Time, locale string) string {
	return loc.Weekday(t.Weekday(), locale)
}

// formatMoney writes an amount in a currency the way a locale does, with
// the currency's decimal places: money .Total .Currency $.Customer.Locale
// is £48.00 for en-GB, 48,00 € for de-DE, ¥4,800 for JPY. Without a
// locale it writes the English way. The amount may also be a literal:
// money 10 "EUR", money 9.99 "EUR" or money "9.99" "EUR".
func formatMoney(amount any, currency string, locale ...string) (string, error) {
	if len(locale) > 1 {
		return "", fmt.Errorf("money takes an amount, a currency and at most one locale, not %d locales", len(locale))
	}
	a, err := moneyAmount(amount)
	if err != nil {
		return "", err
	}
	loc := ""
	if len(locale) == 1 {
		loc = locale[0]
	}
	return money.Format(a, currency, loc), nil
}

// moneyAmount reads money's amount exactly: an amount, a whole number, a
// decimal string ("9.99"), or a number with a point, read as the
// shortest decimal that is the same number (9.99 is 9.99, never
// 9.9900000000000002131628).
func moneyAmount(v any) (money.Amount, error) {
	switch v := v.(type) {
	case money.Amount:
		return v, nil
	case *money.Amount:
		if v != nil {
			return *v, nil
		}
	case int:
		return money.Parse(strconv.Itoa(v))
	case int64:
		return money.Parse(strconv.FormatInt(v, 10))
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			break
		}
		return money.Parse(strconv.FormatFloat(v, 'f', -1, 64))
	case json.Number:
		return money.Parse(string(v))
	case string:
		return money.Parse(strings.TrimSpace(v))
	}
	return money.Amount{}, fmt.Errorf("money: %v is not an amount; give an amount (.Total), a number (10 or 9.99) or a decimal string (\"9.99\")", v)
}

// list joins words for a sentence in the locale given, else English:
// "Tea", "Tea and Mug", "Tea, Mug and Pot" ("Thé, Tasse et Théière" for
// list .Order.ItemNames $.Customer.Locale with fr).
func list(words []string, locale ...string) (string, error) {
	if len(locale) > 1 {
		return "", fmt.Errorf("list takes words and at most one locale, not %d locales", len(locale))
	}
	switch len(words) {
	case 0:
		return "", nil
	case 1:
		return words[0], nil
	}
	l := ""
	if len(locale) == 1 {
		l = locale[0]
	}
	return loc.T(l, "list.and", strings.Join(words[:len(words)-1], ", "), words[len(words)-1]), nil
}

// plural picks the singular or plural form for n: plural 2 "mug" "mugs".
func plural(n int, singular, pluralForm string) string {
	if n == 1 {
		return singular
	}
	return pluralForm
}
