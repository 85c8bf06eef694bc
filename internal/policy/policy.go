// Package policy decides whether a message may go to a customer now: one
// pure function over what the customer said (consent per channel, topics,
// quiet hours in their time zone, how often), the address's suppression,
// and what was sent recently. It answers allow, delay until a moment (with
// the reason), or deny (with the reason). It does no I/O.
package policy

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Channel is a way to reach a customer. Phone is for staff calls.
type Channel string

// The channels preferences are kept for.
const (
	Email Channel = "email"
	SMS   Channel = "sms"
	Mail  Channel = "mail"
	Phone Channel = "phone"
)

// Channels lists them in a stable order.
var Channels = []Channel{Email, SMS, Mail, Phone}

// Webhook is the channel of messages to configured endpoints. Customers
// keep no preferences for it (it is not among Channels); an endpoint that
// contacts the customer follows their topics, the caps on all channels
// and any quiet hours or caps the rules set for webhook.
const Webhook Channel = "webhook"

// Consent is a customer's answer about a channel.
type Consent string

// Consent states.
const (
	OptedIn  Consent = "opted_in"
	OptedOut Consent = "opted_out"
	Unknown  Consent = "unknown"
)

// ConsentRecord is the current consent on a channel and where it came from.
type ConsentRecord struct {
	State  Consent
	Source string
	At     time.Time
}

// Clock is a time of day, in minutes after midnight.
type Clock int

// ParseClock reads "08:00".
func ParseClock(s string) (Clock, error) {
	var h, m int
	if _, err := fmt.Sscanf(s, "%d:%d", &h, &m); err != nil || h < 0 || h > 23 || m < 0 || m > 59 || len(s) != 5 {
		return 0, fmt.Errorf("%q is not a time of day like 08:00", s)
	}
	return Clock(h*60 + m), nil
}

func (c Clock) String() string { return fmt.Sprintf("%02d:%02d", int(c)/60, int(c)%60) }

// Window is a span of the day when a channel must stay quiet, from Start
// to End local time; it may wrap midnight (21:00-08:00). Start == End
// means no quiet hours.
type Window struct {
	Start, End Clock
}

// Contains reports whether a local time of day falls in the window.
func (w Window) Contains(c Clock) bool {
	switch {
	case w.Start == w.End:
		return false
	case w.Start < w.End:
		return c >= w.Start && c < w.End
	default:
		return c >= w.Start || c < w.End
	}
}

func (w Window) String() string { return w.Start.String() + "-" + w.End.String() }

// Cap limits how many marketing messages a customer gets: at most Max per
// Per, on one channel or (Channel "") on all.
type Cap struct {
	Channel Channel
	Max     int
	Per     time.Duration
}

func (c Cap) String() string {
	on := "message"
	if c.Channel != "" {
		on = string(c.Channel) + " message"
	}
	if c.Max != 1 {
		on += "s"
	}
	return fmt.Sprintf("at most %d marketing %s per %s", c.Max, on, formatDuration(c.Per))
}

// Preferences are everything a decision needs to know about the customer.
type Preferences struct {
	// Location is the customer's time zone (resolved by the caller: the
	// customer's, else their country's, else the default).
	Location *time.Location
	Consent  map[Channel]ConsentRecord
	// Topics holds the customer's choices; a topic not present is one they
	// have not left.
	Topics map[string]bool
	// Quiet holds the quiet hours per channel; a channel not present may
	// be used at any time.
	Quiet map[Channel]Window
	// Caps apply to marketing messages.
	Caps []Cap
	// Suppressed names, per channel, why the address the message would go
	// to must never be contacted (a hard bounce, a STOP).
	Suppressed map[Channel]string
	// RequireOptIn lists the channels where marketing needs an explicit
	// opt-in (SMS and phone by law in many places); elsewhere unknown
	// consent allows marketing.
	RequireOptIn map[Channel]bool
}

// Purpose mirrors a journey's purpose.
type Purpose string

// Purposes.
const (
	Marketing     Purpose = "marketing"
	Transactional Purpose = "transactional"
)

// Message is what would be sent.
type Message struct {
	Channel Channel
	Purpose Purpose
	Topic   string
	// Caps are the journey's own, tighter limits, on top of the customer's.
	Caps []Cap
	// Ahead are the customer's marketing messages held back that go
	// before this one when a cap frees a slot (a higher priority, or the
	// same and held longer), in the order they go.
	Ahead []Queued
}

// Queued is a message held back, waiting for its turn.
type Queued struct {
	Channel Channel
	// What names it for people: "satisfaction-check ask (high priority)".
	What string
}

// Sent is a marketing message already sent (or being sent) to the customer.
type Sent struct {
	Channel Channel
	At      time.Time
}

// Verdict is the outcome of a decision.
type Verdict int

// Verdicts.
const (
	Allow Verdict = iota
	Delay
	Deny
)

func (v Verdict) String() string {
	return [...]string{"allow", "delay", "deny"}[v]
}

// Decision is what Decide answers.
type Decision struct {
	Verdict Verdict
	// Until is the first moment the message may go, for Delay.
	Until time.Time
	// Reason says why it was delayed or denied, specifically enough to
	// show support staff.
	Reason string
	// Capped is set when a frequency cap is among the reasons for a delay
	// (a journey may choose to skip rather than wait for those).
	Capped bool
}

// Decide decides whether m may go now. Transactional messages skip topic
// opt-outs and frequency caps but never go to an opted-out or suppressed
// channel. Quiet hours and caps delay a message to the first moment it is
// allowed; they never deny it.
func Decide(p Preferences, m Message, now time.Time, recent []Sent) Decision {
	if why, ok := p.Suppressed[m.Channel]; ok {
		return Decision{Verdict: Deny, Reason: fmt.Sprintf("the %s address is suppressed: %s", m.Channel, why)}
	}
	consent := p.Consent[m.Channel]
	switch {
	case consent.State == OptedOut:
		return Decision{Verdict: Deny, Reason: fmt.Sprintf("opted out of %s%s", m.Channel, provenance(consent))}
	case m.Purpose == Marketing && p.RequireOptIn[m.Channel] && consent.State != OptedIn:
		return Decision{Verdict: Deny, Reason: fmt.Sprintf("marketing by %s needs an explicit opt-in, and there is none", m.Channel)}
	}
	if m.Purpose == Marketing && m.Topic != "" {
		if subscribed, ok := p.Topics[m.Topic]; ok && !subscribed {
			return Decision{Verdict: Deny, Reason: fmt.Sprintf("unsubscribed from %s", m.Topic)}
		}
	}

	var caps []Cap
	if m.Purpose == Marketing {
		for _, c := range slices.Concat(p.Caps, m.Caps) {
			if c.Max > 0 && c.Per > 0 && (c.Channel == "" || c.Channel == m.Channel) {
				caps = append(caps, c)
			}
		}
	}
	loc := p.Location
	if loc == nil {
		loc = time.UTC
	}
	quiet, hasQuiet := p.Quiet[m.Channel]

	t := now
	var reasons []string
	capped := false
	// The messages ahead that share a cap with this one take the next free
	// slots first: they are placed, in turn, where the customer's caps let
	// them go, and this one comes after them.
	var behind []string
	if len(caps) > 0 {
		placed := slices.Clone(recent)
		for _, q := range m.Ahead {
			if !slices.ContainsFunc(caps, func(c Cap) bool { return c.Channel == "" || c.Channel == q.Channel }) {
				continue
			}
			qcaps := capsFor(p.Caps, q.Channel)
			at := t
			for range 100 {
				free, _, ok := capFree(at, qcaps, q.Channel, placed)
				if ok {
					break
				}
				at = free
			}
			placed = append(placed, Sent{Channel: q.Channel, At: at})
			t = at
			behind = append(behind, q.What)
		}
		recent = placed
	}
	for range 100 {
		if hasQuiet && quiet.Contains(clockAt(t, loc)) {
			t = quietEnd(t, quiet, loc)
			reasons = appendOnce(reasons, fmt.Sprintf("quiet hours (%s)", quiet))
			continue
		}
		if free, c, ok := capFree(t, caps, m.Channel, recent); !ok {
			t = free
			capped = true
			reasons = appendOnce(reasons, fmt.Sprintf("frequency cap (%s)", c))
			continue
		}
		break
	}
	if !t.After(now) {
		return Decision{Verdict: Allow}
	}
	reason := strings.Join(reasons, "; ") + " until " + untilWords(t.In(loc), now.In(loc)) + " " + loc.String()
	if len(behind) > 0 {
		capped = true
		if len(reasons) == 0 {
			reason = "frequency cap: waits its turn until " + untilWords(t.In(loc), now.In(loc)) + " " + loc.String()
		}
		reason += ", behind " + strings.Join(behind, ", ")
	}
	return Decision{Verdict: Delay, Until: t.UTC(), Capped: capped, Reason: reason}
}

// capsFor are the caps among caps that count messages on a channel.
func capsFor(caps []Cap, ch Channel) []Cap {
	var out []Cap
	for _, c := range caps {
		if c.Max > 0 && c.Per > 0 && (c.Channel == "" || c.Channel == ch) {
			out = append(out, c)
		}
	}
	return out
}

// untilWords writes when a hold ends as people read it: "Mon 24 May
// 08:00", with the year when it is not the year of now ("Mon 24 May 2027
// 08:00").
func untilWords(t, now time.Time) string {
	if t.Year() != now.Year() {
		return t.Format("Mon 2 Jan 2006 15:04")
	}
	return t.Format("Mon 2 Jan 15:04")
}

// String renders the decision for logs.
func (d Decision) String() string {
	if d.Verdict == Delay {
		return fmt.Sprintf("delay: %s", d.Reason)
	}
	if d.Reason != "" {
		return d.Verdict.String() + ": " + d.Reason
	}
	return d.Verdict.String()
}

func provenance(c ConsentRecord) string {
	var parts []string
	if c.Source != "" {
		parts = append(parts, strings.ReplaceAll(c.Source, "_", " "))
	}
	if !c.At.IsZero() {
		parts = append(parts, c.At.UTC().Format("2006-01-02"))
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func appendOnce(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

func clockAt(t time.Time, loc *time.Location) Clock {
	l := t.In(loc)
	return Clock(l.Hour()*60 + l.Minute())
}

// quietEnd is the first moment after t when the window is over. Between
// daylight saving changes a zone's offset is fixed, so the local clock
// reaches the window's end at a computable instant; if a change comes
// first, the clock jumps, and the moment after the jump may already be
// outside the window (a window ending inside the hour skipped in spring)
// or the search goes on from there.
func quietEnd(t time.Time, w Window, loc *time.Location) time.Time {
	cur := t
	for range 8 {
		l := cur.In(loc)
		_, offset := l.Zone()
		_, zoneEnd := l.ZoneBounds()
		shift := time.Duration(offset) * time.Second
		wall := cur.Add(shift).UTC() // the local clock, written as if it were UTC
		exitWall := time.Date(wall.Year(), wall.Month(), wall.Day(), 0, 0, 0, 0, time.UTC).Add(time.Duration(w.End) * time.Minute)
		if !exitWall.After(wall) {
			exitWall = exitWall.Add(24 * time.Hour)
		}
		exit := exitWall.Add(-shift)
		if zoneEnd.IsZero() || !zoneEnd.After(cur) || exit.Before(zoneEnd) {
			return exit
		}
		if !w.Contains(clockAt(zoneEnd, loc)) {
			return zoneEnd
		}
		cur = zoneEnd
	}
	return cur
}

// capFree checks the caps at t. When one is reached it returns the moment
// its window has moved past enough sends, and the cap.
func capFree(t time.Time, caps []Cap, ch Channel, recent []Sent) (time.Time, Cap, bool) {
	latest := t
	var worst Cap
	ok := true
	for _, c := range caps {
		var in []time.Time
		for _, s := range recent {
			if (c.Channel == "" || s.Channel == c.Channel) && s.At.After(t.Add(-c.Per)) && !s.At.After(t) {
				in = append(in, s.At)
			}
		}
		if len(in) < c.Max {
			continue
		}
		ok = false
		sort.Slice(in, func(i, j int) bool { return in[i].Before(in[j]) })
		free := in[len(in)-c.Max].Add(c.Per)
		if free.After(latest) {
			latest, worst = free, c
		}
	}
	if ok {
		return t, Cap{}, true
	}
	if worst.Per == 0 {
		worst = caps[0]
	}
	return latest, worst, false
}

func formatDuration(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0 && d%(7*24*time.Hour) == 0:
		return fmt.Sprintf("%dw", d/(7*24*time.Hour))
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return d.String()
}
