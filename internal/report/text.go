package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/rapporthq/rapport/internal/journey"
)

// Print writes the report for people to read.
func (r *Report) Print(w io.Writer) {
	scope := "every run"
	if r.Since != nil {
		scope = "runs entered since " + r.Since.Format("2 Jan 2006 15:04 MST")
	}
	if r.Plan != "" {
		scope += " of plan " + r.Plan
	}
	fmt.Fprintf(w, "%s: %s, until %s\n", r.Journey, scope, r.Until.Format("2 Jan 2006 15:04 MST"))
	if r.Goal != "" {
		fmt.Fprintln(w, r.Goal)
	}
	if r.Holdout > 0 {
		fmt.Fprintf(w, "control group: %d%% of entrants held out\n", r.Holdout)
	}

	f := r.Funnel
	fmt.Fprintln(w, "\nfunnel")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  entered\t%d\t%s\n", f.Entered, parens(f.HeldOut, "held out"))
	fmt.Fprintf(tw, "  running\t%d\t\n", f.Running)
	fmt.Fprintf(tw, "  completed\t%d\t\n", f.Completed)
	fmt.Fprintf(tw, "  exited\t%d\t%s\n", f.Exited, reasons(f.ExitReasons))
	if f.Failed > 0 {
		fmt.Fprintf(tw, "  failed\t%d\t\n", f.Failed)
	}
	fmt.Fprintf(tw, "  converted\t%d\t%s\n", f.Converted, parens(f.OpenWindows, "still inside their goal window"))
	tw.Flush()

	fmt.Fprintln(w, "\nsteps")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  step\twhat\treached\tsent\theld\tskipped, failed")
	for _, s := range f.Steps {
		what := s.Label
		if s.Retired {
			what += " (retired)"
		}
		sent, held := "", ""
		if s.Kind == string(journey.KindSend) || s.Sent+s.Held+s.Unknown > 0 {
			sent, held = fmt.Sprint(s.Sent), fmt.Sprint(s.Held)
			if s.Unknown > 0 {
				sent += fmt.Sprintf(" (+%d in doubt)", s.Unknown)
			}
		}
		fmt.Fprintf(tw, "  %s%s\t%s\t%d\t%s\t%s\t%s\n", strings.Repeat("  ", s.Depth), s.ID, what, s.Reached, sent, held,
			notSent(s.Skipped, s.Failed))
	}
	tw.Flush()

	if len(r.Arms) > 0 {
		fmt.Fprintln(w, "\narms (95% intervals)")
		printArms(w, r.Arms)
	}
	if r.Lift != nil {
		fmt.Fprintf(w, "lift of treatment over holdout: %s\n", r.Lift.Words())
	}
	for _, sp := range r.Splits {
		fmt.Fprintf(w, "\nsplit %s\n", sp.Step)
		printArms(w, sp.Arms)
		for _, c := range sp.Comparisons {
			fmt.Fprintf(w, "  %s over %s: %s\n", c.Path, c.Control, c.Lift.Words())
		}
	}
	if len(r.Notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range r.Notes {
			fmt.Fprintln(w, "note:", n)
		}
	}
	fmt.Fprintln(w, "\nmethod:", r.Method)
}

// printArms writes arms as a table.
func printArms(w io.Writer, arms []Arm) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  arm\tentrants\tconverted\trate\trevenue per entrant")
	for _, a := range arms {
		name := a.Name
		if a.Control {
			name += " (control)"
		}
		var revs []string
		for _, rev := range a.Revenue {
			revs = append(revs, fmt.Sprintf("%s %.2f (%.2f to %.2f; total %s)", rev.Currency, rev.PerEntrant.Value, rev.PerEntrant.Low, rev.PerEntrant.High, rev.Total))
		}
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%s (%s to %s)\t%s\n", name, a.Entrants, a.Conversions,
			percent(a.Rate.Value), percent(a.Rate.Low), percent(a.Rate.High), strings.Join(revs, ", "))
	}
	tw.Flush()
}

// Words says the comparison in words: the figures, unless an arm has no
// entrants yet (they would mean nothing), then the verdict.
func (c Comparison) Words() string {
	if c.MoreEntrants == 0 && !c.Conclusive {
		return c.Verdict
	}
	return fmt.Sprintf("%s, %s likely better; %s", points(c.Absolute), percent(c.ProbabilityBetter), c.Verdict)
}

// parens is "(n what)", or nothing when n is 0.
func parens(n int, what string) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("(%d %s)", n, what)
}

// notSent writes a step's skipped and failed messages by reason, the
// failures marked as such.
func notSent(skipped, failed []Count) string {
	var parts []string
	if len(skipped) > 0 {
		parts = append(parts, reasons(skipped))
	}
	if len(failed) > 0 {
		parts = append(parts, "failed: "+reasons(failed))
	}
	return strings.Join(parts, "; ")
}

// reasons writes counts by reason.
func reasons(cs []Count) string {
	var parts []string
	for _, c := range cs {
		parts = append(parts, fmt.Sprintf("%d %s", c.N, c.Reason))
	}
	return strings.Join(parts, "; ")
}

// percent writes a rate as a percentage.
func percent(v float64) string { return fmt.Sprintf("%.1f%%", 100*v) }

// points writes a lift in percentage points with its interval.
func points(e Estimate) string {
	return fmt.Sprintf("%+.1f points (%+.1f to %+.1f)", 100*e.Value, 100*e.Low, 100*e.High)
}

// Summary sums the report up in a line: entered, completed, exited and
// converted, and the lift over the control group.
func (r *Report) Summary() string {
	f := r.Funnel
	line := fmt.Sprintf("entered %d", f.Entered)
	if f.HeldOut > 0 {
		line += fmt.Sprintf(" (%d held out)", f.HeldOut)
	}
	line += fmt.Sprintf(", completed %d, exited %d, converted %d", f.Completed, f.Exited, f.Converted)
	if r.Lift != nil {
		line += "; lift " + r.Lift.Words()
	}
	return line
}
