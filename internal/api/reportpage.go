package api

import (
	"fmt"
	"html/template"
	"math"
	"strings"

	"github.com/rapporthq/rapport/internal/report"
)

// The report page: server-rendered HTML and SVG, no JavaScript. The
// journey is drawn as nested boxes following its plan (branches and
// split paths side by side), each with its counts; conversions per day
// as an SVG bar chart per arm, with a table for the same numbers; the
// arms side by side in a table.

// reportView is what the report page shows.
type reportView struct {
	R *report.Report
	// Viewer is the name of the key the page was opened with.
	Viewer string
	// Since, Plan and Link are the page's query: the period and plan
	// shown, and the signed link it was opened with ("" for a session).
	Since, Plan, Link string
	Steps             []*graphStep
	Retired           []report.Step
	Arms              []armRow
	Splits            []splitView
	Chart             chartView
}

// graphStep is a step's box: its counts, and the lanes (branch cases,
// split paths) it opens.
type graphStep struct {
	report.Step
	Lanes []graphLane
	// SkippedN and FailedN total the step's skipped and failed messages.
	SkippedN, FailedN int
	// Send is true for a send step (its sent and held counts are shown
	// even when zero).
	Send bool
}

// graphLane is one case of a branch or path of a split.
type graphLane struct {
	Label string
	Steps []*graphStep
}

// armRow is a row of an arms table.
type armRow struct {
	report.Arm
	// Lift compares the arm with Versus, the control; nil for the
	// control itself and arms not compared.
	Lift   *report.Comparison
	Versus string
}

type splitView struct {
	Step string
	Arms []armRow
}

func newReportView(r *report.Report, viewer string) reportView {
	v := reportView{R: r, Viewer: viewer}
	v.Steps, v.Retired = funnelGraph(r.Funnel.Steps)
	control := ""
	for _, a := range r.Arms {
		if a.Control {
			control = a.Name
		}
	}
	for _, a := range r.Arms {
		row := armRow{Arm: a}
		if r.Lift != nil && a.Name == report.ArmTreatment {
			row.Lift, row.Versus = r.Lift, control
		}
		v.Arms = append(v.Arms, row)
	}
	for _, sp := range r.Splits {
		sv := splitView{Step: sp.Step}
		for _, a := range sp.Arms {
			row := armRow{Arm: a}
			for _, c := range sp.Comparisons {
				if c.Path == a.Name {
					lift := c.Lift
					row.Lift, row.Versus = &lift, c.Control
				}
			}
			sv.Arms = append(sv.Arms, row)
		}
		v.Splits = append(v.Splits, sv)
	}
	v.Chart = conversionChart(r)
	return v
}

// funnelGraph nests the funnel's steps (in plan order, with Depth and
// Under) into boxes and lanes; steps of older plans come apart.
func funnelGraph(steps []report.Step) (top []*graphStep, retired []report.Step) {
	var current []report.Step
	for _, s := range steps {
		if s.Retired {
			retired = append(retired, s)
		} else {
			current = append(current, s)
		}
	}
	i := 0
	var lane func(depth int, under string) []*graphStep
	lane = func(depth int, under string) []*graphStep {
		var out []*graphStep
		for i < len(current) && current[i].Depth == depth && current[i].Under == under {
			g := newGraphStep(current[i])
			i++
			for i < len(current) && current[i].Depth == depth+1 {
				label := current[i].Under
				g.Lanes = append(g.Lanes, graphLane{Label: label, Steps: lane(depth+1, label)})
			}
			out = append(out, g)
		}
		return out
	}
	top = lane(0, "")
	// Whatever does not nest as expected is still shown, in order.
	for i < len(current) {
		if g := lane(current[i].Depth, current[i].Under); len(g) > 0 {
			top = append(top, g...)
		} else {
			top = append(top, newGraphStep(current[i]))
			i++
		}
	}
	return top, retired
}

func newGraphStep(s report.Step) *graphStep {
	g := &graphStep{Step: s, Send: s.Kind == "send" || s.Sent+s.Held+s.Unknown > 0}
	for _, c := range s.Skipped {
		g.SkippedN += c.N
	}
	for _, c := range s.Failed {
		g.FailedN += c.N
	}
	return g
}

// chartView is the conversions chart: bars per day and arm, in SVG user
// units.
type chartView struct {
	Width, Height float64
	// Left, Bottom and Top are the plot's edges.
	Left, Bottom, Top float64
	Arms              []chartArm
	Bars              []chartBar
	YTicks            []chartTick
	XTicks            []chartTick
	// Summary says in words what the chart shows (its text alternative).
	Summary string
}

type chartArm struct {
	Name, Class string
	Conversions int
}

type chartBar struct {
	X, Y, W, H float64
	Class      string
	Title      string
}

type chartTick struct {
	At    float64
	Label string
}

// conversionChart lays out conversions per day, one bar per arm a day.
func conversionChart(r *report.Report) chartView {
	const left, top, plotW, plotH, bottom = 44.0, 12.0, 640.0, 180.0, 36.0
	c := chartView{Width: left + plotW + 12, Height: top + plotH + bottom, Left: left, Top: top, Bottom: top + plotH}
	index := map[string]int{}
	addArm := func(name string) {
		if _, ok := index[name]; !ok {
			index[name] = len(c.Arms)
			c.Arms = append(c.Arms, chartArm{Name: name, Class: fmt.Sprintf("arm%d", len(c.Arms)%4)})
		}
	}
	for _, a := range r.Arms {
		addArm(a.Name)
	}
	most := 0
	for _, d := range r.Days {
		for _, a := range d.Arms {
			addArm(a.Arm)
			c.Arms[index[a.Arm]].Conversions += a.Converted
			most = max(most, a.Converted)
		}
	}
	// The y axis: whole conversions, up to a round maximum.
	step := 1
	for s := 1; ; s *= 10 {
		if m := niceStep(most, s); m > 0 {
			step = m
			break
		}
	}
	ceiling := max(step, int(math.Ceil(float64(most)/float64(step)))*step)
	for v := 0; v <= ceiling; v += step {
		c.YTicks = append(c.YTicks, chartTick{At: c.Bottom - plotH*float64(v)/float64(ceiling), Label: fmt.Sprint(v)})
	}
	days := len(r.Days)
	if days == 0 || len(c.Arms) == 0 {
		c.Summary = "No runs entered in this period, so there is nothing to chart."
		return c
	}
	group := plotW / float64(days)
	bar := group * 0.8 / float64(len(c.Arms))
	every := (days + 7) / 8 // at most 8 date labels
	for i, d := range r.Days {
		x := left + group*float64(i) + group*0.1
		if i%every == 0 || i == days-1 && days <= 8 {
			c.XTicks = append(c.XTicks, chartTick{At: left + group*(float64(i)+0.5), Label: d.Date})
		}
		for _, a := range d.Arms {
			j := index[a.Arm]
			h := plotH * float64(a.Converted) / float64(ceiling)
			c.Bars = append(c.Bars, chartBar{X: round1(x + bar*float64(j)), Y: round1(c.Bottom - h), W: round1(bar), H: round1(h), Class: c.Arms[j].Class,
				Title: fmt.Sprintf("%s, %s: %d converted of %d entered", d.Date, a.Arm, a.Converted, a.Entered)})
		}
	}
	var parts []string
	for _, a := range c.Arms {
		parts = append(parts, fmt.Sprintf("%s %d", a.Name, a.Conversions))
	}
	c.Summary = fmt.Sprintf("Conversions per day of entry from %s to %s, by arm; in all: %s. The table below has every day's figures.",
		r.Days[0].Date, r.Days[days-1].Date, strings.Join(parts, ", "))
	return c
}

// niceStep is the first of 1, 2 and 5 times scale that counts up to most
// in at most 5 ticks; 0 when none does.
func niceStep(most, scale int) int {
	for _, m := range []int{1, 2, 5} {
		if (most+m*scale-1)/(m*scale) <= 5 {
			return m * scale
		}
	}
	return 0
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }

// reportFuncs format the report's figures for people.
var reportFuncs = template.FuncMap{
	"pct": func(v float64) string { return fmt.Sprintf("%.1f%%", 100*v) },
	"points": func(e report.Estimate) string {
		return fmt.Sprintf("%+.1f points (%+.1f to %+.1f)", 100*e.Value, 100*e.Low, 100*e.High)
	},
	"money": func(v float64) string { return fmt.Sprintf("%.2f", v) },
	"day": func(d report.Day, arm string) report.DayArm {
		for _, a := range d.Arms {
			if a.Arm == arm {
				return a
			}
		}
		return report.DayArm{Arm: arm}
	},
	"stamp": func(r *report.Report) string {
		if r.Since == nil {
			return "every run, until " + r.Until.Format("2 Jan 2006 15:04 MST")
		}
		return "runs entered from " + r.Since.Format("2 Jan 2006 15:04 MST") + " until " + r.Until.Format("2 Jan 2006 15:04 MST")
	},
}

const reportStyle = `<style>
body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 1.5rem auto; padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2rem; } h2 { margin-top: 2rem; border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; }
.note { color: #555; font-size: 0.9rem; }
.error { background: #fdecea; border-left: 4px solid #b00020; padding: 0.6rem 1rem; }
dl.funnel { display: flex; flex-wrap: wrap; gap: 0.6rem; margin: 0; }
dl.funnel > div { border: 1px solid #ccd; border-radius: 6px; padding: 0.4rem 0.8rem; min-width: 7rem; }
dl.funnel dt { font-size: 0.85rem; color: #555; } dl.funnel dd { margin: 0; font-size: 1.5rem; font-weight: 600; }
ol.flow, ol.lane { list-style: none; margin: 0; padding: 0; }
ol.flow > li + li::before, ol.lane > li + li::before { content: "↓"; display: block; text-align: center; color: #888; }
.box { border: 1px solid #9ab; border-radius: 6px; background: #f7f9fc; padding: 0.4rem 0.7rem; }
.box.send { border-left: 4px solid #1a5fb4; }
.box h3 { font-size: 1rem; margin: 0; } .box h3 code { font-weight: 600; }
.box .what { color: #444; font-size: 0.9rem; margin: 0.1rem 0 0.3rem; }
.box dl { display: flex; flex-wrap: wrap; gap: 0.2rem 1rem; margin: 0; font-size: 0.9rem; }
.box dl div { display: flex; gap: 0.3rem; } .box dt { color: #555; } .box dd { margin: 0; font-weight: 600; }
.lanes { display: flex; gap: 0.8rem; align-items: flex-start; margin-top: 0.5rem; flex-wrap: wrap; }
.lanes > section { flex: 1 1 14rem; border: 1px dashed #aab; border-radius: 6px; padding: 0.4rem; background: #fff; }
.lanes h4 { margin: 0 0 0.3rem; font-size: 0.85rem; color: #333; font-weight: 600; }
table { border-collapse: collapse; margin: 0.5rem 0; font-size: 0.95rem; }
th, td { border-bottom: 1px solid #ddd; padding: 0.35rem 0.6rem; text-align: left; vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 600; padding-bottom: 0.3rem; }
svg { max-width: 100%; height: auto; font: 11px system-ui, sans-serif; }
svg .axis { stroke: #888; } svg .grid { stroke: #eee; }
.arm0 { fill: #1a5fb4; } .arm1 { fill: #e66100; } .arm2 { fill: #2e7d32; } .arm3 { fill: #7b2cbf; }
.legend { display: flex; gap: 1rem; padding: 0; list-style: none; font-size: 0.9rem; }
.swatch { display: inline-block; width: 0.8rem; height: 0.8rem; vertical-align: -0.1rem; margin-right: 0.3rem; }
.swatch.arm0 { background: #1a5fb4; } .swatch.arm1 { background: #e66100; } .swatch.arm2 { background: #2e7d32; } .swatch.arm3 { background: #7b2cbf; }
form.period { display: flex; gap: 0.8rem; align-items: end; flex-wrap: wrap; }
form.period label, form.signin label { display: block; font-size: 0.9rem; }
input, button { font: inherit; padding: 0.35rem 0.6rem; }
button { background: #1a5fb4; color: #fff; border: 0; border-radius: 4px; padding: 0.45rem 1rem; cursor: pointer; }
:focus-visible { outline: 3px solid #e66100; outline-offset: 2px; }
</style>`

var signInPage = template.Must(template.New("signin").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Sign in: report of {{.Journey}}</title>` + reportStyle + `</head>
<body>
<main>
<h1>Report of {{.Journey}}</h1>
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
<p>Sign in with an API key that holds <code>reports:read</code>, or open the link <code>rapport report {{.Journey}} --open</code> prints. Your key is not kept: the browser gets a signed session for an hour.</p>
<form method="post" action="{{.Action}}" class="signin">
<p><label for="key">API key</label>
<input type="password" id="key" name="key" autocomplete="off" required size="60"></p>
<p><button type="submit" id="sign-in">Sign in</button></p>
</form>
</main>
</body>
</html>
`))

type signInView struct {
	Journey, Action, Error string
}

var reportErrorPage = template.Must(template.New("report-error").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{{.Title}}</title>` + reportStyle + `</head>
<body>
<main>
<h1>{{.Title}}</h1>
<p class="error" role="alert">{{.Message}}</p>
{{if .Back}}<p><a href="{{.Back}}">Back to the report</a></p>{{end}}
</main>
</body>
</html>
`))

type errorView struct {
	Title, Message, Back string
}

var reportPageTmpl = template.Must(template.New("report").Funcs(reportFuncs).Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Report of {{.R.Journey}}</title>` + reportStyle + `</head>
<body>
<header>
<h1>Report of {{.R.Journey}}</h1>
{{with .R.Description}}<p>{{.}}</p>{{end}}
<p class="note" id="period">{{stamp .R}}{{with .R.Plan}}, plan {{.}}{{end}}. {{with .R.Goal}}{{.}}. {{end}}{{if .R.Holdout}}Control group: {{.R.Holdout}}% of entrants held out.{{end}} Opened with the key {{.Viewer}}.</p>
<form method="get" class="period" aria-label="Period and plan">
{{with .Link}}<input type="hidden" name="link" value="{{.}}">{{end}}
<div><label for="since">Since (30d, or a date)</label><input id="since" name="since" value="{{.Since}}" size="12" maxlength="40"></div>
<div><label for="plan">Plan (hash)</label><input id="plan" name="plan" value="{{.Plan}}" size="10" maxlength="64"></div>
<div><button type="submit">Show</button></div>
</form>
</header>
<main>
<h2 id="funnel">Funnel</h2>
<dl class="funnel" aria-labelledby="funnel">
<div><dt>Entered</dt><dd id="funnel-entered">{{.R.Funnel.Entered}}</dd></div>
<div><dt>Held out</dt><dd id="funnel-held-out">{{.R.Funnel.HeldOut}}</dd></div>
<div><dt>Running</dt><dd id="funnel-running">{{.R.Funnel.Running}}</dd></div>
<div><dt>Completed</dt><dd id="funnel-completed">{{.R.Funnel.Completed}}</dd></div>
<div><dt>Exited</dt><dd id="funnel-exited">{{.R.Funnel.Exited}}</dd></div>
{{if .R.Funnel.Failed}}<div><dt>Failed</dt><dd id="funnel-failed">{{.R.Funnel.Failed}}</dd></div>{{end}}
<div><dt>Converted</dt><dd id="funnel-converted">{{.R.Funnel.Converted}}</dd></div>
{{if .R.Funnel.OpenWindows}}<div><dt>Still inside their goal window</dt><dd id="funnel-open-windows">{{.R.Funnel.OpenWindows}}</dd></div>{{end}}
</dl>
{{with .R.Funnel.ExitReasons}}<p>Why runs exited: {{range $i, $c := .}}{{if $i}}; {{end}}{{$c.N}} {{$c.Reason}}{{end}}.</p>{{end}}

<h2 id="steps">The journey, step by step</h2>
<p class="note">Each box is a step of the journey as it is now, with how many runs reached it and, for a send, how many messages were sent, held back by the contact rules for a while, or skipped. Branches and split paths sit side by side.</p>
<ol class="flow" aria-labelledby="steps">
{{range .Steps}}{{template "step" .}}{{end}}
</ol>
{{with .Retired}}
<table id="retired"><caption>Steps of older plans</caption>
<thead><tr><th scope="col">Step</th><th scope="col">Reached</th><th scope="col">Sent</th><th scope="col">Held</th></tr></thead>
<tbody>{{range .}}<tr><th scope="row"><code>{{.ID}}</code></th><td class="n">{{.Reached}}</td><td class="n">{{.Sent}}</td><td class="n">{{.Held}}</td></tr>{{end}}</tbody>
</table>
{{end}}

<h2 id="over-time">Conversions over time</h2>
<ul class="legend">{{range .Chart.Arms}}<li><span class="swatch {{.Class}}" aria-hidden="true"></span>{{.Name}}: {{.Conversions}}</li>{{end}}</ul>
<svg role="img" aria-labelledby="chart-title chart-desc" viewBox="0 0 {{.Chart.Width}} {{.Chart.Height}}" width="{{.Chart.Width}}" height="{{.Chart.Height}}">
<title id="chart-title">Conversions per day, by arm</title>
<desc id="chart-desc">{{.Chart.Summary}}</desc>
{{range .Chart.YTicks}}<line class="grid" x1="{{$.Chart.Left}}" x2="{{$.Chart.Width}}" y1="{{.At}}" y2="{{.At}}"></line><text x="{{$.Chart.Left}}" dx="-6" y="{{.At}}" dy="4" text-anchor="end">{{.Label}}</text>
{{end}}<line class="axis" x1="{{.Chart.Left}}" x2="{{.Chart.Left}}" y1="{{.Chart.Top}}" y2="{{.Chart.Bottom}}"></line>
<line class="axis" x1="{{.Chart.Left}}" x2="{{.Chart.Width}}" y1="{{.Chart.Bottom}}" y2="{{.Chart.Bottom}}"></line>
{{range .Chart.Bars}}<rect class="{{.Class}}" x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}"><title>{{.Title}}</title></rect>
{{end}}{{range .Chart.XTicks}}<text x="{{.At}}" y="{{$.Chart.Bottom}}" dy="16" text-anchor="middle">{{.Label}}</text>
{{end}}</svg>
{{if .R.Days}}
<details>
<summary>The same figures as a table</summary>
<table id="days"><caption>Entered and converted per day of entry</caption>
<thead><tr><th scope="col">Day</th>{{range .Chart.Arms}}<th scope="col">{{.Name}}: entered</th><th scope="col">{{.Name}}: converted</th>{{end}}</tr></thead>
<tbody>{{range $d := .R.Days}}<tr><th scope="row">{{$d.Date}}</th>{{range $.Chart.Arms}}{{$a := day $d .Name}}<td class="n">{{$a.Entered}}</td><td class="n">{{$a.Converted}}</td>{{end}}</tr>{{end}}</tbody>
</table>
</details>
{{end}}

<h2 id="arms-heading">Arms</h2>
{{template "arms" .Arms}}
{{range .Splits}}
<h3>Split <code>{{.Step}}</code></h3>
{{template "arms" .Arms}}
{{end}}
{{with .R.Notes}}
<h2 id="notes">Notes</h2>
<ul>{{range .}}<li>{{.}}</li>{{end}}</ul>
{{end}}
</main>
<footer><p class="note">Method: {{.R.Method}}. The same report as JSON: <code>GET /v1/journeys/{{.R.Journey}}/report</code>, or <code>rapport report {{.R.Journey}} --json</code>.</p></footer>
</body>
</html>
{{define "step"}}<li>
<div class="box{{if .Send}} send{{end}}" id="step-{{.ID}}">
<h3><code>{{.ID}}</code></h3>
<p class="what">{{.Label}}</p>
<dl>
<div><dt>reached</dt><dd class="reached">{{.Reached}}</dd></div>
{{if .Send}}<div><dt>sent</dt><dd class="sent">{{.Sent}}</dd></div>
<div><dt>held</dt><dd class="held">{{.Held}}</dd></div>
<div><dt>skipped</dt><dd class="skipped">{{.SkippedN}}</dd></div>{{end}}
{{if .FailedN}}<div><dt>failed</dt><dd class="failed">{{.FailedN}}</dd></div>{{end}}
{{if .Unknown}}<div><dt>in doubt</dt><dd class="unknown">{{.Unknown}}</dd></div>{{end}}
{{if .Pending}}<div><dt>pending</dt><dd class="pending">{{.Pending}}</dd></div>{{end}}
</dl>
{{with .Skipped}}<p class="note">Skipped: {{range $i, $c := .}}{{if $i}}; {{end}}{{$c.N}} {{$c.Reason}}{{end}}</p>{{end}}
{{with .Failed}}<p class="note">Failed: {{range $i, $c := .}}{{if $i}}; {{end}}{{$c.N}} {{$c.Reason}}{{end}}</p>{{end}}
{{with .Lanes}}<div class="lanes">
{{range .}}<section><h4>{{.Label}}</h4><ol class="lane">{{range .Steps}}{{template "step" .}}{{end}}</ol></section>
{{end}}</div>{{end}}
</div>
</li>
{{end}}
{{define "arms"}}<table class="arms">
<thead><tr><th scope="col">Arm</th><th scope="col">Entrants</th><th scope="col">Conversions</th><th scope="col">Rate (95% interval)</th><th scope="col">Revenue per entrant (95% interval)</th><th scope="col">Lift over control (95% interval)</th><th scope="col">Probability better</th><th scope="col">Verdict</th></tr></thead>
<tbody>
{{range $row := .}}<tr data-arm="{{.Name}}">
<th scope="row">{{.Name}}{{if .Control}} (control){{end}}</th>
<td class="n entrants">{{.Entrants}}</td>
<td class="n conversions">{{.Conversions}}</td>
<td class="n rate">{{pct .Rate.Value}} ({{pct .Rate.Low}} to {{pct .Rate.High}})</td>
<td class="revenue">{{range $i, $r := .Revenue}}{{if $i}}<br>{{end}}{{$r.Currency}} {{money $r.PerEntrant.Value}} ({{money $r.PerEntrant.Low}} to {{money $r.PerEntrant.High}}; total {{$r.Total}}){{else}}none{{end}}</td>
{{with .Lift}}{{if or .Conclusive .MoreEntrants}}<td class="lift">{{points .Absolute}} over {{$row.Versus}}</td><td class="n probability">{{pct .ProbabilityBetter}}</td>{{else}}<td class="lift">–</td><td class="n probability">–</td>{{end}}<td class="verdict">{{.Verdict}}</td>
{{else}}<td class="lift">{{if .Control}}the control{{else}}not compared{{end}}</td><td class="n probability">–</td><td class="verdict">–</td>{{end}}
</tr>
{{end}}</tbody>
</table>
{{end}}`))
