package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/rapporthq/rapport/workflows"
)

// runView is one journey run of a customer, as `rapport inspect` shows it.
func newRunsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "Steer a running journey: exit it or skip its wait",
		Long: `Runs sends the updates staff steer a journey with, as the Temporal UI
does: exit ends a run at once with a reason, skip-wait ends the wait step
it is in. Both are validated by the run (an ended run, a run that is not
in a wait step, a missing reason are refused) and recorded in its state.
Find workflow ids with rapport inspect CUSTOMER.`,
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
	cmd.AddCommand(exit, skip)
	return cmd
}
