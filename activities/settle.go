package activities

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/rapporthq/rapport/internal/channels"
	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/metrics"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

// InDoubtPolicy says how messages whose send is in doubt (the provider's
// answer was lost: a timeout after the request went out, a gateway's 5xx)
// are settled.
type InDoubtPolicy struct {
	// Deadline is how long after the attempt the run waits for evidence
	// (0: DefaultInDoubtDeadline). Evidence is a delivery webhook, or the
	// provider's records where they can be asked (Twilio).
	Deadline time.Duration
	// AtLeastOnce lists the channels whose messages are sent again when
	// the deadline passes with no evidence either way. Messages on other
	// channels (by default all: email in particular) stay unknown and are
	// not sent again: at most once.
	AtLeastOnce []journey.Channel
	// LookupAfter is how long after the attempt the provider's records are
	// trusted to show the message if it took it, so that not finding it
	// proves it was not taken (0: DefaultLookupAfter). It is well above
	// the providers' HTTP timeouts (channels.DefaultTimeout).
	LookupAfter time.Duration
	// EmailWindow is how long after the attempt an email in doubt may be
	// proven unsent by the silence of SendGrid's event webhook (0:
	// DefaultEmailWindow): SendGrid reports every email it takes
	// (processed) within seconds, in batches at least every 30 s.
	EmailWindow time.Duration
}

// Defaults of InDoubtPolicy.
const (
	DefaultInDoubtDeadline = 6 * time.Hour
	DefaultLookupAfter     = 2 * time.Minute
	DefaultEmailWindow     = 5 * time.Minute
)

// The webhook's silence about an email in doubt proves it unsent only
// when the webhook reported processed for each of the latest
// silenceLater emails SendGrid accepted after it: claimed more than
// silenceGap after it (longer than a request can take,
// channels.DefaultTimeout, so each was asked for after it was answered)
// and more than silenceSlack ago (time for their reports to arrive); and
// when the API has not failed to take a post of the webhook since the
// attempt, unless silenceRetryWait has passed (SendGrid posts a batch
// again later, and it may hold the report about this one). A marketing
// email proven unsent waits, looking again after about transactionalFirst,
// while transactional emails of the outage wait to go, unless it is past
// the deadline itself.
const (
	silenceGap         = time.Minute
	silenceSlack       = 2 * time.Minute
	silenceLater       = 10
	silenceRetryWait   = time.Hour
	transactionalFirst = 30 * time.Second
)

func (p InDoubtPolicy) emailWindow() time.Duration {
	if p.EmailWindow > 0 {
		return p.EmailWindow
	}
	return DefaultEmailWindow
}

func (p InDoubtPolicy) deadline() time.Duration {
	if p.Deadline > 0 {
		return p.Deadline
	}
	return DefaultInDoubtDeadline
}

func (p InDoubtPolicy) lookupAfter() time.Duration {
	if p.LookupAfter > 0 {
		return p.LookupAfter
	}
	return DefaultLookupAfter
}

// SettleSend looks for evidence about a message in doubt. A message that
// is no longer unknown has been settled meanwhile (a delivery webhook
// turned it sent) and is reported as it stands. Where the provider can be
// asked (Twilio's message list, by number, day and the body's digest),
// and long enough after the attempt, finding the message settles it as
// sent and not finding it proves it was not taken: the row goes back to
// pending and the run sends it again. Once the deadline passes with no
// evidence, a channel whose owner prefers at-least-once is sent again;
// the others stay unknown, noted, and are not sent again.
func (a *Activities) SettleSend(ctx context.Context, req workflows.SettleRequest) (workflows.SettleResult, error) {
	m, err := a.Store.GetMessage(ctx, req.MessageID)
	if errors.Is(err, store.ErrNotFound) {
		return workflows.SettleResult{Settlement: workflows.GaveUp, Reason: "the message is no longer in the outbox",
			Send: workflows.SendResult{Channel: req.Channel, Status: workflows.SendUnknown, MessageID: req.MessageID}}, nil
	}
	if err != nil {
		return workflows.SettleResult{}, err
	}
	if r, done := settledAlready(m); done {
		return r, nil
	}
	since := m.UpdatedAt
	if m.ClaimedAt != nil {
		since = *m.ClaimedAt
	}
	age := a.now().Sub(since)
	log := a.logger(ctx).With("message_id", m.ID, "channel", m.Channel)

	if m.Channel == string(journey.Email) && m.ClaimedAt != nil && age >= a.InDoubt.emailWindow() {
		r, proven, err := a.settleBySilence(ctx, m)
		switch {
		case err != nil:
			log.Warn("could not read what the event webhook said about the emails after it; will look again", "error", err)
		case proven:
			return r, nil
		}
	}

	if finder, ok := a.SMS.(channels.SMSFinder); ok && m.Channel == string(journey.SMS) && m.BodyDigest != "" && m.Recipient != "" && age >= a.InDoubt.lookupAfter() {
		sid, found, err := finder.FindSent(ctx, m.Recipient, m.BodyDigest, since)
		switch {
		case err != nil:
			log.Warn("could not ask the provider about a message in doubt; will ask again", "error", err)
		case found:
			return a.settleSent(ctx, m, metrics.SettledByLookup, "the provider's records (message "+sid+")", sid)
		default:
			return a.reopen(ctx, m, metrics.SettledByLookup,
				fmt.Sprintf("the provider has no record of it %s after the attempt (proven not sent)", age.Round(time.Second)))
		}
	}

	if age < a.InDoubt.deadline() {
		return workflows.SettleResult{Settlement: workflows.StillInDoubt, Reason: "no evidence yet", Send: result(m)}, nil
	}
	if slices.Contains(a.InDoubt.AtLeastOnce, journey.Channel(m.Channel)) {
		return a.reopen(ctx, m, metrics.SettledByDeadline,
			fmt.Sprintf("no evidence within %s, and %s is at-least-once (RAPPORT_IN_DOUBT_AT_LEAST_ONCE)", a.InDoubt.deadline(), m.Channel))
	}
	reason := fmt.Sprintf("in doubt: no evidence within %s that the provider took it; not sent again (%s is at-most-once when in doubt; RAPPORT_IN_DOUBT_AT_LEAST_ONCE changes that)", a.InDoubt.deadline(), m.Channel)
	noted, ok, err := a.Store.NoteInDoubt(ctx, m.ID, reason)
	if err != nil {
		return workflows.SettleResult{}, err
	}
	if !ok {
		return a.settledMeanwhile(ctx, m.ID)
	}
	log.Warn("message in doubt past the deadline; not sent again", "deadline", a.InDoubt.deadline())
	a.Metrics.SettledInDoubt(m.Channel, metrics.SettledByDeadline, metrics.SettledExpired)
	return workflows.SettleResult{Settlement: workflows.GaveUp, Reason: reason, Send: result(noted)}, nil
}

// settledAlready reports a message that is no longer unknown: settled
// (sent by a webhook, or any outcome) or pending again (an earlier try of
// this activity reopened it and did not get to report it).
func settledAlready(m store.Message) (workflows.SettleResult, bool) {
	switch m.Status {
	case store.MessageUnknown:
		return workflows.SettleResult{}, false
	case store.MessagePending:
		return workflows.SettleResult{Settlement: workflows.Resend, Reason: m.Reason, Send: result(m)}, true
	}
	return workflows.SettleResult{Settlement: workflows.Settled, Reason: m.Reason, Send: result(m)}, true
}

// settledMeanwhile reports a message whose row changed while this
// activity decided (a webhook came).
func (a *Activities) settledMeanwhile(ctx context.Context, id string) (workflows.SettleResult, error) {
	m, err := a.Store.GetMessage(ctx, id)
	if err != nil {
		return workflows.SettleResult{}, err
	}
	if r, done := settledAlready(m); done {
		return r, nil
	}
	return workflows.SettleResult{Settlement: workflows.StillInDoubt, Reason: "no evidence yet", Send: result(m)}, nil
}

func (a *Activities) settleSent(ctx context.Context, m store.Message, how, evidence, providerID string) (workflows.SettleResult, error) {
	settled, ok, err := a.Store.SettleInDoubt(ctx, m.ID, evidence, providerID)
	if err != nil {
		return workflows.SettleResult{}, err
	}
	if !ok {
		return a.settledMeanwhile(ctx, m.ID)
	}
	a.logger(ctx).Info("message in doubt settled as sent", "message_id", m.ID, "channel", m.Channel, "by", how)
	a.Metrics.SettledInDoubt(m.Channel, how, metrics.SettledSent)
	return workflows.SettleResult{Settlement: workflows.Settled, Reason: settled.Reason, Send: result(settled)}, nil
}

func (a *Activities) reopen(ctx context.Context, m store.Message, how, why string) (workflows.SettleResult, error) {
	reopened, ok, err := a.Store.ReopenInDoubt(ctx, m.ID, why)
	if err != nil {
		return workflows.SettleResult{}, err
	}
	if !ok {
		return a.settledMeanwhile(ctx, m.ID)
	}
	a.logger(ctx).Warn("message in doubt will be sent again", "message_id", m.ID, "channel", m.Channel, "by", how, "why", why)
	a.Metrics.SettledInDoubt(m.Channel, how, metrics.SettledResent)
	return workflows.SettleResult{Settlement: workflows.Resend, Reason: why, Send: result(reopened)}, nil
}

// settleBySilence settles an email in doubt on the silence of SendGrid's
// event webhook: when the webhook has reported every email SendGrid
// accepted after it (the first silenceLater, see silenceGap and
// silenceSlack) and nothing on it, SendGrid did not take it, and it is
// sent again (on the same outbox row, through the contact rules again).
// A marketing email waits while transactional emails of the outage wait
// to go, so that they go first. It reports whether the webhook proved
// anything.
func (a *Activities) settleBySilence(ctx context.Context, m store.Message) (workflows.SettleResult, bool, error) {
	ev, err := a.Store.EmailWebhookEvidence(ctx, m.ID, silenceGap, silenceSlack, silenceLater)
	if err != nil || !ev.Proves(a.now(), silenceRetryWait) {
		return workflows.SettleResult{}, false, err
	}
	if m.Purpose == string(journey.Marketing) && ev.Age < a.InDoubt.deadline() {
		waiting, err := a.transactionalAwaiting(ctx)
		if err != nil {
			return workflows.SettleResult{}, false, err
		}
		if waiting > 0 {
			// Jittered, so that the marketing emails of an outage do not
			// all look again in the same second.
			again := transactionalFirst*2/3 + time.Duration(rand.Int64N(int64(transactionalFirst*2/3)))
			return workflows.SettleResult{Settlement: workflows.StillInDoubt, Send: result(m), LookAgainIn: again,
				Reason: fmt.Sprintf("proven not sent; waiting for %d transactional email(s) of the outage to go first", waiting)}, true, nil
		}
	}
	r, err := a.reopen(ctx, m, metrics.SettledBySilence, fmt.Sprintf(
		"SendGrid's event webhook reported the %d emails it accepted after this one processed, and nothing on this one, %s after the attempt (proven not sent)",
		ev.Later, ev.Age.Round(time.Second)))
	return r, err == nil, err
}

// transactionalAwaiting counts the transactional emails of an outage
// waiting to go again (Store.TransactionalEmailsAwaitingResend), read at
// most every few seconds on this worker: every marketing email proven
// unsent after an outage asks.
func (a *Activities) transactionalAwaiting(ctx context.Context) (int, error) {
	a.awaiting.Lock()
	defer a.awaiting.Unlock()
	now := a.now()
	if !a.awaiting.at.IsZero() && now.Sub(a.awaiting.at) < 5*time.Second && now.After(a.awaiting.at) {
		return a.awaiting.n, nil
	}
	n, err := a.Store.TransactionalEmailsAwaitingResend(ctx, a.InDoubt.deadline())
	if err != nil {
		return 0, err
	}
	a.awaiting.at, a.awaiting.n = now, n
	return n, nil
}
