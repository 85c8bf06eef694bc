//go:build !production

package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/activity"
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

func newPreviewCmd() *cobra.Command {
	var customerID, eventFile, journeysDir string
	var days int
	var whatIf []string
	cmd := &cobra.Command{
		Use:   "preview JOURNEY --customer ID",
		Short: "Show what a journey would do for one customer, day by day, sending nothing",
		Long: `Preview runs a journey for one customer on Temporal's test environment,
skipping time, with the real interpreter, the customer's real facts,
preferences, orders, recent marketing and suppressed addresses read from
the database (DATABASE_URL), the templates of the journeys folder, and
activities that send nothing and store nothing. It prints the
timeline in the customer's local time: each message with its channel,
subject and first line, each hold with its reason and when it ends, staff
tasks, what the journey decided and why, and how it ended.

The run starts with --event FILE (a JSON event: {"type": ..., "data":
...}), else with a stand-in for the journey's trigger (the customer's
latest order for an order event). --what-if 'event TYPE at day N' sends an
event N days in (repeatable): 'at day 2 12h30m' (or 'at 36h', 'at 90m')
for a time of day, and 'with {"product_id": "p1"}' at the end for its
data (a JSON object), so 'event order.placed at day 2 12h with
{"product_id": "p1"}'. --days bounds the preview. Staff tasks are
never done in a preview: they go overdue as the journey says. A webhook
follows its endpoint's contacts_customer when RAPPORT_WEBHOOK_ENDPOINTS
(or RAPPORT_WEBHOOK_ENDPOINTS_FILE) configures it; otherwise the preview
takes it to contact the customer, applies the contact rules, and says so.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if customerID == "" {
				return errors.New("give the customer: --customer ID")
			}
			if days < 1 || days > 3650 {
				return fmt.Errorf("--days must be 1 to 3650, not %d", days)
			}
			events, err := parseWhatIf(whatIf, days)
			if err != nil {
				return err
			}
			cfg, err := app.ConfigFromEnv(app.OSEnv{})
			if err != nil {
				return err
			}
			if cfg.DatabaseURL == "" {
				return errors.New("DATABASE_URL is not set: preview reads the customer's facts, preferences and orders from the database")
			}
			js, err := app.LoadJourneys(journeysDir)
			if err != nil {
				return err
			}
			plan, ok := js.Catalog.Get(args[0])
			if !ok {
				return fmt.Errorf("no journey %q in %s", args[0], journeysDir)
			}
			st, err := store.Open(cmd.Context(), cfg.DatabaseURL)
			if err != nil {
				return err
			}
			defer st.Close()
			var ev *journey.Event
			if eventFile != "" {
				if ev, err = readPreviewEvent(eventFile); err != nil {
					return err
				}
			}
			p := &previewer{store: st, templates: js.Templates, env: js.Compiler.Env(), cfg: cfg,
				acts: &activities.Activities{Store: st, Templates: js.Templates, Rules: cfg.Rules}}
			return p.run(cmd.Context(), cmd.OutOrStdout(), plan, customerID, ev, events, days)
		},
	}
	f := cmd.Flags()
	f.StringVar(&customerID, "customer", "", "the customer's id")
	f.StringVar(&eventFile, "event", "", "a JSON file with the event that starts the journey")
	f.IntVar(&days, "days", 60, "how many days of the journey to show")
	f.StringArrayVar(&whatIf, "what-if", nil, `an event during the journey: 'event order.placed at day 10', 'event order.placed at day 2 12h with {"product_id": "p1"}' (repeatable)`)
	f.StringVar(&journeysDir, "journeys-dir", "journeys", "the folder of journeys and their templates")
	return cmd
}

// whatIfRe is a what-if: event TYPE at [day N] [Hh][Mm] [with {JSON}].
var whatIfRe = regexp.MustCompile(`^event ([a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*) at(?: +day +(\d{1,4}))?(?: +(?:(\d{1,5})h)?(?:(\d{1,6})m)?)?(?: +with +(.+))?$`)

// whatIfForm is how a what-if is written, for error messages.
const whatIfForm = `write it as 'event order.placed at day 10', 'event order.placed at day 2 12h30m' or 'event order.placed at day 0 with {"product_id": "p1"}'`

// maxWhatIfData bounds a what-if event's data.
const maxWhatIfData = 64 << 10

// previewEvent is an event a what-if sends during the preview: At after
// the start, with Data.
type previewEvent struct {
	Type string
	At   time.Duration
	Data map[string]any
}

func parseWhatIf(in []string, days int) ([]previewEvent, error) {
	var out []previewEvent
	for _, w := range in {
		m := whatIfRe.FindStringSubmatch(strings.TrimSpace(w))
		if m == nil || m[2]+m[3]+m[4] == "" {
			return nil, fmt.Errorf("--what-if %q: %s", oneLine(w, 80), whatIfForm)
		}
		var at time.Duration
		for i, unit := range []time.Duration{24 * time.Hour, time.Hour, time.Minute} {
			if n, err := strconv.Atoi(m[2+i]); err == nil {
				at += time.Duration(n) * unit
			}
		}
		if at > time.Duration(days)*24*time.Hour {
			return nil, fmt.Errorf("--what-if %q: %s in is after the preview's %d days", oneLine(w, 80), journey.FormatDuration(at), days)
		}
		e := previewEvent{Type: m[1], At: at, Data: map[string]any{}}
		if m[5] != "" {
			if len(m[5]) > maxWhatIfData {
				return nil, fmt.Errorf("--what-if %q: the data is %d bytes; at most %d are taken", oneLine(w, 60), len(m[5]), maxWhatIfData)
			}
			dec := json.NewDecoder(strings.NewReader(m[5]))
			if err := dec.Decode(&e.Data); err != nil || e.Data == nil || dec.More() {
				return nil, fmt.Errorf("--what-if %q: the data after 'with' must be one JSON object, such as {\"product_id\": \"p1\"}", oneLine(w, 80))
			}
		}
		out = append(out, e)
	}
	return out, nil
}

func readPreviewEvent(path string) (*journey.Event, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var ev journey.Event
	if err := json.Unmarshal(b, &ev); err != nil {
		return nil, fmt.Errorf("%s: not a JSON event ({\"type\": ..., \"data\": {...}}): %w", path, err)
	}
	if ev.Type == "" {
		return nil, fmt.Errorf("%s: the event has no type", path)
	}
	return &ev, nil
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

type previewLine struct {
	at   time.Time
	text string
}

func (p *previewer) say(format string, args ...any) {
	p.lines = append(p.lines, previewLine{at: p.test.Now(), text: fmt.Sprintf(format, args...)})
}

func (p *previewer) run(ctx context.Context, w io.Writer, plan *journey.Plan, customerID string, ev *journey.Event, whatIf []previewEvent, days int) error {
	var err error
	if p.customer, err = p.store.GetCustomer(ctx, customerID); err != nil {
		return fmt.Errorf("customer %s: %w", customerID, err)
	}
	if p.prefs, err = p.store.GetPreferences(ctx, customerID); err != nil {
		return err
	}
	start := time.Now().UTC().Truncate(time.Minute)
	// What the caps already count: the customer's real marketing of the
	// last 60 days; and the addresses no message may go to.
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
	facts, err := p.store.CustomerFacts(ctx, customerID, start)
	if err != nil {
		return err
	}
	p.loc, _ = policy.ResolveZone(p.customer.TimeZone, p.customer.Address.Country, p.cfg.Rules.DefaultZone)
	facts.Zone = p.loc.String()
	p.trigger = previewTrigger(plan, facts, ev, start)
	if t := plan.Trigger; t.LocalTime() && ev == nil {
		// It starts when the customer's moment next comes.
		occ, ok := t.Next(facts, p.loc, start)
		switch {
		case !ok && t.Date != "" && t.Every == journey.EveryOnce && hasDate(facts, t.Date):
			return fmt.Errorf("customer %s's attributes.%s (%v) has passed, and %s comes once, so it would never start for them", customerID, t.Date, facts.Attributes[t.Date], plan.Journey)
		case !ok && t.Date != "":
			return fmt.Errorf("customer %s has no date in attributes.%s (text such as 2027-03-14), so %s would never start for them", customerID, t.Date, plan.Journey)
		case !ok:
			return fmt.Errorf("the schedule %q never comes round for customer %s", t.Schedule, customerID)
		}
		start = occ.At.UTC()
		p.trigger.ID, p.trigger.OccurredAt = occ.Key, start
		if t.Date != "" {
			p.trigger.Type = journey.DateEventType
			p.trigger.Data = map[string]any{"attribute": t.Date, "date": occ.Date}
		}
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

	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	p.test = suite.NewTestWorkflowEnvironment()
	p.test.SetStartTime(start)
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
	cut := false
	p.test.RegisterDelayedCallback(func() { cut = true; p.test.CancelWorkflow() }, time.Duration(days)*24*time.Hour)
	p.test.ExecuteWorkflow(workflows.JourneyWorkflowName, workflows.JourneyInput{Plan: *plan, CustomerID: customerID,
		EntryKey: p.trigger.ID, Trigger: p.trigger, Revision: workflows.Revision})

	var st workflows.State
	if v, qerr := p.test.QueryWorkflow(workflows.StateQuery); qerr == nil {
		_ = v.Get(&st)
	}
	p.sayWhatIfEnded(st.Notes)
	loc := p.loc
	when := p.local
	fmt.Fprintf(w, "%s for %s (%s time), from %s, started by %s; nothing is sent or stored\n",
		plan.Journey, customerID, loc, when(start), p.trigger.Type)
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
	return nil
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

// register puts the preview's activities on the test environment: reads
// from the database, decisions of the contact rules, rendering; no send,
// no write.
func (p *previewer) register() {
	reg := func(fn any, name string) {
		p.test.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
	}
	reg(func(ctx context.Context, id string) (journey.Customer, error) {
		facts, err := p.store.CustomerFacts(ctx, id, p.test.Now())
		facts.Zone = p.loc.String()
		return facts, err
	}, workflows.CustomerFactsActivity)
	reg(p.send, workflows.SendMessageActivity)
	reg(func(context.Context, workflows.FinishRunRequest) error { return nil }, workflows.FinishRunActivity)
	reg(func(_ context.Context, req workflows.CreateTaskRequest) (workflows.CreateTaskResult, error) {
		p.say("task %s for the %s queue, due %s%s", req.Kind, req.Queue, req.DueAt.Sub(p.test.Now()).Round(time.Minute), parenthesised(req.Brief))
		return workflows.CreateTaskResult{Created: true}, nil
	}, workflows.CreateTaskActivity)
	reg(func(_ context.Context, req workflows.UpdateTaskRequest) error {
		p.say("task %s: %s", req.TaskID, cmp.Or(req.Status, "updated"))
		return nil
	}, workflows.UpdateTaskActivity)
	reg(func(_ context.Context, req workflows.RecordSplitRequest) error { return nil }, workflows.RecordSplitActivity)
	reg(p.acts.NextLocalTime, workflows.NextLocalTimeActivity)
	reg(func(_ context.Context, req workflows.SettleRequest) (workflows.SettleResult, error) {
		return workflows.SettleResult{Settlement: workflows.Settled, Send: workflows.SendResult{Channel: req.Channel, Status: workflows.SendSent}}, nil
	}, workflows.SettleSendActivity)
	reg(func(_ context.Context, req workflows.RecordAnswerRequest) error {
		p.say("records a %s answer: %d%s", req.Survey, req.Score, parenthesised(req.Comment))
		return nil
	}, workflows.RecordAnswerActivity)
	reg(func(_ context.Context, req workflows.EmitEventRequest) error {
		p.say("emits %s for the customer's journeys", req.Event.Type)
		return nil
	}, workflows.EmitEventActivity)
}

// send decides and renders a message as the send activity would, and
// notes it in the timeline instead of sending it.
func (p *previewer) send(ctx context.Context, req workflows.SendRequest) (workflows.SendResult, error) {
	c := p.customer
	res := workflows.SendResult{Channel: req.Channel}
	what := fmt.Sprintf("%s %s", req.Channel, req.Template)
	noContact := false
	if req.Channel == journey.Webhook {
		var note string
		noContact, note = p.webhookEndpoint(req.Endpoint)
		what = fmt.Sprintf("%s to %s (%s)", what, req.Endpoint, note)
	}
	var missing string
	switch req.Channel {
	case journey.Email:
		if c.Email == "" {
			missing = "no email address"
		}
	case journey.SMS:
		if c.Phone == "" {
			missing = "no phone number"
		}
	case journey.Mail:
		if !c.Address.Complete() {
			missing = "no complete postal address"
		}
	}
	if missing != "" {
		p.say("%s not sent: %s", what, missing)
		res.Status, res.Reason = workflows.SendSkipped, missing
		return res, nil
	}
	at := req.PolicyAt
	if at.IsZero() {
		at = p.test.Now()
	}
	gate := store.Gate{Allow: true} // an endpoint that does not reach the customer: no contact rules
	if !noContact {
		gate = p.acts.Decide(req, c, store.GateInput{At: at, Preferences: p.prefs, Recent: p.recent, Suppression: p.suppressed[req.Channel]})
	}
	switch {
	case gate.Hold:
		p.say("%s held: %s", what, gate.Reason)
		res.Status, res.Reason, res.HeldUntil = workflows.SendHeld, gate.Reason, gate.Until
		return res, nil
	case !gate.Allow:
		p.say("%s not sent: %s", what, gate.Reason)
		res.Status, res.Reason = workflows.SendSkipped, gate.Reason
		return res, nil
	}
	data, err := p.data(ctx, req)
	if err != nil {
		return res, err
	}
	if req.Recommend != nil && len(data.Products) == 0 {
		p.say("%s not sent: nothing to recommend", what)
		res.Status, res.Reason = workflows.SendSkipped, "nothing to recommend"
		return res, nil
	}
	var line string
	switch req.Channel {
	case journey.Email:
		e, err := p.templates.RenderEmail(req.Template, data)
		if err != nil {
			return p.failed(res, what, err)
		}
		line = fmt.Sprintf("%q: %s", e.Subject, firstLine(e.Text))
	case journey.SMS:
		body, err := p.templates.RenderSMS(req.Template, data)
		if err != nil {
			return p.failed(res, what, err)
		}
		line = firstLine(body)
	case journey.Webhook:
		body, err := p.templates.RenderWebhook(req.Template, data)
		if err != nil {
			return p.failed(res, what, err)
		}
		line = firstLine(string(body))
	default:
		m, err := p.templates.RenderMail(req.Template, data)
		if err != nil {
			return p.failed(res, what, err)
		}
		line = "a " + m.Kind
	}
	if req.Purpose == journey.Marketing && !noContact { // as the outbox counts towards caps
		p.recent = append(p.recent, store.RecentSend{Channel: string(req.Channel), At: at})
	}
	p.say("%s: %s", what, line)
	res.Status = workflows.SendSent
	return res, nil
}

// webhookEndpoint says whether a webhook to the endpoint passes the
// contact rules by (its endpoint declares contacts_customer false, as a
// send does), and the words that say so in the timeline: what the
// endpoint declares, or, when it is not configured here, the assumption
// the preview makes (it contacts the customer: the rules apply).
func (p *previewer) webhookEndpoint(name string) (noContact bool, note string) {
	names := make([]string, 0, len(p.cfg.WebhookEndpoints))
	for _, e := range p.cfg.WebhookEndpoints {
		if e.Name == name && e.ContactsCustomer {
			return false, "contacts_customer: the contact rules apply"
		}
		if e.Name == name {
			return true, "contacts_customer false: no contact rules, counts towards no cap"
		}
		names = append(names, e.Name)
	}
	const assumed = "taken to contact the customer, so the contact rules apply"
	if len(names) == 0 {
		return false, "RAPPORT_WEBHOOK_ENDPOINTS configures none here: " + assumed
	}
	slices.Sort(names)
	return false, fmt.Sprintf("RAPPORT_WEBHOOK_ENDPOINTS here has only %s, so a worker would not start: %s", strings.Join(names, ", "), assumed)
}

func (p *previewer) failed(res workflows.SendResult, what string, err error) (workflows.SendResult, error) {
	p.say("%s fails: %v", what, err)
	res.Status, res.Reason = workflows.SendFailed, err.Error()
	return res, nil
}

// data is what the template sees, as the send activity gathers it, with a
// sample voucher code and links (a preview issues nothing).
func (p *previewer) data(ctx context.Context, req workflows.SendRequest) (templates.Data, error) {
	c := p.customer
	attrs := c.Attributes
	if attrs == nil {
		attrs = map[string]any{}
	}
	d := templates.Data{
		Customer: templates.Customer{ID: c.ID, Name: c.Name, FirstName: c.FirstName(), Email: c.Email, Locale: c.Locale, Country: c.Address.Country, Attributes: attrs},
		Trigger:  &templates.Event{ID: p.trigger.ID, Type: p.trigger.Type, OccurredAt: p.trigger.OccurredAt, Data: p.trigger.Data},
		Journey:  req.Journey, Step: req.StepID, Shop: p.cfg.Sender.Shop,
		Links: templates.Links{Survey: "https://preview.invalid/survey", Preferences: "https://preview.invalid/preferences",
			Unsubscribe: "https://preview.invalid/unsubscribe"},
	}
	if req.Fallback != nil {
		d.Fallback = &templates.Fallback{From: string(req.Fallback.From), Reason: req.Fallback.Reason}
	}
	if req.OrderID != "" {
		o, err := p.store.GetOrder(ctx, req.OrderID)
		if err == nil {
			d.Order = &templates.Order{ID: o.ID, Total: o.Total, Currency: o.Currency, Gift: o.Gift, PlacedAt: o.PlacedAt}
			for _, it := range o.Items {
				d.Order.Items = append(d.Order.Items, templates.Item{ProductID: it.ProductID, Name: it.Name, Quantity: it.Quantity, Price: it.Price})
			}
		} else if !errors.Is(err, store.ErrNotFound) {
			return d, err
		}
	}
	if v := req.Voucher; v != nil {
		d.Voucher = &templates.Voucher{Code: "PREVIEW-CODE", Percent: v.Percent, Amount: v.Amount, Currency: cmp.Or(v.Currency, p.cfg.DefaultCurrency),
			ExpiresAt: p.test.Now().Add(v.ValidFor.D)}
	}
	if r := req.Recommend; r != nil {
		basis, err := p.store.TasteBasis(ctx, c.ID, req.OrderID)
		if err != nil {
			return d, err
		}
		products, err := p.store.Recommend(ctx, c.ID, basis, r.Limit)
		if err != nil {
			return d, err
		}
		for _, pr := range products {
			d.Products = append(d.Products, templates.Product{ID: pr.ID, Name: pr.Name, Price: pr.Price, Currency: pr.Currency, URL: pr.URL, ImageURL: pr.ImageURL})
		}
	}
	return d, nil
}

// firstLine is a message's first non-empty line, shortened.
func firstLine(text string) string {
	for _, l := range strings.Split(text, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			if r := []rune(l); len(r) > 90 {
				return string(r[:89]) + "…"
			}
			return l
		}
	}
	return ""
}
