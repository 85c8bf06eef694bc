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
				rep.Print(out)
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
