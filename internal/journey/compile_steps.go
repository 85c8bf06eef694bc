package journey

import (
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

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

// step reads one step: exactly one kind, its id, and the kind's fields.
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

// wait reads a wait step: for a duration, until a time of day (on some
// days), or until an event with a timeout.
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

// fullDay is the English name of a weekday's three-letter abbreviation.
func fullDay(abbr string) string {
	return map[string]string{"mon": "monday", "tue": "tuesday", "wed": "wednesday", "thu": "thursday", "fri": "friday", "sat": "saturday", "sun": "sunday"}[abbr]
}

// task reads a task step: a staff task, its queue, outcomes and what
// happens when it is overdue.
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

// split reads a split step: paths with weights (a path may be a
// holdout) that divide customers deterministically.
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

// duration reads a positive duration such as 14d.
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

// branch reads a branch step: conditions tried in order, and otherwise.
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

// record reads a record step: a survey answer's score, comment, source
// and the order it is about.
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

// emit reads an emit step: an event the journey posts, with its data.
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

// exit reads an exit step and its reason.
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
