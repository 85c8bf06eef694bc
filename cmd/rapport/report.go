package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rapporthq/rapport/internal/api/wire"
	"github.com/rapporthq/rapport/internal/app"
	"github.com/rapporthq/rapport/internal/report"
	"github.com/rapporthq/rapport/internal/store"
)

func newReportCmd() *cobra.Command {
	var since, plan, journeysDir string
	var asJSON, check, open bool
	var target apiTarget
	cmd := &cobra.Command{
		Use:   "report JOURNEY",
		Short: "Show how a journey does: its funnel, its goal, its arms and their lift",
		Long: `Report reads the run registry and the outbox (DATABASE_URL) and tells
how a journey does: who entered, reached each step, was sent, skipped
(and why) or held, exited (and why), completed and converted on the
journey's goal; and, for a journey with a control group (holdout) or
splits, each arm's conversion rate and revenue per entrant with 95%
intervals, the lift of treatment over control with its interval, and
the probability that treatment is better (Bayesian Beta-Binomial; see
docs/operating.md "Reading a journey's report"). When data is thin it
says so, with about how many more entrants a conclusion needs.

The journey's file (in --journeys) orders the steps and names the goal.
--check also counts the figures again from the registry and the outbox
and exits 1 when they differ (as rapport audit does for the rules).

--open prints a link to the journey's report page instead (the journey
drawn with its counts, conversions over time, the arms side by side),
for a browser: the API makes it for the key (RAPPORT_API_URL or --api,
RAPPORT_API_KEY or --api-key, which needs reports:read), signed and valid
for an hour. It needs neither DATABASE_URL nor RAPPORT_SECRET here.`,
		Example: `  rapport report lapse-winback
  rapport report lapse-winback --since 30d --json
  rapport report thank-you --plan 45fc7ee
  rapport report lapse-winback --open`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if open {
				if asJSON || check {
					return errors.New("--open prints a link to the report page: leave out --json and --check")
				}
				return openReport(cmd, target, args[0], since, plan)
			}
			cfg, err := configFromEnv()
			if err != nil {
				return err
			}
			if cfg.DatabaseURL == "" {
				return errors.New("DATABASE_URL is not set; it names the PostgreSQL database, such as postgres://rapport@localhost:5432/rapport")
			}
			js, err := app.LoadJourneys(journeysDir)
			if err != nil {
				return err
			}
			p, ok := js.Catalog.Get(args[0])
			if !ok {
				var names []string
				for _, p := range js.Catalog.Plans() {
					names = append(names, p.Journey)
				}
				return fmt.Errorf("there is no journey %q in %s; there are %s", args[0], journeysDir, strings.Join(names, ", "))
			}
			opts := report.Options{Plan: plan}
			if since != "" {
				if opts.Since, err = parseSince(since, time.Now()); err != nil {
					return err
				}
			}
			s, err := store.Open(cmd.Context(), cfg.DatabaseURL)
			if err != nil {
				return err
			}
			defer s.Close()
			r, err := report.Build(cmd.Context(), s, p, opts)
			if err != nil {
				return err
			}
			var diffs []string
			if check {
				if since != "" || plan != "" {
					return errors.New("--check counts a journey's every run: leave out --since and --plan")
				}
				err = s.ReadOnly(cmd.Context(), func(q store.Querier) error {
					diffs, err = report.CrossCheck(cmd.Context(), q, r)
					return err
				})
				if err != nil {
					return err
				}
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(r); err != nil {
					return err
				}
			} else {
				r.Print(out)
			}
			if check {
				for _, d := range diffs {
					fmt.Fprintln(cmd.ErrOrStderr(), "differs:", d)
				}
				if len(diffs) > 0 {
					return &exitError{code: 1}
				}
				fmt.Fprintln(cmd.ErrOrStderr(), "checked: every figure agrees with the run registry and the outbox")
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&since, "since", "", "count runs entered since then: a duration back from now (30d) or a date (2026-11-01)")
	f.StringVar(&plan, "plan", "", "count only the runs of this plan (a hash or its first digits, as rapport runs list shows)")
	f.StringVar(&journeysDir, "journeys", env("RAPPORT_JOURNEYS", "journeys"), "folder of journey files")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON (the API's GET /v1/journeys/{name}/report answer)")
	f.BoolVar(&check, "check", false, "also count the figures again from the registry and the outbox; exit 1 when they differ")
	f.BoolVar(&open, "open", false, "print a signed link to the journey's report page, valid for an hour (asks the API, with a key holding reports:read)")
	addAPIFlag(cmd, &target)
	return cmd
}

// openReport asks the API for a signed link to a journey's report page
// and prints it: the key stays out of the link, and this machine needs
// no signing secret.
func openReport(cmd *cobra.Command, target apiTarget, journey, since, plan string) error {
	c := newAPIClient(target)
	q := url.Values{}
	if since != "" {
		q.Set("since", since)
	}
	if plan != "" {
		q.Set("plan", plan)
	}
	var link wire.ReportLink
	if _, err := c.do(cmd.Context(), http.MethodPost, "/v1/journeys/"+url.PathEscape(journey)+"/report-links", q, nil, &link); err != nil {
		return err
	}
	u := link.URL
	if u == "" {
		u = c.Base + link.Path
	}
	fmt.Fprintln(cmd.OutOrStdout(), u)
	fmt.Fprintf(cmd.ErrOrStderr(), "the report page of %s: open the link in a browser before %s (it is yours: do not share it)\n",
		link.Journey, link.ExpiresAt.Local().Format("15:04 MST"))
	return nil
}

// parseSince reads --since: a journey duration back from now, or a date
// (as the API reads ?since=).
func parseSince(v string, now time.Time) (time.Time, error) {
	t, err := report.ParseSince(v, now)
	if err != nil {
		return t, fmt.Errorf("--since %w", err)
	}
	return t, nil
}
