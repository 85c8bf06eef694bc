package journey

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	require.NoError(t, err)
	return loc
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// TestDateTriggerIsDueAtLocalTime: a renewal 7 days ahead at 09:00 in
// Sydney is 22:00 UTC the day before; a scan enters it from that moment
// for CatchUp, under the key of the renewal date, and never before.
func TestDateTriggerIsDueAtLocalTime(t *testing.T) {
	tr := Trigger{Date: "renewal_date", Offset: Offset{Days: -7, Text: "-7d"}}
	c := Customer{Attributes: map[string]any{"renewal_date": "2024-12-10"}}
	sydney := zone(t, "Australia/Sydney")

	_, ok := tr.Due(c, sydney, utc("2026-12-02T21:45:00Z"))
	assert.False(t, ok, "a quarter of an hour early")
	occ, ok := tr.Due(c, sydney, utc("2026-12-02T22:00:00Z"))
	require.True(t, ok)
	assert.Equal(t, "date-2026-12-10", occ.Key)
	assert.Equal(t, "2026-12-10", occ.Date)
	assert.Equal(t, utc("2026-12-02T22:00:00Z"), occ.At.UTC())
	assert.Equal(t, "2026-12-03 09:00", occ.At.In(sydney).Format("2006-01-02 15:04"))

	late, ok := tr.Due(c, sydney, utc("2026-12-03T00:45:00Z"))
	require.True(t, ok, "a missed scan is caught up")
	assert.Equal(t, occ.Key, late.Key, "under the same key, so once")
	_, ok = tr.Due(c, sydney, utc("2026-12-03T01:00:00Z"))
	assert.False(t, ok, "CatchUp after the moment, it is over")

	// The same customer in New York is due 16 hours later, the same date.
	ny, ok := tr.Due(c, zone(t, "America/New_York"), utc("2026-12-03T14:00:00Z"))
	require.True(t, ok)
	assert.Equal(t, "date-2026-12-10", ny.Key)
	assert.Equal(t, "09:00", ny.At.In(zone(t, "America/New_York")).Format("15:04"))

	next, ok := tr.Next(c, sydney, utc("2026-12-03T00:00:00Z"))
	require.True(t, ok)
	assert.Equal(t, "date-2027-12-10", next.Key, "the next is next year's")
}

func TestDateTriggerEdges(t *testing.T) {
	london := zone(t, "Europe/London")
	at := func(tr Trigger, date any, asOf string) (Occurrence, bool) {
		return tr.Due(Customer{Attributes: map[string]any{"d": date}}, london, utc(asOf))
	}
	yearly := Trigger{Date: "d", At: "10:30"}
	occ, ok := at(yearly, "2000-02-29", "2027-02-28T10:30:00Z")
	require.True(t, ok, "29 February comes round on the 28th in other years")
	assert.Equal(t, "date-2027-02-28", occ.Key)
	occ, ok = at(yearly, "2000-02-29", "2028-02-29T10:30:00Z")
	require.True(t, ok)
	assert.Equal(t, "date-2028-02-29", occ.Key)

	_, ok = at(yearly, "2030-06-01", "2027-06-01T09:30:00Z")
	assert.False(t, ok, "no anniversary before the date itself")
	occ, ok = at(yearly, "2030-06-01T23:30:00-05:00", "2030-06-01T09:30:00Z")
	require.True(t, ok, "a timestamp counts by the date written (BST: 10:30 is 09:30 UTC)")
	assert.Equal(t, "date-2030-06-01", occ.Key)

	once := Trigger{Date: "d", Every: EveryOnce, Offset: Offset{Days: 3}}
	occ, ok = at(once, "2026-11-30", "2026-12-03T09:00:00Z")
	require.True(t, ok)
	assert.Equal(t, "date-2026-11-30", occ.Key)
	_, ok = at(once, "2025-11-30", "2026-12-03T09:00:00Z")
	assert.False(t, ok, "once means that date only")

	for _, bad := range []any{nil, "", "soon", "30/11/2026", 20261130, "2026-11-30x", " 2026-11-30"} {
		_, ok := at(yearly, bad, "2026-11-30T10:30:00Z")
		assert.False(t, ok, "%v", bad)
	}

	// A time a DST gap skips moves only on the day it does not exist: 02:30
	// a week before 14 March 2027 (New York springs forward that day) is
	// 02:30 on the 7th.
	ny0 := zone(t, "America/New_York")
	gap := Trigger{Date: "d", At: "02:30", Offset: Offset{Days: -7}, Every: EveryOnce}
	occ, ok = gap.Due(Customer{Attributes: map[string]any{"d": "2027-03-14"}}, ny0, utc("2027-03-07T07:30:00Z"))
	require.True(t, ok)
	assert.Equal(t, "2027-03-07 02:30", occ.At.In(ny0).Format("2006-01-02 15:04"))

	// Spring forward: 09:00 in New York is 13:00 UTC after the change.
	ny := zone(t, "America/New_York")
	occ, ok = Trigger{Date: "d"}.Due(Customer{Attributes: map[string]any{"d": "2020-03-08"}}, ny, utc("2026-03-08T13:00:00Z"))
	require.True(t, ok)
	assert.Equal(t, "09:00", occ.At.In(ny).Format("15:04"))
}

// TestAudienceAtCustomersTime: an audience with time_zone: customer is due
// when its schedule's time comes where the customer lives.
func TestAudienceAtCustomersTime(t *testing.T) {
	tr := Trigger{Audience: "true", Schedule: "0 9 * * 1", TimeZone: CustomerTimeZone}
	require.True(t, tr.LocalTime())
	tokyo := zone(t, "Asia/Tokyo")
	// Monday 7 December 2026, 09:00 in Tokyo is Sunday 6th 24:00 UTC.
	occ, ok := tr.Due(Customer{}, tokyo, utc("2027-01-04T00:10:00Z"))
	require.True(t, ok)
	assert.Equal(t, "audience-20270104T0900L", occ.Key)
	_, ok = tr.Due(Customer{}, tokyo, utc("2027-01-03T23:50:00Z"))
	assert.False(t, ok)
	_, ok = tr.Due(Customer{}, zone(t, "Europe/Paris"), utc("2027-01-04T00:10:00Z"))
	assert.False(t, ok, "in Paris it is still Monday 01:10")

	next, ok := tr.Next(Customer{}, zone(t, "Europe/Paris"), utc("2027-01-04T00:10:00Z"))
	require.True(t, ok)
	assert.Equal(t, utc("2027-01-04T08:00:00Z"), next.At.UTC())
	assert.False(t, Trigger{Audience: "true", Schedule: "0 9 * * 1"}.LocalTime())
}

func TestTodayAndDaysBetween(t *testing.T) {
	env, err := NewEnv()
	require.NoError(t, err)
	vars := Vars{Customer: Customer{Zone: "Pacific/Auckland", Attributes: map[string]any{"renewal_date": "2026-12-11T00:00:00Z"}},
		Now: utc("2026-12-03T12:00:00Z")}
	for expr, want := range map[string]bool{
		`today == "2026-12-04"`: true, // already tomorrow in Auckland
		`days_between(today, customer.attributes.renewal_date) == 7`: true,
		`days_between("2026-03-28", "2026-03-30") == 2`:              true, // across a DST change
		`days_between("2026-12-31", "2026-01-01") == -364`:           true,
		`days_between("0001-01-01", "2027-01-01") == 739981`:         true, // no saturation
		`now.getHours(customer.zone) == 1`:                           true,
	} {
		got, err := env.Eval(expr, vars)
		require.NoError(t, err, expr)
		assert.Equal(t, want, got, expr)
	}
	_, err = env.Eval(`days_between(today, "soon") > 0`, vars)
	assert.ErrorContains(t, err, `"soon" is not a date`)

	// In audiences, now and today are the scan's.
	got, err := env.EvalAudience(`today == "2026-12-04" && days_between(today, attributes.renewal_date) <= 7`, vars.Customer, vars.Now)
	require.NoError(t, err)
	assert.True(t, got)
	got, err = env.EvalAudience(`today == "2026-12-04"`, Customer{}, vars.Now)
	require.NoError(t, err)
	assert.False(t, got, "without a zone, UTC's date")
}

func TestCompileDateTrigger(t *testing.T) {
	c := newTestCompiler(t)
	plan, diags := c.Compile("r.yaml", src(
		"journey: renewal",
		"topic: renewals",
		"trigger:",
		"  date: customer.attributes.renewal_date",
		"  offset: -1w",
		"  at: \"08:30\"",
		"  when: orders_count > 0",
		"steps: [{exit: done}]",
	))
	require.Empty(t, diags)
	assert.Equal(t, Trigger{Date: "renewal_date", At: "08:30", Offset: Offset{Days: -7, Text: "-1w"}, When: "orders_count > 0"}, plan.Trigger)
	assert.True(t, plan.Trigger.Scanned())
	assert.True(t, plan.Trigger.LocalTime())
	assert.Equal(t, 1, plan.Trigger.ActiveCap())
	assert.Equal(t, "7 days before customer.attributes.renewal_date, every year, at 08:30 local time", plan.Trigger.DescribeDate())
	assert.Contains(t, plan.Mermaid(), "7 days before customer.attributes.renewal_date")

	plan, diags = c.Compile("a.yaml", src(
		"journey: monday",
		"topic: offers",
		"trigger: {audience: orders_count > 0 && today != \"2026-12-25\", schedule: \"0 9 * * 1\", time_zone: customer}",
		"steps: [{exit: done}]",
	))
	require.Empty(t, diags)
	assert.Equal(t, CustomerTimeZone, plan.Trigger.TimeZone)

	for _, tc := range []struct{ trigger, want string }{
		{"{date: renewal_date}", `r.yaml:3:17: date "renewal_date" is not a customer attribute; name the attribute holding the date, such as customer.attributes.renewal_date`},
		{"{date: customer.attributes.d, offset: 36h}", `r.yaml:3:48: offset "36h" is not whole days`},
		{"{date: customer.attributes.d, offset: 400d}", `r.yaml:3:48: offset "400d" is more than a year`},
		{"{date: customer.attributes.d, offset: soon}", `r.yaml:3:48: offset "soon" is not a number of days`},
		{"{date: customer.attributes.d, every: yaer}", `r.yaml:3:47: every "yaer" is unknown; use year (every year on the date's anniversary) or once (on the date itself); did you mean "year"?`},
		{"{date: customer.attributes.d, at: \"9am\"}", `r.yaml:3:44: at "9am" is not a time of day`},
		{"{date: customer.attributes.d, schedule: \"0 9 * * *\"}", `r.yaml:3:40: schedule does not go with a date trigger`},
		{"{date: customer.attributes.d, when: event.type == \"x\"}", `r.yaml:3:46: when: unknown name "event"`},
		{"{event: order.placed, date: customer.attributes.d}", `r.yaml:3:32: a trigger has one of event, audience and date, not both event and date`},
		{"{event: order.placed, offset: 1d}", `r.yaml:3:32: offset only goes with a date trigger`},
		{"{audience: \"true\", time_zone: customer}", `time_zone says how to read the schedule, but there is no schedule`},
		{"{audience: \"true\", time_zone: customer, schedule: \"@every 1h\"}", `schedule "@every 1h" counts from whenever it starts, not from a time of day, so it cannot be read in each customer's zone`},
	} {
		_, diags := c.Compile("r.yaml", src("journey: r", "topic: t", "trigger: "+tc.trigger, "steps: [{exit: done}]"))
		assert.Contains(t, diags.Error(), tc.want, tc.trigger)
	}
}
