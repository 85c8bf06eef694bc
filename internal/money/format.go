package money

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/currency"
	"golang.org/x/text/language"
)

// DefaultExponent is the number of decimal places of a currency ISO 4217
// does not know (a shop's own code): two, as most currencies have.
const DefaultExponent = 2

// Exponent is the number of decimal places a currency's amounts have,
// from ISO 4217: 2 for EUR, 0 for JPY, 3 for KWD. An unknown code has
// DefaultExponent.
func Exponent(code string) int {
	u, err := currency.ParseISO(code)
	if err != nil {
		return DefaultExponent
	}
	scale, _ := currency.Standard.Rounding(u)
	return scale
}

// symbol is how a currency is written: local where it is the currency of
// the customer's country ("$" for CAD in Canada), international elsewhere
// ("CA$").
type symbol struct{ intl, local string }

// symbols are the currencies written with a sign; others are written with
// their code (48.000 KWD).
var symbols = map[string]symbol{
	"USD": {"$", "$"}, "CAD": {"CA$", "$"}, "AUD": {"A$", "$"}, "NZD": {"NZ$", "$"}, "MXN": {"MX$", "$"},
	"HKD": {"HK$", "$"}, "SGD": {"SGD", "$"}, "BRL": {"R$", "R$"},
	"GBP": {"£", "£"}, "EUR": {"€", "€"}, "JPY": {"¥", "¥"}, "CNY": {"CN¥", "¥"}, "INR": {"₹", "₹"},
	"KRW": {"₩", "₩"}, "ILS": {"₪", "₪"}, "VND": {"₫", "₫"}, "PHP": {"₱", "₱"}, "THB": {"THB", "฿"},
	"SEK": {"SEK", "kr"}, "NOK": {"NOK", "kr"}, "DKK": {"DKK", "kr."}, "PLN": {"PLN", "zł"}, "CHF": {"CHF", "CHF"},
}

// convention is how a locale writes an amount.
type convention struct {
	decimal, group string
	// after puts the symbol after the number ("48,00 €"); before puts it
	// in front, joined by sep ("£48.00", "€ 48,00").
	after bool
	sep   string
	// minGrouping is the fewest digits before the point that get grouped:
	// 5 leaves 1234 alone (Spanish writes 1234,56 € but 12.345,67 €).
	minGrouping int
}

const (
	nbsp       = "\u00a0" // keeps the symbol on the number's line
	narrowNbsp = "\u202f"
)

// english is the convention of English and of every language without an
// entry of its own.
var english = convention{decimal: ".", group: ",", sep: "", minGrouping: 4}

// conventions by language, then by language-REGION where a region differs.
var conventions = map[string]convention{
	"de":    {decimal: ",", group: ".", after: true, sep: nbsp, minGrouping: 4},
	"de-ch": {decimal: ".", group: "’", sep: nbsp, minGrouping: 4},
	"de-at": {decimal: ",", group: nbsp, sep: nbsp, minGrouping: 4},
	"fr":    {decimal: ",", group: narrowNbsp, after: true, sep: nbsp, minGrouping: 4},
	"fr-ch": {decimal: ",", group: narrowNbsp, after: true, sep: nbsp, minGrouping: 4},
	"es":    {decimal: ",", group: ".", after: true, sep: nbsp, minGrouping: 5},
	"it":    {decimal: ",", group: ".", after: true, sep: nbsp, minGrouping: 4},
	"nl":    {decimal: ",", group: ".", sep: nbsp, minGrouping: 4},
	"pt":    {decimal: ",", group: ".", sep: nbsp, minGrouping: 4},
	"pt-pt": {decimal: ",", group: nbsp, after: true, sep: nbsp, minGrouping: 5},
	"sv":    {decimal: ",", group: nbsp, after: true, sep: nbsp, minGrouping: 4},
	"da":    {decimal: ",", group: ".", after: true, sep: nbsp, minGrouping: 4},
	"nb":    {decimal: ",", group: nbsp, after: true, sep: nbsp, minGrouping: 4},
	"no":    {decimal: ",", group: nbsp, after: true, sep: nbsp, minGrouping: 4},
	"fi":    {decimal: ",", group: nbsp, after: true, sep: nbsp, minGrouping: 4},
	"pl":    {decimal: ",", group: nbsp, after: true, sep: nbsp, minGrouping: 5},
	"en-in": {decimal: ".", group: ",", sep: "", minGrouping: 4},
}

// Format writes an amount of a currency the way the customer's locale
// does, with the currency's decimal places (ISO 4217): £48.00 and
// 48,00 € (de-DE, with a no-break space), ¥4,800 for JPY, 48.000 KWD. An
// empty or unknown locale is written the English way. The amount is
// rounded half away from zero if it has more places than the currency.
func Format(a Amount, code, locale string) string {
	code = strings.ToUpper(code)
	conv, region := lookup(locale)
	digits := a.WithScale(Exponent(code)).d.Abs().StringFixed(int32(Exponent(code)))
	intPart, frac, hasFrac := strings.Cut(digits, ".")
	var b strings.Builder
	if len(intPart) >= conv.minGrouping {
		for i, r := range intPart {
			if i > 0 && (len(intPart)-i)%3 == 0 {
				b.WriteString(conv.group)
			}
			b.WriteRune(r)
		}
	} else {
		b.WriteString(intPart)
	}
	if hasFrac {
		b.WriteString(conv.decimal + frac)
	}
	number := b.String()
	sign := ""
	if a.Sign() < 0 && strings.Trim(digits, "0.") != "" {
		sign = "-"
	}
	sym, known := symbols[code]
	text := code
	if known {
		text = sym.intl
		if regionCurrency(region) == code {
			text = sym.local
		} else if sym.intl == "$" && symbols[regionCurrency(region)].local == "$" {
			text = "US$" // a dollar in another dollar's country
		}
	}
	sep := conv.sep
	if sep == "" && (!known || endsWithLetter(text)) {
		sep = nbsp // CHF 48.00, KWD 48.000: a code is set apart
	}
	if conv.after {
		return sign + number + sep + text
	}
	return sign + text + sep + number
}

// lookup finds a locale's convention and region: de-DE is German in
// Germany, pt-PT has its own entry, en-GB and unknown locales are English.
func lookup(locale string) (convention, language.Region) {
	tag, err := language.Parse(locale)
	if err != nil || locale == "" {
		return english, language.Region{}
	}
	region, conf := tag.Region()
	if conf == language.No {
		region = language.Region{}
	}
	base, _ := tag.Base()
	if c, ok := conventions[strings.ToLower(base.String()+"-"+region.String())]; ok {
		return c, region
	}
	if c, ok := conventions[base.String()]; ok {
		return c, region
	}
	return english, region
}

// regionCurrency is the currency of a country, or "" when unknown.
func regionCurrency(r language.Region) string {
	if r == (language.Region{}) {
		return ""
	}
	u, ok := currency.FromRegion(r)
	if !ok {
		return ""
	}
	return u.String()
}

func endsWithLetter(s string) bool {
	r, _ := utf8.DecodeLastRuneInString(s)
	return unicode.IsLetter(r)
}
