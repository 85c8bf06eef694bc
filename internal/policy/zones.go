package policy

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rapporthq/rapport/internal/duration"
)

// countryZones maps a country (ISO 3166 alpha-2) to the time zone most of
// its people live in, for customers who did not give one. Countries that
// span several zones get the most populous one.
var countryZones = map[string]string{
	"AE": "Asia/Dubai", "AR": "America/Argentina/Buenos_Aires", "AT": "Europe/Vienna", "AU": "Australia/Sydney",
	"BE": "Europe/Brussels", "BG": "Europe/Sofia", "BR": "America/Sao_Paulo", "CA": "America/Toronto",
	"CH": "Europe/Zurich", "CL": "America/Santiago", "CN": "Asia/Shanghai", "CO": "America/Bogota",
	"CZ": "Europe/Prague", "DE": "Europe/Berlin", "DK": "Europe/Copenhagen", "EE": "Europe/Tallinn",
	"EG": "Africa/Cairo", "ES": "Europe/Madrid", "FI": "Europe/Helsinki", "FR": "Europe/Paris",
	"GB": "Europe/London", "GR": "Europe/Athens", "HK": "Asia/Hong_Kong", "HR": "Europe/Zagreb",
	"HU": "Europe/Budapest", "ID": "Asia/Jakarta", "IE": "Europe/Dublin", "IL": "Asia/Jerusalem",
	"IN": "Asia/Kolkata", "IS": "Atlantic/Reykjavik", "IT": "Europe/Rome", "JP": "Asia/Tokyo",
	"KE": "Africa/Nairobi", "KR": "Asia/Seoul", "LT": "Europe/Vilnius", "LU": "Europe/Luxembourg",
	"LV": "Europe/Riga", "MX": "America/Mexico_City", "MY": "Asia/Kuala_Lumpur", "NG": "Africa/Lagos",
	"NL": "Europe/Amsterdam", "NO": "Europe/Oslo", "NZ": "Pacific/Auckland", "PE": "America/Lima",
	"PH": "Asia/Manila", "PK": "Asia/Karachi", "PL": "Europe/Warsaw", "PT": "Europe/Lisbon",
	"RO": "Europe/Bucharest", "RS": "Europe/Belgrade", "SA": "Asia/Riyadh", "SE": "Europe/Stockholm",
	"SG": "Asia/Singapore", "SI": "Europe/Ljubljana", "SK": "Europe/Bratislava", "TH": "Asia/Bangkok",
	"TR": "Europe/Istanbul", "TW": "Asia/Taipei", "UA": "Europe/Kyiv", "US": "America/New_York",
	"VN": "Asia/Ho_Chi_Minh", "ZA": "Africa/Johannesburg",
}

// ZoneSource says where a customer's time zone came from.
type ZoneSource string

// Where a time zone comes from.
const (
	ZoneFromCustomer ZoneSource = "customer"
	ZoneFromCountry  ZoneSource = "country"
	ZoneFromDefault  ZoneSource = "default"
)

// ResolveZone picks a customer's time zone: their own, else their
// country's, else the default. An unknown name falls through to the next.
func ResolveZone(customerZone, country, defaultZone string) (*time.Location, ZoneSource) {
	if loc, err := time.LoadLocation(customerZone); customerZone != "" && err == nil {
		return loc, ZoneFromCustomer
	}
	if loc, err := time.LoadLocation(countryZones[country]); countryZones[country] != "" && err == nil {
		return loc, ZoneFromCountry
	}
	if loc, err := time.LoadLocation(defaultZone); err == nil {
		return loc, ZoneFromDefault
	}
	return time.UTC, ZoneFromDefault
}

// Rules are the contact rules that apply when a customer has not chosen
// otherwise.
type Rules struct {
	Quiet        map[Channel]Window
	Caps         []Cap
	RequireOptIn map[Channel]bool
	DefaultZone  string
}

// DefaultRules: texts and calls only between 08:00 and 21:00 local time;
// at most 3 marketing messages a week and 1 a day across channels; explicit
// opt-in for marketing by SMS and phone.
func DefaultRules() Rules {
	return Rules{
		Quiet:        map[Channel]Window{SMS: {Start: 21 * 60, End: 8 * 60}, Phone: {Start: 21 * 60, End: 8 * 60}},
		Caps:         []Cap{{Max: 3, Per: 7 * 24 * time.Hour}, {Max: 1, Per: 24 * time.Hour}},
		RequireOptIn: map[Channel]bool{SMS: true, Phone: true},
		DefaultZone:  "UTC",
	}
}

// ruleChannel reports whether quiet hours and caps may name ch: a
// channel preferences are kept for, or the webhook channel (whose
// endpoints that contact the customer follow the rules too).
func ruleChannel(ch Channel) bool {
	return ch == Webhook || slices.Contains(Channels, ch)
}

// ParseQuiet reads quiet hours per channel: "sms=21:00-08:00,phone=21:00-08:00"
// ("sms=none" for none).
func ParseQuiet(s string) (map[Channel]Window, error) {
	out := map[Channel]Window{}
	for _, part := range splitList(s) {
		ch, span, ok := strings.Cut(part, "=")
		if !ok || !ruleChannel(Channel(ch)) {
			return nil, fmt.Errorf("quiet hours %q: write channel=HH:MM-HH:MM, such as sms=21:00-08:00", part)
		}
		if span == "none" {
			out[Channel(ch)] = Window{}
			continue
		}
		from, to, ok := strings.Cut(span, "-")
		start, err1 := ParseClock(from)
		end, err2 := ParseClock(to)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("quiet hours %q: write channel=HH:MM-HH:MM, such as sms=21:00-08:00", part)
		}
		out[Channel(ch)] = Window{Start: start, End: end}
	}
	return out, nil
}

// ParseCaps reads frequency caps: "3/7d,1/1d,sms:2/7d" (at most 3 marketing
// messages in 7 days and 1 a day on all channels, 2 texts a week).
func ParseCaps(s string) ([]Cap, error) {
	var out []Cap
	for _, part := range splitList(s) {
		c := Cap{}
		spec := part
		if ch, rest, ok := strings.Cut(part, ":"); ok {
			if !ruleChannel(Channel(ch)) {
				return nil, fmt.Errorf("frequency cap %q: %q is not a channel", part, ch)
			}
			c.Channel, spec = Channel(ch), rest
		}
		max, per, ok := strings.Cut(spec, "/")
		n, err := strconv.Atoi(max)
		d, derr := duration.Parse(per)
		if !ok || err != nil || n < 1 || derr != nil || d <= 0 {
			return nil, fmt.Errorf("frequency cap %q: write max/period, such as 3/7d", part)
		}
		c.Max, c.Per = n, d
		out = append(out, c)
	}
	return out, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
