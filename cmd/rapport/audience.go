package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rapporthq/rapport/internal/api/wire"
	"github.com/spf13/cobra"
)

// maxAudienceWait is the longest wait the API takes for an audience run.
const maxAudienceWait = 10 * time.Minute

// newAudienceCmd is `rapport audience run|preview`, through the API's
// audience routes.
func newAudienceCmd() *cobra.Command {
	var base apiTarget
	cmd := &cobra.Command{Use: "audience", Short: "Preview or run a journey's audience"}
	addAPIFlag(cmd, &base)
	var wait time.Duration
	run := &cobra.Command{
		Use:   "run JOURNEY",
		Short: "Enter every matching customer now",
		Long: `Run starts the journey's audience workflow: it evaluates trigger.audience
for every customer and enters those who match, under the journey's entry
rules. The entry is keyed by the day, so running it twice on one day
enters nobody twice. It waits for the run to finish (up to --wait); follow
a longer run in the Temporal UI by its workflow id.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if wait < 0 || wait > maxAudienceWait {
				return fmt.Errorf("--wait must be from 0 to %s, not %s", maxAudienceWait, wait)
			}
			var res wire.AudienceRun
			q := url.Values{"wait": {wait.String()}}
			if wait > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "%s: audience run started; waiting up to %s for it to finish\n", args[0], wait)
			}
			started := time.Now()
			if _, err := newWaitingAPIClient(base, wait).do(cmd.Context(), "POST", "/v1/journeys/"+url.PathEscape(args[0])+"/audience-runs", q, nil, &res); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if res.Status != wire.AudienceDone {
				fmt.Fprintf(out, "%s: audience run %s still running after %s; follow workflow %s in the Temporal UI\n", res.Journey, res.EntryKey, wait, res.WorkflowID)
				return nil
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%s: audience run %s finished in %s\n", res.Journey, res.EntryKey, time.Since(started).Round(time.Second))
			c := res.Counts
			fmt.Fprintf(out, "%s: %s scanned, %d match, %d entered, %d skipped (already in it, or refused by the entry rules)\n",
				res.Journey, plural(int(c.Scanned), "customer", "customers"), c.Matched, c.Started, c.Skipped)
			return nil
		},
	}
	run.Flags().DurationVar(&wait, "wait", time.Minute, "how long to wait for the run to finish (at most 10m; 0 answers at once)")
	var sample int
	var asJSON bool
	preview := &cobra.Command{
		Use:   "preview JOURNEY",
		Short: "Count who the audience selects now and show a sample, entering nobody",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var res wire.AudiencePreview
			q := url.Values{"sample": {fmt.Sprint(sample)}}
			var raw json.RawMessage
			if _, err := newAPIClient(base).do(cmd.Context(), "GET", "/v1/journeys/"+url.PathEscape(args[0])+"/audience", q, nil, &raw); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				_, err := fmt.Fprintln(out, string(raw))
				return err
			}
			if err := json.Unmarshal(raw, &res); err != nil {
				return err
			}
			fmt.Fprintf(out, "%s audience: %s\n", res.Journey, res.Audience)
			if len(res.SQL) > 0 {
				fmt.Fprintf(out, "  decided in SQL: %s\n", strings.Join(res.SQL, " && "))
			}
			if len(res.CEL) > 0 {
				fmt.Fprintf(out, "  evaluated per customer: %s\n", strings.Join(res.CEL, " && "))
			}
			fmt.Fprintf(out, "%d of %s match now (scanned in %dms)\n", res.Matched, plural(int(res.Customers), "customer", "customers"), res.ScanMillis)
			if len(res.Sample) > 0 {
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "CUSTOMER\tCOUNTRY\tORDERS\tLIFETIME VALUE\tDAYS SINCE LAST ORDER\tTAGS")
				for _, c := range res.Sample {
					fmt.Fprintf(tw, "%s\t%s\t%d\t%.2f\t%d\t%v\n", c.ID, c.Country, c.OrdersCount, c.LifetimeValue, c.DaysSinceLastOrder, c.Tags)
				}
				tw.Flush()
			}
			return nil
		},
	}
	preview.Flags().IntVar(&sample, "sample", 10, "how many matching customers to show (random)")
	preview.Flags().BoolVar(&asJSON, "json", false, "print the API's JSON answer")
	cmd.AddCommand(run, preview)
	return cmd
}
