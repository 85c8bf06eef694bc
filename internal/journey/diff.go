package journey

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Change is one difference between two plans of a journey, as `rapport
// diff` prints it.
type Change struct {
	// Where is "journey", "step ID" or "template NAME".
	Where string `json:"where"`
	// What says the change in words: "added (send)", "removed",
	// "send.template: thank-you → thanks", "content changed".
	What string `json:"what"`
}

// Diff lists what changes from old to new, step by step: journey-level
// settings, steps matched by id (added, removed, changed setting by
// setting; nested steps are compared on their own), and the content of
// the templates the plans pinned. Both plans are of the same journey
// (their names may differ; that is a change too).
func Diff(old, new *Plan) []Change {
	var out []Change
	for _, c := range diffFields(planFields(old), planFields(new)) {
		out = append(out, Change{Where: "journey", What: c})
	}

	oldSteps, newSteps := stepsByID(old), stepsByID(new)
	for _, s := range newSteps.order {
		o, ok := oldSteps.steps[s.ID]
		where := "step " + s.ID
		switch {
		case !ok:
			out = append(out, Change{Where: where, What: fmt.Sprintf("added (%s)", describe(s))})
		case o.Kind != s.Kind:
			out = append(out, Change{Where: where, What: fmt.Sprintf("was %s, now %s", describe(o), describe(s))})
		default:
			for _, c := range diffFields(stepFields(o), stepFields(s)) {
				out = append(out, Change{Where: where, What: c})
			}
		}
	}
	for _, s := range oldSteps.order {
		if _, ok := newSteps.steps[s.ID]; !ok {
			out = append(out, Change{Where: "step " + s.ID, What: fmt.Sprintf("removed (%s)", describe(s))})
		}
	}
	// Steps in both, in another order.
	common := func(a, b []string) []string {
		var out []string
		for _, id := range a {
			if slices.Contains(b, id) {
				out = append(out, id)
			}
		}
		return out
	}
	if o, n := common(oldSteps.ids(), newSteps.ids()), common(newSteps.ids(), oldSteps.ids()); !slices.Equal(o, n) {
		out = append(out, Change{Where: "journey", What: fmt.Sprintf("steps reordered: %s → %s", strings.Join(o, ", "), strings.Join(n, ", "))})
	}

	for _, name := range slices.Sorted(maps.Keys(keysOf(old.Templates, new.Templates))) {
		o, inOld := old.Templates[name]
		n, inNew := new.Templates[name]
		where := "template " + name
		switch {
		case inOld && !inNew:
			out = append(out, Change{Where: where, What: "no longer sent"})
		case !inOld && inNew:
			out = append(out, Change{Where: where, What: "now sent"})
		case o != n:
			out = append(out, Change{Where: where, What: fmt.Sprintf("content changed (%s → %s)", short(o), short(n))})
		}
	}
	return out
}

func short(h string) string {
	if len(h) > 7 {
		return h[:7]
	}
	return h
}

// keysOf is the set of keys of two maps.
func keysOf(a, b map[string]string) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

// describe names a step's kind and its main setting: "send thank-you via
// email or sms", "wait 3d".
func describe(s Step) string {
	switch {
	case s.Send != nil:
		chs := make([]string, len(s.Send.Channels))
		for i, c := range s.Send.Channels {
			chs[i] = string(c)
		}
		return fmt.Sprintf("send %s via %s", s.Send.Template, strings.Join(chs, " or "))
	case s.Wait != nil:
		switch {
		case s.Wait.Until != "":
			return "wait until " + s.Wait.Until
		case s.Wait.UntilEvent != "":
			return fmt.Sprintf("wait %s for an event", s.Wait.Timeout.Text)
		}
		return "wait " + s.Wait.For.Text
	case s.Task != nil:
		return fmt.Sprintf("task %s for %s", s.Task.Kind, s.Task.Queue)
	case s.Exit != nil:
		return "exit"
	}
	return string(s.Kind)
}

// orderedSteps are a plan's steps, nested ones included, in file order.
type orderedSteps struct {
	order []Step
	steps map[string]Step
}

func (o orderedSteps) ids() []string {
	out := make([]string, len(o.order))
	for i, s := range o.order {
		out[i] = s.ID
	}
	return out
}

func stepsByID(p *Plan) orderedSteps {
	out := orderedSteps{steps: map[string]Step{}}
	p.Walk(func(s *Step) {
		out.order = append(out.order, *s)
		out.steps[s.ID] = *s
	})
	return out
}

// planFields flattens a plan's journey-level settings (not its steps,
// templates or where it came from) to "key: value" pairs.
func planFields(p *Plan) map[string]string {
	return flatten(p, "steps", "templates", "source", "hash", "scale", "scale_epoch")
}

// stepFields flattens a step's own settings: nested steps appear as the
// list of their ids (they are compared on their own).
func stepFields(s Step) map[string]string {
	c := s
	c.Line = 0
	if c.Branch != nil {
		b := *c.Branch
		b.Cases = slices.Clone(b.Cases)
		for i := range b.Cases {
			b.Cases[i].Steps = idsOnly(b.Cases[i].Steps)
		}
		b.Otherwise = idsOnly(b.Otherwise)
		c.Branch = &b
	}
	if c.Split != nil {
		sp := *c.Split
		sp.Paths = slices.Clone(sp.Paths)
		for i := range sp.Paths {
			sp.Paths[i].Steps = idsOnly(sp.Paths[i].Steps)
		}
		c.Split = &sp
	}
	return flatten(&c, "line")
}

// idsOnly keeps only the ids of steps.
func idsOnly(steps []Step) []Step {
	out := make([]Step, len(steps))
	for i, s := range steps {
		out[i] = Step{ID: s.ID, Kind: s.Kind}
	}
	return out
}

// flatten renders a value's JSON as dotted keys and leaf values, skipping
// the top-level keys given.
func flatten(v any, skip ...string) map[string]string {
	b, err := json.Marshal(v)
	if err != nil {
		panic("journey: marshal for diff: " + err.Error())
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		panic("journey: unmarshal for diff: " + err.Error())
	}
	for _, k := range skip {
		delete(m, k)
	}
	out := map[string]string{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for _, k := range slices.Sorted(maps.Keys(x)) {
				walk(join(prefix, k), x[k])
			}
		case []any:
			if len(x) == 0 {
				out[prefix] = "[]"
			}
			for i, e := range x {
				walk(fmt.Sprintf("%s[%d]", prefix, i), e)
			}
		default:
			var b strings.Builder
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(false) // >= stays >=
			_ = enc.Encode(x)
			out[prefix] = strings.TrimSuffix(b.String(), "\n")
		}
	}
	walk("", m)
	// A duration is its text, as written ("for": "14d"); its nanoseconds
	// say the same.
	for _, k := range slices.Sorted(maps.Keys(out)) {
		if base, ok := strings.CutSuffix(k, ".text"); ok && out[base+".d"] != "" {
			out[base] = out[k]
			delete(out, k)
			delete(out, base+".d")
		}
	}
	return out
}

func join(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

// diffFields says, key by key in sorted order, what differs.
func diffFields(old, new map[string]string) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(keysOf(old, new))) {
		o, inOld := old[k]
		n, inNew := new[k]
		switch {
		case !inOld:
			out = append(out, fmt.Sprintf("%s: set to %s", k, n))
		case !inNew:
			out = append(out, fmt.Sprintf("%s: %s removed", k, o))
		case o != n:
			out = append(out, fmt.Sprintf("%s: %s → %s", k, o, n))
		}
	}
	return out
}
