package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

// runView is one journey run of a customer, as `rapport inspect` shows it.
type runView struct {
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
	Journey    string `json:"journey"`
	PlanHash   string `json:"plan_hash"`
	Status     string `json:"status"` // the workflow's: running, completed, ...
	// Outcome is the RapportOutcome search attribute of an ended run:
	// completed, partly_delivered, nothing_delivered, exited, failed.
	Outcome   string     `json:"outcome,omitempty"`
	StartedAt time.Time  `json:"started_at"`
	ClosedAt  *time.Time `json:"closed_at,omitempty"`
	// State is the run's answer to the state query; StateError says why
	// there is none (no worker to answer, say).
	State      *workflows.State `json:"state,omitempty"`
	StateError string           `json:"state_error,omitempty"`
	// Tasks are the run's staff tasks with what staff did to them
	// (claims, assignments, unclaims, notes), from the database when
	// DATABASE_URL names it.
	Tasks []store.Task `json:"tasks,omitempty"`
}

// inspection is a customer's journeys.
type inspection struct {
	CustomerID string    `json:"customer_id"`
	Runs       []runView `json:"runs"`
	// TasksError says why the runs' tasks could not be read.
	TasksError string `json:"tasks_error,omitempty"`
}

func newInspectCmd() *cobra.Command {
	var asJSON bool
	var limit int
	var tf *temporalFlags
	cmd := &cobra.Command{
		Use:   "inspect CUSTOMER",
		Short: "Show a customer's journeys: where each stands, what it sent or held back and why",
		Long: `Inspect lists a customer's journeys, running and finished, found in
Temporal by the RapportCustomerId search attribute: for each, the step it
is at, its next wake-up and why, every message sent or held back with the
reason, open tasks and what staff did. Running journeys come first.
--json prints the same for scripts.

Configured by TEMPORAL_* (and RAPPORT_CODEC_KEYS when payloads are
encrypted). Finished journeys are read by replaying them on a worker, so a
worker must be running.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit < 1 {
				return fmt.Errorf("--limit must be 1 or more, not %d", limit)
			}
			if !workflows.ValidIDPart(args[0]) {
				return fmt.Errorf("%q is not a customer id (1-128 letters, digits, _ . : -)", args[0])
			}
			c, _, cfg, err := dialFromEnv(cmd.Context(), tf)
			if err != nil {
				return err
			}
			defer c.Close()
			in, err := inspectCustomer(cmd.Context(), c, cfg.Temporal.Namespace, args[0], limit)
			if err != nil {
				return err
			}
			if cfg.DatabaseURL != "" {
				if st, err := store.Open(cmd.Context(), cfg.DatabaseURL); err != nil {
					in.TasksError = err.Error()
				} else {
					attachTasks(cmd.Context(), st, &in)
					st.Close()
				}
			}
			if asJSON {
				return printJSON(cmd, in)
			}
			printInspection(cmd.OutOrStdout(), in)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().IntVar(&limit, "limit", 50, "show at most this many journeys")
	tf = addTemporalFlags(cmd)
	return cmd
}

// inspectCustomer finds a customer's runs by RapportCustomerId and asks
// each for its state.
func inspectCustomer(ctx context.Context, c client.Client, namespace, customerID string, limit int) (inspection, error) {
	in := inspection{CustomerID: customerID, Runs: []runView{}}
	query := fmt.Sprintf("%s = '%s'", workflows.CustomerIDAttr.GetName(), customerID) // a valid id holds no quote
	var token []byte
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: namespace, Query: query, NextPageToken: token, PageSize: int32(min(limit, 1000)),
		})
		if err != nil {
			return in, fmt.Errorf("find the journeys of %s in Temporal: %w", customerID, err)
		}
		for _, e := range resp.GetExecutions() {
			v := runView{
				WorkflowID: e.GetExecution().GetWorkflowId(),
				RunID:      e.GetExecution().GetRunId(),
				Status:     strings.ToLower(strings.TrimPrefix(e.GetStatus().String(), "WORKFLOW_EXECUTION_STATUS_")),
				StartedAt:  e.GetStartTime().AsTime(),
				Journey:    keyword(e.GetSearchAttributes(), workflows.JourneyAttr.GetName()),
				PlanHash:   keyword(e.GetSearchAttributes(), workflows.PlanHashAttr.GetName()),
				Outcome:    keyword(e.GetSearchAttributes(), workflows.OutcomeAttr.GetName()),
			}
			if e.GetCloseTime() != nil && e.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
				t := e.GetCloseTime().AsTime()
				v.ClosedAt = &t
			}
			in.Runs = append(in.Runs, v)
		}
		token = resp.GetNextPageToken()
		if len(token) == 0 || len(in.Runs) >= limit {
			break
		}
	}
	slices.SortStableFunc(in.Runs, func(a, b runView) int {
		if ar, br := a.Status == "running", b.Status == "running"; ar != br {
			if ar {
				return -1
			}
			return 1
		}
		return b.StartedAt.Compare(a.StartedAt)
	})
	if len(in.Runs) > limit {
		in.Runs = in.Runs[:limit]
	}
	for i := range in.Runs {
		v := &in.Runs[i]
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		resp, err := c.QueryWorkflow(qctx, v.WorkflowID, v.RunID, workflows.StateQuery)
		if err == nil {
			var st workflows.State
			if err = resp.Get(&st); err == nil {
				v.State = &st
				v.Journey, v.PlanHash = cmp.Or(v.Journey, st.Journey), cmp.Or(v.PlanHash, st.PlanHash)
			}
		}
		cancel()
		if err != nil {
			v.StateError = queryProblem(err)
		}
	}
	return in, nil
}

// attachTasks adds to each run its staff tasks, with what staff did to
// them, from the database.
func attachTasks(ctx context.Context, st *store.Store, in *inspection) {
	tasks, err := st.ListTasks(ctx, store.TaskFilter{CustomerID: in.CustomerID, Statuses: []string{
		store.TaskOpen, store.TaskClaimed, store.TaskCompleted, store.TaskOverdue, store.TaskCancelled}, Limit: 1000})
	if err != nil {
		in.TasksError = err.Error()
		return
	}
	for i := range in.Runs {
		for _, t := range tasks {
			if t.WorkflowID == in.Runs[i].WorkflowID {
				in.Runs[i].Tasks = append(in.Runs[i].Tasks, t)
			}
		}
	}
}

// queryProblem says why a run's state could not be read.
func queryProblem(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "no answer within 10s: is a worker running?"
	}
	return err.Error()
}

// keyword reads a keyword search attribute from a visibility record.
func keyword(sa *commonpb.SearchAttributes, name string) string {
	p, ok := sa.GetIndexedFields()[name]
	if !ok {
		return ""
	}
	var s string
	if err := converter.GetDefaultDataConverter().FromPayload(p, &s); err != nil {
		return ""
	}
	return s
}

// printInspection writes a customer's journeys for a person to read.
func printInspection(w io.Writer, in inspection) {
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
func runStatus(r runView) string {
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

func shortHash(h string) string {
	if len(h) > 6 {
		return h[:6]
	}
	return cmp.Or(h, "-")
}
