package journey

import (
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"
)

// trigger reads what starts the journey: an event (perhaps fanning out
// to many customers), an audience on a schedule, or a date.
func (cc *compilation) trigger(n *yaml.Node) Trigger {
	var t Trigger
	fs := cc.fields(n, triggerObject)
	if fs == nil {
		return t
	}
	var kinds []string
	for _, k := range triggerObject.oneOf {
		if fs.get(k) != nil {
			kinds = append(kinds, k)
		}
	}
	switch {
	case len(kinds) == 0:
		cc.errorf(n, "the trigger needs an event, such as `event: order.placed`, an audience, such as `audience: days_since_last_order >= 90`, or a date, such as `date: customer.attributes.renewal_date`")
		return t
	case len(kinds) > 1:
		cc.errorf(fs.keys[kinds[1]], "a trigger has one of event, audience and date, not both %s and %s", kinds[0], kinds[1])
		return t
	}
	cc.entryRules(fs, &t)
	if kinds[0] != "date" {
		for _, k := range []string{"every", "at", "offset"} {
			if fs.get(k) != nil {
				cc.errorf(fs.keys[k], "%s only goes with a date trigger (`date: customer.attributes.<name>`)", k)
			}
		}
	}
	switch kinds[0] {
	case "audience":
		t.Audience = cc.audience(fs.get("audience"))
		for _, k := range []string{"when", "max_event_age", "for"} {
			if fs.get(k) != nil {
				cc.errorf(fs.keys[k], "%s only goes with a trigger event; put the condition in the audience", k)
			}
		}
		if fs.get("key") != nil {
			cc.errorf(fs.keys["key"], "key only goes with a trigger event; an audience run enters each customer once per run")
		}
		cc.schedule(fs, &t)
		return t
	case "date":
		cc.dateTrigger(fs, &t)
		return t
	}
	en := fs.get("event")
	for _, k := range []string{"schedule", "time_zone"} {
		if fs.get(k) != nil {
			cc.errorf(fs.keys[k], "%s only goes with an audience: an event trigger starts the journey when the event arrives", k)
		}
	}
	if kn := fs.get("key"); kn != nil {
		if t.EntryMode() != EntryOncePerEventKey {
			cc.errorf(fs.keys["key"], "key only goes with `entry: once_per_event_key`; with `entry: %s` it would not be used", t.Entry)
		} else {
			t.Key = cc.keyExpr(kn)
		}
	}
	if v, ok := cc.scalar(en, "trigger.event"); ok {
		if !eventTypeRe.MatchString(v) {
			cc.errorf(en, "event type %q is not allowed; use lowercase words joined by dots, like order.placed", v)
		}
		t.Event = v
	}
	if wn := fs.get("when"); wn != nil {
		t.When = cc.expr(wn, "trigger.when")
	}
	if fn := fs.get("for"); fn != nil {
		cc.forTrigger(fs, fn, &t)
	}
	t.MaxEventAge = Duration{D: DefaultMaxEventAge, Text: "24h"}
	if mn := fs.get("max_event_age"); mn != nil {
		t.MaxEventAge = cc.duration(mn, "max_event_age")
	}
	return t
}

// entryRules reads how often a customer may enter: entry, reentry and
// max_active.
func (cc *compilation) entryRules(fs *fieldSet, t *Trigger) {
	if en := fs.get("entry"); en != nil {
		if v, ok := cc.scalar(en, "entry"); ok {
			mode := EntryMode(v)
			if !slices.Contains(EntryModes, mode) {
				cc.errorf(en, "entry must be once, once_per_event_key or always, not %q", v)
			} else if mode != EntryOncePerEventKey {
				t.Entry = mode // the default stays implicit, so plans keep their hash
			}
		}
	}
	if rn := fs.get("reentry"); rn != nil {
		t.Reentry = cc.duration(rn, "reentry")
		if t.Entry == EntryOnce {
			cc.errorf(fs.keys["reentry"], "reentry has no effect with `entry: once`: a customer never enters again")
		}
	}
	if mn := fs.get("max_active"); mn != nil {
		t.MaxActive = int(cc.number(mn, "max_active", 0, 1000))
		if float64(t.MaxActive) != cc.numberValue(mn) {
			cc.errorf(mn, "max_active must be a whole number of runs, such as 1")
		}
	}
}

// dateTrigger reads a trigger on a date held in a customer attribute:
// date, every, at, offset, and when (a condition over the customer).
func (cc *compilation) dateTrigger(fs *fieldSet, t *Trigger) {
	dn := fs.get("date")
	if v, ok := cc.scalar(dn, "date"); ok {
		if m := dateAttributeRe.FindStringSubmatch(strings.TrimSpace(v)); m == nil {
			cc.errorf(dn, "date %q is not a customer attribute; name the attribute holding the date, such as customer.attributes.renewal_date (its value is text such as 2027-03-14)", v)
		} else {
			t.Date = m[1]
		}
	}
	for _, k := range []string{"schedule", "time_zone"} {
		if fs.get(k) != nil {
			cc.errorf(fs.keys[k], "%s does not go with a date trigger: the customer enters at `at` (default %s) in their own time zone", k, DefaultAt)
		}
	}
	for _, k := range []string{"key", "max_event_age"} {
		if fs.get(k) != nil {
			cc.errorf(fs.keys[k], "%s only goes with a trigger event; a date trigger enters each customer once per date", k)
		}
	}
	if en := fs.get("every"); en != nil {
		if v, ok := oneOf(cc, en, "every", []Every{EveryYear, EveryOnce}, "year (every year on the date's anniversary) or once (on the date itself)"); ok {
			t.Every = v
		}
	}
	if an := fs.get("at"); an != nil {
		if v, ok := cc.scalar(an, "at"); ok {
			if timeOfDayRe.MatchString(v) {
				t.At = v
			} else {
				cc.errorf(an, "at %q is not a time of day; write hours and minutes on a 24-hour clock, such as \"09:00\"", v)
			}
		}
	}
	if on := fs.get("offset"); on != nil {
		if v, ok := cc.scalar(on, "offset"); ok {
			t.Offset = cc.offset(on, v)
		}
	}
	if wn := fs.get("when"); wn != nil {
		if v, ok := cc.scalar(wn, "when"); ok {
			checked := cc.c.env.checkAudience(v)
			if len(checked.issues) > 0 {
				positions := cc.valuePositions(wn)
				for _, is := range checked.issues {
					cc.errorAt(exprPos(wn, v, positions, is.line, is.col), "when: "+is.message)
				}
			} else {
				t.When = v
			}
		}
	}
}

// offset reads a date trigger's offset: whole days or weeks, before (-7d)
// or after (3d) the date.
func (cc *compilation) offset(n *yaml.Node, v string) Offset {
	text := strings.TrimSpace(v)
	sign, rest := 1, text
	switch {
	case strings.HasPrefix(rest, "-"):
		sign, rest = -1, rest[1:]
	case strings.HasPrefix(rest, "+"):
		rest = rest[1:]
	}
	d, err := ParseDuration(rest)
	switch {
	case err != nil:
		cc.errorf(n, "offset %q is not a number of days; write days or weeks before (-7d) or after (3d) the date", v)
	case d%(24*time.Hour) != 0:
		cc.errorf(n, "offset %q is not whole days; give days or weeks (-7d, 2w), and the time of day with at", v)
	case d > MaxOffsetDays*24*time.Hour:
		cc.errorf(n, "offset %q is more than a year; keep it within %d days of the date", v, MaxOffsetDays)
	default:
		return Offset{Days: sign * int(d/(24*time.Hour)), Text: text}
	}
	return Offset{}
}

// dateAttributeRe matches customer.attributes.<name> and captures the
// name.
var dateAttributeRe = regexp.MustCompile(`^customer\.attributes\.([A-Za-z_][A-Za-z0-9_]*)$`)

// schedule reads when an audience is evaluated: a cron expression and the
// time zone it is read in.
func (cc *compilation) schedule(fs *fieldSet, t *Trigger) {
	if zn := fs.get("time_zone"); zn != nil {
		if v, ok := cc.scalar(zn, "time_zone"); ok {
			if v == CustomerTimeZone {
				t.TimeZone = v
			} else if _, err := time.LoadLocation(v); err != nil || v == "" || v == "Local" {
				cc.errorf(zn, "time_zone %q is not an IANA time zone such as Europe/London or America/New_York, nor customer (each customer's own)", v)
			} else {
				t.TimeZone = v
			}
		}
		if fs.get("schedule") == nil {
			cc.errorf(fs.keys["time_zone"], "time_zone says how to read the schedule, but there is no schedule")
		}
	}
	sn := fs.get("schedule")
	if sn == nil {
		return
	}
	v, ok := cc.scalar(sn, "schedule")
	if !ok {
		return
	}
	if _, err := cronParser.Parse(v); err != nil {
		cc.errorf(sn, "schedule %q is not a cron expression (minute hour day-of-month month day-of-week, such as \"0 9 * * *\" for 09:00 every day): %v", v, err)
		return
	}
	if t.TimeZone == CustomerTimeZone && strings.HasPrefix(strings.TrimSpace(v), "@every") {
		cc.errorf(sn, "schedule %q counts from whenever it starts, not from a time of day, so it cannot be read in each customer's zone; give times of day, such as \"0 9 * * 1\" (Mondays at 09:00)", v)
		return
	}
	t.Schedule = v
}

// cronParser reads the five-field cron expressions Temporal schedules
// accept, and the @daily-style descriptors.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// keyExpr reads and type-checks an entry key expression, which gives text.
func (cc *compilation) keyExpr(n *yaml.Node) string {
	v, ok := cc.scalar(n, "key")
	if !ok {
		return ""
	}
	checked := cc.c.env.checkKey(v)
	if len(checked.issues) > 0 {
		positions := cc.valuePositions(n)
		for _, is := range checked.issues {
			cc.errorAt(exprPos(n, v, positions, is.line, is.col), "key: "+is.message)
		}
		return ""
	}
	return v
}

// forTrigger reads the for condition of a fan-out trigger: type-checked,
// and its parts over customer.events and customer.orders checked by
// ForChecker (the database must decide them).
func (cc *compilation) forTrigger(fs *fieldSet, n *yaml.Node, t *Trigger) {
	if fs.get("when") != nil {
		cc.errorf(fs.keys["when"], "when does not go with for: put the whole condition in for, which sees the customer and the event")
	}
	if fs.get("key") != nil {
		cc.errorf(fs.keys["key"], "key does not go with for: a fan-out enters each customer once per event (its id)")
	}
	if strings.HasPrefix(t.Event, "order.") {
		cc.errorf(fs.keys["for"], "for does not go with %s: order events are about one customer's order; fan out on an event about something else, such as product.restocked", t.Event)
		return
	}
	v, ok := cc.scalar(n, "trigger.for")
	if !ok {
		return
	}
	if strings.TrimSpace(v) == "" {
		cc.errorf(n, "trigger.for is empty; write a condition such as customer.events.exists(e, e.type == \"product.viewed\" && e.data.product_id == event.data.product_id)")
		return
	}
	checked := cc.c.env.checkFor(v)
	if len(checked.issues) > 0 {
		positions := cc.valuePositions(n)
		for _, is := range checked.issues {
			cc.errorAt(exprPos(n, v, positions, is.line, is.col), "trigger.for: "+is.message)
		}
		return
	}
	if ForChecker != nil {
		if err := ForChecker(cc.c.env, v); err != nil {
			cc.errorf(n, "trigger.for: %s", err.Error())
			return
		}
	}
	t.For = v
}

// audience reads and type-checks an audience condition.
func (cc *compilation) audience(n *yaml.Node) string {
	v, ok := cc.scalar(n, "audience")
	if !ok {
		return ""
	}
	checked := cc.c.env.checkAudience(v)
	if len(checked.issues) > 0 {
		positions := cc.valuePositions(n)
		for _, is := range checked.issues {
			cc.errorAt(exprPos(n, v, positions, is.line, is.col), "audience: "+is.message)
		}
		return ""
	}
	return v
}
