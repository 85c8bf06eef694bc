package activities

import (
	"errors"
	"time"

	"github.com/rapporthq/rapport/internal/channels"
	"github.com/rapporthq/rapport/internal/metrics"
	"github.com/rapporthq/rapport/internal/policy"
	"github.com/rapporthq/rapport/internal/store"
)

// countSettled counts a message the send activity settled now, with the
// status its row has (a Metrics that is nil records nothing).
func (a *Activities) countSettled(m store.Message) {
	a.Metrics.MessageSent(m.Channel, m.Journey, string(m.Status))
}

// observeProvider times a provider call that began at start. The provider
// is the one that answered, else the channel's usual one.
func (a *Activities) observeProvider(usual string, start time.Time, receipt channels.Receipt, err error) {
	if a.Metrics == nil {
		return
	}
	a.Metrics.ObservePhase(metrics.PhaseProvider, time.Since(start))
	provider := receipt.Provider
	var pe *channels.Error
	if errors.As(err, &pe) && pe.Provider != "" {
		provider = pe.Provider
	}
	if provider == "" {
		provider = usual
	}
	a.Metrics.ObserveProvider(provider, metrics.OpSend, providerOutcome(err), time.Since(start))
}

// providerOutcome names a provider call's outcome as the metrics do.
func providerOutcome(err error) string {
	if err == nil {
		return metrics.OutcomeOK
	}
	switch channels.KindOf(err) {
	case channels.Retryable:
		return metrics.OutcomeRetryable
	case channels.Permanent:
		return metrics.OutcomePermanent
	default:
		return metrics.OutcomeInDoubt
	}
}

// holdReason names why the contact rules did not let a message go now, as
// one of the metrics' reasons, from the decision and what it was made on.
// It follows the order policy.Decide checks in: suppression, consent,
// topic; then, for a delay, quiet hours before frequency caps.
func holdReason(p policy.Preferences, m policy.Message, at time.Time, d policy.Decision) string {
	switch d.Verdict {
	case policy.Delay:
		loc := p.Location
		if loc == nil {
			loc = time.UTC
		}
		local := at.In(loc)
		if w, ok := p.Quiet[m.Channel]; ok && w.Contains(policy.Clock(local.Hour()*60+local.Minute())) {
			return metrics.ReasonQuietHours
		}
		if d.Capped {
			return metrics.ReasonFrequencyCap
		}
		return metrics.ReasonQuietHours
	case policy.Deny:
		consent := p.Consent[m.Channel].State
		_, suppressed := p.Suppressed[m.Channel]
		subscribed, chose := p.Topics[m.Topic]
		switch {
		case suppressed:
			return metrics.ReasonSuppressed
		case consent == policy.OptedOut:
			return metrics.ReasonConsent
		case m.Purpose == policy.Marketing && p.RequireOptIn[m.Channel] && consent != policy.OptedIn:
			return metrics.ReasonConsent
		case m.Purpose == policy.Marketing && m.Topic != "" && chose && !subscribed:
			return metrics.ReasonTopic
		}
	}
	return metrics.Other
}

// phaseSince records the time since start as a phase of the send path.
func (a *Activities) phaseSince(phase string, start time.Time) {
	a.Metrics.ObservePhase(phase, time.Since(start))
}
