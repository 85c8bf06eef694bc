package simulation

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/rapporthq/rapport/internal/audit"
	"github.com/rapporthq/rapport/internal/report"
)

// TestResultPrint: a checked run written for people, clean and not.
func TestResultPrint(t *testing.T) {
	res := Result{
		Summary: Summary{Customers: 2, Lapsed: 1, WinbackEntered: 1, SetupSuppressed: 1, Orders: 3,
			MessagesBy: map[string]int{"sms": 1, "email": 4}, MidRunChanges: map[string]int{}},
		Runs:    map[string]map[string]int{"thank-you": {"completed": 2}, "lapse-winback": {"exited": 1}},
		Reports: []*report.Report{{Journey: "thank-you", Funnel: report.Funnel{Entered: 2, Completed: 2}}},
		Audit:   audit.Report{Customers: 2, Messages: 5, ByStatus: map[string]int{"sent": 5}, Holds: 1},
	}
	var b strings.Builder
	res.Print(&b)
	out := b.String()
	assert.Contains(t, out, "\n2 customers (1 lapsed, 1 entered the win-back; 1 address suppressed at sign-up) in ")
	assert.Contains(t, out, "  received by customers: email 4, sms 1\n")
	assert.Contains(t, out, "  changes of mind while journeys ran: none\n")
	assert.Less(t, strings.Index(out, "journey lapse-winback: exited 1"), strings.Index(out, "journey thank-you: completed 2"), "journeys sorted")
	assert.Contains(t, out, "  report thank-you: entered 2, completed 2, exited 0, converted 0\n")
	assert.Contains(t, out, "  outbox: sent 5; 1 hold on record\n")
	assert.Contains(t, out, "providers and outbox agree")
	assert.Contains(t, out, "audit: 5 messages to 2 customers checked against their preference history: no message broke a rule\n")

	res.Mismatches = []string{"outbox row 1 says sent (provider id \"x\") but no provider received it"}
	res.Audit.Violations = []audit.Violation{{}}
	b.Reset()
	res.Print(&b)
	out = b.String()
	assert.Contains(t, out, "mismatch: outbox row 1 says sent")
	assert.NotContains(t, out, "providers and outbox agree")
	assert.Contains(t, out, "audit: 1 violation\n")

	b.Reset()
	Result{Summary: Summary{Customers: 1}, Runs: map[string]map[string]int{}}.Print(&b)
	assert.NotContains(t, b.String(), "outbox:", "a run stopped before its checks prints none")
}
