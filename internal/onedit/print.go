package onedit

import (
	"fmt"
	"io"
)

// Print writes what became of the runs, for people (rapport runs move).
func (rep Report) Print(w io.Writer) {
	if len(rep.Journeys) == 0 {
		fmt.Fprintln(w, "no journey says on_edit: restart-at-step; runs in flight keep their plans")
		return
	}
	for _, j := range rep.Journeys {
		total := j.Moved + j.AtNextWait + j.Kept + j.Ended + j.Failed
		if total == 0 {
			fmt.Fprintf(w, "%s: every run in flight is on plan %s\n", j.Journey, j.Plan[:min(7, len(j.Plan))])
			continue
		}
		fmt.Fprintf(w, "%s: to plan %s: %d moved, %d move at their next wait, %d keep their plan, %d had ended, %d not reached\n",
			j.Journey, j.Plan[:min(7, len(j.Plan))], j.Moved, j.AtNextWait, j.Kept, j.Ended, j.Failed)
		for _, r := range j.Reasons {
			fmt.Fprintf(w, "  %s kept: %s\n", plural(r.Runs, "run", "runs"), r.Reason)
		}
		if j.FirstError != "" {
			fmt.Fprintf(w, "  not reached (try again): %s\n", j.FirstError)
		}
	}
}

// plural is n and the word for it: one or many.
func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
