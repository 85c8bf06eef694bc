package main

import (
	"fmt"
	"io"
	"net/url"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rapporthq/rapport/internal/api/wire"
)

// newFanoutsCmd is `rapport fanouts [EVENT_ID]`: the fan-outs of events
// posted without a customer and how far each has come, and `rapport
// fanouts retry EVENT_ID JOURNEY`, through the API.
func newFanoutsCmd() *cobra.Command {
	var base apiTarget
	var status string
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "fanouts [EVENT_ID]",
		Short: "List the fan-outs of events posted without a customer, and retry a failed one",
		Long: `Fanouts lists the fan-outs of events posted without a customer (a
journey's trigger.for), the most recently received first, or EVENT_ID's:
each one's journey, status (pending, running, done, failed), the customers
scanned, matched, started and skipped so far, its attempts, its last error
and when it was received and done. A fan-out that failed too many times
waits for rapport fanouts retry. Talks to the API (RAPPORT_API_URL); the
key needs customers:read.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{"limit": {strconv.Itoa(limit)}}
			if status != "" {
				q.Set("status", status)
			}
			if len(args) == 1 {
				q.Set("event_id", args[0])
			}
			var out wire.FanoutList
			if _, err := newAPIClient(base).do(cmd.Context(), "GET", "/v1/fanouts", q, nil, &out); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd, out)
			}
			return printFanouts(cmd.OutOrStdout(), out.Fanouts)
		},
	}
	addAPIFlag(cmd, &base)
	cmd.Flags().StringVar(&status, "status", "", "pending, running, done, failed (comma-separated) or all")
	cmd.Flags().IntVar(&limit, "limit", 50, "list at most this many (at most 500)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the API's answer")

	retry := &cobra.Command{
		Use:   "retry EVENT_ID JOURNEY",
		Short: "Hand a failed fan-out back to the API's fan-out runners",
		Long: `Retry hands a fan-out given up as failed back to the API's fan-out
runners with a fresh count of attempts: it resumes after the last customer
it scanned, and enters nobody twice. Fix the cause first (rapport fanouts
shows the last error). The key needs events:write.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var f wire.Fanout
			path := "/v1/fanouts/" + url.PathEscape(args[0]) + "/" + url.PathEscape(args[1]) + "/retry"
			if _, err := newAPIClient(base).do(cmd.Context(), "POST", path, nil, nil, &f); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "fan-out of %s to %s is pending again (%d customers scanned so far); the API's runner takes it up within seconds\n",
				f.EventID, f.Journey, f.Scanned)
			return nil
		},
	}
	cmd.AddCommand(retry)
	return cmd
}

// printFanouts writes fan-outs as a table.
func printFanouts(w io.Writer, fs []wire.Fanout) error {
	if len(fs) == 0 {
		_, err := fmt.Fprintln(w, "no fan-outs")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EVENT\tJOURNEY\tSTATUS\tSCANNED\tMATCHED\tSTARTED\tSKIPPED\tATTEMPTS\tRECEIVED\tDONE\tERROR")
	failed := 0
	for _, f := range fs {
		status := f.Status
		if f.NextAttemptAt != nil {
			status += ", next " + f.NextAttemptAt.Local().Format("15:04:05")
		}
		if f.Status == "failed" {
			failed++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n", f.EventID, f.Journey, status, f.Scanned, f.Matched, f.Started, f.Skipped,
			f.Attempts, stamp(&f.ReceivedAt), stamp(f.DoneAt), oneLine(f.Error, 100))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if failed > 0 {
		_, err := fmt.Fprintf(w, "%s; once the cause is fixed, `rapport fanouts retry EVENT_ID JOURNEY` resumes one\n", plural(failed, "failed fan-out", "failed fan-outs"))
		return err
	}
	return nil
}

// stamp shows a time in local time to the second, "-" for none.
func stamp(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}
