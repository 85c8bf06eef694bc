// Package preview plays a journey for one customer on Temporal's test
// environment, skipping time, with the real interpreter, the customer's
// real facts, preferences, orders, recent marketing and suppressed
// addresses read from the database, the journeys' templates, and
// activities that send nothing and store nothing. It writes the timeline
// in the customer's local time: each message with its channel, subject
// and first line, each hold with its reason and when it ends, staff
// tasks, what the journey decided and why, and how it ended. `rapport
// preview` prints it. It is dev-only: the production build links none of
// it.
package preview

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"github.com/rapporthq/rapport/activities"
	"github.com/rapporthq/rapport/internal/app"
	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/phone"
	"github.com/rapporthq/rapport/internal/policy"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/templates"
	"github.com/rapporthq/rapport/workflows"
)

// Options is what to preview, and what with.
type Options struct {
	// Store is read: the customer's facts, preferences, orders, recent
	// marketing and suppressed addresses. Nothing is written.
	Store *store.Store
	// Templates render the messages; Env evaluates the conditions (the
	// journeys' compiler's).
	Templates *templates.Set
	Env       *journey.Env
	// Config gives the contact rules, the webhook endpoints, the shop and
	// the default currency.
	Config app.Config
	// Plan is the journey, for CustomerID.
	Plan       *journey.Plan
	CustomerID string
	// Event starts the run; nil starts it with a stand-in for the
	// journey's trigger (the customer's latest order for an order event).
	Event *journey.Event
	// WhatIf are events sent during the run.
	WhatIf []Event
	// Days bounds the preview: the run is cut after this many days.
	Days int
}

// Run previews the journey and writes its timeline to w.
func Run(ctx context.Context, w io.Writer, o Options) error {
	if o.Days < 1 {
		return fmt.Errorf("a preview lasts at least a day, not %d", o.Days)
	}
	p := &previewer{store: o.Store, templates: o.Templates, env: o.Env, cfg: o.Config,
		acts: &activities.Activities{Store: o.Store, Templates: o.Templates, Rules: o.Config.Rules}}
	return p.run(ctx, w, o.Plan, o.CustomerID, o.Event, o.WhatIf, o.Days)
}

// previewer runs a journey for one customer with activities that send and
// store nothing, and keeps the timeline.
type previewer struct {
	store     *store.Store
	templates *templates.Set
	env       *journey.Env
	cfg       app.Config
	acts      *activities.Activities // the contact rules and local times, read-only

	test     *testsuite.TestWorkflowEnvironment
	customer store.Customer
	prefs    store.Preferences
	trigger  journey.Event
	recent   []store.RecentSend // marketing sent lately and in the preview, for caps
	// suppressed are the channels whose address is suppressed, with why.
	suppressed map[journey.Channel]string
	lines      []previewLine
	marks      []whatIfMark // the what-if events, to say which wait each ended
	start      time.Time
	loc        *time.Location // the customer's time zone
}

// local writes a moment in the customer's time zone, with its year when
// it is not the preview's first.
func (p *previewer) local(t time.Time) string {
	t = t.In(p.loc)
	if t.Year() != p.start.In(p.loc).Year() {
		return t.Format("Mon 2 Jan 2006 15:04")
	}
	return t.Format("Mon 2 Jan 15:04")
}

// whatIfMark is a what-if event as it arrived: its line in the timeline
// and the wait the run was in.
type whatIfMark struct {
	line    int
	eventID string
	before  *workflows.PendingWait
}

// sayWhatIfEnded adds, after each what-if event's line, which wait it
// ended (the run's notes say "<step>: ended by <type> event <id>"), or
// that the wait went on.
func (p *previewer) sayWhatIfEnded(notes []string) {
	for i := len(p.marks) - 1; i >= 0; i-- {
		m := p.marks[i]
		if m.before == nil {
			continue
		}
		text := fmt.Sprintf("  the %s wait (%s) goes on: the event does not end it", m.before.Step, m.before.Why)
		for _, n := range notes {
			if strings.HasPrefix(n, m.before.Step+": ended by ") && strings.HasSuffix(n, " event "+m.eventID) {
				text = fmt.Sprintf("  it ends the %s wait (%s)", m.before.Step, m.before.Why)
			}
		}
		at := p.lines[m.line].at
		p.lines = slices.Insert(p.lines, m.line+1, previewLine{at: at, text: text})
	}
}

// previewLine is a line of the timeline.
type previewLine struct {
	at   time.Time
	text string
}

func (p *previewer) say(format string, args ...any) {
	p.lines = append(p.lines, previewLine{at: p.test.Now(), text: fmt.Sprintf(format, args...)})
}

func (p *previewer) run(ctx context.Context, w io.Writer, plan *journey.Plan, customerID string, ev *journey.Event, whatIf []Event, days int) error {
	start := time.Now().UTC().Truncate(time.Minute)
	if err := p.readCustomer(ctx, customerID, start); err != nil {
		return err
	}
	facts, err := p.store.CustomerFacts(ctx, customerID, start)
	if err != nil {
		return err
	}
	p.loc, _ = policy.ResolveZone(p.customer.TimeZone, p.customer.Address.Country, p.cfg.Rules.DefaultZone)
	facts.Zone = p.loc.String()
	p.trigger = previewTrigger(plan, facts, ev, start)
	if start, err = p.startMoment(plan, customerID, facts, ev, start); err != nil {
		return err
	}
	if cond := cmp.Or(plan.Trigger.Audience, plan.Trigger.When); plan.Trigger.Scanned() && cond != "" {
		// Whether the customer is in the audience, or passes the date
		// trigger's condition, at that moment.
		ok, err := p.env.EvalAudience(cond, facts, start)
		if err != nil || !ok {
			fmt.Fprintf(w, "%s would not start for %s at %s: %s is %s for them\n", plan.Journey, customerID, start.In(p.loc).Format("Mon 2 Jan 2006 15:04"), cond, falseOrError(err))
			return nil
		}
	}
	p.start = start
	cut, st := p.play(plan, customerID, whatIf, days)
	p.print(w, plan, customerID, ev, days, cut, st)
	return nil
}

// readCustomer reads the customer, their preferences, what the caps
// already count (their real marketing of the last 60 days) and the
// addresses no message may go to.
func (p *previewer) readCustomer(ctx context.Context, customerID string, start time.Time) error {
	var err error
	if p.customer, err = p.store.GetCustomer(ctx, customerID); err != nil {
		return fmt.Errorf("customer %s: %w", customerID, err)
	}
	if p.prefs, err = p.store.GetPreferences(ctx, customerID); err != nil {
		return err
	}
	if p.recent, err = p.store.RecentMarketing(ctx, customerID, start.Add(-60*24*time.Hour)); err != nil {
		return err
	}
	p.suppressed = map[journey.Channel]string{}
	for ch, address := range map[journey.Channel]string{journey.Email: p.customer.Email, journey.SMS: p.customer.Phone} {
		if address == "" {
			continue
		}
		if ch == journey.SMS {
			if address, err = phone.Normalize(address, p.customer.Address.Country); err != nil {
				continue // the send says the number is invalid
			}
		}
		sup, err := p.store.Suppressed(ctx, string(ch), address)
		switch {
		case err == nil:
			p.suppressed[ch] = sup.Reason
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
	}
	return nil
}

// startMoment is when the run starts: now, or for a journey started at
// the customer's local time (and no event given), when their moment next
// comes, with the trigger that moment makes.
func (p *previewer) startMoment(plan *journey.Plan, customerID string, facts journey.Customer, ev *journey.Event, start time.Time) (time.Time, error) {
	t := plan.Trigger
	if !t.LocalTime() || ev != nil {
		return start, nil
	}
	occ, ok := t.Next(facts, p.loc, start)
	switch {
	case !ok && t.Date != "" && t.Every == journey.EveryOnce && hasDate(facts, t.Date):
		return start, fmt.Errorf("customer %s's attributes.%s (%v) has passed, and %s comes once, so it would never start for them", customerID, t.Date, facts.Attributes[t.Date], plan.Journey)
	case !ok && t.Date != "":
		return start, fmt.Errorf("customer %s has no date in attributes.%s (text such as 2027-03-14), so %s would never start for them", customerID, t.Date, plan.Journey)
	case !ok:
		return start, fmt.Errorf("the schedule %q never comes round for customer %s", t.Schedule, customerID)
	}
	start = occ.At.UTC()
	p.trigger.ID, p.trigger.OccurredAt = occ.Key, start
	if t.Date != "" {
		p.trigger.Type = journey.DateEventType
		p.trigger.Data = map[string]any{"attribute": t.Date, "date": occ.Date}
	}
	return start, nil
}

// play runs the journey on the test environment from p.start, with the
// what-if events, for at most days: cut says it was cut short, st is the
// run's state at the end.
func (p *previewer) play(plan *journey.Plan, customerID string, whatIf []Event, days int) (cut bool, st workflows.State) {
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	p.test = suite.NewTestWorkflowEnvironment()
	p.test.SetStartTime(p.start)
	workflows.NewInterpreter(p.env).Register(p.test)
	p.register()
	p.test.SetOnTimerScheduledListener(func(_ string, d time.Duration) {
		if d >= time.Minute { // the interpreter's short timers (retries) are not the journey's
			p.say("waits %s, until %s", journey.FormatDuration(d.Round(time.Minute)), p.local(p.test.Now().Add(d)))
		}
	})
	for i, e := range whatIf {
		// A callback due at once runs before the workflow has started,
		// with no run to signal or query yet: "at day 0" comes the
		// moment after the start instead.
		at := max(e.At, time.Nanosecond)
		e := journey.Event{ID: fmt.Sprintf("what-if-%d", i+1), Type: e.Type, CustomerID: customerID, Data: e.Data}
		p.test.RegisterDelayedCallback(func() {
			p.say("event %s arrives (what if)", e.Type)
			e.OccurredAt = p.test.Now()
			p.marks = append(p.marks, whatIfMark{line: len(p.lines) - 1, eventID: e.ID, before: p.pendingWait()})
			p.test.SignalWorkflow(workflows.EventSignal, e)
		}, at)
	}
	p.test.RegisterDelayedCallback(func() { cut = true; p.test.CancelWorkflow() }, time.Duration(days)*24*time.Hour)
	p.test.ExecuteWorkflow(workflows.JourneyWorkflowName, workflows.JourneyInput{Plan: *plan, CustomerID: customerID,
		EntryKey: p.trigger.ID, Trigger: p.trigger, Revision: workflows.Revision})
	if v, qerr := p.test.QueryWorkflow(workflows.StateQuery); qerr == nil {
		_ = v.Get(&st)
	}
	p.sayWhatIfEnded(st.Notes)
	return cut, st
}

// print writes the timeline, how the run ended and what it decided.
func (p *previewer) print(w io.Writer, plan *journey.Plan, customerID string, ev *journey.Event, days int, cut bool, st workflows.State) {
	start := p.start
	when := p.local
	fmt.Fprintf(w, "%s for %s (%s time), from %s, started by %s; nothing is sent or stored\n",
		plan.Journey, customerID, p.loc, when(start), p.trigger.Type)
	if plan.Trigger.Date != "" && ev == nil {
		fmt.Fprintf(w, "  the date is %s; the journey enters %s\n", p.trigger.Data["date"], plan.Trigger.DescribeDate())
	}
	width := max(len(when(start)), len(when(p.test.Now())))
	for _, l := range p.lines {
		width = max(width, len(when(l.at)))
	}
	for _, l := range p.lines {
		fmt.Fprintf(w, "  %-*s  %s\n", width, when(l.at), l.text)
	}
	switch {
	case cut:
		fmt.Fprintf(w, "  %-*s  the preview stops after %d days; the journey would go on (at step %s)\n", width, when(start.Add(time.Duration(days)*24*time.Hour)), days, st.CurrentStep)
	case p.test.GetWorkflowError() != nil:
		fmt.Fprintf(w, "  the journey failed: %v\n", p.test.GetWorkflowError())
	default:
		var res workflows.JourneyResult
		_ = p.test.GetWorkflowResult(&res)
		fmt.Fprintf(w, "  %-*s  the journey ends: %s%s\n", width, when(p.test.Now()), res.Outcome, parenthesised(res.Reason))
	}
	if len(st.Notes) > 0 {
		fmt.Fprintln(w, "what it decided:")
		for _, n := range st.Notes {
			fmt.Fprintf(w, "  %s\n", n)
		}
	}
}

// hasDate says whether the customer's attribute holds a date.
func hasDate(c journey.Customer, attribute string) bool {
	_, _, _, ok := journey.AttributeDate(c.Attributes[attribute])
	return ok
}

// pendingWait is what the previewed run waits for now, if anything.
func (p *previewer) pendingWait() *workflows.PendingWait {
	var st workflows.State
	v, err := p.test.QueryWorkflow(workflows.StateQuery)
	if err != nil || v.Get(&st) != nil {
		return nil
	}
	return st.PendingWait
}

// falseOrError says why a condition let nobody in: false, or the error.
func falseOrError(err error) string {
	if err != nil {
		return "not known (" + err.Error() + ")"
	}
	return "false"
}

// parenthesised is s in parentheses after a space, or nothing.
func parenthesised(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

// previewTrigger is the event the preview starts with: the one given, else
// a stand-in for the journey's trigger (the customer's latest order for an
// order event).
func previewTrigger(plan *journey.Plan, facts journey.Customer, ev *journey.Event, start time.Time) journey.Event {
	out := journey.Event{ID: "preview", Type: cmp.Or(plan.Trigger.Event, "audience"), CustomerID: facts.ID, OccurredAt: start, Data: map[string]any{}}
	switch {
	case ev != nil:
		out.Type, out.Order = ev.Type, ev.Order
		if ev.Data != nil {
			out.Data = ev.Data
		}
		if ev.ID != "" {
			out.ID = ev.ID
		}
	case strings.HasPrefix(out.Type, "order.") && len(facts.Orders) > 0:
		out.Order = facts.Orders[0]
		out.Data = map[string]any{"order_id": out.Order.ID}
	}
	return out
}
