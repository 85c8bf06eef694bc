package report

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/money"
	"github.com/rapporthq/rapport/internal/store"
)

// Options select what a report counts.
type Options struct {
	// Since and Until bound when the counted runs entered (zero: no
	// bound; Until defaults to Now).
	Since, Until time.Time
	// Plan counts only the runs of one plan (a hash, or its first digits).
	Plan string
	// Now is the report's time (zero: time.Now()).
	Now time.Time
}

// Report is how a journey does.
type Report struct {
	Journey     string     `json:"journey"`
	Description string     `json:"description,omitempty"`
	Plan        string     `json:"plan,omitempty"`
	Since       *time.Time `json:"since,omitempty"`
	Until       time.Time  `json:"until"`
	// Goal describes the journey's goal ("" when it has none); Holdout is
	// its control group's share in percent.
	Goal    string `json:"goal,omitempty"`
	Holdout int    `json:"holdout,omitempty"`
	Method  string `json:"method"`
	Funnel  Funnel `json:"funnel"`
	// Arms are the groups the goal is measured in: treatment and holdout
	// for a journey with a control group, else all entrants.
	Arms []Arm `json:"arms"`
	// Lift compares treatment with the control group, when there is one.
	Lift *Comparison `json:"lift,omitempty"`
	// Splits are the journey's split steps, each path an arm.
	Splits []Split `json:"splits,omitempty"`
	// Days are entries and conversions per UTC day.
	Days []Day `json:"days"`
	// Notes say what the reader should know: thin data, open windows.
	Notes []string `json:"notes,omitempty"`
}

// Funnel counts runs through the journey.
type Funnel struct {
	Entered   int `json:"entered"`
	HeldOut   int `json:"held_out"`
	Running   int `json:"running"`
	Completed int `json:"completed"`
	Exited    int `json:"exited"`
	Failed    int `json:"failed"`
	Converted int `json:"converted"`
	// OpenWindows are runs not converted whose goal window is still open.
	OpenWindows int `json:"open_windows"`
	// ExitReasons are why runs exited (held out runs apart), most first.
	ExitReasons []Count `json:"exit_reasons,omitempty"`
	Steps       []Step  `json:"steps"`
}

// Count is a number of runs or messages for a reason.
type Count struct {
	Reason string `json:"reason"`
	N      int    `json:"n"`
}

// Step is one step of the funnel, in plan order.
type Step struct {
	ID   string `json:"id"`
	Kind string `json:"kind"`
	// Label says what the step does ("send email thank-you", "wait 7d").
	Label string `json:"label"`
	// Depth is how deep the step sits in branches and splits (0 at the
	// top); Under names the case or path it sits in ("" at the top).
	Depth int    `json:"depth"`
	Under string `json:"under,omitempty"`
	// Reached counts runs that reached the step.
	Reached int `json:"reached"`
	// Messages of a send step, by outcome; Held counts those the contact
	// rules held back for a while (they may have gone since).
	Sent    int     `json:"sent,omitempty"`
	Held    int     `json:"held,omitempty"`
	Unknown int     `json:"unknown,omitempty"`
	Pending int     `json:"pending,omitempty"`
	Skipped []Count `json:"skipped,omitempty"`
	Failed  []Count `json:"failed,omitempty"`
	// Retired is true for a step of an older plan the shown one lacks.
	Retired bool `json:"retired,omitempty"`
}

// Arm is a group of entrants measured on the goal.
type Arm struct {
	Name        string    `json:"name"`
	Entrants    int       `json:"entrants"`
	Conversions int       `json:"conversions"`
	Rate        Estimate  `json:"rate"`
	Revenue     []Revenue `json:"revenue,omitempty"`
	// Control is true for the arm the others are compared with.
	Control bool `json:"control,omitempty"`
}

// Revenue is an arm's attributed revenue in one currency: exact in total,
// and per entrant with a 95% interval (normal approximation over
// entrants, converters' revenue and everyone else's zero).
type Revenue struct {
	Currency   string   `json:"currency"`
	Total      string   `json:"total"`
	PerEntrant Estimate `json:"per_entrant"`
}

// Split is a split step, its paths as arms, each compared with the
// holdout path (or the first path when none holds out).
type Split struct {
	Step        string           `json:"step"`
	Arms        []Arm            `json:"arms"`
	Comparisons []PathComparison `json:"comparisons,omitempty"`
}

// PathComparison compares a split's path with its control path.
type PathComparison struct {
	Path    string     `json:"path"`
	Control string     `json:"control"`
	Lift    Comparison `json:"lift"`
}

// Day counts a UTC day's entries and conversions per arm.
type Day struct {
	Date string   `json:"date"`
	Arms []DayArm `json:"arms"`
}

// DayArm is one arm's day.
type DayArm struct {
	Arm       string `json:"arm"`
	Entered   int    `json:"entered"`
	Converted int    `json:"converted"`
}

// Arm names.
const (
	ArmTreatment = "treatment"
	ArmHoldout   = "holdout"
	// ArmAll is the only arm of a journey without a control group.
	ArmAll = "all entrants"
	// ArmBefore are runs of a journey with a control group entered before
	// it had one: counted in the funnel, not in the comparison.
	ArmBefore = "before the holdout"
)

// Build makes a journey's report from the database. plan is the journey
// as it is now: it orders the funnel's steps and gives the goal (steps
// only older plans had are listed after, as retired).
func Build(ctx context.Context, st *store.Store, plan *journey.Plan, o Options) (*Report, error) {
	now := cmp.Or(o.Now, time.Now()).UTC()
	until := cmp.Or(o.Until, now)
	q := store.ReportQuery{Journey: plan.Journey, Since: o.Since, Until: until, Plan: o.Plan}
	r := &Report{Journey: plan.Journey, Description: plan.Description, Plan: o.Plan, Until: until, Holdout: plan.Holdout, Method: Method}
	if !o.Since.IsZero() {
		since := o.Since.UTC()
		r.Since = &since
	}
	if plan.Goal != nil {
		r.Goal = plan.Goal.Describe()
	}

	runs, err := st.ReportRuns(ctx, q)
	if err != nil {
		return nil, err
	}
	convs, err := st.ReportConversions(ctx, q)
	if err != nil {
		return nil, err
	}
	steps, err := st.ReportSteps(ctx, q)
	if err != nil {
		return nil, err
	}
	msgs, err := st.ReportMessages(ctx, q)
	if err != nil {
		return nil, err
	}
	splits, err := st.ReportSplits(ctx, q)
	if err != nil {
		return nil, err
	}
	days, err := st.ReportDays(ctx, q)
	if err != nil {
		return nil, err
	}
	if r.Funnel.OpenWindows, err = st.ReportOpenWindows(ctx, q, now); err != nil {
		return nil, err
	}

	r.funnel(runs, convs)
	r.Funnel.Steps = funnelSteps(plan, steps, msgs)
	r.arms(plan, runs, convs)
	r.Splits = splitArms(splits)
	r.Days = dayArms(days, r.armName)
	r.notes(plan)
	return r, nil
}

func (r *Report) funnel(runs []store.RunTally, convs []store.ConversionTally) {
	exits := map[string]int{}
	for _, t := range runs {
		r.Funnel.Entered += t.Runs
		switch {
		case t.Arm == store.ArmHoldout:
			r.Funnel.HeldOut += t.Runs
		case t.Status == store.RunRunning:
			r.Funnel.Running += t.Runs
		case t.Status == store.RunCompleted:
			r.Funnel.Completed += t.Runs
		case t.Status == store.RunFailed:
			r.Funnel.Failed += t.Runs
		default:
			r.Funnel.Exited += t.Runs
			exits[Reason(t.Outcome)] += t.Runs
		}
	}
	for _, c := range convs {
		r.Funnel.Converted += c.Conversions
	}
	r.Funnel.ExitReasons = counts(exits)
}

// armName names a registry arm for the report.
func (r *Report) armName(arm string) string {
	switch {
	case arm == store.ArmHoldout:
		return ArmHoldout
	case arm == store.ArmTreatment:
		return ArmTreatment
	case r.Holdout > 0:
		return ArmBefore
	}
	return ArmAll
}

func (r *Report) arms(plan *journey.Plan, runs []store.RunTally, convs []store.ConversionTally) {
	byName := map[string]*Arm{}
	arm := func(name string) *Arm {
		if a, ok := byName[name]; ok {
			return a
		}
		a := &Arm{Name: name}
		byName[name] = a
		return a
	}
	if plan.Holdout > 0 {
		arm(ArmTreatment)
		arm(ArmHoldout).Control = true
	} else {
		arm(ArmAll)
	}
	for _, t := range runs {
		arm(r.armName(t.Arm)).Entrants += t.Runs
	}
	revenue := map[string][]store.ConversionTally{}
	for _, c := range convs {
		name := r.armName(c.Arm)
		arm(name).Conversions += c.Conversions
		if c.Currency != "" {
			revenue[name] = append(revenue[name], c)
		}
	}
	for _, name := range []string{ArmTreatment, ArmHoldout, ArmAll, ArmBefore} {
		a, ok := byName[name]
		if !ok {
			continue
		}
		a.Rate = RateEstimate(a.Conversions, a.Entrants)
		for _, c := range revenue[name] {
			a.Revenue = append(a.Revenue, revenueOf(c.Currency, total(c.Revenue, c.Currency), c.Revenue.Float64(), c.SumSquares, a.Entrants))
		}
		r.Arms = append(r.Arms, *a)
	}
	if plan.Holdout > 0 {
		t, c := byName[ArmTreatment], byName[ArmHoldout]
		lift := Compare(t.Conversions, t.Entrants, c.Conversions, c.Entrants)
		r.Lift = &lift
	}
}

// revenueOf is an arm's revenue in a currency, per entrant with a 95%
// interval by the t distribution over n entrants (sum and sum of squares
// of the converters' revenue; everyone else's is zero).
func revenueOf(currency, total string, sum, sumSquares float64, n int) Revenue {
	rev := Revenue{Currency: currency, Total: total}
	if n == 0 {
		return rev
	}
	mean := sum / float64(n)
	rev.PerEntrant = Estimate{Value: mean, Low: mean, High: mean}
	if n < 2 {
		return rev
	}
	variance := math.Max(0, (sumSquares-float64(n)*mean*mean)/float64(n-1))
	half := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(n - 1)}.Quantile(1-(1-Credibility)/2) * math.Sqrt(variance/float64(n))
	rev.PerEntrant.Low, rev.PerEntrant.High = math.Max(0, mean-half), mean+half
	return rev
}

// total writes an exact total with its currency's places (0.00 EUR, not 0).
func total(a money.Amount, currency string) string {
	return a.WithScale(max(a.Scale(), money.Exponent(currency))).String()
}

// funnelSteps lists the plan's steps in order with what runs did at
// each, then steps runs reached that the plan no longer has.
func funnelSteps(plan *journey.Plan, reached []store.StepTally, msgs []store.MessageTally) []Step {
	var out []Step
	var walk func(steps []journey.Step, depth int, under string)
	walk = func(steps []journey.Step, depth int, under string) {
		for _, s := range steps {
			out = append(out, Step{ID: s.ID, Kind: string(s.Kind), Label: label(s), Depth: depth, Under: under})
			switch {
			case s.Branch != nil:
				for _, c := range s.Branch.Cases {
					walk(c.Steps, depth+1, "when "+c.When)
				}
				walk(s.Branch.Otherwise, depth+1, "otherwise")
			case s.Split != nil:
				for _, p := range s.Split.Paths {
					walk(p.Steps, depth+1, "path "+p.Name)
				}
			}
		}
	}
	walk(plan.Steps, 0, "")
	index := map[string]int{}
	for i, s := range out {
		index[s.ID] = i
	}
	at := func(id string) *Step {
		i, ok := index[id]
		if !ok {
			out = append(out, Step{ID: id, Label: "a step of an older plan", Retired: true})
			i = len(out) - 1
			index[id] = i
		}
		return &out[i]
	}
	for _, t := range reached {
		at(t.Step).Reached = t.Runs
	}
	skipped, failed := map[string]map[string]int{}, map[string]map[string]int{}
	add := func(m map[string]map[string]int, step, reason string, n int) {
		if m[step] == nil {
			m[step] = map[string]int{}
		}
		m[step][Reason(reason)] += n
	}
	for _, m := range msgs {
		s := at(m.Step)
		s.Held += m.Held
		switch m.Status {
		case "sent":
			s.Sent += m.Messages
		case "unknown":
			s.Unknown += m.Messages
		case "skipped":
			add(skipped, m.Step, m.Reason, m.Messages)
		case "failed":
			add(failed, m.Step, m.Reason, m.Messages)
		default: // pending, held, sending: not settled yet
			s.Pending += m.Messages
		}
	}
	for i := range out {
		out[i].Skipped = counts(skipped[out[i].ID])
		out[i].Failed = counts(failed[out[i].ID])
	}
	return out
}

// label says what a step does in a few words.
func label(s journey.Step) string {
	switch {
	case s.Send != nil:
		chans := make([]string, len(s.Send.Channels))
		for i, c := range s.Send.Channels {
			chans[i] = string(c)
		}
		return fmt.Sprintf("send %s %s", strings.Join(chans, " or "), s.Send.Template)
	case s.Wait != nil && s.Wait.UntilEvent != "":
		return fmt.Sprintf("wait for %s (at most %s)", s.Wait.UntilEvent, s.Wait.Timeout)
	case s.Wait != nil && s.Wait.Until != "":
		return "wait until " + s.Wait.Until
	case s.Wait != nil:
		return "wait " + s.Wait.For.String()
	case s.Task != nil:
		return fmt.Sprintf("task %s for %s", s.Task.Kind, s.Task.Queue)
	case s.Exit != nil:
		return "exit: " + cmp.Or(s.Exit.Reason, "end")
	case s.Record != nil:
		return "record " + cmp.Or(s.Record.Survey, "the answer")
	case s.Emit != nil:
		return "emit " + s.Emit.Event
	}
	return string(s.Kind)
}

func splitArms(tallies []store.SplitTally) []Split {
	type path struct {
		arm     Arm
		revenue []store.SplitTally // per currency
	}
	byStep := map[string]map[string]*path{}
	var order []string
	control := map[string]string{} // the holdout path, else the first
	for _, t := range tallies {
		paths, ok := byStep[t.Step]
		if !ok {
			paths = map[string]*path{}
			byStep[t.Step] = paths
			order = append(order, t.Step)
		}
		p, ok := paths[t.Path]
		if !ok {
			p = &path{arm: Arm{Name: t.Path}}
			paths[t.Path] = p
		}
		if t.Holdout || control[t.Step] == "" {
			control[t.Step] = t.Path
		}
		p.arm.Entrants += t.Runs
		p.arm.Conversions += t.Conversions
		if t.Currency != "" {
			p.revenue = append(p.revenue, t)
		}
	}
	var out []Split
	for _, step := range order {
		sp := Split{Step: step}
		names := slices.Sorted(maps.Keys(byStep[step]))
		for _, name := range names {
			p := byStep[step][name]
			p.arm.Rate = RateEstimate(p.arm.Conversions, p.arm.Entrants)
			p.arm.Control = name == control[step]
			for _, t := range p.revenue {
				p.arm.Revenue = append(p.arm.Revenue, revenueOf(t.Currency, total(t.Revenue, t.Currency), t.Revenue.Float64(), t.SumSquares, p.arm.Entrants))
			}
			sp.Arms = append(sp.Arms, p.arm)
		}
		c := byStep[step][control[step]].arm
		for _, name := range names {
			if name == control[step] {
				continue
			}
			a := byStep[step][name].arm
			sp.Comparisons = append(sp.Comparisons, PathComparison{Path: name, Control: control[step],
				Lift: Compare(a.Conversions, a.Entrants, c.Conversions, c.Entrants)})
		}
		out = append(out, sp)
	}
	return out
}

func dayArms(tallies []store.DayTally, name func(string) string) []Day {
	out := []Day{}
	for _, t := range tallies {
		date := t.Day.Format(time.DateOnly)
		if len(out) == 0 || out[len(out)-1].Date != date {
			out = append(out, Day{Date: date})
		}
		d := &out[len(out)-1]
		arm := name(t.Arm)
		i := slices.IndexFunc(d.Arms, func(a DayArm) bool { return a.Arm == arm })
		if i < 0 {
			d.Arms = append(d.Arms, DayArm{Arm: arm})
			i = len(d.Arms) - 1
		}
		d.Arms[i].Entered += t.Entered
		d.Arms[i].Converted += t.Conversions
	}
	return out
}

func (r *Report) notes(plan *journey.Plan) {
	if plan.Goal == nil {
		r.Notes = append(r.Notes, "the journey has no goal: add one (goal: {when: ..., within: ...}) to count conversions")
	}
	if n := r.Funnel.OpenWindows; n == 1 {
		r.Notes = append(r.Notes, "1 entrant is still inside their goal window: their conversion may yet come (in every arm alike)")
	} else if n > 1 {
		r.Notes = append(r.Notes, fmt.Sprintf("%d entrants are still inside their goal window: their conversions may yet come (in every arm alike)", n))
	}
	if r.Lift != nil && !r.Lift.Conclusive && r.Lift.MoreEntrants > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("%s: about %d more entrants would be needed (at a %d%% holdout) for the lift's interval to exclude zero, if the rates stay as they are",
			r.Lift.Verdict, r.Lift.MoreEntrants, plan.Holdout))
	}
	for _, a := range r.Arms {
		if a.Name == ArmBefore && a.Entrants > 0 {
			r.Notes = append(r.Notes, fmt.Sprintf("%d entrants came before the journey had a control group: in the funnel, not in the comparison", a.Entrants))
		}
	}
}

var (
	eventIDRe = regexp.MustCompile(`\bevent \S+`)
	parenRe   = regexp.MustCompile(`\s*\([^()]*\)`)
)

// Reason makes an exit or skip reason countable: the ids of events and
// the details in brackets go ("exit_when matched order.placed event
// evt-1" counts with every other purchase).
func Reason(s string) string {
	s = eventIDRe.ReplaceAllString(s, "event")
	s = parenRe.ReplaceAllString(s, "")
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 120 {
		s = string(r[:119]) + "…"
	}
	return cmp.Or(s, "no reason given")
}

// counts lists reasons, most runs first.
func counts(m map[string]int) []Count {
	out := make([]Count, 0, len(m))
	for reason, n := range m {
		out = append(out, Count{Reason: reason, N: n})
	}
	slices.SortFunc(out, func(a, b Count) int { return cmp.Or(cmp.Compare(b.N, a.N), cmp.Compare(a.Reason, b.Reason)) })
	if len(out) == 0 {
		return nil
	}
	return out
}
