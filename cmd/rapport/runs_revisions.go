package main

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/rapporthq/rapport/internal/fleet"
	"github.com/rapporthq/rapport/workflows"
)

// revisionsReport is what `rapport runs revisions --json` prints.
type revisionsReport struct {
	// Fleet is the workers polling the task queue and the revision a
	// worker of this release records now.
	Fleet fleet.View `json:"fleet"`
	// Running counts the running journey runs by the interpreter revision
	// they recorded ("0-1": runs that recorded none, from releases before
	// revision 2; a run that continued as new across a rollout may count
	// under two revisions).
	Running []revisionCount `json:"running"`
}

type revisionCount struct {
	Revision string `json:"revision"`
	Runs     int64  `json:"runs"`
}

// newRunsRevisionsCmd shows what a rollout or a rollback needs to know:
// which interpreter revision each worker runs, which one new runs record,
// and how many running runs recorded each.
func newRunsRevisionsCmd(tf *temporalFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "revisions",
		Short: "Which interpreter revision each worker runs, which new runs record, and how many runs recorded each",
		Long: `Revisions lists the workers polling the task queue with the newest
interpreter revision each can run (workers of releases that do not say
run at most revision 3), the revision new runs record now (the newest
every worker can run), and how many running journey runs recorded each
revision. During a rollback, keep a worker of the newer release until no
run of its revision is running (see docs/operating.md, "Rolling out and
rolling back").`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, cfg, err := dialFromEnv(cmd.Context(), tf)
			if err != nil {
				return err
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
			defer cancel()
			w := &fleet.Watcher{Client: c, TaskQueue: workflows.TaskQueue, Own: workflows.CurrentRevision, RaiseAfter: -1}
			if err := w.Refresh(ctx); err != nil {
				return err
			}
			rep := revisionsReport{Fleet: w.View()}
			count := func(query string) (int64, error) {
				n, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: cfg.Temporal.Namespace,
					Query: fmt.Sprintf("WorkflowType = %q AND ExecutionStatus = 'Running'", workflows.JourneyWorkflowName) + query})
				return n.GetCount(), err
			}
			all, err := count("")
			if err != nil {
				return fmt.Errorf("count running runs: %w", err)
			}
			marked := int64(0)
			for rev := 2; rev <= workflows.CurrentRevision; rev++ {
				n, err := count(fmt.Sprintf(" AND TemporalChangeVersion = '%s-%d'", workflows.RevisionChange, rev))
				if err != nil {
					return fmt.Errorf("count runs of revision %d: %w", rev, err)
				}
				marked += n
				rep.Running = append(rep.Running, revisionCount{Revision: fmt.Sprint(rev), Runs: n})
			}
			rep.Running = append([]revisionCount{{Revision: "0-1", Runs: max(0, all-marked)}}, rep.Running...)
			out := cmd.OutOrStdout()
			if asJSON {
				return json.NewEncoder(out).Encode(rep)
			}
			tw := tabwriter.NewWriter(out, 0, 2, 2, ' ', 0)
			fmt.Fprintln(tw, "WORKER\tRUNS REVISIONS UP TO\tLAST POLL")
			for _, wk := range rep.Fleet.Workers {
				rev := fmt.Sprint(wk.Revision)
				if !wk.Reported {
					rev += " (does not say: a release before revision 4)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", wk.Identity, rev, wk.LastPoll.UTC().Format(time.RFC3339))
			}
			tw.Flush()
			if len(rep.Fleet.Workers) == 0 {
				fmt.Fprintf(out, "no worker polls %s now\n", workflows.TaskQueue)
			}
			fmt.Fprintf(out, "\nnew runs record revision %d: %s\n\nrunning runs by revision:\n", rep.Fleet.Record, rep.Fleet.Why)
			for _, r := range rep.Running {
				fmt.Fprintf(out, "  %-5s %d\n", r.Revision, r.Runs)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}
