package onedit

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestReportPrint: what became of each journey's runs, with why runs
// kept their plan and the first error of those not reached.
func TestReportPrint(t *testing.T) {
	var b strings.Builder
	Report{Journeys: []Journey{
		{Journey: "lapse-winback", Plan: "45fc7ee0123", Moved: 3, AtNextWait: 1, Kept: 2, Ended: 1, Failed: 1,
			Reasons: []Reason{{Reason: "step wait_after_postcard is not in the new plan", Runs: 2}}, FirstError: "deadline exceeded"},
		{Journey: "thank-you", Plan: "abc"},
	}}.Print(&b)
	assert.Equal(t, "lapse-winback: to plan 45fc7ee: 3 moved, 1 move at their next wait, 2 keep their plan, 1 had ended, 1 not reached\n"+
		"  2 runs kept: step wait_after_postcard is not in the new plan\n"+
		"  not reached (try again): deadline exceeded\n"+
		"thank-you: every run in flight is on plan abc\n", b.String())
	b.Reset()
	Report{}.Print(&b)
	assert.Equal(t, "no journey says on_edit: restart-at-step; runs in flight keep their plans\n", b.String())
}
