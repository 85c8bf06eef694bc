package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/rapporthq/rapport/internal/fleet"
	"github.com/rapporthq/rapport/workflows"
)

// revisionsReport is what `rapport runs revisions --json` prints.
type revisionsReport struct {
	// Fleet is the workers polling the task queue and the revision a
	// worker of this release records now.
	Fleet fleet.View `json:"fleet"`
	// Oldest and Newest are the interpreter revisions this release runs
	// (workflows.MinRevision and workflows.CurrentRevision).
	Oldest int `json:"oldest"`
	Newest int `json:"newest"`
	// Running counts the journey runs by the interpreter revision they
	// recorded ("0-1": runs that recorded none, from releases before
	// revision 2; a run that continued as new across a rollout may count
	// under two revisions): running, and closed but still kept by the
	// namespace (its retention), which a state query (rapport inspect)
	// replays.
	Running []revisionCount `json:"running"`
}

type revisionCount struct {
	Revision string `json:"revision"`
	Runs     int64  `json:"runs"`
	Closed   int64  `json:"closed"`
}

// newRunsRevisionsCmd shows what a rollout, a rollback or the retirement
// of a revision needs to know: which interpreter revision each worker
// runs, which one new runs record, and how many runs recorded each.
func newRunsRevisionsCmd(tf *temporalFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "revisions",
		Short: "Which interpreter revision each worker runs, which new runs record, and how many runs recorded each",
		Long: `Revisions lists the workers polling the task queue with the newest
interpreter revision each can run (workers of releases that do not say
run at most revision 3), the revision new runs record now (the newest
every worker can run), the revisions this release runs, and how many
journey runs recorded each revision: running, and closed but still kept
by the namespace. During a rollback, keep a worker of the newer release
until no run of its revision is running (see docs/operating.md, "Rolling
out and rolling back"); a revision may be retired once no run of it or
an older one is running (docs/development.md, "Retiring a revision").`,
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
			rep := revisionsReport{Fleet: w.View(), Oldest: workflows.MinRevision, Newest: workflows.CurrentRevision}
			if rep.Running, err = countRevisions(ctx, c, cfg.Temporal.Namespace); err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(rep)
			}
			printRevisions(cmd.OutOrStdout(), rep)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

// countRevisions counts the journey runs, running and closed, by the
// interpreter revision they recorded.
func countRevisions(ctx context.Context, c client.Client, namespace string) ([]revisionCount, error) {
	count := func(status, query string) (int64, error) {
		n, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: namespace,
			Query: fmt.Sprintf("WorkflowType = %q AND ExecutionStatus %s 'Running'", workflows.JourneyWorkflowName, status) + query})
		return n.GetCount(), err
	}
	var all, marked revisionCount
	var err error
	if all.Runs, err = count("=", ""); err != nil {
		return nil, fmt.Errorf("count running runs: %w", err)
	}
	if all.Closed, err = count("!=", ""); err != nil {
		return nil, fmt.Errorf("count closed runs: %w", err)
	}
	var out []revisionCount
	for rev := 2; rev <= workflows.CurrentRevision; rev++ {
		by := fmt.Sprintf(" AND TemporalChangeVersion = '%s-%d'", workflows.RevisionChange, rev)
		r := revisionCount{Revision: fmt.Sprint(rev)}
		if r.Runs, err = count("=", by); err != nil {
			return nil, fmt.Errorf("count running runs of revision %d: %w", rev, err)
		}
		if r.Closed, err = count("!=", by); err != nil {
			return nil, fmt.Errorf("count closed runs of revision %d: %w", rev, err)
		}
		marked.Runs, marked.Closed = marked.Runs+r.Runs, marked.Closed+r.Closed
		out = append(out, r)
	}
	unmarked := revisionCount{Revision: "0-1", Runs: max(0, all.Runs-marked.Runs), Closed: max(0, all.Closed-marked.Closed)}
	return append([]revisionCount{unmarked}, out...), nil
}

// printRevisions writes the report for people.
func printRevisions(out io.Writer, rep revisionsReport) {
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
	fmt.Fprintf(out, "\nnew runs record revision %d: %s\nthis release runs revisions %d to %d\n\nruns by revision:\n", rep.Fleet.Record, rep.Fleet.Why, rep.Oldest, rep.Newest)
	tw = tabwriter.NewWriter(out, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "  REVISION\tRUNNING\tCLOSED (KEPT)")
	for _, r := range rep.Running {
		fmt.Fprintf(tw, "  %s\t%d\t%d\n", r.Revision, r.Runs, r.Closed)
	}
	tw.Flush()
}
