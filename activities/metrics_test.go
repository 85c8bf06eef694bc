package activities

import (
	"context"
	"fmt"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/channels"
	"github.com/rapporthq/rapport/internal/metrics"
	"github.com/rapporthq/rapport/internal/policy"
	"github.com/rapporthq/rapport/workflows"
)

// metric is the value of a counter, or the number of observations of a
// histogram, with exactly these labels (name, value pairs) in the
// harness's metrics; 0 when there is none.
func (h *harness) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	require.Zero(t, len(labels)%2, "labels come in name, value pairs")
	fams, err := h.acts.Metrics.Registry().Gather()
	require.NoError(t, err)
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.Metric {
			if len(m.Label) != len(labels)/2 {
				continue
			}
			for _, l := range m.Label {
				found := false
				for i := 0; i < len(labels); i += 2 {
					if labels[i] == l.GetName() && labels[i+1] == l.GetValue() {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			return value(m)
		}
	}
	return 0
}

func value(m *dto.Metric) float64 {
	if m.Histogram != nil {
		return float64(m.Histogram.GetSampleCount())
	}
	return m.Counter.GetValue()
}

func TestHoldReason(t *testing.T) {
	london, err := time.LoadLocation("Europe/London")
	require.NoError(t, err)
	night := time.Date(2026, 11, 22, 23, 15, 0, 0, time.UTC)
	noon := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	quiet := map[policy.Channel]policy.Window{policy.SMS: {Start: 21 * 60, End: 8 * 60}}
	daily := []policy.Cap{{Max: 1, Per: 24 * time.Hour}}
	sentAt := func(at time.Time) []policy.Sent { return []policy.Sent{{Channel: policy.SMS, At: at.Add(-time.Hour)}} }
	marketing := policy.Message{Channel: policy.SMS, Purpose: policy.Marketing, Topic: "offers"}
	optedIn := map[policy.Channel]policy.ConsentRecord{policy.SMS: {State: policy.OptedIn}}
	for _, tc := range []struct {
		name   string
		prefs  policy.Preferences
		msg    policy.Message
		at     time.Time
		recent []policy.Sent
		want   string
	}{
		{"quiet hours", policy.Preferences{Location: london, Quiet: quiet}, marketing, night, nil, metrics.ReasonQuietHours},
		{"quiet hours first, then a cap", policy.Preferences{Location: london, Quiet: quiet, Caps: daily, Consent: optedIn}, marketing, night, sentAt(night), metrics.ReasonQuietHours},
		{"a cap", policy.Preferences{Location: london, Quiet: quiet, Caps: daily, Consent: optedIn}, marketing, noon, sentAt(noon), metrics.ReasonFrequencyCap},
		{"suppressed", policy.Preferences{Suppressed: map[policy.Channel]string{policy.SMS: "STOP"}, Consent: optedIn}, marketing, noon, nil, metrics.ReasonSuppressed},
		{"opted out", policy.Preferences{Consent: map[policy.Channel]policy.ConsentRecord{policy.SMS: {State: policy.OptedOut}}}, policy.Message{Channel: policy.SMS, Purpose: policy.Transactional}, noon, nil, metrics.ReasonConsent},
		{"no opt-in", policy.Preferences{RequireOptIn: map[policy.Channel]bool{policy.SMS: true}}, marketing, noon, nil, metrics.ReasonConsent},
		{"topic", policy.Preferences{Consent: optedIn, Topics: map[string]bool{"offers": false}}, marketing, noon, nil, metrics.ReasonTopic},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := policy.Decide(tc.prefs, tc.msg, tc.at, tc.recent)
			require.NotEqual(t, policy.Allow, d.Verdict)
			assert.Equal(t, tc.want, holdReason(tc.prefs, tc.msg, tc.at, d), d.String())
		})
	}
}

func TestProviderOutcome(t *testing.T) {
	assert.Equal(t, metrics.OutcomeOK, providerOutcome(nil))
	assert.Equal(t, metrics.OutcomeRetryable, providerOutcome(&channels.Error{Provider: "twilio", Kind: channels.Retryable}))
	assert.Equal(t, metrics.OutcomePermanent, providerOutcome(fmt.Errorf("wrapped: %w", &channels.Error{Provider: "lob", Kind: channels.Permanent})))
	assert.Equal(t, metrics.OutcomeInDoubt, providerOutcome(context.DeadlineExceeded))
}

// Every phase of the send path is timed once per send, so the bench and
// operators can see where a send's time goes.
func TestSendPhasesAreTimed(t *testing.T) {
	h := newHarness(t)
	res, err := h.send(request())
	require.NoError(t, err)
	require.Equal(t, workflows.SendSent, res.Status)
	for _, phase := range []string{metrics.PhaseCustomer, metrics.PhaseRender, metrics.PhaseClaim, metrics.PhaseProvider, metrics.PhaseRecord} {
		assert.Equal(t, 1.0, h.metric(t, "rapport_send_phase_seconds", "phase", phase), phase)
	}
	assert.Zero(t, h.metric(t, "rapport_send_phase_seconds", "phase", metrics.PhaseFacts))
	_, err = h.env.ExecuteActivity(workflows.CustomerFactsActivity, "c_1")
	require.NoError(t, err)
	assert.Equal(t, 1.0, h.metric(t, "rapport_send_phase_seconds", "phase", metrics.PhaseFacts))
}
