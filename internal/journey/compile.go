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
	"unicode/utf8"

	"gopkg.in/yaml.v3"
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

// run compiles the file: parse, read the journey, check it as a whole.
// It never panics on any input: a panic is reported as an internal error.
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

// journey reads the top-level mapping: name, purpose, topic, trigger,
// steps and the journey-wide settings.
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
		p.Purpose, _ = oneOf(cc, n, "purpose", []Purpose{Marketing, Transactional}, "marketing or transactional")
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
