package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/rapporthq/rapport/internal/audit"
	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/store"
)

func newAuditCmd() *cobra.Command {
	var since string
	var customers []string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Check every message sent against what each customer asked for",
		Long: `Audit replays each customer's preference history (consent, topics,
suppressions, quiet hours, frequency caps) and checks every message in
the outbox (DATABASE_URL) against what stood when it was sent, under the
rules the workers use (RAPPORT_QUIET_HOURS, RAPPORT_FREQUENCY_CAPS,
RAPPORT_REQUIRE_OPT_IN, RAPPORT_DEFAULT_TIME_ZONE). It also reports
messages held back or skipped without a recorded reason. It is written
apart from the code that decides, so it catches that code's mistakes.

The exit status is 0 when nothing broke a rule and 1 otherwise.`,
		Example: `  rapport audit --since 30d
  rapport audit --customer c_ada --json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := configFromEnv()
			if err != nil {
				return err
			}
			if cfg.DatabaseURL == "" {
				return errors.New("DATABASE_URL is not set; it names the PostgreSQL database, such as postgres://rapport@localhost:5432/rapport")
			}
			opts := audit.Options{CustomerIDs: customers}
			if since != "" {
				d, err := journey.ParseDuration(since)
				if err != nil {
					return fmt.Errorf("--since: %w", err)
				}
				opts.Since = time.Now().Add(-d)
			}
			s, err := store.Open(cmd.Context(), cfg.DatabaseURL)
			if err != nil {
				return err
			}
			defer s.Close()
			var rep audit.Report
			err = s.ReadOnly(cmd.Context(), func(q store.Querier) error {
				rep, err = audit.Check(cmd.Context(), q, cfg.Rules, opts)
				return err
			})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(out, "checked %s to %s: %d sent, %d held, %d skipped, %d failed; %s on record\n",
					plural(rep.Messages, "message", "messages"), plural(rep.Customers, "customer", "customers"),
					rep.ByStatus["sent"], rep.ByStatus["held"], rep.ByStatus["skipped"], rep.ByStatus["failed"], plural(rep.Holds, "hold", "holds"))
				if rep.Legacy > 0 {
					fmt.Fprintf(out, "%s sent before Rapport recorded contact decisions: not checked\n", plural(rep.Legacy, "message", "messages"))
				}
				if rep.NoContact > 0 {
					fmt.Fprintf(out, "%s to endpoints that do not contact the customer: not checked against the contact rules\n", plural(rep.NoContact, "webhook", "webhooks"))
				}
				if rep.ContentRemoved > 0 {
					fmt.Fprintf(out, "%s with content removed by retention: address suppressions not checked, the other rules were\n", plural(rep.ContentRemoved, "message", "messages"))
				}
				for _, v := range rep.Violations {
					fmt.Fprintln(out, v)
				}
				if len(rep.Violations) == 0 {
					fmt.Fprintln(out, "no message broke a rule")
				} else {
					fmt.Fprintf(out, "%s\n", plural(len(rep.Violations), "violation", "violations"))
				}
			}
			if len(rep.Violations) > 0 {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&since, "since", "", "only messages created in this last span, such as 30d (default: all)")
	cmd.Flags().StringSliceVar(&customers, "customer", nil, "only these customers (repeat or separate with commas)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}
