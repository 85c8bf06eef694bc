package inspect

import (
	"cmp"
	"fmt"
	"io"
	"strings"

	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

// Print writes a customer's journeys for a person to read.
func (in Inspection) Print(w io.Writer) {
	running := 0
	for _, r := range in.Runs {
		if r.Status == "running" {
			running++
		}
	}
	fmt.Fprintf(w, "customer %s: %s (%d running)\n", in.CustomerID, plural(len(in.Runs), "journey", "journeys"), running)
	if in.TasksError != "" {
		fmt.Fprintf(w, "tasks unavailable: %s\n", in.TasksError)
	}
	const when = "2006-01-02 15:04 MST"
	for _, r := range in.Runs {
		fmt.Fprintf(w, "\n%s  %s  %s\n", r.Journey, strings.ToUpper(runStatus(r)), r.WorkflowID)
		fmt.Fprintf(w, "  plan %s, started %s", shortHash(r.PlanHash), r.StartedAt.UTC().Format(when))
		if r.ClosedAt != nil {
			fmt.Fprintf(w, ", ended %s", r.ClosedAt.UTC().Format(when))
		}
		fmt.Fprintln(w)
		st := r.State
		if st == nil {
			fmt.Fprintf(w, "  state unavailable: %s\n", r.StateError)
			printTaskActions(w, r.Tasks, nil)
			continue
		}
		if st.Status != "running" {
			fmt.Fprintf(w, "  outcome: %s", st.Status)
			if st.Reason != "" {
				fmt.Fprintf(w, " (%s)", st.Reason)
			}
			switch workflows.RunOutcome(r.Outcome) {
			case workflows.OutcomeNothingDelivered:
				fmt.Fprint(w, "; nothing was delivered")
			case workflows.OutcomePartlyDelivered:
				fmt.Fprint(w, "; some messages were not delivered")
			}
			fmt.Fprintln(w)
		} else if st.CurrentStep != "" {
			fmt.Fprintf(w, "  now at step %s", st.CurrentStep)
			if pw := st.PendingWait; pw != nil {
				fmt.Fprintf(w, "; next wake-up %s", pw.Until.UTC().Format(when))
				if pw.Why != "" {
					fmt.Fprintf(w, " (%s)", pw.Why)
				}
				if pw.ForEvent != "" && pw.Kind != workflows.WaitForTask {
					fmt.Fprintf(w, ", or sooner on an event where %s", pw.ForEvent)
				}
			}
			fmt.Fprintln(w)
		}
		if t := st.OpenTask; t != nil {
			fmt.Fprintf(w, "  open task %s: %s for the %s queue, due %s\n", t.ID, t.Kind, t.Queue, t.DueAt.UTC().Format(when))
		}
		if len(st.Sends) == 0 {
			fmt.Fprintln(w, "  messages: none yet")
		} else {
			fmt.Fprintln(w, "  messages:")
			for _, s := range st.Sends {
				fmt.Fprintf(w, "    %s  %s  %s %s  %s", s.At.UTC().Format("2006-01-02 15:04"), s.Step, s.Channel, s.Template, s.Status.Words())
				if s.Reason != "" {
					fmt.Fprintf(w, ": %s", s.Reason)
				}
				fmt.Fprintln(w)
			}
		}
		if len(st.Notes) > 0 {
			// Branches taken, holds, tasks completed, overdue and
			// escalated, waits ended: the run's own account.
			fmt.Fprintln(w, "  what happened:")
			for i, n := range st.Notes {
				if i == workflows.NotesHead && st.NotesDropped > 0 {
					fmt.Fprintf(w, "    (%d more not kept)\n", st.NotesDropped)
				}
				fmt.Fprintf(w, "    %s\n", n)
			}
		}
		for _, a := range st.Actions {
			kind := a.Kind
			if taskActionKind(kind) {
				kind = "task " + kind
			}
			fmt.Fprintf(w, "  %s by %s at %s, %s", kind, a.By, a.Step, a.At.UTC().Format("2006-01-02 15:04"))
			if a.Reason != "" {
				fmt.Fprintf(w, ": %s", a.Reason)
			}
			fmt.Fprintln(w)
		}
		printTaskActions(w, r.Tasks, st.Actions)
	}
}

// taskActionKind reports whether a run's staff action is one of its
// task's hand-overs (revision 6), which inspect prints as the task's
// actions are printed.
func taskActionKind(kind string) bool {
	switch kind {
	case workflows.HandoverClaim, workflows.HandoverAssign, workflows.HandoverUnclaim, workflows.HandoverNote:
		return true
	}
	return false
}

// printTaskActions writes what staff did to a run's tasks: claims,
// assignments, unclaims and notes, oldest first, but those the run
// recorded itself among its staff actions (printed with them).
func printTaskActions(w io.Writer, tasks []store.Task, recorded []workflows.StaffAction) {
	taken := make([]bool, len(recorded))
	for _, t := range tasks {
		for _, a := range t.Actions {
			if takeRecorded(recorded, taken, t.StepID, a) {
				continue
			}
			fmt.Fprintf(w, "  task %s by %s at %s, %s", a.Kind, a.By, t.StepID, a.At.UTC().Format("2006-01-02 15:04"))
			switch a.Kind {
			case store.TaskClaim:
			case store.TaskAssign:
				fmt.Fprintf(w, ": to %s", a.Assignee)
				if a.From != "" {
					fmt.Fprintf(w, " (from %s)", a.From)
				}
			case store.TaskUnclaim:
				fmt.Fprintf(w, ": from %s", a.From)
			case store.TaskNote:
				fmt.Fprintf(w, ": %s", oneLine(a.Note, 200))
			}
			fmt.Fprintln(w)
		}
	}
}

// takeRecorded finds the run's own record of a task's action (the same
// kind, step and person, as the run keeps a name: one line of at most 80
// characters) not taken yet, and takes it.
func takeRecorded(recorded []workflows.StaffAction, taken []bool, step string, a store.TaskAction) bool {
	for i, r := range recorded {
		if !taken[i] && r.Kind == a.Kind && r.Step == step && r.By == oneLine(a.By, 80) {
			taken[i] = true
			return true
		}
	}
	return false
}

// runStatus is a run's status in Rapport's words: a workflow that
// returned is completed to Temporal, but the run may have exited or
// failed.
func runStatus(r Run) string {
	if r.Status == "completed" && r.State != nil && r.State.Status != "" {
		return r.State.Status
	}
	if r.Status == "completed" && r.Outcome != "" {
		switch workflows.RunOutcome(r.Outcome) {
		case workflows.OutcomeExited, workflows.OutcomeFailed:
			return r.Outcome
		}
	}
	return r.Status
}

// shortHash is a plan hash's first six digits.
func shortHash(h string) string {
	if len(h) > 6 {
		return h[:6]
	}
	return cmp.Or(h, "-")
}

// oneLine shows s on one line, cut to at most n runes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// plural is n and the word for it: one or many.
func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
