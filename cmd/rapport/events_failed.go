package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/rapporthq/rapport/internal/router"
)

// newEventsFailedCmd is `rapport events failed`: the events the routing
// sweeper dead-lettered, read from the database like other operator
// commands (DATABASE_URL).
func newEventsFailedCmd() *cobra.Command {
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "failed",
		Short: "List events whose routing failed too many times (the dead letter)",
		Long: `Failed lists events the routing sweeper gave up on: routing each one
failed RAPPORT_ROUTING_MAX_ATTEMPTS times (default 10) with growing waits
between attempts. It shows the event, its customer, how many attempts
were made and the last error. Fix the cause, then route them again with
rapport events retry. Reads DATABASE_URL.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStoreForCLI(cmd)
			if err != nil {
				return err
			}
			defer s.Close()
			failed, err := s.FailedEvents(cmd.Context(), limit)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(failed)
			}
			if len(failed) == 0 {
				fmt.Fprintln(out, "no failed events")
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "EVENT\tTYPE\tCUSTOMER\tATTEMPTS\tFAILED AT\tERROR")
			for _, f := range failed {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", f.ID, f.Type, f.CustomerID, f.Attempts,
					f.FailedAt.Local().Format("2006-01-02 15:04:05"), oneLineError(f.Error, 120))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(out, "%s; route them again with `rapport events retry ID...` or `rapport events retry --all-failed`\n",
				plural(len(failed), "failed event", "failed events"))
			return nil
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 100, "list at most this many")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// newEventsRetryCmd is `rapport events retry`: dead-lettered events go
// back to the sweeper with a fresh count of attempts.
func newEventsRetryCmd() *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "retry [ID...] [--all-failed]",
		Short: "Route failed events again",
		Long: `Retry takes events out of the dead letter (see rapport events failed)
with a fresh count of attempts; the API's routing sweeper routes them on
its next pass. Name the events, or give --all-failed. Reads DATABASE_URL.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if all == (len(args) > 0) {
				return errors.New("name the events to retry, or give --all-failed (not both)")
			}
			s, err := openStoreForCLI(cmd)
			if err != nil {
				return err
			}
			defer s.Close()
			ids, err := s.RetryFailedEvents(cmd.Context(), args)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			retried := map[string]bool{}
			for _, id := range ids {
				retried[id] = true
			}
			var missing []string
			for _, id := range args {
				if !retried[id] {
					missing = append(missing, id)
				}
			}
			fmt.Fprintf(out, "%s queued for routing again; the sweeper routes them within a minute\n", plural(len(ids), "event", "events"))
			if len(missing) > 0 {
				fmt.Fprintf(out, "not failed (unknown, routed, or not dead-lettered): %s\n", strings.Join(missing, ", "))
				return &exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&all, "all-failed", false, "retry every failed event")
	return cmd
}

// routingMaxAttempts reads RAPPORT_ROUTING_MAX_ATTEMPTS: how many failed
// attempts dead-letter an event (default router.DefaultMaxRoutingAttempts).
func routingMaxAttempts() (int, error) {
	v := os.Getenv("RAPPORT_ROUTING_MAX_ATTEMPTS")
	if v == "" {
		return router.DefaultMaxRoutingAttempts, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("RAPPORT_ROUTING_MAX_ATTEMPTS must be a whole number of at least 1, not %q", v)
	}
	return n, nil
}

// oneLineError shows an error on one line, cut to at most n runes.
func oneLineError(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
