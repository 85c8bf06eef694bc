package workflows

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/rapporthq/rapport/internal/journey"
)

// send delivers the step's message on the first of its channels that
// reaches the customer. A channel the customer cannot be reached on
// (skipped) or that refuses for good (failed) passes to the next; when none
// works the run notes why and the journey goes on.
func (r *run) send(ctx workflow.Context, step journey.Step) error {
	if err := r.factsBeforeSend(ctx, step); err != nil {
		return err
	}
	var misses []string
	channels := r.channelOrder(step.Send.Channels)
	defer func() { r.fallback, r.sending = nil, nil }()
	first := 0
	if at := r.restartSend; at != nil { // the step continued as new on this channel
		r.restartSend = nil
		if i := slices.Index(channels, at.Channel); i >= 0 {
			first, r.fallback, misses = i, at.Fallback, slices.Clone(at.Misses)
		}
	}
	for i := first; i < len(channels); i++ {
		ch := channels[i]
		r.sending = &ResumeSend{Channel: ch, Fallback: r.fallback, Misses: slices.Clone(misses)}
		result, err := r.sendPatiently(ctx, step, ch, i < len(channels)-1)
		if err == nil && result.Status == SendUnknown {
			result, err = r.settle(ctx, step, ch, result)
		}
		if err != nil {
			if _, ok := isContinue(err); ok || ctx.Err() != nil {
				return err // the run continues as new, or is exiting
			}
			result = SendResult{Channel: ch, Status: SendFailed, Reason: "gave up: " + rootCause(err)}
		}
		r.addSend(SendRecord{Step: step.ID, Template: step.Send.Template, SendResult: result, At: workflow.Now(ctx)})
		r.describe(ctx)
		if r.revision >= 7 && result.CustomerGone {
			return &exitError{reason: CustomerGoneReason} // it did not read the facts that would have said so first
		}
		if result.Status == SendSent || result.Status == SendUnknown {
			return nil
		}
		misses = append(misses, fmt.Sprintf("%s %s: %s", ch, result.Status, result.Reason))
		r.fallback = &Fallback{From: ch, Reason: fmt.Sprintf("%s: %s", result.Status.Words(), result.Reason)}
	}
	why := fmt.Sprintf("%s: nothing sent (%s)", step.ID, strings.Join(misses, "; "))
	r.note(why)
	if step.Send.OnUndeliverable == journey.OverdueExit {
		return &exitError{reason: why}
	}
	return nil
}

// sendPatiently sends on a channel, honouring holds, with the run's retry
// budget. When the send activity fails past the budget, runs from this
// change on give the channel up only when its provider is what failed and
// another channel follows (the step falls back to it, as before);
// otherwise (the database down, or the step's last channel) they wait and
// try again, as for the other activities (see patiently), rather than
// drop the message. Earlier runs gave up the channel in every case.
func (r *run) sendPatiently(ctx workflow.Context, step journey.Step, ch journey.Channel, fallback bool) (SendResult, error) {
	result, err := r.sendHonouringHolds(ctx, step, ch, r.retryBudget())
	if _, ok := isContinue(err); ok || err == nil || ctx.Err() != nil || r.revision < 2 || permanent(err) {
		return result, err
	}
	if !r.took(ctx, sendWaitsOutOutagesChange) {
		return result, err
	}
	if fallback && providerUnavailable(err) {
		return result, err
	}
	err = r.patientlyAfter(ctx, fmt.Sprintf("the %s provider or the database (%s %s)", ch, ch, step.Send.Template), err, func(budget time.Duration) error {
		var tryErr error
		result, tryErr = r.sendHonouringHolds(ctx, step, ch, budget)
		return tryErr
	})
	return result, err
}

// ErrProviderUnavailable is the error type of a send the provider did not
// take for a while (429s, refused connections): retried, and past the
// budget a reason to fall back to the step's next channel.
const ErrProviderUnavailable = "ProviderUnavailable"

// providerUnavailable reports whether err is the send activity's
// ErrProviderUnavailable.
func providerUnavailable(err error) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.Type() == ErrProviderUnavailable
}

// maxHolds bounds how often one message may be held back in a row.
const maxHolds = 50

// sendHonouringHolds sends on a channel; when the contact rules hold the
// message (quiet hours where the customer lives, a frequency cap), it
// waits on a durable timer until the moment they allow, then asks again:
// the customer may have changed their mind meanwhile.
func (r *run) sendHonouringHolds(ctx workflow.Context, step journey.Step, ch journey.Channel, budget time.Duration) (SendResult, error) {
	givenUp := fmt.Sprintf("held back %d times in a row; given up", maxHolds)
	for i := range maxHolds {
		skipIfHeld := ""
		if i == maxHolds-1 {
			skipIfHeld = givenUp // the outbox says so, and the held row no longer goes first
		}
		result, err := r.sendOn(ctx, step, ch, budget, skipIfHeld)
		if err != nil || result.Status != SendHeld {
			return result, err
		}
		r.note(fmt.Sprintf("%s: %s held: %s", step.ID, ch, result.Reason))
		if err := r.continueMidStep(ctx); err != nil {
			return SendResult{}, err // asked again in the next execution
		}
		wait := r.plan.WallDuration(result.HeldUntil.Sub(r.plan.DevTime(workflow.Now(ctx))))
		if r.devClock {
			wait = r.wallUntil(ctx, result.HeldUntil)
		}
		r.addSend(SendRecord{Step: step.ID, Template: step.Send.Template, SendResult: result, At: workflow.Now(ctx)})
		r.state.PendingWait = &PendingWait{Step: step.ID, Kind: WaitHeld, Until: workflow.Now(ctx).Add(wait), Why: fmt.Sprintf("%s %s held: %s", ch, step.Send.Template, result.Reason)}
		r.describe(ctx)
		r.rest(ctx)
		err = workflow.NewTimerWithOptions(ctx, max(wait, time.Millisecond), workflow.TimerOptions{Summary: oneLine("held: "+result.Reason, 120)}).Get(ctx, nil)
		r.state.PendingWait = nil
		r.reached(ctx, result.HeldUntil, err != nil)
		if err != nil {
			return SendResult{}, err
		}
	}
	return SendResult{Channel: ch, Status: SendSkipped, Reason: givenUp}, nil // a worker before SkipIfHeld held it
}

// channelOrder puts a step's channels in the customer's preferred order
// (channels they did not rank keep the journey's order, after those they
// did).
func (r *run) channelOrder(channels []journey.Channel) []journey.Channel {
	pref := r.vars.Customer.PreferredChannels
	if len(pref) == 0 || len(channels) < 2 {
		return channels
	}
	out := slices.Clone(channels)
	rank := func(c journey.Channel) int {
		if i := slices.Index(pref, string(c)); i >= 0 {
			return i
		}
		return len(pref)
	}
	slices.SortStableFunc(out, func(a, b journey.Channel) int { return rank(a) - rank(b) })
	return out
}

func (r *run) sendOn(ctx workflow.Context, step journey.Step, ch journey.Channel, budget time.Duration, skipIfHeld string) (SendResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    sendStartToClose,
		ScheduleToCloseTimeout: budget,
		RetryPolicy:            retryPolicy(retryMaxInterval),
		Summary:                fmt.Sprintf("%s %s", ch, step.Send.Template),
	})
	req := SendRequest{
		WorkflowID: r.workflowID,
		Journey:    r.plan.Journey,
		StepID:     step.ID,
		CustomerID: r.input.CustomerID,
		Channel:    ch,
		Template:   step.Send.Template,
		Endpoint:   step.Send.Endpoint,
		Purpose:    r.plan.Purpose,
		Topic:      r.plan.Topic,
		OrderID:    r.input.Trigger.Order.ID,
		Voucher:    step.Send.Voucher,
		Recommend:  step.Send.Recommend,
		OnCap:      step.Send.OnCap,
		Caps:       r.plan.Frequency,
	}
	if r.plan.Scale > 0 && !r.plan.ScaleEpoch.IsZero() {
		req.PolicyAt = r.journeyNow(ctx)
	}
	req.TriggerEventID, req.Fallback = r.input.Trigger.ID, r.fallback
	if r.input.Trigger.Type == journey.DateEventType {
		req.Trigger = &r.input.Trigger // not a stored event: its data goes along
	}
	req.TemplateVersion = r.plan.Templates[step.Send.Template]
	req.SkipIfHeld = skipIfHeld
	req.Priority = cmp.Or(step.Send.Priority, r.plan.Priority)
	req.Record = r.recordWith(true)
	var result SendResult
	err := workflow.ExecuteActivity(ctx, SendMessageActivity, req).Get(ctx, &result)
	if err == nil {
		r.recorded(req.Record, result.Recorded)
		result.Recorded = Recorded{}
	}
	return result, err
}

// wait pauses the run on a durable timer, or until an event matching the
// step's condition arrives, whichever comes first. Events that arrived
// since the previous wait ended count, so an answer that comes in while a
// message is still being sent is not missed. The matching event becomes
// `event` for later steps.
func (r *run) wait(ctx workflow.Context, step journey.Step) error {
	w := step.Wait
	at, resumed := r.resumedRest()
	if resumed && at.fresh {
		resumed = false // moved to a new plan: the step starts anew
	}
	if resumed && w.UntilEvent == "" {
		return r.waitRest(ctx, step, at.until)
	}
	if w.Until != "" {
		return r.waitUntil(ctx, step)
	}
	if w.UntilEvent == "" {
		summary := "wait " + w.For.String()
		r.state.PendingWait = &PendingWait{Step: step.ID, Kind: WaitStep, Until: workflow.Now(ctx).Add(w.For.D), Why: summary}
		r.describe(ctx)
		r.rest(ctx)
		skipped, err := r.pause(ctx, w.For.D, summary, nil)
		if skipped {
			r.note(fmt.Sprintf("%s: wait skipped by staff", step.ID))
		}
		return err
	}

	r.waiting = &waiter{condition: w.UntilEvent}
	defer func() {
		r.waiting = nil
		if !r.leaving { // a run continuing as new keeps its inbox
			r.inbox = nil
		}
	}()
	r.tick(ctx)
	for i := range r.inbox {
		if r.matches(w.UntilEvent, r.inbox[i]) {
			r.waiting.matched = &r.inbox[i]
			break
		}
	}
	skipped := false
	if r.waiting.matched == nil {
		summary := fmt.Sprintf("wait %s or until %s", w.Timeout, oneLine(w.UntilEvent, 80))
		d := w.Timeout.D
		if resumed {
			d = at.until.Sub(workflow.Now(ctx)) // the rest of the wait a continued run was in
		}
		r.state.PendingWait = &PendingWait{Step: step.ID, Kind: WaitStep, Until: workflow.Now(ctx).Add(d), ForEvent: w.UntilEvent, Why: summary}
		r.describe(ctx)
		r.rest(ctx)
		var err error
		skipped, err = r.pause(ctx, d, summary, func() bool { return r.waiting.matched != nil })
		if err != nil {
			return err
		}
	}
	if ev := r.waiting.matched; ev != nil {
		r.vars.Event = *ev
		r.note(fmt.Sprintf("%s: ended by %s event %s", step.ID, ev.Type, ev.ID))
	} else if skipped {
		r.note(fmt.Sprintf("%s: wait skipped by staff; no matching event", step.ID))
	} else {
		r.note(fmt.Sprintf("%s: no matching event within %s", step.ID, w.Timeout))
	}
	return nil
}

// waitUntil sleeps until the next time of day (on the given weekdays) in
// the customer's time zone. The moment is computed by a local activity
// (time zone rules are data), so replays see the same moment.
func (r *run) waitUntil(ctx workflow.Context, step journey.Step) error {
	w := step.Wait
	var next NextLocalTime
	now := r.journeyNow(ctx)
	err := r.patiently(ctx, "the database (the customer's time zone)", func(budget time.Duration) error {
		return r.local(ctx, budget, "", NextLocalTimeActivity, NextLocalTimeRequest{
			CustomerID: r.input.CustomerID, At: w.Until, On: w.On, After: now,
		}, &next)
	})
	if _, ok := isContinue(err); ok {
		return err
	}
	if err != nil {
		return fmt.Errorf("%s: when is the next %s: %w", step.ID, w.Until, err)
	}
	d := r.plan.WallDuration(next.Time.Sub(now))
	summary := fmt.Sprintf("wait until %s %s", w.Until, next.Zone)
	if len(w.On) > 0 {
		summary += " on " + strings.Join(w.On, ", ")
	}
	r.state.PendingWait = &PendingWait{Step: step.ID, Kind: WaitStep, Until: workflow.Now(ctx).Add(d), Why: summary}
	r.describe(ctx)
	r.rest(ctx)
	skipped, err := r.pause(ctx, d, summary, nil)
	if skipped {
		r.note(fmt.Sprintf("%s: wait skipped by staff", step.ID))
	}
	return err
}

// branch takes the first case whose condition holds for the customer as
// they are now, or otherwise; a condition that cannot be evaluated counts
// as false.
func (r *run) branch(ctx workflow.Context, step journey.Step) error {
	if i, ok := r.resumingBranch(); ok { // continued as new inside this case
		if i < len(step.Branch.Cases) {
			return r.into(i, func() error { return r.walk(ctx, step.Branch.Cases[i].Steps) })
		}
		return r.into(i, func() error { return r.walk(ctx, step.Branch.Otherwise) })
	}
	if r.branchReadsFacts(step.Branch) {
		facts, err := r.customerFacts(ctx)
		if err != nil {
			return fmt.Errorf("refresh customer facts for %s: %w", step.ID, err)
		}
		r.vars.Customer, r.factsLoaded = facts, true
	}
	r.tick(ctx)
	for i, c := range step.Branch.Cases {
		ok, err := r.env.Eval(c.When, r.vars)
		if err != nil {
			r.note(fmt.Sprintf("%s: case %d could not be evaluated (%v); treated as false", step.ID, i+1, err))
			continue
		}
		if ok {
			r.note(fmt.Sprintf("%s: took case %d (%s)", step.ID, i+1, c.When))
			return r.into(i, func() error { return r.walk(ctx, c.Steps) })
		}
	}
	r.note(fmt.Sprintf("%s: took otherwise", step.ID))
	return r.into(len(step.Branch.Cases), func() error { return r.walk(ctx, step.Branch.Otherwise) })
}

// oneLine puts s on one line and cuts it to at most n runes, ending a cut
// one with "…". It cuts between runes, never inside one.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n < 1 {
		return ""
	}
	i, kept := 0, 0
	for i = range s {
		if kept == n-1 {
			break
		}
		kept++
	}
	return s[:i] + "…"
}

// cut shortens s to at most n runes, ending a cut one with "…".
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// rootCause is the innermost error message: the provider's words rather
// than Temporal's wrapping.
func rootCause(err error) string {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok || u.Unwrap() == nil {
			return err.Error()
		}
		err = u.Unwrap()
	}
}
