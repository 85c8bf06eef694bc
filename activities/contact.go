package activities

import (
	"context"
	"fmt"

	"go.temporal.io/sdk/activity"

	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/metrics"
	"github.com/rapporthq/rapport/internal/policy"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

// claim takes the message's attempt if the contact rules allow it now.
// They are applied at send time, in the claim's transaction, so a customer
// who opted out during a two-week wait is honoured, and frequency caps hold
// across journeys sending at once. When the message may not go, the result
// to return is given instead: held (with the moment it may go), skipped
// (with why), or an earlier attempt's outcome.
func (a *Activities) claim(ctx context.Context, req workflows.SendRequest, msg store.Message, c store.Customer, resumable bool) (store.Claim, *workflows.SendResult, error) {
	at := req.PolicyAt
	if at.IsZero() {
		at = a.now()
	}
	var why string // the metrics' name for why the rules said no, when they were asked
	claim, gate, err := a.Store.ClaimWithGate(ctx, msg, resumable, at, func(in store.GateInput) store.Gate {
		if msg.NoContact {
			// A webhook to an endpoint that does not reach the customer
			// (contacts_customer false): the contact rules are about
			// contacting them, so they let it through.
			return store.Gate{Allow: true}
		}
		g, reason := a.gate(req, c, in)
		why = reason
		return g
	})
	if err != nil {
		return claim, nil, err
	}
	if claim.Send {
		return claim, nil, nil
	}
	res := result(claim.Message)
	switch {
	case gate.Hold && req.SkipIfHeld != "":
		// The journey's last ask: the message will not be held again.
		res, err := a.skip(ctx, claim.Message, why, req.SkipIfHeld+" ("+gate.Reason+")")
		return claim, &res, err
	case gate.Hold:
		res.Status, res.HeldUntil = workflows.SendHeld, gate.Until
		a.logger(ctx).Info("message held", "message_id", claim.Message.ID, "channel", msg.Channel, "until", gate.Until, "reason", gate.Reason)
		a.Metrics.MessageSent(msg.Channel, msg.Journey, string(workflows.SendHeld))
		a.Metrics.Held(msg.Channel, why)
	case claim.Message.Status == store.MessageSkipped:
		a.logger(ctx).Info("message not allowed", "message_id", claim.Message.ID, "channel", msg.Channel, "reason", claim.Message.Reason)
		if why != "" { // the rules said no now, not on an earlier attempt
			a.countSettled(claim.Message)
			a.Metrics.Held(msg.Channel, why)
		}
	default:
		a.logger(ctx).Info("message already handled", "message_id", claim.Message.ID, "status", claim.Message.Status)
		// An outcome already reported is not counted again, but a retry
		// that finds an earlier attempt interrupted mid-call settles it as
		// unknown now (that attempt reported nothing).
		if claim.Message.Status == store.MessageUnknown && activity.GetInfo(ctx).Attempt > 1 {
			a.countSettled(claim.Message)
		}
	}
	return claim, &res, nil
}

// Decide applies the contact rules to a message as the send activity
// does, claiming nothing and storing nothing: rapport preview asks it.
func (a *Activities) Decide(req workflows.SendRequest, c store.Customer, in store.GateInput) store.Gate {
	g, _ := a.gate(req, c, in)
	return g
}

// gate applies the contact rules (package policy) to what the claim read.
// When the message may not go now it also names why for the metrics (one
// of their Reason values).
func (a *Activities) gate(req workflows.SendRequest, c store.Customer, in store.GateInput) (store.Gate, string) {
	prefs := policyPreferences(a.Rules, in.Preferences, c)
	ch := policy.Channel(req.Channel)
	if in.Suppression != "" {
		prefs.Suppressed = map[policy.Channel]string{ch: in.Suppression}
	}
	m := policy.Message{Channel: ch, Purpose: policy.Purpose(req.Purpose), Topic: req.Topic}
	for _, fc := range req.Caps {
		m.Caps = append(m.Caps, policy.Cap{Channel: policy.Channel(fc.Channel), Max: fc.Max, Per: fc.Per.D})
	}
	for _, h := range in.Ahead {
		m.Ahead = append(m.Ahead, policy.Queued{Channel: policy.Channel(h.Channel), What: heldWords(h)})
	}
	recent := make([]policy.Sent, len(in.Recent))
	for i, s := range in.Recent {
		recent[i] = policy.Sent{Channel: policy.Channel(s.Channel), At: s.At}
	}
	d := policy.Decide(prefs, m, in.At, recent)
	switch {
	case d.Verdict == policy.Allow:
		return store.Gate{Allow: true}, ""
	case d.Verdict == policy.Delay && d.Capped && req.OnCap == "skip":
		return store.Gate{Reason: d.Reason + " (the step says on_cap: skip)"}, metrics.ReasonFrequencyCap
	case d.Verdict == policy.Delay:
		return store.Gate{Hold: true, Until: d.Until, Reason: d.Reason}, holdReason(prefs, m, in.At, d)
	default:
		return store.Gate{Reason: d.Reason}, holdReason(prefs, m, in.At, d)
	}
}

// heldWords names a held message for a hold's reason: "satisfaction-check
// ask (high priority)".
func heldWords(h store.HeldMessage) string {
	priority := journey.PriorityNormal
	switch {
	case h.Priority > 0:
		priority = journey.PriorityHigh
	case h.Priority < 0:
		priority = journey.PriorityLow
	}
	return fmt.Sprintf("%s %s (%s priority)", h.Journey, h.Step, priority)
}

// appliesTo says whether marketing extras (unsubscribe links, STOP lines)
// belong on a message.
func marketing(req workflows.SendRequest) bool { return req.Purpose == journey.Marketing }

// Preferences turns a customer's stored preferences into the decision's
// input: their consent and topics, their own quiet hours and caps where
// they set them and the rules' defaults elsewhere, and their time zone
// (theirs, else their country's, else the default).
func policyPreferences(r policy.Rules, p store.Preferences, c store.Customer) policy.Preferences {
	loc, _ := policy.ResolveZone(c.TimeZone, c.Address.Country, r.DefaultZone)
	out := policy.Preferences{
		Location:     loc,
		Consent:      map[policy.Channel]policy.ConsentRecord{},
		Topics:       map[string]bool{},
		Quiet:        map[policy.Channel]policy.Window{},
		Caps:         r.Caps,
		RequireOptIn: r.RequireOptIn,
	}
	for ch, ev := range p.Consent {
		out.Consent[policy.Channel(ch)] = policy.ConsentRecord{State: policy.Consent(ev.State), Source: ev.Source, At: ev.RecordedAt}
	}
	for topic, ev := range p.Topics {
		out.Topics[topic] = ev.Subscribed
	}
	for ch, w := range r.Quiet {
		out.Quiet[ch] = w
	}
	for ch, q := range p.QuietHours {
		start, err1 := policy.ParseClock(q.Start)
		end, err2 := policy.ParseClock(q.End)
		if err1 != nil || err2 != nil {
			out.Quiet[policy.Channel(ch)] = policy.Window{} // no quiet hours, as the customer chose
			continue
		}
		out.Quiet[policy.Channel(ch)] = policy.Window{Start: start, End: end}
	}
	if p.Frequency != nil {
		out.Caps = nil
		for _, cs := range p.Frequency {
			per, err := journey.ParseDuration(cs.Per)
			if err != nil || cs.Max < 1 {
				continue
			}
			c := policy.Cap{Max: cs.Max, Per: per}
			if cs.Channel != "all" {
				c.Channel = policy.Channel(cs.Channel)
			}
			out.Caps = append(out.Caps, c)
		}
	}
	return out
}
