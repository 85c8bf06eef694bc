package workflows

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestRunOutcome: what an ended run came to for the customer, from its
// send records: a step counts once however many channels it tried, and
// only a message sent counts as delivered.
func TestRunOutcome(t *testing.T) {
	rec := func(step string, st SendStatus) SendRecord {
		return SendRecord{Step: step, SendResult: SendResult{Status: st}}
	}
	for _, tc := range []struct {
		name    string
		outcome Outcome
		sends   []SendRecord
		want    RunOutcome
	}{
		{"no send steps", Completed, nil, OutcomeCompleted},
		{"every step sent", Completed, []SendRecord{rec("a", SendSent), rec("b", SendSent)}, OutcomeCompleted},
		{"fell back and sent", Completed, []SendRecord{rec("a", SendFailed), rec("a", SendSent)}, OutcomeCompleted},
		{"held, then sent", Completed, []SendRecord{rec("a", SendHeld), rec("a", SendSent)}, OutcomeCompleted},
		{"one step skipped", Completed, []SendRecord{rec("a", SendSent), rec("b", SendSkipped)}, OutcomePartlyDelivered},
		{"nothing sent", Completed, []SendRecord{rec("a", SendFailed), rec("a", SendSkipped), rec("b", SendSkipped)}, OutcomeNothingDelivered},
		{"left in doubt", Completed, []SendRecord{rec("a", SendUnknown)}, OutcomeNothingDelivered},
		{"exited after a send", Exited, []SendRecord{rec("a", SendSent)}, OutcomeExited},
		{"failed", Failed, nil, OutcomeFailed},
	} {
		assert.Equal(t, tc.want, runOutcome(tc.outcome, tc.sends), tc.name)
	}
}
