package audit

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestReportPrint: what was checked, what could not be, each violation
// and their count.
func TestReportPrint(t *testing.T) {
	var b strings.Builder
	Report{Customers: 1, Messages: 3, ByStatus: map[string]int{"sent": 2, "skipped": 1}, Holds: 1}.Print(&b)
	assert.Equal(t, "checked 3 messages to 1 customer: 2 sent, 0 held, 1 skipped, 0 failed; 1 hold on record\nno message broke a rule\n", b.String())

	b.Reset()
	v := Violation{MessageID: "m1", CustomerID: "c_1", Channel: "email", Status: "sent", Rule: Consent, Detail: "opted out"}
	Report{Customers: 2, Messages: 4, Legacy: 1, NoContact: 2, ContentRemoved: 1, Violations: []Violation{v}}.Print(&b)
	out := b.String()
	assert.Contains(t, out, "1 message sent before Rapport recorded contact decisions: not checked\n")
	assert.Contains(t, out, "2 webhooks to endpoints that do not contact the customer")
	assert.Contains(t, out, "1 message with content removed by retention")
	assert.Contains(t, out, v.String()+"\n")
	assert.True(t, strings.HasSuffix(out, "\n1 violation\n"), out)
}
