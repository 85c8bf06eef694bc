package journey

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGoalAndHoldoutCompile(t *testing.T) {
	c, err := NewCompiler(Options{})
	require.NoError(t, err)
	plan, diags := c.Compile("j.yaml", []byte(`journey: winback
topic: offers
trigger: {event: order.delivered}
goal:
  when: event.type == "order.placed"
  within: 14d
  exit: true
holdout: 10%
steps:
  - wait: 1d
`))
	require.False(t, diags.HasErrors(), "%v", diags)
	require.NotNil(t, plan.Goal)
	assert.Equal(t, `event.type == "order.placed"`, plan.Goal.When)
	assert.Equal(t, 14*24*time.Hour, plan.Goal.Within.D)
	assert.Equal(t, GoalFrom(""), plan.Goal.From, "entry is the default")
	assert.True(t, plan.Goal.Exit)
	assert.Equal(t, 10, plan.Holdout)
	assert.True(t, plan.ListensForEvents(), "a run that exits on its goal listens")
	env, err := NewEnv()
	require.NoError(t, err)
	types, err := env.ListenedEventTypes(plan)
	require.NoError(t, err)
	assert.Equal(t, []string{"order.placed"}, types)
	assert.Contains(t, plan.Mermaid(), "10% held out")
	assert.Contains(t, plan.Mermaid(), `goal: event.type == #quot;order.placed#quot; within 14d of entry, and the run ends`)

	// A goal is content: changing it makes a new plan; holdout 10 is 10%.
	other, diags := c.Compile("j.yaml", []byte(`journey: winback
topic: offers
trigger: {event: order.delivered}
goal: {when: event.type == "order.placed", within: 7d, exit: true}
holdout: 10
steps: [{wait: 1d}]
`))
	require.False(t, diags.HasErrors(), "%v", diags)
	assert.Equal(t, 10, other.Holdout)
	assert.NotEqual(t, plan.Hash, other.Hash)
	assert.Contains(t, Diff(plan, other), Change{Where: "journey", What: `goal.within: "14d" → "7d"`})

	// Without exit, the goal does not make the run listen: conversions are
	// counted by the router, running or not.
	plan.Goal.Exit = false
	assert.False(t, plan.ListensForEvents())

	// Dev mode's scale shrinks the window as it does waits.
	scaled := other.Scaled(time.Second, time.Unix(0, 0))
	assert.Equal(t, 7*time.Second, scaled.Goal.Within.D)
	assert.Equal(t, 7*24*time.Hour, other.Goal.Within.D, "the original is untouched")
}

// TestGoalWindow: from entry, or from the latest message sent before the
// event (from entry when none went); never before entry.
func TestGoalWindow(t *testing.T) {
	day := 24 * time.Hour
	entered := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	sent := entered.Add(5 * day)
	fromEntry := &Goal{When: "true", Within: Duration{D: 2 * day}}
	fromMessage := &Goal{When: "true", Within: Duration{D: 2 * day}, From: GoalFromLastMessage}
	for _, tc := range []struct {
		g        *Goal
		lastSent time.Time
		at       time.Time
		want     bool
	}{
		{fromEntry, time.Time{}, entered.Add(day), true},
		{fromEntry, time.Time{}, entered.Add(2 * day), true},
		{fromEntry, sent, entered.Add(6 * day), false},
		{fromEntry, time.Time{}, entered.Add(-time.Minute), false},
		{fromMessage, time.Time{}, entered.Add(day), true},
		{fromMessage, time.Time{}, entered.Add(3 * day), false},
		{fromMessage, sent, entered.Add(6 * day), true},
		{fromMessage, sent, entered.Add(8 * day), false},
		{fromMessage, sent, entered.Add(-time.Minute), false},
	} {
		assert.Equal(t, tc.want, tc.g.Covers(entered, tc.lastSent, tc.at), "%s, last sent %v, at %v", tc.g.Describe(), tc.lastSent, tc.at)
	}
}

// TestHeldOutShare: the control group is about the share asked for, the
// same customers every time, and different across journeys.
func TestHeldOutShare(t *testing.T) {
	const n = 20000
	held, both := 0, 0
	for i := range n {
		id := fmt.Sprintf("c_%d", i)
		a := HeldOut("winback", id, 10)
		require.Equal(t, a, HeldOut("winback", id, 10), "deterministic")
		if a {
			held++
			if HeldOut("thank-you", id, 10) {
				both++
			}
		}
		assert.False(t, HeldOut("winback", id, 0))
	}
	// 10% of 20,000 is 2,000 with a standard deviation of about 42.
	assert.InDelta(t, 2000, held, 200, "held out %d of %d", held, n)
	assert.InDelta(t, held/10, both, 80, "a journey's control group is not another's")
}
