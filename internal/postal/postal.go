// Package postal checks postal addresses against what Lob, the print and
// mail provider, accepts for the recipient of a letter or a postcard, so an
// address is refused when it is given rather than when a piece is sent.
//
// The rules are those of Lob's API (its inline_address schema), no
// stricter:
//
//   - US addresses (country US): address_line1 and address_line2 at most
//     64 characters, city at most 200, state a two-letter code, ZIP 12345
//     or 12345-1234; line1, city, state and ZIP are required.
//   - Other countries: Lob's list of two-letter codes (US territories such
//     as PR and GU are sent as US addresses, with the territory as the
//     state); line1 and line2 at most 200 characters, city and state at
//     most 200, postal code at most 40; line1 is required, and either a
//     postal code or both a city and a state.
//   - No field holds a line break or another control character: each is
//     printed on one line.
//
// An address without a street (line1) is not a postal address: a country
// alone, say, is kept to choose a time zone, and no letter is sent to it.
// Its fields are still checked for length and form.
package postal

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Address is a postal address as Rapport keeps it.
type Address struct {
	Line1      string
	Line2      string
	City       string
	State      string
	PostalCode string
	Country    string // ISO 3166 two-letter code
}

// FieldError is an address refused: the field at fault (line1, line2,
// city, state, postal_code or country) and why, in a sentence.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

func refuse(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Limits of Lob's address fields, in characters.
const (
	USLineMax    = 64
	IntlLineMax  = 200
	CityMax      = 200
	IntlStateMax = 200
	IntlZipMax   = 40
)

var (
	countryRe = regexp.MustCompile(`^[A-Z]{2}$`)
	usStateRe = regexp.MustCompile(`^[a-zA-Z]{2}$`)
	usZipRe   = regexp.MustCompile(`^[0-9]{5}(-[0-9]{4})?$`)
)

// USStates are the two-letter codes USPS delivers to: the states, DC, the
// territories and freely associated states, and military post (AA, AE,
// AP).
var USStates = []string{
	"AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS", "KY",
	"LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY", "NC", "ND", "OH",
	"OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY",
	"AS", "GU", "MP", "PR", "VI", "FM", "MH", "PW", "AA", "AE", "AP",
}

// usTerritories are the countries Lob takes only as US addresses, with
// the territory as the state.
var usTerritories = []string{"AS", "FM", "GU", "MH", "MP", "PR", "PW", "VI"}

// Countries are the codes Lob accepts for addresses outside the US (its
// country_extended list).
var Countries = strings.Fields(`AD AE AF AG AI AL AN AO AQ AR AT AU AW AZ BA BB BD BE BF BG BH BI BJ BM BN BO BQ BR BS BT
BW BY BZ CA CD CG CH CI CK CL CM CN CO CR CS CU CV CW CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FO FR GA
GB GD GE GH GI GL GM GN GQ GR GS GT GW GY HK HN HR HT HU ID IE IL IN IO IQ IR IS IT JM JO JP KE KG KH KI KM KN KP KR
KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MG MK ML MM MN MO MR MS MT MU MV MW MX MY MZ NA NE NF NG NI NL
NP NR NU NZ OM PA PE PG PH PK PL PN PT PY QA RO RS RU RW SA SB SC SD SE SG SH SI SK SL SM SN SO SR SS ST SV SX SY SZ
TC TD TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UY UZ VA VC VE VG VN VU WS YE ZA ZM ZW`)

// IsMailing reports whether a is meant for post: it has a street.
func (a Address) IsMailing() bool { return a.Line1 != "" }

// Check returns nil when Lob would take a as the recipient of a letter or
// postcard (or, without a street, when its fields are each of a form Lob
// takes), else a *FieldError naming the first field at fault.
func Check(a Address) error {
	for _, f := range []struct{ name, value string }{
		{"line1", a.Line1}, {"line2", a.Line2}, {"city", a.City}, {"state", a.State}, {"postal_code", a.PostalCode}, {"country", a.Country},
	} {
		if i := strings.IndexFunc(f.value, breaksLine); i >= 0 {
			r, _ := utf8.DecodeRuneInString(f.value[i:])
			return refuse(f.name, "holds a line break or another control character (U+%04X); each part of an address is printed on one line", r)
		}
	}
	if a.Country != "" && !countryRe.MatchString(a.Country) {
		return refuse("country", "%q is not a two-letter country code such as GB or US", a.Country)
	}
	if a.Country == "US" {
		if err := checkUS(a); err != nil {
			return err
		}
	} else if err := checkIntl(a); err != nil {
		return err
	}
	if !a.IsMailing() {
		return nil
	}
	switch {
	case a.Country == "":
		return refuse("country", "is required with a street address: a two-letter code such as GB or US, to know which postal rules apply")
	case slices.Contains(usTerritories, a.Country):
		return refuse("country", "addresses in %s are posted as US addresses: give country US and state %s", a.Country, a.Country)
	case a.Country == "US":
		switch {
		case a.City == "":
			return refuse("city", "is required for a US address")
		case a.State == "":
			return refuse("state", "is required for a US address: a two-letter code such as CA")
		case a.PostalCode == "":
			return refuse("postal_code", "is required for a US address: a ZIP code such as 94107 or 94107-1741")
		}
	case !slices.Contains(Countries, a.Country):
		return refuse("country", "Lob, the print and mail provider, does not post to %s; letters and postcards cannot be sent there", a.Country)
	case a.PostalCode == "" && (a.City == "" || a.State == ""):
		return refuse("postal_code", "is required, unless both the city and the state (region, province or county) are given")
	}
	return nil
}

func checkUS(a Address) error {
	switch {
	case tooLong(a.Line1, USLineMax):
		return refuse("line1", "is %d characters; a US address line takes at most %d", utf8.RuneCountInString(a.Line1), USLineMax)
	case tooLong(a.Line2, USLineMax):
		return refuse("line2", "is %d characters; a US address line takes at most %d", utf8.RuneCountInString(a.Line2), USLineMax)
	case tooLong(a.City, CityMax):
		return refuse("city", "is longer than %d characters", CityMax)
	case a.State != "" && (!usStateRe.MatchString(a.State) || !slices.Contains(USStates, strings.ToUpper(a.State))):
		return refuse("state", "%q is not a US state code; use the two-letter code, such as CA or NY", a.State)
	case a.PostalCode != "" && !usZipRe.MatchString(a.PostalCode):
		return refuse("postal_code", "%q is not a US ZIP code; use 12345 or 12345-1234", a.PostalCode)
	}
	return nil
}

func checkIntl(a Address) error {
	switch {
	case tooLong(a.Line1, IntlLineMax):
		return refuse("line1", "is longer than %d characters", IntlLineMax)
	case tooLong(a.Line2, IntlLineMax):
		return refuse("line2", "is longer than %d characters", IntlLineMax)
	case tooLong(a.City, CityMax):
		return refuse("city", "is longer than %d characters", CityMax)
	case tooLong(a.State, IntlStateMax):
		return refuse("state", "is longer than %d characters", IntlStateMax)
	case tooLong(a.PostalCode, IntlZipMax):
		return refuse("postal_code", "is longer than %d characters", IntlZipMax)
	}
	return nil
}

func tooLong(s string, max int) bool { return utf8.RuneCountInString(s) > max }

// breaksLine reports whether r has no place on a printed line: a control
// character (line breaks and tabs included) or a Unicode line or
// paragraph separator.
func breaksLine(r rune) bool { return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' }
