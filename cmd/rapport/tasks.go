package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rapporthq/rapport/internal/api/wire"
	"github.com/spf13/cobra"
)

func newTasksCmd() *cobra.Command {
	var base apiTarget
	cmd := &cobra.Command{
		Use:   "tasks",
		Short: "List, claim, hand over, note and complete the tasks journeys give staff",
		Long: `Journeys give staff tasks, such as calling a customer who has not ordered
for a while. These commands talk to the Rapport API (RAPPORT_API_URL).

The task keeps every claim, assignment, unclaim and note, with who did
it. Each also goes to the task's journey run, which keeps it among its
staff actions (rapport inspect, the Temporal UI); claim, assign, unclaim
and note say on a second line whether the run recorded it, and why not
(a run that has ended or started before runs recorded them, say): the
task has changed either way.`,
	}
	addAPIFlag(cmd, &base)

	var queue, status, customer string
	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List tasks still to do (or --status)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{}
			for k, v := range map[string]string{"queue": queue, "status": status, "customer_id": customer} {
				if v != "" {
					q.Set(k, v)
				}
			}
			var out wire.TaskList
			if _, err := newAPIClient(base).do(cmd.Context(), "GET", "/v1/tasks", q, nil, &out); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd, out)
			}
			if len(out.Tasks) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no tasks")
				return nil
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tQUEUE\tKIND\tCUSTOMER\tDUE\tSTATUS\tBRIEF")
			for _, t := range out.Tasks {
				who := t.Status
				if t.Assignee != "" {
					who += " by " + t.Assignee
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Queue, t.Kind, t.CustomerID, due(t.DueAt), who, oneLine(t.Brief, 60))
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&queue, "queue", "", "only this queue")
	list.Flags().StringVar(&status, "status", "", "open, claimed, completed, overdue, cancelled (comma-separated) or all")
	list.Flags().StringVar(&customer, "customer", "", "only this customer's tasks")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show a task with what staff need to act: contact details, orders, messages sent",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var t wire.Task
			if _, err := newAPIClient(base).do(cmd.Context(), "GET", "/v1/tasks/"+url.PathEscape(args[0]), nil, nil, &t); err != nil {
				return err
			}
			return printJSON(cmd, t)
		},
	}

	var assignee string
	claim := &cobra.Command{
		Use:   "claim ID",
		Short: "Take a task",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var t wire.TaskChange
			if _, err := newAPIClient(base).do(cmd.Context(), "POST", "/v1/tasks/"+url.PathEscape(args[0])+"/claim", nil, wire.ClaimRequest{Assignee: assignee}, &t); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "task %s is yours, %s (due %s)\n", t.ID, t.Assignee, due(t.DueAt))
			printRunRecord(cmd.OutOrStdout(), t)
			return nil
		},
	}
	claim.Flags().StringVar(&assignee, "as", os.Getenv("USER"), "who takes the task")

	var outcome, notes string
	complete := &cobra.Command{
		Use:   "complete ID",
		Short: "Report a task's outcome; the journey goes on from there",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var t wire.Task
			body := wire.CompleteRequest{Outcome: outcome, Notes: notes, By: assignee}
			if _, err := newAPIClient(base).do(cmd.Context(), "POST", "/v1/tasks/"+url.PathEscape(args[0])+"/complete", nil, body, &t); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "task %s completed: %s\n", t.ID, t.Outcome)
			return nil
		},
	}
	complete.Flags().StringVar(&outcome, "outcome", "", "what happened (one of the task's outcomes)")
	complete.Flags().StringVar(&notes, "notes", "", "notes for the record")
	complete.Flags().StringVar(&assignee, "as", os.Getenv("USER"), "who did the task")
	_ = complete.MarkFlagRequired("outcome")

	var by string
	assign := &cobra.Command{
		Use:   "assign ID PERSON",
		Short: "Give a task to a person, also one someone else has claimed",
		Long: `Assign gives a task to PERSON, whoever holds it now: an explicit hand-over,
kept with the task with who made it (--by, and the API key's name).`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var t wire.TaskChange
			body := wire.AssignRequest{Assignee: args[1], By: by}
			if _, err := newAPIClient(base).do(cmd.Context(), "POST", "/v1/tasks/"+url.PathEscape(args[0])+"/assign", nil, body, &t); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "task %s is %s's now (due %s)\n", t.ID, t.Assignee, due(t.DueAt))
			printRunRecord(cmd.OutOrStdout(), t)
			return nil
		},
	}
	assign.Flags().StringVar(&by, "by", os.Getenv("USER"), "who assigns the task")

	unclaim := &cobra.Command{
		Use:   "unclaim ID",
		Short: "Put a task back in its queue for anyone to claim",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var t wire.TaskChange
			if _, err := newAPIClient(base).do(cmd.Context(), "POST", "/v1/tasks/"+url.PathEscape(args[0])+"/unclaim", nil, wire.UnclaimRequest{By: by}, &t); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "task %s is back in the %s queue\n", t.ID, t.Queue)
			printRunRecord(cmd.OutOrStdout(), t)
			return nil
		},
	}
	unclaim.Flags().StringVar(&by, "by", os.Getenv("USER"), "who puts the task back")

	note := &cobra.Command{
		Use:   "note ID TEXT",
		Short: "Add a note to a task for whoever works on it next",
		Long: `Note keeps TEXT (at most 2,000 characters) with the task, with who wrote
it: tasks show lists the notes.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var t wire.TaskChange
			if _, err := newAPIClient(base).do(cmd.Context(), "POST", "/v1/tasks/"+url.PathEscape(args[0])+"/notes", nil, wire.NoteRequest{Note: args[1], By: by}, &t); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "noted on task %s\n", t.ID)
			printRunRecord(cmd.OutOrStdout(), t)
			return nil
		},
	}
	note.Flags().StringVar(&by, "by", os.Getenv("USER"), "who writes the note")

	cmd.AddCommand(list, show, claim, complete, assign, unclaim, note)
	return cmd
}

// printRunRecord says whether the task's journey run recorded a change
// of the task among its staff actions, and why not.
func printRunRecord(w io.Writer, t wire.TaskChange) {
	if t.RunRecorded {
		fmt.Fprintln(w, "  recorded in the journey's run")
		return
	}
	fmt.Fprintf(w, "  not recorded in the journey's run: %s (the task keeps it)\n", t.RunReason)
}

func due(t time.Time) string {
	d := time.Until(t).Round(time.Minute)
	if time.Until(t).Abs() < time.Minute {
		d = time.Until(t).Round(time.Second)
	}
	switch {
	case d < 0:
		return fmt.Sprintf("%s (overdue)", t.Local().Format("2006-01-02 15:04"))
	case d < 48*time.Hour:
		return fmt.Sprintf("%s (in %s)", t.Local().Format("2006-01-02 15:04"), d)
	}
	return t.Local().Format("2006-01-02 15:04")
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func printJSON(cmd *cobra.Command, v any) error {
	enc := json.NewEncoder(cmd.OutOrStdout())
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
