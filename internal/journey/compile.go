// Package journey reads the marketers' YAML journeys, checks them and
// compiles them into Plans, the plain values the journey workflow runs. It
// does no I/O: callers hand it bytes and, optionally, a way to check that
// templates exist.
//
// Every problem is reported as a Diagnostic at file:line:col with a sentence
// a non-programmer can act on; the compiler reports all problems it finds,
// not only the first, and never panics on any input.
package journey

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"

	"github.com/rapporthq/rapport/internal/money"
)

// TemplateChecker reports whether a template exists for a channel. Check
// returns nil when it does, else an error whose text tells the marketer what
// is missing.
type TemplateChecker interface {
	Check(ch Channel, template string) error
}

// TemplateVersioner is a TemplateChecker that also knows the content hash
// of each template, which the compiler pins in the plan (Plan.Templates).
type TemplateVersioner interface {
	TemplateChecker
	Version(template string) (hash string, ok bool)
}

// Options tunes compilation.
type Options struct {
	// Templates, when set, is consulted for every send step.
	Templates TemplateChecker
	// Endpoints, when not nil, are the configured webhook endpoints' names
	// (RAPPORT_WEBHOOK_ENDPOINTS): a send naming another is an error. Nil
	// accepts any well-formed name (rapport validate without the
	// configuration); the worker checks them when it starts.
	Endpoints []string
}

// Compiler compiles journey files. It holds the CEL environment, which is
// costly to build; one Compiler is safe for concurrent use.
type Compiler struct {
	env  *Env
	opts Options
}

// NewCompiler returns a Compiler.
func NewCompiler(opts Options) (*Compiler, error) {
	env, err := NewEnv()
	if err != nil {
		return nil, err
	}
	return &Compiler{env: env, opts: opts}, nil
}

// Env is the compiler's CEL environment, for evaluating the expressions of
// the plans it compiled.
func (c *Compiler) Env() *Env { return c.env }

// Limits that keep hostile or broken input from exhausting the compiler.
const (
	maxSourceBytes = 1 << 20
	maxNodes       = 100_000
	maxNesting     = 16
)

var (
	journeyNameRe = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	slugRe        = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	eventTypeRe   = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$`)
	yamlLineRe    = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
)

var stepKinds = []string{string(KindSend), string(KindWait), string(KindBranch), string(KindSplit), string(KindTask), string(KindRecord), string(KindEmit), string(KindExit)}

var (
	timeOfDayRe = regexp.MustCompile(`^([01]?[0-9]|2[0-3]):([0-5][0-9])$`)
	weekdays    = []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}
)

// Compile reads one journey file. It returns the plan when the journey has
// no errors (warnings may still be present), else nil and every problem.
func (c *Compiler) Compile(file string, src []byte) (*Plan, Diagnostics) {
	cc := &compilation{c: c, file: file, src: src, ids: map[string]Pos{}, pinned: map[string]string{}}
	plan := cc.run()
	cc.diags.Sort()
	if cc.diags.HasErrors() {
		return nil, cc.diags
	}
	return plan, cc.diags
}

// compilation is the state of compiling one file.
type compilation struct {
	c     *Compiler
	file  string
	src   []byte
	lines [][]rune
	diags Diagnostics
	ids   map[string]Pos // step ids written in the file
	// pinned are the content hashes of the templates the plan sends.
	pinned map[string]string
	// triggerEvent is the event type that starts the journey, once read.
	triggerEvent string
	nodes        int
}

func (cc *compilation) run() (plan *Plan) {
	defer func() {
		if r := recover(); r != nil {
			cc.errorAt(Pos{1, 1}, fmt.Sprintf("internal error while reading this journey (%v); please report it with the file", r))
			plan = nil
		}
	}()
	if len(cc.src) > maxSourceBytes {
		cc.errorAt(Pos{1, 1}, fmt.Sprintf("this file is %d bytes; a journey must be under %d", len(cc.src), maxSourceBytes))
		return nil
	}
	if !utf8.Valid(cc.src) {
		cc.errorAt(Pos{1, 1}, "this file is not UTF-8 text; save it as UTF-8")
		return nil
	}
	for _, l := range splitLines(string(cc.src)) {
		cc.lines = append(cc.lines, []rune(l))
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(cc.src, &doc); err != nil {
		cc.yamlError(err)
		return nil
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		cc.errorAt(Pos{1, 1}, "this file is empty; a journey needs at least journey, trigger and steps")
		return nil
	}
	return cc.journey(doc.Content[0])
}

// yamlParserErrors are the yaml.v3 messages that come from its parser
// rather than its scanner: for these it reports the 0-based line where the
// enclosing list or mapping starts, so one is added.
var yamlParserErrors = []string{
	"did not find expected key", "did not find expected node content",
	"did not find expected ',' or '}'", "did not find expected ',' or ']'",
	"did not find expected '-' indicator", "did not find expected <document start>",
}

// splitLines splits text at YAML line breaks: \r\n, \r or \n.
func splitLines(s string) []string {
	return strings.Split(strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n"), "\n")
}

// quotedStartRe finds a value that starts as a quoted string and goes on
// after the closing quote (`when: "vip" in customer.tags`): YAML reads the
// quoted part as the whole value and cannot read the rest.
var quotedStartRe = regexp.MustCompile(`^(\s*(?:-\s+)?([A-Za-z_][\w-]*):\s+)("[^"\\]*"|'[^']*')(\s*[^\s#].*)$`)

func (cc *compilation) yamlError(err error) {
	// A value that starts with a quote is the likeliest cause, and the
	// parser points elsewhere: say what to write instead.
	hinted := false
	for i, l := range cc.lines {
		m := quotedStartRe.FindStringSubmatch(string(l))
		if m == nil {
			continue
		}
		rest, _, _ := strings.Cut(m[4], " #") // a comment is not part of it
		whole := strings.TrimRight(m[3]+rest, " \t")
		cc.errorAt(Pos{i + 1, len([]rune(m[1])) + 1}, fmt.Sprintf(
			"%s starts with a quote, so YAML reads only %s as its value; quote the whole value: %s: '%s'",
			m[2], m[3], m[2], strings.ReplaceAll(whole, "'", "''")))
		hinted = true
	}
	if hinted {
		return
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		line = strings.TrimSpace(line)
		if m := yamlLineRe.FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[1])
			msg := "this is not valid YAML: " + m[2]
			if slices.Contains(yamlParserErrors, m[2]) {
				n++
				msg += " in the part that starts here; check indentation, brackets and quotes"
			}
			cc.errorAt(Pos{n, 1}, msg)
			continue
		}
		if line != "" && line != "yaml: unmarshal errors:" {
			cc.errorAt(Pos{1, 1}, "this is not valid YAML: "+strings.TrimPrefix(line, "yaml: "))
		}
	}
}

func (cc *compilation) journey(root *yaml.Node) *Plan {
	fs := cc.fields(root, journeyObject)
	if fs == nil {
		return nil
	}
	p := &Plan{Source: cc.file}

	if n := fs.require(cc, root, "journey", "the journey has no name; add `journey: <name>` such as `journey: thank-you`"); n != nil {
		if name, ok := cc.scalar(n, "journey"); ok {
			if !journeyNameRe.MatchString(name) || len(name) > 63 {
				cc.errorf(n, "journey name %q is not allowed; use lowercase letters, digits and single dashes, like thank-you (names appear in workflow ids)", name)
			}
			p.Journey = name
		}
	}
	if n := fs.get("description"); n != nil {
		p.Description, _ = cc.scalar(n, "description")
	}

	p.Purpose = Marketing
	if n := fs.get("purpose"); n != nil {
		p.Purpose = ""
		if v, ok := cc.scalar(n, "purpose"); ok {
			switch Purpose(v) {
			case Marketing, Transactional:
				p.Purpose = Purpose(v)
			default:
				cc.errorf(n, "purpose %q is unknown; use marketing or transactional%s", v, didYouMean(v, []string{"marketing", "transactional"}))
			}
		}
	}
	if n := fs.get("topic"); n != nil {
		if v, ok := cc.scalar(n, "topic"); ok {
			if !slugRe.MatchString(v) {
				cc.errorf(n, "topic %q is not allowed; use lowercase letters, digits, dashes or underscores, like offers", v)
			}
			p.Topic = v
		}
	} else if p.Purpose == Marketing {
		cc.errorf(root, "a marketing journey needs a topic (such as offers or recommendations) so customers can opt out of it; add `topic: <name>`, or `purpose: transactional` for messages about an order")
	}

	if n := fs.get("priority"); n != nil {
		p.Priority = cc.priority(n)
		if p.Purpose == Transactional {
			cc.errorf(fs.keys["priority"], "priority orders messages a frequency cap holds, and caps hold only marketing; a transactional journey never waits behind one")
		}
	}
	if n := fs.get("on_edit"); n != nil {
		p.OnEdit = cc.onEdit(n)
	}
	if n := fs.require(cc, root, "trigger", "the journey has no trigger; add `trigger: {event: order.placed}` to say what starts it"); n != nil {
		p.Trigger = cc.trigger(n)
		cc.triggerEvent = p.Trigger.Event
	}
	if n := fs.get("exit_when"); n != nil {
		p.ExitWhen = cc.expr(n, "exit_when")
	}
	if n := fs.get("frequency"); n != nil {
		p.Frequency = cc.frequency(n)
	}
	if n := fs.get("goal"); n != nil {
		p.Goal = cc.goal(n)
	}
	if n := fs.get("holdout"); n != nil {
		p.Holdout = cc.holdout(n)
		if p.Holdout > 0 && p.Goal == nil {
			cc.errorf(fs.keys["holdout"], "a holdout is compared with the treated customers on the journey's goal; add a goal, such as `goal: {when: 'event.type == \"order.placed\"', within: 14d}`")
		}
	}
	if n := fs.require(cc, root, "steps", "the journey has no steps; add `steps:` with what it should do"); n != nil {
		p.Steps = cc.steps(n, "steps", 0)
		if len(p.Steps) == 0 && n.Kind == yaml.SequenceNode {
			cc.errorf(n, "the journey has no steps; add at least one send, wait, branch or exit")
		}
	}
	if p.Moves() {
		cc.requireIDs(p)
	}
	if cc.diags.HasErrors() {
		return nil
	}
	cc.assignIDs(p)
	if len(cc.pinned) > 0 {
		p.Templates = cc.pinned
	}
	p.Hash = ComputeHash(p)
	if b, err := json.Marshal(p); err == nil && len(b) > MaxPlanBytes {
		cc.errorAt(Pos{1, 1}, fmt.Sprintf("this journey compiles to a plan of %d KiB; every run carries its plan through Temporal, which bounds what a run carries, so a plan must stay under %d KiB: split the journey into several", (len(b)+1023)>>10, MaxPlanBytes>>10))
		return nil
	}
	return p
}

// MaxPlanBytes bounds a compiled plan as JSON: a run carries its plan in
// its input, and again each time it continues as new, inside Temporal's
// 2 MiB payload limit together with its state.
const MaxPlanBytes = 512 << 10

// goal reads a journey's goal.
func (cc *compilation) goal(n *yaml.Node) *Goal {
	out := &Goal{}
	fs := cc.fields(n, goalObject)
	if fs == nil {
		return nil
	}
	n = cc.resolve(n)
	if wn := fs.require(cc, n, "when", "a goal needs `when: <condition>` over the event that counts, such as event.type == \"order.placed\""); wn != nil {
		out.When = cc.expr(wn, "goal.when")
	}
	if dn := fs.require(cc, n, "within", "a goal needs a window: `within: 14d`, how long after entering a conversion counts"); dn != nil {
		out.Within = cc.duration(dn, "goal.within")
		if out.Within.D > MaxGoalWindow {
			cc.errorf(dn, "goal.within: %s is longer than a year; a conversion that late says little about the journey", out.Within.Text)
		}
	}
	if fn := fs.get("from"); fn != nil {
		if v, ok := cc.scalar(fn, "goal.from"); ok {
			switch GoalFrom(v) {
			case GoalFromEntry:
			case GoalFromLastMessage:
				out.From = GoalFromLastMessage
			default:
				cc.errorf(fn, "goal.from %q is unknown; use entry (the default) or last_message%s", v, didYouMean(v, []string{"entry", "last_message"}))
			}
		}
	}
	if en := fs.get("exit"); en != nil {
		if v, ok := cc.scalar(en, "goal.exit"); ok {
			switch v {
			case "true":
				out.Exit = true
			case "false":
			default:
				cc.errorf(en, "goal.exit is true (a run still in the journey ends when it converts) or false")
			}
		}
	}
	return out
}

// holdout reads a holdout share: 10% or 10, a whole percentage from 1 to
// MaxHoldout.
func (cc *compilation) holdout(n *yaml.Node) int {
	v, ok := cc.scalar(n, "holdout")
	if !ok {
		return 0
	}
	text := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "%"))
	pct, err := strconv.Atoi(text)
	if err != nil || pct < 1 || pct > MaxHoldout {
		cc.errorf(n, "holdout %q is not a share of entrants; write a whole percentage from 1%% to %d%%, such as 10%%", v, MaxHoldout)
		return 0
	}
	return pct
}

func (cc *compilation) trigger(n *yaml.Node) Trigger {
	var t Trigger
	fs := cc.fields(n, triggerObject)
	if fs == nil {
		return t
	}
	var kinds []string
	for _, k := range triggerObject.oneOf {
		if fs.get(k) != nil {
			kinds = append(kinds, k)
		}
	}
	switch {
	case len(kinds) == 0:
		cc.errorf(n, "the trigger needs an event, such as `event: order.placed`, an audience, such as `audience: days_since_last_order >= 90`, or a date, such as `date: customer.attributes.renewal_date`")
		return t
	case len(kinds) > 1:
		cc.errorf(fs.keys[kinds[1]], "a trigger has one of event, audience and date, not both %s and %s", kinds[0], kinds[1])
		return t
	}
	cc.entryRules(fs, &t)
	if kinds[0] != "date" {
		for _, k := range []string{"every", "at", "offset"} {
			if fs.get(k) != nil {
				cc.errorf(fs.keys[k], "%s only goes with a date trigger (`date: customer.attributes.<name>`)", k)
			}
		}
	}
	switch kinds[0] {
	case "audience":
		t.Audience = cc.audience(fs.get("audience"))
		for _, k := range []string{"when", "max_event_age", "for"} {
			if fs.get(k) != nil {
				cc.errorf(fs.keys[k], "%s only goes with a trigger event; put the condition in the audience", k)
			}
		}
		if fs.get("key") != nil {
			cc.errorf(fs.keys["key"], "key only goes with a trigger event; an audience run enters each customer once per run")
		}
		cc.schedule(fs, &t)
		return t
	case "date":
		cc.dateTrigger(fs, &t)
		return t
	}
	en := fs.get("event")
	for _, k := range []string{"schedule", "time_zone"} {
		if fs.get(k) != nil {
			cc.errorf(fs.keys[k], "%s only goes with an audience: an event trigger starts the journey when the event arrives", k)
		}
	}
	if kn := fs.get("key"); kn != nil {
		if t.EntryMode() != EntryOncePerEventKey {
			cc.errorf(fs.keys["key"], "key only goes with `entry: once_per_event_key`; with `entry: %s` it would not be used", t.Entry)
		} else {
			t.Key = cc.keyExpr(kn)
		}
	}
	if v, ok := cc.scalar(en, "trigger.event"); ok {
		if !eventTypeRe.MatchString(v) {
			cc.errorf(en, "event type %q is not allowed; use lowercase words joined by dots, like order.placed", v)
		}
		t.Event = v
	}
	if wn := fs.get("when"); wn != nil {
		t.When = cc.expr(wn, "trigger.when")
	}
	if fn := fs.get("for"); fn != nil {
		cc.forTrigger(fs, fn, &t)
	}
	t.MaxEventAge = Duration{D: DefaultMaxEventAge, Text: "24h"}
	if mn := fs.get("max_event_age"); mn != nil {
		t.MaxEventAge = cc.duration(mn, "max_event_age")
	}
	return t
}

// entryRules reads how often a customer may enter: entry, reentry and
// max_active.
func (cc *compilation) entryRules(fs *fieldSet, t *Trigger) {
	if en := fs.get("entry"); en != nil {
		if v, ok := cc.scalar(en, "entry"); ok {
			mode := EntryMode(v)
			if !slices.Contains(EntryModes, mode) {
				cc.errorf(en, "entry must be once, once_per_event_key or always, not %q", v)
			} else if mode != EntryOncePerEventKey {
				t.Entry = mode // the default stays implicit, so plans keep their hash
			}
		}
	}
	if rn := fs.get("reentry"); rn != nil {
		t.Reentry = cc.duration(rn, "reentry")
		if t.Entry == EntryOnce {
			cc.errorf(fs.keys["reentry"], "reentry has no effect with `entry: once`: a customer never enters again")
		}
	}
	if mn := fs.get("max_active"); mn != nil {
		t.MaxActive = int(cc.number(mn, "max_active", 0, 1000))
		if float64(t.MaxActive) != cc.numberValue(mn) {
			cc.errorf(mn, "max_active must be a whole number of runs, such as 1")
		}
	}
}

// dateTrigger reads a trigger on a date held in a customer attribute:
// date, every, at, offset, and when (a condition over the customer).
func (cc *compilation) dateTrigger(fs *fieldSet, t *Trigger) {
	dn := fs.get("date")
	if v, ok := cc.scalar(dn, "date"); ok {
		if m := dateAttributeRe.FindStringSubmatch(strings.TrimSpace(v)); m == nil {
			cc.errorf(dn, "date %q is not a customer attribute; name the attribute holding the date, such as customer.attributes.renewal_date (its value is text such as 2027-03-14)", v)
		} else {
			t.Date = m[1]
		}
	}
	for _, k := range []string{"schedule", "time_zone"} {
		if fs.get(k) != nil {
			cc.errorf(fs.keys[k], "%s does not go with a date trigger: the customer enters at `at` (default %s) in their own time zone", k, DefaultAt)
		}
	}
	for _, k := range []string{"key", "max_event_age"} {
		if fs.get(k) != nil {
			cc.errorf(fs.keys[k], "%s only goes with a trigger event; a date trigger enters each customer once per date", k)
		}
	}
	if en := fs.get("every"); en != nil {
		if v, ok := cc.scalar(en, "every"); ok {
			switch Every(v) {
			case EveryYear, EveryOnce:
				t.Every = Every(v)
			default:
				cc.errorf(en, "every %q is unknown; use year (every year on the date's anniversary) or once (on the date itself)%s", v, didYouMean(v, []string{"year", "once"}))
			}
		}
	}
	if an := fs.get("at"); an != nil {
		if v, ok := cc.scalar(an, "at"); ok {
			if timeOfDayRe.MatchString(v) {
				t.At = v
			} else {
				cc.errorf(an, "at %q is not a time of day; write hours and minutes on a 24-hour clock, such as \"09:00\"", v)
			}
		}
	}
	if on := fs.get("offset"); on != nil {
		if v, ok := cc.scalar(on, "offset"); ok {
			t.Offset = cc.offset(on, v)
		}
	}
	if wn := fs.get("when"); wn != nil {
		if v, ok := cc.scalar(wn, "when"); ok {
			checked := cc.c.env.checkAudience(v)
			if len(checked.issues) > 0 {
				positions := cc.valuePositions(wn)
				for _, is := range checked.issues {
					cc.errorAt(exprPos(wn, v, positions, is.line, is.col), "when: "+is.message)
				}
			} else {
				t.When = v
			}
		}
	}
}

// offset reads a date trigger's offset: whole days or weeks, before (-7d)
// or after (3d) the date.
func (cc *compilation) offset(n *yaml.Node, v string) Offset {
	text := strings.TrimSpace(v)
	sign, rest := 1, text
	switch {
	case strings.HasPrefix(rest, "-"):
		sign, rest = -1, rest[1:]
	case strings.HasPrefix(rest, "+"):
		rest = rest[1:]
	}
	d, err := ParseDuration(rest)
	switch {
	case err != nil:
		cc.errorf(n, "offset %q is not a number of days; write days or weeks before (-7d) or after (3d) the date", v)
	case d%(24*time.Hour) != 0:
		cc.errorf(n, "offset %q is not whole days; give days or weeks (-7d, 2w), and the time of day with at", v)
	case d > MaxOffsetDays*24*time.Hour:
		cc.errorf(n, "offset %q is more than a year; keep it within %d days of the date", v, MaxOffsetDays)
	default:
		return Offset{Days: sign * int(d/(24*time.Hour)), Text: text}
	}
	return Offset{}
}

// dateAttributeRe matches customer.attributes.<name> and captures the
// name.
var dateAttributeRe = regexp.MustCompile(`^customer\.attributes\.([A-Za-z_][A-Za-z0-9_]*)$`)

// schedule reads when an audience is evaluated: a cron expression and the
// time zone it is read in.
func (cc *compilation) schedule(fs *fieldSet, t *Trigger) {
	if zn := fs.get("time_zone"); zn != nil {
		if v, ok := cc.scalar(zn, "time_zone"); ok {
			if v == CustomerTimeZone {
				t.TimeZone = v
			} else if _, err := time.LoadLocation(v); err != nil || v == "" || v == "Local" {
				cc.errorf(zn, "time_zone %q is not an IANA time zone such as Europe/London or America/New_York, nor customer (each customer's own)", v)
			} else {
				t.TimeZone = v
			}
		}
		if fs.get("schedule") == nil {
			cc.errorf(fs.keys["time_zone"], "time_zone says how to read the schedule, but there is no schedule")
		}
	}
	sn := fs.get("schedule")
	if sn == nil {
		return
	}
	v, ok := cc.scalar(sn, "schedule")
	if !ok {
		return
	}
	if _, err := cronParser.Parse(v); err != nil {
		cc.errorf(sn, "schedule %q is not a cron expression (minute hour day-of-month month day-of-week, such as \"0 9 * * *\" for 09:00 every day): %v", v, err)
		return
	}
	if t.TimeZone == CustomerTimeZone && strings.HasPrefix(strings.TrimSpace(v), "@every") {
		cc.errorf(sn, "schedule %q counts from whenever it starts, not from a time of day, so it cannot be read in each customer's zone; give times of day, such as \"0 9 * * 1\" (Mondays at 09:00)", v)
		return
	}
	t.Schedule = v
}

// cronParser reads the five-field cron expressions Temporal schedules
// accept, and the @daily-style descriptors.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// keyExpr reads and type-checks an entry key expression, which gives text.
func (cc *compilation) keyExpr(n *yaml.Node) string {
	v, ok := cc.scalar(n, "key")
	if !ok {
		return ""
	}
	checked := cc.c.env.checkKey(v)
	if len(checked.issues) > 0 {
		positions := cc.valuePositions(n)
		for _, is := range checked.issues {
			cc.errorAt(exprPos(n, v, positions, is.line, is.col), "key: "+is.message)
		}
		return ""
	}
	return v
}

// forTrigger reads the for condition of a fan-out trigger: type-checked,
// and its parts over customer.events and customer.orders checked by
// ForChecker (the database must decide them).
func (cc *compilation) forTrigger(fs *fieldSet, n *yaml.Node, t *Trigger) {
	if fs.get("when") != nil {
		cc.errorf(fs.keys["when"], "when does not go with for: put the whole condition in for, which sees the customer and the event")
	}
	if fs.get("key") != nil {
		cc.errorf(fs.keys["key"], "key does not go with for: a fan-out enters each customer once per event (its id)")
	}
	if strings.HasPrefix(t.Event, "order.") {
		cc.errorf(fs.keys["for"], "for does not go with %s: order events are about one customer's order; fan out on an event about something else, such as product.restocked", t.Event)
		return
	}
	v, ok := cc.scalar(n, "trigger.for")
	if !ok {
		return
	}
	if strings.TrimSpace(v) == "" {
		cc.errorf(n, "trigger.for is empty; write a condition such as customer.events.exists(e, e.type == \"product.viewed\" && e.data.product_id == event.data.product_id)")
		return
	}
	checked := cc.c.env.checkFor(v)
	if len(checked.issues) > 0 {
		positions := cc.valuePositions(n)
		for _, is := range checked.issues {
			cc.errorAt(exprPos(n, v, positions, is.line, is.col), "trigger.for: "+is.message)
		}
		return
	}
	if ForChecker != nil {
		if err := ForChecker(cc.c.env, v); err != nil {
			cc.errorf(n, "trigger.for: %s", err.Error())
			return
		}
	}
	t.For = v
}

// audience reads and type-checks an audience condition.
func (cc *compilation) audience(n *yaml.Node) string {
	v, ok := cc.scalar(n, "audience")
	if !ok {
		return ""
	}
	checked := cc.c.env.checkAudience(v)
	if len(checked.issues) > 0 {
		positions := cc.valuePositions(n)
		for _, is := range checked.issues {
			cc.errorAt(exprPos(n, v, positions, is.line, is.col), "audience: "+is.message)
		}
		return ""
	}
	return v
}

// steps reads a list of steps.
func (cc *compilation) steps(n *yaml.Node, what string, depth int) []Step {
	n = cc.resolve(n)
	if n == nil {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		if isNull(n) {
			return nil
		}
		cc.errorf(n, "%s must be a list of steps, each starting with `- `", what)
		return nil
	}
	if depth > maxNesting {
		cc.errorf(n, "branches are nested more than %d deep here; flatten the journey", maxNesting)
		return nil
	}
	var out []Step
	exitLine := 0
	for _, item := range n.Content {
		if exitLine > 0 {
			cc.warnf(item, "this step never runs because the journey exits on line %d", exitLine)
			exitLine = -1
		}
		s, ok := cc.step(item, depth)
		if !ok {
			continue
		}
		if s.Kind == KindExit && exitLine == 0 {
			exitLine = s.Line
		}
		out = append(out, s)
	}
	return out
}

func (cc *compilation) step(n *yaml.Node, depth int) (Step, bool) {
	var s Step
	n = cc.resolve(n)
	if n == nil {
		return s, false
	}
	if n.Kind != yaml.MappingNode {
		if n.Kind == yaml.ScalarNode && slices.Contains(stepKinds, n.Value) {
			cc.errorf(n, "step %q needs settings; write it as `%s: {...}` (see journeys/README.md)", n.Value, n.Value)
		} else {
			cc.errorf(n, "a step must be one of send, wait, branch, split, task, record, emit or exit, written as `- send: {...}`")
		}
		return s, false
	}
	fs := cc.fields(n, stepObject)
	if fs == nil {
		return s, false
	}
	s.Line = n.Line
	var kindKey *yaml.Node
	for _, key := range fs.order {
		if !slices.Contains(stepKinds, key) {
			continue
		}
		if kindKey != nil {
			cc.errorf(fs.keys[key], "a step does one thing, but this one has both %s and %s; split it into two steps", kindKey.Value, key)
			continue
		}
		kindKey = fs.keys[key]
	}
	if kindKey == nil {
		if fs.unknown == 0 { // else the unknown key (a typo of a kind) was reported
			cc.errorf(n, "this step does nothing; give it one of send, wait, branch, split, task, record, emit or exit")
		}
		return s, false
	}
	if idn := fs.get("id"); idn != nil {
		if id, ok := cc.scalar(idn, "id"); ok {
			switch {
			case !slugRe.MatchString(id) || len(id) > 63:
				cc.errorf(idn, "step id %q is not allowed; use lowercase letters, digits, dashes or underscores, like email_offer", id)
			case cc.ids[id] != (Pos{}):
				cc.errorf(idn, "step id %q is already used on line %d; step ids must be unique within a journey", id, cc.ids[id].Line)
			default:
				cc.ids[id] = pos(idn)
				s.ID = id
			}
		}
	}
	s.Kind = Kind(kindKey.Value)
	value := fs.get(kindKey.Value)
	switch s.Kind {
	case KindSend:
		s.Send = cc.send(value)
	case KindWait:
		s.Wait = cc.wait(value)
	case KindBranch:
		s.Branch = cc.branch(value, depth)
	case KindExit:
		s.Exit = cc.exit(value)
	case KindTask:
		s.Task = cc.task(value)
	case KindSplit:
		s.Split = cc.split(value, depth)
	case KindRecord:
		s.Record = cc.record(value)
	case KindEmit:
		s.Emit = cc.emit(value)
	}
	return s, true
}

func (cc *compilation) send(n *yaml.Node) *SendStep {
	out := &SendStep{}
	fs := cc.fields(n, sendObject)
	if fs == nil {
		return out
	}
	if vn := fs.get("voucher"); vn != nil {
		out.Voucher = cc.voucher(vn)
	}
	if rn := fs.get("recommend"); rn != nil {
		out.Recommend = cc.recommend(rn)
	}
	if on := fs.get("on_cap"); on != nil {
		if v, ok := cc.scalar(on, "on_cap"); ok {
			if v != "delay" && v != "skip" {
				cc.errorf(on, "on_cap %q is unknown; use delay (the default: wait until the frequency cap allows it) or skip", v)
			}
			out.OnCap = v
		}
	}
	if pn := fs.get("priority"); pn != nil {
		out.Priority = cc.priority(pn)
	}
	if un := fs.get("on_undeliverable"); un != nil {
		if v, ok := cc.scalar(un, "on_undeliverable"); ok {
			if v != OverdueContinue && v != OverdueExit {
				cc.errorf(un, "on_undeliverable %q is unknown; use continue (the default) or exit", v)
			}
			out.OnUndeliverable = v
		}
	}
	if cn := fs.require(cc, n, "channel", "send needs a channel: email, sms, mail or webhook, or a list to try in order, like [email, sms]"); cn != nil {
		out.Channels = cc.channels(cn)
	}
	cc.endpoint(n, fs, out)
	if tn := fs.require(cc, n, "template", "send needs a template, the name of a folder in journeys/templates"); tn != nil {
		if v, ok := cc.scalar(tn, "template"); ok {
			if !slugRe.MatchString(v) {
				cc.errorf(tn, "template name %q is not allowed; use the name of a folder in journeys/templates, like thank-you", v)
			} else if cc.c.opts.Templates != nil {
				for _, ch := range out.Channels {
					if err := cc.c.opts.Templates.Check(ch, v); err != nil {
						cc.errorf(tn, "%s", err.Error())
					}
				}
				if tv, ok := cc.c.opts.Templates.(TemplateVersioner); ok {
					if hash, ok := tv.Version(v); ok {
						cc.pinned[v] = hash
					}
				}
			}
			out.Template = v
		}
	}
	return out
}

// endpoint reads a send's webhook endpoint: required with the webhook
// channel, refused without it, and one of Options.Endpoints when they are
// given.
func (cc *compilation) endpoint(n *yaml.Node, fs *fieldSet, out *SendStep) {
	en := fs.get("endpoint")
	if !slices.Contains(out.Channels, Webhook) {
		if en != nil {
			cc.errorf(en, "endpoint is for the webhook channel, which this send does not use")
		}
		return
	}
	if en = fs.require(cc, n, "endpoint", "a send on the webhook channel needs an endpoint: the name of one of RAPPORT_WEBHOOK_ENDPOINTS"); en == nil {
		return
	}
	v, ok := cc.scalar(en, "endpoint")
	if !ok {
		return
	}
	switch known := cc.c.opts.Endpoints; {
	case !slugRe.MatchString(v) || len(v) > 63:
		cc.errorf(en, "endpoint name %q is not allowed; use lowercase letters, digits, dashes or underscores, as in RAPPORT_WEBHOOK_ENDPOINTS", v)
	case known != nil && !slices.Contains(known, v):
		hint := "; none is configured"
		if len(known) > 0 {
			hint = "; configured: " + strings.Join(known, ", ") + didYouMean(v, known)
		}
		cc.errorf(en, "webhook endpoint %q is not configured (RAPPORT_WEBHOOK_ENDPOINTS)%s", v, hint)
	default:
		out.Endpoint = v
	}
}

// priority reads high, normal or low.
func (cc *compilation) priority(n *yaml.Node) Priority {
	v, ok := cc.scalar(n, "priority")
	if !ok {
		return ""
	}
	names := make([]string, len(Priorities))
	for i, p := range Priorities {
		names[i] = string(p)
	}
	if !slices.Contains(names, v) {
		cc.errorf(n, "priority %q is unknown; use high, normal or low%s", v, didYouMean(v, names))
		return ""
	}
	if Priority(v) == PriorityNormal {
		return "" // the default stays implicit, so plans keep their hash
	}
	return Priority(v)
}

// onEdit reads keep or restart-at-step.
func (cc *compilation) onEdit(n *yaml.Node) OnEdit {
	v, ok := cc.scalar(n, "on_edit")
	if !ok {
		return ""
	}
	names := make([]string, len(OnEdits))
	for i, o := range OnEdits {
		names[i] = string(o)
	}
	if !slices.Contains(names, v) {
		cc.errorf(n, "on_edit %q is unknown; use keep (runs in flight end on the plan they started on) or restart-at-step (they move to the new plan at the step they wait in)%s", v, didYouMean(v, names))
		return ""
	}
	if OnEdit(v) == OnEditKeep {
		return "" // the default stays implicit, so plans keep their hash
	}
	return OnEdit(v)
}

// frequency reads the journey's caps: a list of {max, per, channel}.
func (cc *compilation) frequency(n *yaml.Node) []FrequencyCap {
	n = cc.resolve(n)
	if n == nil {
		return nil
	}
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		cc.errorf(n, "frequency must be a list of caps, such as `- {max: 1, per: 7d}`")
		return nil
	}
	var out []FrequencyCap
	for _, item := range n.Content {
		fs := cc.fields(item, frequencyCapObject)
		if fs == nil {
			continue
		}
		item = cc.resolve(item)
		var c FrequencyCap
		if mn := fs.require(cc, item, "max", "a frequency cap needs max: how many messages at most"); mn != nil {
			c.Max = int(cc.number(mn, "max", 0, 1000))
			if float64(c.Max) != cc.numberValue(mn) {
				cc.errorf(mn, "max must be a whole number")
			}
		}
		if pn := fs.require(cc, item, "per", "a frequency cap needs per: the period, such as 7d"); pn != nil {
			c.Per = cc.duration(pn, "per")
		}
		if chn := fs.get("channel"); chn != nil {
			if chs := cc.channels(chn); len(chs) == 1 {
				c.Channel = chs[0]
			} else if len(chs) > 1 {
				cc.errorf(chn, "a frequency cap is for one channel, or all when channel is left out")
			}
		}
		out = append(out, c)
	}
	return out
}

func (cc *compilation) voucher(n *yaml.Node) *VoucherSpec {
	out := &VoucherSpec{}
	fs := cc.fields(n, voucherObject)
	if fs == nil {
		return out
	}
	pn, an := fs.get("percent"), fs.get("amount")
	switch {
	case pn == nil && an == nil:
		cc.errorf(n, "a voucher needs `percent: 15` or `amount: 10`")
	case pn != nil && an != nil:
		cc.errorf(fs.keys["amount"], "a voucher is a percent or an amount off, not both")
	case pn != nil:
		out.Percent = cc.number(pn, "percent", 0, 100)
		if fs.get("currency") != nil {
			cc.errorf(fs.keys["currency"], "currency only goes with amount")
		}
	default:
		out.Amount = cc.amount(an)
	}
	if cn := fs.get("currency"); cn != nil && an != nil {
		if v, ok := cc.scalar(cn, "currency"); ok {
			if len(v) != 3 || strings.ToUpper(v) != v {
				cc.errorf(cn, "currency %q is not a three-letter code such as EUR", v)
			}
			out.Currency = v
			if places := money.Exponent(v); out.Amount.Scale() > places {
				cc.errorf(an, "amount %s has %d decimal places, but %s amounts have %d", out.Amount, out.Amount.Scale(), v, places)
			}
		}
	}
	if vn := fs.require(cc, n, "valid_for", "a voucher needs `valid_for`, such as `valid_for: 30d`"); vn != nil {
		out.ValidFor = cc.duration(vn, "valid_for")
	}
	return out
}

func (cc *compilation) recommend(n *yaml.Node) *RecommendSpec {
	out := &RecommendSpec{From: "order", Limit: 3}
	fs := cc.fields(n, recommendObject)
	if fs == nil {
		return out
	}
	if fn := fs.get("from"); fn != nil {
		if v, ok := cc.scalar(fn, "from"); ok && v != "order" {
			cc.errorf(fn, "recommend from %q is unknown; use order (complements of what the triggering order says they like)", v)
		}
	}
	if ln := fs.get("limit"); ln != nil {
		out.Limit = int(cc.number(ln, "limit", 0, 12))
		if float64(out.Limit) != cc.numberValue(ln) {
			cc.errorf(ln, "limit must be a whole number")
		}
	}
	return out
}

// maxVoucherAmount bounds a voucher's amount off.
var maxVoucherAmount = money.MustParse("1000000")

// amount reads a voucher's amount off, exactly as written: above 0, at
// most a million, at most four decimal places.
func (cc *compilation) amount(n *yaml.Node) money.Amount {
	v, ok := cc.scalar(n, "amount")
	if !ok {
		return money.Amount{}
	}
	a, err := money.Parse(v)
	if err != nil || a.Sign() <= 0 || a.Cmp(maxVoucherAmount) > 0 || a.Scale() > 4 {
		cc.errorf(n, "amount must be an amount above 0 and at most 1000000, such as 10 or 7.50, not %q", v)
		return money.Amount{}
	}
	return a
}

// number reads a number greater than lo and at most hi.
func (cc *compilation) number(n *yaml.Node, what string, lo, hi float64) float64 {
	v, ok := cc.scalar(n, what)
	if !ok {
		return 0
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= lo || f > hi {
		cc.errorf(n, "%s must be a number above %s and at most %s, not %q", what, strconv.FormatFloat(lo, 'f', -1, 64), strconv.FormatFloat(hi, 'f', -1, 64), v)
		return 0
	}
	return f
}

func (cc *compilation) numberValue(n *yaml.Node) float64 {
	n = cc.resolve(n)
	if n == nil {
		return 0
	}
	f, _ := strconv.ParseFloat(n.Value, 64)
	return f
}

func (cc *compilation) channels(n *yaml.Node) []Channel {
	n = cc.resolve(n)
	if n == nil {
		return nil
	}
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
		if len(items) == 0 {
			cc.errorf(n, "the channel list is empty; name at least one of email, sms, mail or webhook")
		}
	}
	names := make([]string, len(Channels))
	for i, c := range Channels {
		names[i] = string(c)
	}
	var out []Channel
	for _, item := range items {
		v, ok := cc.scalar(item, "channel")
		if !ok {
			continue
		}
		ch := Channel(v)
		switch {
		case !slices.Contains(Channels, ch):
			cc.errorf(item, "%q is not a channel; use email, sms, mail or webhook%s", v, didYouMean(v, names))
		case slices.Contains(out, ch):
			cc.errorf(item, "channel %s is listed twice; each channel is tried once", v)
		default:
			out = append(out, ch)
		}
	}
	return out
}

func (cc *compilation) wait(n *yaml.Node) *WaitStep {
	out := &WaitStep{}
	n = cc.resolve(n)
	if n == nil {
		return out
	}
	if n.Kind == yaml.ScalarNode && !isNull(n) { // shorthand: wait: 3d
		out.For = cc.duration(n, "wait")
		return out
	}
	fs := cc.fields(n, waitObject)
	if fs == nil {
		return out
	}
	var forms []string
	for _, k := range []string{"for", "until_event", "until"} {
		if fs.get(k) != nil {
			forms = append(forms, k)
		}
	}
	switch {
	case len(forms) == 0:
		cc.errorf(n, "a wait needs `for: <duration>`, `until: \"10:00\"`, or `until_event: <condition>` with a `timeout`")
		return out
	case len(forms) > 1:
		cc.errorf(fs.keys[forms[1]], "a wait has one of for, until and until_event, not %s and %s; use until_event with a timeout to wait for an event at most that long", forms[0], forms[1])
		return out
	}
	if fs.get("timeout") != nil && forms[0] != "until_event" {
		cc.errorf(fs.keys["timeout"], "timeout only goes with until_event; a wait `%s` ends by itself", forms[0])
	}
	if fs.get("on") != nil && forms[0] != "until" {
		cc.errorf(fs.keys["on"], "on (weekdays) only goes with until")
	}
	switch forms[0] {
	case "for":
		out.For = cc.duration(fs.get("for"), "for")
	case "until":
		un := fs.get("until")
		if v, ok := cc.scalar(un, "until"); ok {
			if m := timeOfDayRe.FindStringSubmatch(v); m == nil {
				cc.errorf(un, "until %q is not a time of day; write hours and minutes on a 24-hour clock, such as \"10:00\" or \"18:30\"", v)
			} else {
				out.Until = fmt.Sprintf("%02s:%s", m[1], m[2])
			}
		}
		if on := fs.get("on"); on != nil {
			out.On = cc.weekdays(on)
		}
	default:
		out.UntilEvent = cc.expr(fs.get("until_event"), "until_event")
		if tn := fs.get("timeout"); tn == nil {
			cc.errorf(n, "a wait until_event needs a timeout, such as `timeout: 14d`, so the journey cannot wait forever")
		} else {
			out.Timeout = cc.duration(tn, "timeout")
		}
	}
	return out
}

// weekdays reads a list of days: mon, tue, ... (or their full names), or
// the word weekdays.
func (cc *compilation) weekdays(n *yaml.Node) []string {
	n = cc.resolve(n)
	if n == nil {
		return nil
	}
	if n.Kind == yaml.ScalarNode && n.Value == "weekdays" {
		return weekdays[:5]
	}
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		cc.errorf(n, "on must be a list of days, such as [mon, wed, fri], or weekdays")
		return nil
	}
	var out []string
	for _, item := range n.Content {
		v, ok := cc.scalar(item, "day")
		if !ok {
			continue
		}
		day := strings.ToLower(v)
		if len(day) > 3 {
			day = day[:3]
		}
		if !slices.Contains(weekdays, day) || (len(v) > 3 && !strings.HasPrefix(fullDay(day), strings.ToLower(v))) {
			cc.errorf(item, "%q is not a day; use mon, tue, wed, thu, fri, sat or sun", v)
			continue
		}
		if slices.Contains(out, day) {
			cc.errorf(item, "%s is listed twice", v)
			continue
		}
		out = append(out, day)
	}
	slices.SortFunc(out, func(a, b string) int { return slices.Index(weekdays, a) - slices.Index(weekdays, b) })
	return out
}

func fullDay(abbr string) string {
	return map[string]string{"mon": "monday", "tue": "tuesday", "wed": "wednesday", "thu": "thursday", "fri": "friday", "sat": "saturday", "sun": "sunday"}[abbr]
}

func (cc *compilation) task(n *yaml.Node) *TaskStep {
	out := &TaskStep{OnOverdue: OverdueContinue}
	fs := cc.fields(n, taskObject)
	if fs == nil {
		return out
	}
	slug := func(key, example string) string {
		vn := fs.require(cc, n, key, fmt.Sprintf("a task needs %s, such as `%s: %s`", key, key, example))
		if vn == nil {
			return ""
		}
		v, ok := cc.scalar(vn, key)
		if ok && !slugRe.MatchString(v) {
			cc.errorf(vn, "%s %q is not allowed; use lowercase letters, digits, dashes or underscores, like %s", key, v, example)
		}
		return v
	}
	out.Kind = slug("kind", "phone_call")
	out.Queue = slug("queue", "retention")
	if dn := fs.require(cc, n, "due_in", "a task needs `due_in`, such as `due_in: 3d`: when staff should have done it"); dn != nil {
		out.DueIn = cc.duration(dn, "due_in")
	}
	if bn := fs.get("brief"); bn != nil {
		out.Brief, _ = cc.scalar(bn, "brief")
	}
	out.Outcomes = []string{"done"}
	if on := fs.get("outcomes"); on != nil {
		out.Outcomes = nil
		on = cc.resolve(on)
		if on != nil && (on.Kind != yaml.SequenceNode || len(on.Content) == 0) {
			cc.errorf(on, "outcomes must be a list, such as [reached, voicemail, declined]")
		} else if on != nil {
			for _, item := range on.Content {
				v, ok := cc.scalar(item, "outcome")
				switch {
				case !ok:
				case !slugRe.MatchString(v):
					cc.errorf(item, "outcome %q is not allowed; use lowercase letters, digits, dashes or underscores", v)
				case slices.Contains(out.Outcomes, v):
					cc.errorf(item, "outcome %s is listed twice", v)
				default:
					out.Outcomes = append(out.Outcomes, v)
				}
			}
		}
	}
	if vn := fs.get("on_overdue"); vn != nil {
		if v, ok := cc.scalar(vn, "on_overdue"); ok {
			switch {
			case v == OverdueContinue || v == OverdueExit:
				out.OnOverdue = v
			case strings.HasPrefix(v, "escalate to "):
				q := strings.TrimSpace(strings.TrimPrefix(v, "escalate to "))
				if !slugRe.MatchString(q) {
					cc.errorf(vn, "escalate to %q: name a queue, like `escalate to retention-leads`", q)
				}
				out.OnOverdue, out.EscalateTo = OverdueEscalate, q
			default:
				cc.errorf(vn, "on_overdue %q is unknown; use continue, exit, or escalate to <queue>", v)
			}
		}
	}
	return out
}

func (cc *compilation) split(n *yaml.Node, depth int) *SplitStep {
	out := &SplitStep{}
	n = cc.resolve(n)
	if n == nil {
		return out
	}
	if n.Kind != yaml.SequenceNode || len(n.Content) < 2 {
		cc.errorf(n, "split must be a list of at least two paths, each `- path: <name>` with a `weight` (percent) and `steps`")
		return out
	}
	total, holdouts, weightsOK := 0, 0, true
	for _, item := range n.Content {
		fs := cc.fields(item, splitPathObject)
		if fs == nil {
			continue
		}
		item = cc.resolve(item)
		var p SplitPath
		if pn := fs.require(cc, item, "path", "a split path needs a name: `path: short-wait`"); pn != nil {
			if v, ok := cc.scalar(pn, "path"); ok {
				switch {
				case !slugRe.MatchString(v):
					cc.errorf(pn, "path name %q is not allowed; use lowercase letters, digits, dashes or underscores", v)
				case slices.ContainsFunc(out.Paths, func(o SplitPath) bool { return o.Name == v }):
					cc.errorf(pn, "path %s is named twice in this split", v)
				}
				p.Name = v
			}
		}
		wn := fs.require(cc, item, "weight", "a split path needs a weight: the percentage of customers who take it")
		if wn == nil {
			weightsOK = false
		} else {
			w := cc.number(wn, "weight", 0, 100)
			if w == 0 || w != float64(int(w)) {
				weightsOK = false
			}
			if w != float64(int(w)) {
				cc.errorf(wn, "weight must be a whole percentage")
			}
			p.Weight = int(w)
			total += p.Weight
		}
		if hn := fs.get("holdout"); hn != nil {
			if v, ok := cc.scalar(hn, "holdout"); ok {
				if v != "true" && v != "false" {
					cc.errorf(hn, "holdout is true or false")
				}
				p.Holdout = v == "true"
			}
		}
		if sn := fs.get("steps"); sn != nil {
			if p.Holdout {
				cc.errorf(fs.keys["steps"], "a holdout path receives nothing: it has no steps (the run ends there)")
			}
			p.Steps = cc.steps(sn, "steps", depth+1)
		} else if !p.Holdout {
			cc.errorf(item, "this path has no steps; add `steps:`, or `holdout: true` for a control group that receives nothing")
		}
		if p.Holdout {
			holdouts++
		}
		out.Paths = append(out.Paths, p)
	}
	if holdouts > 1 {
		cc.errorf(n, "a split has at most one holdout path")
	}
	if total != 100 && weightsOK {
		cc.errorf(n, "the split's weights add up to %d; they are percentages and must add up to 100", total)
	}
	return out
}

func (cc *compilation) duration(n *yaml.Node, what string) Duration {
	v, ok := cc.scalar(n, what)
	if !ok {
		return Duration{}
	}
	d, err := ParseDuration(v)
	if err != nil {
		cc.errorf(n, "%s: %s", what, err.Error())
		return Duration{}
	}
	if d == 0 {
		cc.errorf(n, "%s: a duration of %s does nothing; use a positive duration such as 1d", what, v)
	}
	return Duration{D: d, Text: v}
}

func (cc *compilation) branch(n *yaml.Node, depth int) *BranchStep {
	out := &BranchStep{}
	n = cc.resolve(n)
	if n == nil {
		return out
	}
	if n.Kind != yaml.SequenceNode {
		cc.errorf(n, "branch must be a list of cases: `- when: <condition>` with `steps:`, and optionally a last `- otherwise:`")
		return out
	}
	otherwiseLine := 0
	for _, item := range n.Content {
		fs := cc.fields(item, branchCaseObject)
		if fs == nil {
			continue
		}
		item = cc.resolve(item)
		if otherwiseLine > 0 {
			cc.errorf(item, "this case comes after `otherwise` on line %d and never runs; otherwise must be the last case", otherwiseLine)
		}
		if on := fs.get("otherwise"); on != nil {
			if fs.get("when") != nil || fs.get("steps") != nil {
				cc.errorf(fs.keys["otherwise"], "otherwise stands alone: write `- otherwise:` followed by its steps, without when or steps")
				continue
			}
			if otherwiseLine == 0 {
				otherwiseLine = fs.keys["otherwise"].Line
			}
			out.Otherwise = cc.steps(on, "otherwise", depth+1)
			continue
		}
		var c Case
		if wn := fs.require(cc, item, "when", "a branch case needs `when: <condition>`, or is the last `otherwise:`"); wn != nil {
			c.When = cc.expr(wn, "when")
		}
		if sn := fs.require(cc, item, "steps", "this case has no steps; add `steps:` with what to do when the condition holds (`steps: []` does nothing)"); sn != nil {
			c.Steps = cc.steps(sn, "steps", depth+1)
		}
		out.Cases = append(out.Cases, c)
	}
	if len(out.Cases) == 0 && len(n.Content) > 0 && otherwiseLine > 0 {
		cc.errorf(n, "a branch needs at least one `when` case before otherwise")
	} else if len(n.Content) == 0 {
		cc.errorf(n, "a branch needs at least one `when` case")
	}
	return out
}

func (cc *compilation) record(n *yaml.Node) *RecordStep {
	out := &RecordStep{}
	fs := cc.fields(n, recordObject)
	if fs == nil {
		return out
	}
	if sn := fs.get("survey"); sn != nil {
		if v, ok := cc.scalar(sn, "survey"); ok {
			if !slugRe.MatchString(v) {
				cc.errorf(sn, "survey %q is not allowed; use lowercase letters, digits, dashes or underscores, like satisfaction", v)
			}
			out.Survey = v
		}
	}
	if sn := fs.require(cc, n, "score", "record needs a score: a condition-like expression giving 1 to 5, such as `score: int(event.data.body)`"); sn != nil {
		out.Score = cc.valueExpr(sn, "score", cc.c.env.checkNumber)
	}
	if cn := fs.get("comment"); cn != nil {
		out.Comment = cc.valueExpr(cn, "comment", cc.c.env.checkValue)
	}
	if sn := fs.get("source"); sn != nil {
		if v, ok := cc.scalar(sn, "source"); ok {
			if !slugRe.MatchString(v) {
				cc.errorf(sn, "source %q is not allowed; use a word such as sms or phone", v)
			}
			out.Source = v
		}
	}
	if on := fs.get("order"); on != nil {
		out.Order = cc.valueExpr(on, "order", cc.c.env.checkValue)
	}
	return out
}

// maxEmitFields bounds an emitted event's data.
const maxEmitFields = 50

func (cc *compilation) emit(n *yaml.Node) *EmitStep {
	out := &EmitStep{}
	fs := cc.fields(n, emitObject)
	if fs == nil {
		return out
	}
	if en := fs.require(cc, n, "event", "emit needs an event type, such as `event: review.requested`"); en != nil {
		if v, ok := cc.scalar(en, "event"); ok {
			switch {
			case !eventTypeRe.MatchString(v):
				cc.errorf(en, "event type %q is not allowed; use lowercase words joined by dots, like review.requested", v)
			case v == cc.triggerEvent:
				cc.errorf(en, "this step emits %s, the event that starts this journey: each run would start another; emit another event", v)
			}
			out.Event = v
		}
	}
	dn := fs.get("data")
	if dn == nil {
		return out
	}
	dn = cc.resolve(dn)
	if dn == nil || dn.Kind != yaml.MappingNode {
		cc.errorf(fs.keys["data"], "data must be `key: expression` pairs, such as `order_id: order.id`")
		return out
	}
	if len(dn.Content)/2 > maxEmitFields {
		cc.errorf(dn, "data has %d keys; an emitted event carries at most %d", len(dn.Content)/2, maxEmitFields)
		return out
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(dn.Content); i += 2 {
		k, v := cc.resolve(dn.Content[i]), dn.Content[i+1]
		if k == nil || k.Kind != yaml.ScalarNode || !slugRe.MatchString(k.Value) {
			cc.errorf(dn.Content[i], "a data key must be a word of lowercase letters, digits, dashes or underscores")
			continue
		}
		if seen[k.Value] {
			cc.errorf(k, "data key %s is set twice", k.Value)
			continue
		}
		seen[k.Value] = true
		if expr := cc.valueExpr(v, "data."+k.Value, cc.c.env.checkValue); expr != "" {
			out.Data = append(out.Data, EmitField{Key: k.Value, Expr: expr})
		}
	}
	slices.SortFunc(out.Data, func(a, b EmitField) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// valueExpr reads and type-checks an expression giving a value, reporting
// problems at their place inside it.
func (cc *compilation) valueExpr(n *yaml.Node, what string, check func(string) checkedExpr) string {
	v, ok := cc.scalar(n, what)
	if !ok {
		return ""
	}
	if strings.TrimSpace(v) == "" {
		cc.errorf(n, "%s is empty; write an expression such as event.data.score", what)
		return ""
	}
	checked := check(v)
	if len(checked.issues) > 0 {
		positions := cc.valuePositions(n)
		for _, is := range checked.issues {
			cc.errorAt(exprPos(n, v, positions, is.line, is.col), fmt.Sprintf("%s: %s", what, is.message))
		}
		return ""
	}
	return v
}

func (cc *compilation) exit(n *yaml.Node) *ExitStep {
	out := &ExitStep{}
	n = cc.resolve(n)
	if n == nil || isNull(n) {
		return out
	}
	if n.Kind == yaml.ScalarNode {
		if n.Tag == "!!bool" {
			if n.Value == "false" || n.Value == "no" {
				cc.errorf(n, "exit: false does nothing; remove the step")
			}
			return out
		}
		out.Reason = n.Value
		return out
	}
	fs := cc.fields(n, exitObject)
	if fs == nil {
		return out
	}
	if rn := fs.get("reason"); rn != nil {
		out.Reason, _ = cc.scalar(rn, "reason")
	}
	return out
}

// expr reads and type-checks a CEL condition, reporting problems at their
// place inside the expression.
func (cc *compilation) expr(n *yaml.Node, what string) string {
	v, ok := cc.scalar(n, what)
	if !ok {
		return ""
	}
	if strings.TrimSpace(v) == "" {
		cc.errorf(n, "%s is empty; write a condition such as event.type == \"order.placed\"", what)
		return ""
	}
	checked := cc.c.env.check(v)
	if len(checked.issues) > 0 {
		positions := cc.valuePositions(n)
		for _, is := range checked.issues {
			cc.errorAt(exprPos(n, v, positions, is.line, is.col), fmt.Sprintf("%s: %s", what, is.message))
		}
		return ""
	}
	return v
}

// requireIDs asks a journey that moves its runs to new plans for an id on
// every step that waits or leaves a trace: a moved run finds the step it
// waits at by id, and knows by their ids the messages, splits and answers
// it already made (an id made of kind and position would change when
// steps are added before it, and a message would go twice).
func (cc *compilation) requireIDs(p *Plan) {
	p.Walk(func(s *Step) {
		if s.ID != "" || s.Kind == KindBranch || s.Kind == KindExit {
			return
		}
		cc.errorAt(Pos{Line: s.Line, Col: 1}, fmt.Sprintf("this %s step has no id; with on_edit: restart-at-step every send, wait, task, split, record and emit step needs one (a moved run finds its step, and the messages it already sent, by id): add `id: <name>`", s.Kind))
	})
}

// assignIDs gives every step without an id one made of its kind and its
// position in the file (send_1, wait_2, ...), skipping ids already taken.
func (cc *compilation) assignIDs(p *Plan) {
	n := 0
	p.Walk(func(s *Step) {
		n++
		if s.ID != "" {
			return
		}
		id := fmt.Sprintf("%s_%d", s.Kind, n)
		for suffix := 'b'; cc.ids[id] != (Pos{}); suffix++ {
			id = fmt.Sprintf("%s_%d%c", s.Kind, n, suffix)
		}
		cc.ids[id] = Pos{s.Line, 1}
		s.ID = id
	})
}

// --- YAML helpers ---------------------------------------------------------

// fieldSet is a YAML mapping read with its keys checked.
type fieldSet struct {
	keys   map[string]*yaml.Node
	values map[string]*yaml.Node
	order  []string
	// unknown counts keys that were reported as unknown.
	unknown int
}

func (fs *fieldSet) get(key string) *yaml.Node { return fs.values[key] }

// require returns the value of key, or reports msg at the mapping and
// returns nil.
func (fs *fieldSet) require(cc *compilation, at *yaml.Node, key, msg string) *yaml.Node {
	if v := fs.values[key]; v != nil {
		return v
	}
	cc.errorf(at, "%s", msg)
	return nil
}

// fields reads a mapping whose keys must be among o's (the table in
// keys.go), reporting anything else: a value that is not a mapping,
// unknown keys (with a suggestion), duplicate keys.
func (cc *compilation) fields(n *yaml.Node, o *object) *fieldSet {
	what, allowed := o.what, o.names()
	n = cc.resolve(n)
	if n == nil {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		if isNull(n) {
			cc.errorf(n, "%s is empty; it needs settings such as %s", what, strings.Join(allowed, ", "))
		} else {
			cc.errorf(n, "%s must be a set of `key: value` settings (%s)", what, strings.Join(allowed, ", "))
		}
		return nil
	}
	fs := &fieldSet{keys: map[string]*yaml.Node{}, values: map[string]*yaml.Node{}}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := cc.resolve(n.Content[i]), n.Content[i+1]
		if k == nil {
			continue
		}
		if k.Kind != yaml.ScalarNode {
			cc.errorf(k, "a key in %s must be a plain word", what)
			continue
		}
		if k.Value == "<<" {
			cc.errorf(k, "merge keys (<<) are not supported in journeys; write the settings out")
			continue
		}
		if prev, dup := fs.keys[k.Value]; dup {
			cc.errorf(k, "%s is set twice in %s (first on line %d); remove one", k.Value, what, prev.Line)
			continue
		}
		if !slices.Contains(allowed, k.Value) {
			fs.unknown++
			if hint := didYouMean(k.Value, allowed); hint != "" {
				cc.errorf(k, "%s has no setting %q%s", what, k.Value, hint)
			} else {
				cc.errorf(k, "%s has no setting %q; it can have %s", what, k.Value, strings.Join(allowed, ", "))
			}
			continue
		}
		fs.keys[k.Value] = k
		fs.values[k.Value] = v
		fs.order = append(fs.order, k.Value)
	}
	return fs
}

// scalar reads a single value (not a list or mapping). An empty value
// counts as missing.
func (cc *compilation) scalar(n *yaml.Node, what string) (string, bool) {
	n = cc.resolve(n)
	if n == nil {
		return "", false
	}
	switch {
	case n.Kind != yaml.ScalarNode:
		cc.errorf(n, "%s must be a single value, not a list or a set of settings", what)
		return "", false
	case isNull(n):
		cc.errorf(n, "%s is empty; give it a value", what)
		return "", false
	}
	return n.Value, true
}

// resolve follows aliases and counts nodes, so an alias bomb cannot make
// the compiler walk forever. It returns nil once the budget is spent.
func (cc *compilation) resolve(n *yaml.Node) *yaml.Node {
	for depth := 0; n != nil && n.Kind == yaml.AliasNode; depth++ {
		if depth > 16 {
			cc.errorf(n, "this alias refers to itself; write the value out")
			return nil
		}
		n = n.Alias
	}
	if n == nil {
		return nil
	}
	cc.nodes++
	if cc.nodes == maxNodes {
		cc.errorf(n, "this journey is too large (more than %d values, counting aliases); split it into several journeys", maxNodes)
	}
	if cc.nodes >= maxNodes {
		return nil
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func pos(n *yaml.Node) Pos { return Pos{Line: n.Line, Col: n.Column} }

func (cc *compilation) errorf(n *yaml.Node, format string, args ...any) {
	cc.errorAt(pos(n), fmt.Sprintf(format, args...))
}

func (cc *compilation) warnf(n *yaml.Node, format string, args ...any) {
	cc.diags = append(cc.diags, Diagnostic{File: cc.file, Pos: pos(n), Severity: Warning, Message: fmt.Sprintf(format, args...)})
}

func (cc *compilation) errorAt(p Pos, msg string) {
	if p.Line < 1 {
		p.Line = 1
	}
	if p.Col < 1 {
		p.Col = 1
	}
	cc.diags = append(cc.diags, Diagnostic{File: cc.file, Pos: p, Severity: Error, Message: msg})
}

// --- positions inside scalars ---------------------------------------------

// valuePositions maps every rune of a scalar's value to its place in the
// file, following YAML's quoting, escapes, folding and block indentation.
// It returns nil when the value cannot be aligned with the source (then
// positions fall back to the start of the value).
func (cc *compilation) valuePositions(n *yaml.Node) []Pos {
	n = cc.resolve(n)
	if n == nil || n.Line < 1 || n.Line > len(cc.lines) {
		return nil
	}
	line, col := n.Line-1, n.Column-1 // 0-based cursor into cc.lines
	block := n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0
	switch {
	case block:
		line, col = line+1, 0 // content starts on the line after | or >
	case n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0:
		col++
	}
	at := func() (rune, bool) {
		if line >= len(cc.lines) {
			return 0, false
		}
		if col >= len(cc.lines[line]) {
			return '\n', true
		}
		return cc.lines[line][col], true
	}
	advance := func(k int) {
		for ; k > 0; k-- {
			if col >= len(cc.lines[line]) {
				line, col = line+1, 0
			} else {
				col++
			}
		}
	}
	isSpace := func(r rune) bool { return r == ' ' || r == '\t' || r == '\n' }
	value := []rune(n.Value)
	out := make([]Pos, 0, len(value))
	for i := 0; i < len(value); {
		r, ok := at()
		if !ok || len(out) > 4*len(value)+16 {
			return nil
		}
		v := value[i]
		switch {
		case r == v && !(n.Style&yaml.DoubleQuotedStyle != 0 && r == '\\'):
			out = append(out, Pos{line + 1, col + 1})
			advance(1)
			i++
		case isSpace(v) && isSpace(r): // folded line break or indentation
			out = append(out, Pos{line + 1, col + 1})
			for r, ok = at(); ok && isSpace(r); r, ok = at() {
				advance(1)
			}
			i++
		case isSpace(r): // indentation at the start of a continued line
			advance(1)
		case r == '\\' && n.Style&yaml.DoubleQuotedStyle != 0:
			out = append(out, Pos{line + 1, col + 1})
			advance(1)
			e, _ := at()
			switch e {
			case 'x':
				advance(3)
			case 'u':
				advance(5)
			case 'U':
				advance(9)
			default:
				advance(1)
			}
			i++
		case r == '\'' && n.Style&yaml.SingleQuotedStyle != 0 && v == '\'':
			out = append(out, Pos{line + 1, col + 1})
			advance(2)
			i++
		default:
			return nil
		}
	}
	return out
}

// exprPos turns a place inside an expression (1-based line, 0-based rune
// column of the value) into a place in the file.
func exprPos(n *yaml.Node, value string, positions []Pos, line, col int) Pos {
	idx := 0
	lines := strings.SplitAfter(value, "\n")
	for i := 0; i < line-1 && i < len(lines); i++ {
		idx += utf8.RuneCountInString(lines[i])
	}
	idx += col
	switch {
	case len(positions) == 0:
		return pos(n)
	case idx < len(positions):
		return positions[idx]
	default:
		last := positions[len(positions)-1]
		return Pos{last.Line, last.Col + 1}
	}
}
