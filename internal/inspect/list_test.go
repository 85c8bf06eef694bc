package inspect

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRunsQuery builds visibility queries from checked values only.
func TestRunsQuery(t *testing.T) {
	for _, c := range []struct{ journey, plan, status, want string }{
		{"", "", "all", "RapportJourney IS NOT NULL"},
		{"lapse-winback", "", "running", "RapportJourney = 'lapse-winback' AND ExecutionStatus = 'Running'"},
		{"", "45fc7ee", "ended", "RapportPlanHash STARTS_WITH '45fc7ee' AND ExecutionStatus != 'Running'"},
		{"thank-you", "0123456789abcdef", "all", "RapportJourney = 'thank-you' AND RapportPlanHash = '0123456789abcdef'"},
	} {
		q, err := RunsQuery(c.journey, c.plan, c.status)
		require.NoError(t, err)
		assert.Equal(t, c.want, q)
	}
	for _, bad := range [][3]string{{"Lapse", "", "all"}, {"x' OR '1", "", "all"}, {"", "45fc", "all"}, {"", "45fc7eZ", "all"}, {"", "", "open"}} {
		_, err := RunsQuery(bad[0], bad[1], bad[2])
		assert.Error(t, err, "%q", bad)
	}
}

// TestRunListPrint: the count with its query, a table of the latest runs,
// and a word when there are more.
func TestRunListPrint(t *testing.T) {
	at := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	var b strings.Builder
	RunList{Query: "q", Count: 3, Runs: []ListedRun{
		{WorkflowID: "rapport/thank-you/c_1/e1", PlanHash: "0123456789abcdef", Step: "thanks", Status: "running", StartedAt: at},
		{WorkflowID: "rapport/thank-you/c_2/e2", PlanHash: "0123456789abcdef", Status: "completed", StartedAt: at},
	}}.Print(&b)
	assert.Equal(t, `3 runs (q)
WORKFLOW ID               PLAN     STEP    STATUS     STARTED
rapport/thank-you/c_1/e1  0123456  thanks  running    2026-11-22 09:00
rapport/thank-you/c_2/e2  0123456  -       completed  2026-11-22 09:00
(the latest 2; --limit shows more)
`, b.String())
	b.Reset()
	RunList{Query: "q", Count: 1}.Print(&b)
	assert.Equal(t, "1 run (q)\n", b.String())
}
