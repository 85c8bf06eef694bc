package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/rapporthq/rapport/internal/inspect"
	"github.com/rapporthq/rapport/workflows"
)

func newRunsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List journey runs by journey and plan; exit a run or skip its wait",
		Long: `Runs lists journey runs by journey and plan (list), and sends the
updates staff steer a journey with, as the Temporal UI does: exit ends a
run at once with a reason, skip-wait ends the wait step it is in. Both are
validated by the run (an ended run, a run that is not in a wait step, a
missing reason are refused) and recorded in its state. Find workflow ids
with rapport inspect CUSTOMER or rapport runs list.`,
	}
	tf := addTemporalFlags(cmd)
	var reason, by, step string
	send := func(cmd *cobra.Command, id, update string, arg any) error {
		c, _, _, err := dialFromEnv(cmd.Context(), tf)
		if err != nil {
			return err
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
		defer cancel()
		h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
			WorkflowID: id, UpdateName: update, Args: []any{arg}, WaitForStage: client.WorkflowUpdateStageCompleted,
		})
		if err != nil {
			return fmt.Errorf("%s %s: %w", update, id, err)
		}
		var st workflows.State
		if err := h.Get(ctx, &st); err != nil {
			return fmt.Errorf("%s %s: %w", update, id, err)
		}
		out := cmd.OutOrStdout()
		switch {
		case st.Status != "running":
			fmt.Fprintf(out, "%s: %s (%s)\n", id, st.Status, st.Reason)
		case st.PendingWait != nil:
			fmt.Fprintf(out, "%s: now at step %s, next wake-up %s UTC (%s)\n", id, st.CurrentStep, st.PendingWait.Until.UTC().Format("2006-01-02 15:04"), st.PendingWait.Why)
		default:
			fmt.Fprintf(out, "%s: now at step %s\n", id, st.CurrentStep)
		}
		return nil
	}
	exit := &cobra.Command{
		Use:   "exit WORKFLOW_ID",
		Short: "End a running journey now, with a reason",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return send(cmd, args[0], workflows.ExitUpdate, workflows.Exit{Reason: reason, By: by})
		},
	}
	skip := &cobra.Command{
		Use:   "skip-wait WORKFLOW_ID",
		Short: "End the wait step a journey is in, as if its time had come",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return send(cmd, args[0], workflows.SkipWaitUpdate, workflows.SkipWait{Step: step, Reason: reason, By: by})
		},
	}
	for _, c := range []*cobra.Command{exit, skip} {
		c.Flags().StringVar(&reason, "reason", "", "why (kept with the journey; required for exit)")
		c.Flags().StringVar(&by, "by", env("USER", ""), "who asks, for the record")
	}
	skip.Flags().StringVar(&step, "step", "", "the wait step you mean to skip: refused if the journey has moved on")
	cmd.AddCommand(newRunsListCmd(tf), newRunsMoveCmd(tf), newRunsRevisionsCmd(tf), exit, skip)
	return cmd
}

// newRunsListCmd lists runs by journey and plan, from Temporal's
// visibility (the RapportJourney and RapportPlanHash search attributes).
func newRunsListCmd(tf *temporalFlags) *cobra.Command {
	var journeyName, plan, status string
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List journey runs, by journey and plan (the runs still on an old plan)",
		Long: `List finds journey runs in Temporal by journey and plan hash (a prefix
of at least 7 digits, as rapport validate and rapport diff print it) and
prints how many there are and the latest of them: workflow id, plan, step,
status and start. After an edit, --plan with the old hash counts the runs
still on the old plan (they keep it, templates included, until they end).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			query, err := inspect.RunsQuery(journeyName, plan, status)
			if err != nil {
				return err
			}
			if limit < 0 {
				return fmt.Errorf("--limit must be 0 or more, not %d", limit)
			}
			c, _, cfg, err := dialFromEnv(cmd.Context(), tf)
			if err != nil {
				return err
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
			defer cancel()
			list, err := inspect.ListRuns(ctx, c, cfg.Temporal.Namespace, query, limit)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd, list)
			}
			list.Print(cmd.OutOrStdout())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&journeyName, "journey", "", "the journey's name")
	f.StringVar(&plan, "plan", "", "a plan hash, or its first 7 or more digits")
	f.StringVar(&status, "status", "running", "running, ended or all")
	f.IntVar(&limit, "limit", 20, "list at most this many runs (0: only count them)")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
