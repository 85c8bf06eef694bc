package journey

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Conditions and audiences read customer.engagement: moments as
// timestamps (never: the Unix epoch, as CEL reads Go's zero time), days
// since them (-1 for never), counts; a misspelt field is named with a
// suggestion.
func TestEngagementInConditionsAndAudiences(t *testing.T) {
	env, err := NewEnv()
	require.NoError(t, err)
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	reader := Customer{ID: "c_reader", Engagement: NoEngagement()}
	reader.Engagement.Email.LastClickAt = now.Add(-10 * 24 * time.Hour)
	reader.Engagement.Email.LastMachineOpenAt = now.Add(-time.Hour)
	reader.Engagement.Email.Opens30d = 2
	reader.Engagement.SetDays(now)
	never := Customer{ID: "c_never", Engagement: NoEngagement()}

	for expr, want := range map[string][2]bool{ // reader, never
		`customer.engagement.email.days_since_engaged >= 0 && customer.engagement.email.days_since_engaged < 30`: {true, false},
		`customer.engagement.email.days_since_engaged == -1`:                                                     {false, true},
		`customer.engagement.email.days_since_open == -1`:                                                        {true, true},
		`customer.engagement.email.opens_30d > 1`:                                                                {true, false},
		`customer.engagement.email.last_click_at > timestamp("2026-11-01T00:00:00Z")`:                            {true, false},
		`customer.engagement.email.last_engaged_at == customer.engagement.email.last_click_at`:                   {true, true},
		`customer.engagement.email.last_open_at == timestamp("1970-01-01T00:00:00Z")`:                            {true, true},
		`now - customer.engagement.email.last_machine_open_at < duration("2h")`:                                  {true, false},
		`customer.engagement.sms.days_since_reply == -1 && customer.engagement.mail.returns == 0`:                {true, true},
	} {
		for i, c := range []Customer{reader, never} {
			got, err := env.Eval(expr, Vars{Customer: c, Now: now})
			require.NoError(t, err, expr)
			assert.Equal(t, want[i], got, "%s for %s", expr, c.ID)
			got, err = env.EvalAudience(expr, c, now)
			require.NoError(t, err, expr)
			assert.Equal(t, want[i], got, "audience %s for %s", expr, c.ID)
		}
	}
	// An audience may name the field directly, as it names orders_count.
	got, err := env.EvalAudience(`engagement.email.days_since_click == 10`, reader, now)
	require.NoError(t, err)
	assert.True(t, got)

	_, err = env.Eval(`customer.engagement.email.opens_30days > 0`, Vars{Customer: reader})
	assert.ErrorContains(t, err, `there is no field "opens_30days"; did you mean "opens_30d"?`)
}

// The rolling counts cover the 30 UTC days ending with now's; days since
// truncate toward zero.
func TestEngagementWindowAndDays(t *testing.T) {
	first, last := EngagementWindow(time.Date(2026, 11, 22, 23, 30, 0, 0, time.FixedZone("UTC-5", -5*3600)))
	assert.Equal(t, time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC), last, "the UTC date of now")
	assert.Equal(t, time.Date(2026, 10, 25, 0, 0, 0, 0, time.UTC), first)
	assert.Equal(t, 30, int(last.Sub(first).Hours()/24)+1)

	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	assert.Equal(t, int64(-1), DaysSince(time.Time{}, now))
	assert.Equal(t, int64(0), DaysSince(now.Add(-24*time.Hour+time.Microsecond), now))
	assert.Equal(t, int64(1), DaysSince(now.Add(-24*time.Hour), now))
	assert.Equal(t, int64(180), DaysSince(now.Add(-180*24*time.Hour), now))
}
