package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rapporthq/rapport/internal/inspect"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

// newInspectCmd is `rapport inspect`: the flags of internal/inspect.
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
			in, err := inspect.Customer(cmd.Context(), c, cfg.Temporal.Namespace, args[0], limit)
			if err != nil {
				return err
			}
			if cfg.DatabaseURL != "" {
				if st, err := store.Open(cmd.Context(), cfg.DatabaseURL); err != nil {
					in.TasksError = err.Error()
				} else {
					in.AttachTasks(cmd.Context(), st)
					st.Close()
				}
			}
			if asJSON {
				return printJSON(cmd, in)
			}
			in.Print(cmd.OutOrStdout())
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().IntVar(&limit, "limit", 50, "show at most this many journeys")
	tf = addTemporalFlags(cmd)
	return cmd
}
