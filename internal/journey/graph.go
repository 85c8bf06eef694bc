package journey

import (
	"cmp"
	"fmt"
	"strings"
)

// Mermaid renders the plan as a Mermaid flowchart: the trigger, every step
// in order, branches with their conditions, and where the journey ends.
func (p *Plan) Mermaid() string {
	g := &graph{}
	g.line("flowchart TD")
	g.line("  %%%% %s (plan %s)", p.Journey, p.ShortHash())
	start := "start"
	label := "on " + p.Trigger.Event
	if p.Trigger.Date != "" {
		label = p.Trigger.DescribeDate()
	}
	if p.Trigger.Audience != "" {
		label = "customers where " + p.Trigger.Audience
		switch {
		case p.Trigger.Schedule != "":
			zone := cmp.Or(p.Trigger.TimeZone, "UTC")
			if zone == CustomerTimeZone {
				zone = "each customer's local time"
			}
			label += "\nchecked at " + p.Trigger.Schedule + " (cron, " + zone + ")"
		default:
			label += "\nwhen `rapport audience run` starts"
		}
	}
	if p.Trigger.When != "" {
		label += "\nwhen " + p.Trigger.When
	}
	g.line("  %s([%s])", start, quote(label))
	ends := g.steps(p.Steps, []edge{{from: start}})
	g.line("  done([%s])", quote("journey ends"))
	for _, e := range ends {
		g.connect(e, "done")
	}
	if p.ExitWhen != "" {
		g.line("  exit_when{{%s}} -.-> exited([%s])", quote("at any point:\n"+p.ExitWhen), quote("exit"))
	}
	if p.Holdout > 0 {
		g.line("  %s -. %s .-> holdout([%s])", start, quote(fmt.Sprintf("%d%% held out", p.Holdout)), quote("control group: gets nothing, tracked for the goal"))
	}
	if p.Goal != nil {
		g.line("  goal[/%s/]", quote(p.Goal.Describe()))
	}
	return g.b.String()
}

type graph struct {
	b strings.Builder
	n int
}

// edge is an arrow waiting for its target: from a node, with a label.
type edge struct {
	from, label string
}

func (g *graph) line(format string, args ...any) {
	fmt.Fprintf(&g.b, format+"\n", args...)
}

func (g *graph) connect(e edge, to string) {
	if e.label != "" {
		g.line("  %s -->|%s| %s", e.from, quote(e.label), to)
	} else {
		g.line("  %s --> %s", e.from, to)
	}
}

// steps draws a list of steps entered through the given edges and returns
// the edges that leave it (nil when every path exits).
func (g *graph) steps(steps []Step, in []edge) []edge {
	for _, s := range steps {
		g.n++
		id := fmt.Sprintf("s%d", g.n)
		switch s.Kind {
		case KindSend:
			chans := make([]string, len(s.Send.Channels))
			for i, c := range s.Send.Channels {
				chans[i] = string(c)
			}
			g.line("  %s[%s]", id, quote(fmt.Sprintf("%s\nsend %s via %s", s.ID, s.Send.Template, strings.Join(chans, " or "))))
		case KindWait:
			text := "wait " + s.Wait.For.String()
			if s.Wait.UntilEvent != "" {
				text = fmt.Sprintf("wait until %s\nat most %s", s.Wait.UntilEvent, s.Wait.Timeout)
			}
			g.line("  %s[/%s/]", id, quote(s.ID+"\n"+text))
		case KindExit:
			text := s.ID + "\nexit"
			if s.Exit.Reason != "" {
				text += ": " + s.Exit.Reason
			}
			g.line("  %s([%s])", id, quote(text))
		case KindBranch:
			g.line("  %s{%s}", id, quote(s.ID))
		case KindSplit:
			g.line("  %s{{%s}}", id, quote(s.ID+"\nsplit"))
		case KindTask:
			text := fmt.Sprintf("%s\ntask %s for %s, due in %s", s.ID, s.Task.Kind, s.Task.Queue, s.Task.DueIn)
			g.line("  %s[[%s]]", id, quote(text))
		}
		for _, e := range in {
			g.connect(e, id)
		}
		switch s.Kind {
		case KindExit:
			return nil
		case KindBranch:
			var out []edge
			for _, c := range s.Branch.Cases {
				out = append(out, g.steps(c.Steps, []edge{{from: id, label: c.When}})...)
			}
			out = append(out, g.steps(s.Branch.Otherwise, []edge{{from: id, label: "otherwise"}})...)
			in = out
		case KindSplit:
			var out []edge
			for _, p := range s.Split.Paths {
				label := fmt.Sprintf("%s %d%%", p.Name, p.Weight)
				if p.Holdout {
					g.n++
					hold := fmt.Sprintf("s%d", g.n)
					g.line("  %s([%s])", hold, quote("holdout: receives nothing"))
					g.connect(edge{from: id, label: label}, hold)
					continue
				}
				out = append(out, g.steps(p.Steps, []edge{{from: id, label: label}})...)
			}
			in = out
		default:
			in = []edge{{from: id}}
		}
	}
	return in
}

// quote makes text safe inside a Mermaid node or edge label.
func quote(s string) string {
	r := strings.NewReplacer(`"`, "#quot;", "\n", "<br/>", "<", "#lt;", ">", "#gt;", "|", "#124;")
	return `"` + r.Replace(s) + `"`
}
