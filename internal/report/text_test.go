package report

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestPrintAndSummary: a report written for people, with its funnel,
// steps, arms and lift, and in a line.
func TestPrintAndSummary(t *testing.T) {
	lift := Compare(40, 200, 10, 100)
	r := &Report{Journey: "lapse-winback", Until: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC), Plan: "45fc7ee",
		Goal: "goal: order.placed within 30d", Holdout: 10, Method: "Beta-Binomial",
		Funnel: Funnel{Entered: 300, HeldOut: 100, Completed: 150, Exited: 50, Converted: 50,
			ExitReasons: []Count{{Reason: "order.placed", N: 40}, {Reason: "held out", N: 10}},
			Steps: []Step{
				{ID: "offer", Kind: "send", Label: "send email winback-offer", Reached: 200, Sent: 180, Held: 5, Unknown: 2,
					Skipped: []Count{{Reason: "opted out", N: 15}}, Failed: []Count{{Reason: "bounced", N: 3}}},
				{ID: "wait", Kind: "wait", Label: "wait 14d", Depth: 1, Reached: 190},
			}},
		Arms: []Arm{{Name: ArmTreatment, Entrants: 200, Conversions: 40, Rate: RateEstimate(40, 200)},
			{Name: ArmHoldout, Entrants: 100, Conversions: 10, Rate: RateEstimate(10, 100), Control: true}},
		Lift: &lift,
	}
	var b strings.Builder
	r.Print(&b)
	out := b.String()
	t.Log(out)
	assert.Contains(t, out, "lapse-winback: every run of plan 45fc7ee, until 1 Dec 2026 09:00 UTC\n")
	assert.Contains(t, out, "control group: 10% of entrants held out\n")
	assert.Regexp(t, `(?m)^  entered +300 +\(100 held out\)$`, out)
	assert.Regexp(t, `(?m)^  exited +50 +40 order.placed; 10 held out$`, out)
	assert.Regexp(t, `(?m)^  offer +send email winback-offer +200 +180 \(\+2 in doubt\) +5 +15 opted out; failed: 3 bounced$`, out)
	assert.Regexp(t, `(?m)^    wait +wait 14d +190 *$`, out, "a step in a branch is indented, and sends nothing")
	assert.Regexp(t, `(?m)^  holdout \(control\) +100 +10 +10\.0% \(`, out)
	assert.Contains(t, out, "lift of treatment over holdout: +10.0 points (")
	assert.Contains(t, out, "\nmethod: Beta-Binomial\n")

	assert.Equal(t, "entered 300 (100 held out), completed 150, exited 50, converted 50; lift "+lift.Words(), r.Summary())
	assert.Equal(t, "no lift yet", Comparison{Verdict: "no lift yet"}.Words(), "an arm with no entrants: the verdict alone")
}
