package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rapporthq/rapport/internal/app"
	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/journeyfiles"
	"github.com/rapporthq/rapport/internal/store"
)

func newValidateCmd() *cobra.Command {
	var databaseURL string
	cmd := &cobra.Command{
		Use:   "validate [paths...]",
		Short: "Check journey files and their templates",
		Long: `Validate compiles journey files (or every journey in the folders given,
journeys/ by default) and checks that their templates exist and render.
Every problem is printed as file:line:col: message. The exit status is 0
when everything is valid and 1 otherwise.

With the webhook endpoints configured (RAPPORT_WEBHOOK_ENDPOINTS or
RAPPORT_WEBHOOK_ENDPOINTS_FILE), a webhook send naming an endpoint they
do not hold is a problem, as it is to a worker, which refuses to start.
Without them (validating without the secrets, in CI) the names are not
checked, and each journey that sends a webhook says so in a warning.

With a database (--database, or DATABASE_URL), it also says, for each
journey whose plan changed, how many runs in flight are on older plans:
they keep theirs, templates included, so the edit changes nothing for
them (rapport diff shows what it changes for new runs).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				args = []string{"journeys"}
			}
			out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
			var diags journey.Diagnostics
			var problems []error
			valid := 0
			var all []*journey.Plan
			endpoints, configured, err := webhookEndpointNames()
			if err != nil {
				problems = append(problems, fmt.Errorf("webhook endpoints not checked: %w", err))
			}
			for _, path := range args {
				plans, ds, err := journeyfiles.Validate(path, endpoints)
				diags = append(diags, ds...)
				if err != nil {
					problems = append(problems, err)
				}
				for _, p := range plans {
					valid++
					fmt.Fprintf(out, "%s: ok (%s, plan %s)\n", p.Source, p.Journey, p.ShortHash())
					all = append(all, p)
				}
			}
			if !configured {
				uncheckedEndpoints(errOut, all)
			}
			if databaseURL != "" {
				inFlight(cmd.Context(), errOut, databaseURL, all)
			}
			diags.Sort()
			for _, d := range diags {
				fmt.Fprintln(errOut, d)
			}
			for _, err := range problems {
				fmt.Fprintln(errOut, err)
			}
			if errCount := len(diags.Errors()) + len(problems); errCount > 0 {
				fmt.Fprintf(errOut, "%s found; %s valid\n", plural(errCount, "problem", "problems"), plural(valid, "journey", "journeys"))
				return &exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&databaseURL, "database", os.Getenv("DATABASE_URL"), "the database whose runs in flight to compare with (default DATABASE_URL)")
	return cmd
}

// inFlight warns, for each plan, of the runs still on older plans of its
// journey. A database out of reach is said, not a failure: validating
// needs no database.
func inFlight(ctx context.Context, w io.Writer, databaseURL string, plans []*journey.Plan) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := store.Open(ctx, databaseURL)
	if err == nil {
		defer st.Close()
	}
	var running map[string]map[string]int
	if err == nil {
		running, err = st.RunningPlans(ctx)
	}
	if err != nil {
		fmt.Fprintf(w, "runs in flight not checked: %v\n", err)
		return
	}
	for _, p := range plans {
		older := 0
		var hashes []string
		for _, hash := range slices.Sorted(maps.Keys(running[p.Journey])) {
			if hash != p.Hash {
				older += running[p.Journey][hash]
				hashes = append(hashes, hash[:min(7, len(hash))])
			}
		}
		if older > 0 && p.Moves() {
			fmt.Fprintf(w, "%s: %s in flight on older plans (%s) move to this plan (%s) at the step they wait in (on_edit: restart-at-step) when a worker starts with it, or on rapport runs move, if it is seen after theirs; rapport diff shows which steps cannot move\n",
				p.Source, plural(older, "run", "runs"), strings.Join(hashes, ", "), p.ShortHash())
		} else if older > 0 {
			fmt.Fprintf(w, "%s: warning: %s in flight on older plans (%s) keep them, templates included; this plan (%s) is for new runs; rapport diff shows what changes, rapport runs list --journey %s --plan HASH lists them\n",
				p.Source, plural(older, "run", "runs"), strings.Join(hashes, ", "), p.ShortHash(), p.Journey)
		}
	}
}

// webhookEndpointNames are the names of the webhook endpoints the
// environment configures, and whether it configures any (nil names when
// not: any well-formed name is then accepted).
func webhookEndpointNames() (names []string, configured bool, err error) {
	eps, configured, err := app.WebhookEndpointsFromEnv(app.OSEnv{})
	if err != nil || !configured {
		return nil, configured, err
	}
	names = make([]string, 0, len(eps)) // not nil: an empty list allows none
	for _, e := range eps {
		names = append(names, e.Name)
	}
	slices.Sort(names)
	return names, true, nil
}

// uncheckedEndpoints warns, for each plan that sends webhooks, that their
// endpoints were not checked because none are configured here.
func uncheckedEndpoints(w io.Writer, plans []*journey.Plan) {
	for _, p := range plans {
		names := journeyfiles.WebhookEndpoints(p)
		if len(names) == 0 {
			continue
		}
		for i, n := range names {
			names[i] = strconv.Quote(n)
		}
		fmt.Fprintf(w, "%s: warning: %s %s not checked: no webhook endpoints are configured here (RAPPORT_WEBHOOK_ENDPOINTS or RAPPORT_WEBHOOK_ENDPOINTS_FILE); set them to check, as a worker does: it refuses to start while a journey names an endpoint it does not have\n",
			p.Source, pluralWord(len(names), "webhook endpoint", "webhook endpoints"), strings.Join(names, ", "))
	}
}

// pluralWord is one or many, by n.
func pluralWord(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
