package journey

import (
	"cmp"
	"fmt"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

// Journeys entered at each customer's own time: a date trigger (a date in
// a customer attribute, every year or once, at a local time of day), or an
// audience whose schedule is read in each customer's zone (time_zone:
// customer). A scan runs every quarter of an hour (LocalScanSchedule) and
// enters the customers whose moment has come: Due says whether, and under
// which entry key, so each customer enters once per occurrence however
// many scans see it.

// CustomerTimeZone, as an audience's time_zone, reads its schedule in each
// customer's own time zone.
const CustomerTimeZone = "customer"

// LocalScanSchedule is when the scans of journeys entered at customers'
// own times run: every quarter of an hour (every time zone's offset is a
// whole number of quarters).
const LocalScanSchedule = "*/15 * * * *"

// CatchUp is how long after a customer's moment a scan still enters them,
// so a scan missed (Rapport down, a scan still running) costs lateness,
// not the occurrence. Entry keys keep it to once.
const CatchUp = 3 * time.Hour

// DefaultAt is the local time of day a date trigger enters at when it
// does not say.
const DefaultAt = "09:00"

// DateEventType is the type of a date trigger's event: its data holds
// the attribute and the date it is about.
const DateEventType = "date"

// MaxOffsetDays bounds a date trigger's offset.
const MaxOffsetDays = 365

// Every says how often a date trigger comes round.
type Every string

// How often a date trigger comes round.
const (
	// EveryYear: on the date's anniversary, every year (29 February on
	// the 28th in other years).
	EveryYear Every = "year"
	// EveryOnce: on the date itself.
	EveryOnce Every = "once"
)

// Everies lists them, for messages and the schema.
var Everies = []Every{EveryYear, EveryOnce}

// Offset is a whole number of days before (negative) or after a date.
type Offset struct {
	Days int    `json:"days"`
	Text string `json:"text"`
}

// Occurrence is one moment a customer is due to enter.
type Occurrence struct {
	// Key is the entry key: one per occurrence, such as date-2027-03-14
	// (the date the trigger is about, whatever the offset) or
	// audience-20261207T0900L (the schedule's local time).
	Key string
	// At is the moment, at the trigger's local time in the customer's
	// zone.
	At time.Time
	// Date is the date a date trigger is about, in that year
	// (2027-03-14); empty for audiences.
	Date string
}

// LocalTime says whether customers enter at their own local time: a date
// trigger, or an audience with time_zone: customer.
func (t Trigger) LocalTime() bool {
	return t.Date != "" || (t.Audience != "" && t.TimeZone == CustomerTimeZone)
}

// Due returns the customer's latest occurrence at or before asOf, if it
// is less than CatchUp old: the one a scan at asOf enters. loc is the
// customer's time zone.
func (t Trigger) Due(c Customer, loc *time.Location, asOf time.Time) (Occurrence, bool) {
	if t.Date != "" {
		var best Occurrence
		for _, o := range t.dateOccurrences(c, loc, asOf) {
			if !o.At.After(asOf) && o.At.After(asOf.Add(-CatchUp)) && o.At.After(best.At) {
				best = o
			}
		}
		return best, best.Key != ""
	}
	sched, err := cronParser.Parse(t.Schedule)
	if err != nil || t.TimeZone != CustomerTimeZone {
		return Occurrence{}, false
	}
	at := sched.Next(asOf.Add(-CatchUp).In(loc))
	if at.IsZero() || at.After(asOf) {
		return Occurrence{}, false
	}
	for next := sched.Next(at); !next.IsZero() && !next.After(asOf); next = sched.Next(next) {
		at = next
	}
	return localOccurrence(at), true
}

// Next returns the customer's first occurrence after the moment given (in
// the coming years, for a date trigger), if there is one: what a preview
// starts at.
func (t Trigger) Next(c Customer, loc *time.Location, after time.Time) (Occurrence, bool) {
	if t.Date != "" {
		var best Occurrence
		for _, o := range t.dateOccurrences(c, loc, after) {
			if o.At.After(after) && (best.Key == "" || o.At.Before(best.At)) {
				best = o
			}
		}
		return best, best.Key != ""
	}
	sched, err := cronParser.Parse(t.Schedule)
	if err != nil || t.TimeZone != CustomerTimeZone {
		return Occurrence{}, false
	}
	at := sched.Next(after.In(loc))
	if at.IsZero() {
		return Occurrence{}, false
	}
	return localOccurrence(at), true
}

// localOccurrence is an audience's occurrence at a customer's local time
// at: keyed by that local time (audience-20270104T0900L).
func localOccurrence(at time.Time) Occurrence {
	return Occurrence{Key: "audience-" + at.Format("20060102T1504") + "L", At: at}
}

// dateOccurrences are a date trigger's occurrences around the moment
// given: the years before and after it for a yearly trigger (an offset is
// at most a year), the one date otherwise. None when the customer's
// attribute is missing or not a date.
func (t Trigger) dateOccurrences(c Customer, loc *time.Location, around time.Time) []Occurrence {
	y, m, d, ok := AttributeDate(c.Attributes[t.Date])
	if !ok {
		return nil
	}
	hour, minute := 9, 0
	fmt.Sscanf(cmp.Or(t.At, DefaultAt), "%d:%d", &hour, &minute)
	occ := func(year int) Occurrence {
		day := d
		if m == time.February && d == 29 && !leapYear(year) {
			day = 28
		}
		// One time.Date, so a local time that does not exist on the date
		// the offset lands on (a DST gap) is the only one moved.
		at := time.Date(year, m, day+t.Offset.Days, hour, minute, 0, 0, loc)
		return Occurrence{Key: fmt.Sprintf("date-%04d-%02d-%02d", year, m, day), At: at, Date: fmt.Sprintf("%04d-%02d-%02d", year, m, day)}
	}
	if t.Every == EveryOnce {
		return []Occurrence{occ(y)}
	}
	now := around.In(loc).Year()
	var out []Occurrence
	for year := now - 2; year <= now+2; year++ {
		if year >= y { // no anniversary before the date itself
			out = append(out, occ(year))
		}
	}
	return out
}

// AttributeDate reads a date from a customer attribute: text beginning
// with a date, 2027-03-14 (a timestamp's date as written, so
// 2027-03-14T23:30:00-05:00 is the 14th). Nothing may come before the
// date: the database picks candidates by the same characters.
func AttributeDate(v any) (year int, month time.Month, day int, ok bool) {
	s, isText := v.(string)
	if !isText {
		return 0, 0, 0, false
	}
	if len(s) < 10 || (len(s) > 10 && s[10] != 'T' && s[10] != ' ') {
		return 0, 0, 0, false
	}
	t, err := time.Parse(time.DateOnly, s[:10])
	if err != nil {
		return 0, 0, 0, false
	}
	year, month, day = t.Date()
	return year, month, day, true
}

func leapYear(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

// dateFunctions are the date helpers expressions may use:
// days_between(from, to), the whole days from one date to another, each a
// date or a timestamp written as text ("2027-03-14",
// customer.attributes.renewal_date, today). With today, the customer's
// date in their zone, it answers "is the renewal within a week":
// days_between(today, customer.attributes.renewal_date) <= 7.
func dateFunctions() cel.EnvOption {
	return cel.Function("days_between",
		cel.Overload("days_between_string_string", []*cel.Type{cel.StringType, cel.StringType}, cel.IntType,
			cel.BinaryBinding(func(a, b ref.Val) ref.Val {
				from, ok := dateOf(a)
				if !ok {
					return types.NewErr("days_between: %q is not a date such as 2027-03-14", fmt.Sprint(a.Value()))
				}
				to, ok := dateOf(b)
				if !ok {
					return types.NewErr("days_between: %q is not a date such as 2027-03-14", fmt.Sprint(b.Value()))
				}
				// Dates at noon UTC: whole days, whatever the zone's DST
				// (in seconds: a Duration would saturate past 292 years).
				return types.Int((to.Unix() - from.Unix()) / 86400)
			})))
}

// dateOf reads a date written as text.
func dateOf(v ref.Val) (time.Time, bool) {
	y, m, d, ok := AttributeDate(v.Value())
	if !ok {
		return time.Time{}, false
	}
	return time.Date(y, m, d, 12, 0, 0, 0, time.UTC), true
}

// DescribeDate says when a date trigger enters, in words: "7 days before
// customer.attributes.renewal_date, every year, at 09:00 local time".
func (t Trigger) DescribeDate() string {
	if t.Date == "" {
		return ""
	}
	var b strings.Builder
	switch d := t.Offset.Days; {
	case d < 0:
		fmt.Fprintf(&b, "%s before ", plural(-d, "day"))
	case d > 0:
		fmt.Fprintf(&b, "%s after ", plural(d, "day"))
	default:
		b.WriteString("on ")
	}
	b.WriteString("customer.attributes." + t.Date)
	if t.Every == EveryOnce {
		b.WriteString(", once")
	} else {
		b.WriteString(", every year")
	}
	fmt.Fprintf(&b, ", at %s local time", cmp.Or(t.At, DefaultAt))
	return b.String()
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
