package journey

import (
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

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
		if v, _ := oneOf(cc, fn, "goal.from", []GoalFrom{GoalFromEntry, GoalFromLastMessage}, "entry (the default) or last_message"); v == GoalFromLastMessage {
			out.From = v
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

// priority reads high, normal or low.
func (cc *compilation) priority(n *yaml.Node) Priority {
	v, _ := oneOf(cc, n, "priority", Priorities, "high, normal or low")
	if v == PriorityNormal {
		return "" // the default stays implicit, so plans keep their hash
	}
	return v
}

// onEdit reads keep or restart-at-step.
func (cc *compilation) onEdit(n *yaml.Node) OnEdit {
	v, _ := oneOf(cc, n, "on_edit", OnEdits, "keep (runs in flight end on the plan they started on) or restart-at-step (they move to the new plan at the step they wait in)")
	if v == OnEditKeep {
		return "" // the default stays implicit, so plans keep their hash
	}
	return v
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
