package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

var zones = []string{"UTC", "Europe/London", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "Pacific/Chatham", "America/Sao_Paulo", "Europe/Berlin", "America/Los_Angeles"}

// Moments near daylight saving changes in several zones, where clock
// arithmetic goes wrong if it is done naively.
var anchors = []time.Time{
	time.Date(2026, 3, 29, 0, 30, 0, 0, time.UTC),  // Europe springs forward
	time.Date(2026, 10, 25, 0, 30, 0, 0, time.UTC), // Europe falls back
	time.Date(2026, 3, 8, 6, 0, 0, 0, time.UTC),    // US springs forward
	time.Date(2026, 11, 1, 5, 0, 0, 0, time.UTC),   // US falls back
	time.Date(2026, 4, 4, 15, 0, 0, 0, time.UTC),   // Sydney falls back
	time.Date(2026, 10, 3, 15, 0, 0, 0, time.UTC),  // Sydney springs forward
	time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC),
}

func genPrefs(t *rapid.T) Preferences {
	loc, err := time.LoadLocation(rapid.SampledFrom(zones).Draw(t, "zone"))
	if err != nil {
		t.Fatal(err)
	}
	p := Preferences{Location: loc, Consent: map[Channel]ConsentRecord{}, Topics: map[string]bool{},
		Quiet: map[Channel]Window{}, Suppressed: map[Channel]string{}, RequireOptIn: map[Channel]bool{}}
	for _, ch := range Channels {
		p.Consent[ch] = ConsentRecord{State: rapid.SampledFrom([]Consent{OptedIn, OptedOut, Unknown}).Draw(t, "consent"), Source: "test"}
		if rapid.Bool().Draw(t, "quiet") {
			p.Quiet[ch] = Window{Start: Clock(rapid.IntRange(0, 1439).Draw(t, "start")), End: Clock(rapid.IntRange(0, 1439).Draw(t, "end"))}
		}
		if rapid.IntRange(0, 9).Draw(t, "suppressed") == 0 {
			p.Suppressed[ch] = "hard bounce"
		}
		p.RequireOptIn[ch] = rapid.Bool().Draw(t, "optin")
	}
	for _, topic := range []string{"offers", "surveys", "recommendations"} {
		if rapid.Bool().Draw(t, "has topic") {
			p.Topics[topic] = rapid.Bool().Draw(t, "subscribed")
		}
	}
	for range rapid.IntRange(0, 3).Draw(t, "caps") {
		c := Cap{Max: rapid.IntRange(1, 5).Draw(t, "max"), Per: time.Duration(rapid.IntRange(1, 14*24).Draw(t, "per hours")) * time.Hour}
		if rapid.Bool().Draw(t, "per channel") {
			c.Channel = rapid.SampledFrom(Channels).Draw(t, "cap channel")
		}
		p.Caps = append(p.Caps, c)
	}
	return p
}

func genMessage(t *rapid.T) Message {
	m := Message{
		Channel: rapid.SampledFrom(Channels).Draw(t, "channel"),
		Purpose: rapid.SampledFrom([]Purpose{Marketing, Transactional}).Draw(t, "purpose"),
		Topic:   rapid.SampledFrom([]string{"offers", "surveys", "recommendations", "orders"}).Draw(t, "topic"),
	}
	if rapid.IntRange(0, 3).Draw(t, "journey cap") == 0 {
		m.Caps = []Cap{{Max: rapid.IntRange(1, 3).Draw(t, "jmax"), Per: time.Duration(rapid.IntRange(1, 72).Draw(t, "jper")) * time.Hour}}
	}
	return m
}

func genNow(t *rapid.T) time.Time {
	a := rapid.SampledFrom(anchors).Draw(t, "anchor")
	return a.Add(time.Duration(rapid.IntRange(-36*60, 36*60).Draw(t, "offset minutes")) * time.Minute).
		Add(time.Duration(rapid.IntRange(0, 59).Draw(t, "seconds")) * time.Second)
}

func genRecent(t *rapid.T, now time.Time) []Sent {
	var out []Sent
	for range rapid.IntRange(0, 12).Draw(t, "sends") {
		ago := time.Duration(rapid.Int64Range(0, int64(20*24*time.Hour)).Draw(t, "ago"))
		out = append(out, Sent{Channel: rapid.SampledFrom(Channels).Draw(t, "sent channel"), At: now.Add(-ago)})
	}
	return out
}

// The reference rules below are written independently of Decide, in the
// plainest way: they are what the property tests hold Decide to.

func refStaticOK(p Preferences, m Message) bool {
	if _, s := p.Suppressed[m.Channel]; s {
		return false
	}
	c := p.Consent[m.Channel].State
	if c == OptedOut {
		return false
	}
	if m.Purpose == Marketing {
		if p.RequireOptIn[m.Channel] && c != OptedIn {
			return false
		}
		if sub, ok := p.Topics[m.Topic]; ok && !sub {
			return false
		}
	}
	return true
}

func refQuiet(p Preferences, m Message, at time.Time) bool {
	w, ok := p.Quiet[m.Channel]
	if !ok || w.Start == w.End {
		return false
	}
	l := at.In(p.Location)
	minute := l.Hour()*60 + l.Minute()
	if w.Start < w.End {
		return minute >= int(w.Start) && minute < int(w.End)
	}
	return minute >= int(w.Start) || minute < int(w.End)
}

func refCapsOK(p Preferences, m Message, at time.Time, recent []Sent) bool {
	if m.Purpose != Marketing {
		return true
	}
	for _, c := range append(append([]Cap{}, p.Caps...), m.Caps...) {
		if c.Channel != "" && c.Channel != m.Channel {
			continue
		}
		n := 0
		for _, s := range recent {
			if (c.Channel == "" || c.Channel == s.Channel) && s.At.After(at.Add(-c.Per)) && !s.At.After(at) {
				n++
			}
		}
		if n >= c.Max {
			return false
		}
	}
	return true
}

func refTimeOK(p Preferences, m Message, at time.Time, recent []Sent) bool {
	return !refQuiet(p, m, at) && refCapsOK(p, m, at, recent)
}

func TestDecideProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p, m := genPrefs(t), genMessage(t)
		now := genNow(t)
		recent := genRecent(t, now)
		d := Decide(p, m, now, recent)
		switch d.Verdict {
		case Allow:
			if !refStaticOK(p, m) || !refTimeOK(p, m, now, recent) {
				t.Fatalf("allowed a send that breaks a rule: %+v", d)
			}
		case Deny:
			if refStaticOK(p, m) {
				t.Fatalf("denied a send that breaks no standing rule: %s", d.Reason)
			}
			if !strings.Contains(d.Reason, string(m.Channel)) && !strings.Contains(d.Reason, m.Topic) {
				t.Fatalf("denial reason %q names neither the channel nor the topic", d.Reason)
			}
		case Delay:
			if !refStaticOK(p, m) {
				t.Fatalf("delayed (not denied) a send that breaks a standing rule")
			}
			if !d.Until.After(now) {
				t.Fatalf("a delay until %s, not after now %s", d.Until, now)
			}
			if !refTimeOK(p, m, d.Until, recent) {
				t.Fatalf("the delay lands on a moment that is not allowed: %s (%s)", d.Until, d.Reason)
			}
			if again := Decide(p, m, d.Until, recent); again.Verdict != Allow {
				t.Fatalf("at the end of the delay the decision is %s", again)
			}
			if refTimeOK(p, m, now, recent) {
				t.Fatalf("delayed a send allowed now: %s", d.Reason)
			}
			// Nothing earlier is allowed: the delay lands on the first
			// allowed moment.
			span := d.Until.Sub(now)
			for i := range 40 {
				at := now.Add(time.Duration(rapid.Int64Range(0, int64(span)-1).Draw(t, "probe")))
				if i == 0 {
					at = d.Until.Add(-time.Second)
				}
				if refTimeOK(p, m, at, recent) {
					t.Fatalf("%s is allowed, before the delay's end %s (%s)", at, d.Until, d.Reason)
				}
			}
			if d.Reason == "" {
				t.Fatal("a delay without a reason")
			}
		}
		if m.Purpose == Transactional && d.Capped {
			t.Fatal("a transactional message was held by a frequency cap")
		}
	})
}

func london(t *testing.T) *time.Location {
	loc, err := time.LoadLocation("Europe/London")
	require.NoError(t, err)
	return loc
}

func TestDecideExamples(t *testing.T) {
	loc := london(t)
	quiet := Window{Start: 21 * 60, End: 8 * 60}
	p := Preferences{Location: loc, Quiet: map[Channel]Window{SMS: quiet},
		Consent: map[Channel]ConsentRecord{SMS: {State: OptedIn}, Email: {State: OptedOut, Source: "preference_center", At: time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)}},
		Topics:  map[string]bool{"offers": false},
		Caps:    []Cap{{Max: 1, Per: 24 * time.Hour}}}
	night := time.Date(2026, 11, 22, 23, 30, 0, 0, time.UTC)

	d := Decide(p, Message{Channel: SMS, Purpose: Transactional}, night, nil)
	assert.Equal(t, Delay, d.Verdict)
	assert.Equal(t, time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC), d.Until)
	assert.Equal(t, "quiet hours (21:00-08:00) until Mon 23 Nov 08:00 Europe/London", d.Reason)
	newYearsEve := time.Date(2026, 12, 31, 23, 30, 0, 0, time.UTC)
	d = Decide(p, Message{Channel: SMS, Purpose: Transactional}, newYearsEve, nil)
	assert.Equal(t, "quiet hours (21:00-08:00) until Fri 1 Jan 2027 08:00 Europe/London", d.Reason, "a hold into another year says the year")

	d = Decide(p, Message{Channel: Email, Purpose: Transactional}, night, nil)
	assert.Equal(t, Deny, d.Verdict)
	assert.Equal(t, "opted out of email (preference center, 2026-11-20)", d.Reason)

	d = Decide(p, Message{Channel: SMS, Purpose: Marketing, Topic: "offers"}, night, nil)
	assert.Equal(t, "unsubscribed from offers", d.Reason)

	noon := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	d = Decide(p, Message{Channel: SMS, Purpose: Marketing, Topic: "surveys"}, noon, []Sent{{Channel: Email, At: noon.Add(-20 * time.Hour)}})
	assert.Equal(t, Delay, d.Verdict)
	assert.True(t, d.Capped)
	assert.Equal(t, noon.Add(4*time.Hour), d.Until)
	assert.Contains(t, d.Reason, "frequency cap (at most 1 marketing message per 1d)")

	// The cap frees at 21:00, when quiet hours begin: the first allowed
	// moment is 08:00 the next day.
	d = Decide(p, Message{Channel: SMS, Purpose: Marketing, Topic: "surveys"}, noon, []Sent{{Channel: Email, At: noon.Add(-15 * time.Hour)}})
	assert.Equal(t, time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC), d.Until)
	assert.Contains(t, d.Reason, "frequency cap")
	assert.Contains(t, d.Reason, "quiet hours")

	p.Suppressed = map[Channel]string{SMS: "the number replied STOP"}
	d = Decide(p, Message{Channel: SMS, Purpose: Transactional}, noon, nil)
	assert.Equal(t, "the sms address is suppressed: the number replied STOP", d.Reason)

	p.Suppressed, p.RequireOptIn = nil, map[Channel]bool{SMS: true}
	p.Consent[SMS] = ConsentRecord{State: Unknown}
	d = Decide(p, Message{Channel: SMS, Purpose: Marketing, Topic: "surveys"}, noon, nil)
	assert.Equal(t, "marketing by sms needs an explicit opt-in, and there is none", d.Reason)
	assert.Equal(t, Allow, Decide(p, Message{Channel: SMS, Purpose: Transactional}, noon, nil).Verdict)
}

func TestQuietHoursAcrossDST(t *testing.T) {
	loc := london(t)
	p := Preferences{Location: loc, Quiet: map[Channel]Window{SMS: {Start: 21 * 60, End: 8 * 60}}}
	// The night the clocks go forward (29 March 2026), 08:00 is 07:00 UTC.
	d := Decide(p, Message{Channel: SMS, Purpose: Transactional}, time.Date(2026, 3, 28, 23, 0, 0, 0, time.UTC), nil)
	assert.Equal(t, time.Date(2026, 3, 29, 7, 0, 0, 0, time.UTC), d.Until)
	// The night they go back (25 October 2026), 08:00 is 08:00 UTC.
	d = Decide(p, Message{Channel: SMS, Purpose: Transactional}, time.Date(2026, 10, 24, 22, 0, 0, 0, time.UTC), nil)
	assert.Equal(t, time.Date(2026, 10, 25, 8, 0, 0, 0, time.UTC), d.Until)
}

func TestParseClock(t *testing.T) {
	c, err := ParseClock("08:30")
	require.NoError(t, err)
	assert.Equal(t, Clock(510), c)
	for _, bad := range []string{"8:30", "24:00", "12:60", "noon", ""} {
		_, err := ParseClock(bad)
		assert.Error(t, err, bad)
	}
}

func BenchmarkDecide(b *testing.B) {
	loc, _ := time.LoadLocation("Europe/London")
	p := Preferences{Location: loc, Quiet: map[Channel]Window{SMS: {Start: 21 * 60, End: 8 * 60}},
		Consent: map[Channel]ConsentRecord{SMS: {State: OptedIn}}, Topics: map[string]bool{"offers": true},
		Caps: []Cap{{Max: 3, Per: 7 * 24 * time.Hour}, {Max: 1, Per: 24 * time.Hour}, {Channel: SMS, Max: 2, Per: 7 * 24 * time.Hour}}}
	now := time.Date(2026, 11, 22, 23, 0, 0, 0, time.UTC)
	recent := []Sent{{Channel: Email, At: now.Add(-30 * time.Hour)}, {Channel: SMS, At: now.Add(-3 * 24 * time.Hour)}}
	m := Message{Channel: SMS, Purpose: Marketing, Topic: "offers"}
	for b.Loop() {
		Decide(p, m, now, recent)
	}
}

// TestHeldMessagesTakeTheirTurn: under a cap, a message waits behind the
// messages held ahead of it (a higher priority, or held longer), each
// taking the next free slot; messages that share no cap with it, and
// transactional ones, do not wait.
func TestHeldMessagesTakeTheirTurn(t *testing.T) {
	week := 7 * 24 * time.Hour
	p := Preferences{Location: time.UTC, Caps: []Cap{{Max: 1, Per: week}}}
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	recent := []Sent{{Channel: Email, At: now.Add(-2 * 24 * time.Hour)}} // the slot frees in 5 days

	alone := Decide(p, Message{Channel: Email, Purpose: Marketing}, now, recent)
	require.Equal(t, Delay, alone.Verdict)
	assert.Equal(t, now.Add(5*24*time.Hour), alone.Until)

	survey := Queued{Channel: Email, What: "satisfaction-check ask (high priority)"}
	review := Decide(p, Message{Channel: Email, Purpose: Marketing, Ahead: []Queued{survey}}, now, recent)
	require.Equal(t, Delay, review.Verdict)
	assert.Equal(t, now.Add(12*24*time.Hour), review.Until, "the survey takes the slot in 5 days; the review the next, a week later")
	assert.True(t, review.Capped)
	assert.Equal(t, "frequency cap (at most 1 marketing message per 1w) until Sat 5 Dec 12:00 UTC, behind satisfaction-check ask (high priority)", review.Reason)

	two := Decide(p, Message{Channel: SMS, Purpose: Marketing, Ahead: []Queued{survey, {Channel: SMS, What: "older"}}}, now, recent)
	assert.Equal(t, now.Add(19*24*time.Hour), two.Until, "two ahead: the third slot")

	// With a free slot now, the message ahead takes it.
	free := Decide(p, Message{Channel: Email, Purpose: Marketing, Ahead: []Queued{survey}}, now, nil)
	require.Equal(t, Delay, free.Verdict)
	assert.Equal(t, now.Add(week), free.Until)

	// A cap on texts only: an email ahead does not hold a text back.
	smsOnly := Preferences{Location: time.UTC, Caps: []Cap{{Channel: SMS, Max: 1, Per: week}}}
	assert.Equal(t, Allow, Decide(smsOnly, Message{Channel: SMS, Purpose: Marketing, Ahead: []Queued{survey}}, now, nil).Verdict)

	// Transactional messages never wait behind marketing.
	assert.Equal(t, Allow, Decide(p, Message{Channel: Email, Purpose: Transactional, Ahead: []Queued{survey}}, now, recent).Verdict)
}
