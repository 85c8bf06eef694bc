package schedules

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

// Print says what a sync did, for people: the schedules created, updated,
// left and deleted, and which journeys own them now.
func (o Owned) Print(out io.Writer) {
	rep := o.Audience
	for _, l := range []struct {
		what string
		ids  []string
	}{{"created", rep.Created}, {"updated", rep.Updated}, {"unchanged", rep.Unchanged}, {"deleted", rep.Deleted}} {
		if len(l.ids) > 0 {
			fmt.Fprintf(out, "%-9s %s\n", l.what, strings.Join(l.ids, ", "))
		}
	}
	if len(rep.Created)+len(rep.Updated)+len(rep.Unchanged)+len(rep.Deleted) == 0 {
		fmt.Fprintln(out, "no journey has trigger.schedule; nothing to do")
	}
	fmt.Fprintf(out, "journeys %s are the newest now: workers of other journeys leave the schedules alone\n", o.Catalog)
	if o.TookOver != "" {
		fmt.Fprintf(out, "they took the schedules over from journeys %s, the newest since %s UTC\n",
			o.TookOver, o.TookOverSince.UTC().Format("2006-01-02 15:04"))
	}
}

// PrintStatuses prints the schedules as a table, then a sentence for each
// run older than its period (rapport schedules list).
func PrintStatuses(out io.Writer, sts []Status, now time.Time) {
	if len(sts) == 0 {
		fmt.Fprintln(out, "no schedules: no journey has trigger.schedule or trigger.date, and retention is off")
		return
	}
	at := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format("2006-01-02 15:04")
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCHEDULE\tNEXT (UTC)\tLAST RUN (UTC)\tRUNNING\tWAITING\tSKIPPED")
	for _, s := range sts {
		next := at(s.Next)
		if s.Paused {
			next = "paused"
		}
		last := "-"
		if s.Last != nil {
			last = strings.TrimSpace(at(s.Last.Scheduled) + " " + s.Last.Status)
		}
		running := "-"
		if len(s.Running) > 0 {
			var rs []string
			for _, r := range s.Running {
				what := "since " + at(r.Scheduled)
				if !r.OverdueSince.IsZero() {
					what += " OLDER THAN ITS PERIOD"
				}
				rs = append(rs, what)
			}
			running = strings.Join(rs, "; ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\n", s.ID, next, last, running, s.Waiting, s.Skipped)
	}
	tw.Flush()
	for _, s := range sts {
		r, ok := s.Overdue()
		if !ok {
			continue
		}
		meanwhile := "the run due meanwhile waits for it"
		if s.Waiting == 0 {
			meanwhile = "no run waits for it"
		}
		fmt.Fprintf(out, "\n%s: the run of %s UTC (%s) is older than its period: the schedule's next time, %s UTC, passed %s ago, and %s. A stretch that keeps failing gives up after %s; look at the run in the Temporal UI.\n",
			s.ID, at(r.Scheduled), r.WorkflowID, at(r.OverdueSince), now.Sub(r.OverdueSince).Round(time.Minute), meanwhile, workflows.AudienceStretchBudget)
	}
}

// PrintCatalogs says which journeys own the schedules, and which older
// journeys started a worker in the last day (and so left them alone).
func PrintCatalogs(out io.Writer, cats []store.JourneyCatalog, now time.Time) {
	if len(cats) == 0 {
		return
	}
	newest := cats[0]
	how := "first seen " + newest.FirstSeen.UTC().Format("2006-01-02 15:04") + " UTC"
	if !newest.ClaimedAt.IsZero() {
		how = "synced by rapport schedules sync " + newest.ClaimedAt.UTC().Format("2006-01-02 15:04") + " UTC"
	}
	fmt.Fprintf(out, "\njourneys %s (%d) own the schedules: %s\n", newest.Hash, len(newest.Plans), how)
	for _, c := range cats[1:] {
		if now.Sub(c.LastSeen) > 24*time.Hour {
			continue
		}
		fmt.Fprintf(out, "older journeys %s (%d) started a worker %s ago, which left the schedules alone (a rollback, or an old pod restarting)\n",
			c.Hash, len(c.Plans), now.Sub(c.LastSeen).Round(time.Second))
	}
}
