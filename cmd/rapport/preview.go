//go:build !production

package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rapporthq/rapport/internal/app"
	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/preview"
	"github.com/rapporthq/rapport/internal/store"
)

// newPreviewCmd is `rapport preview`: the flags of internal/preview.
func newPreviewCmd() *cobra.Command {
	var customerID, eventFile, journeysDir string
	var days int
	var whatIf []string
	cmd := &cobra.Command{
		Use:   "preview JOURNEY --customer ID",
		Short: "Show what a journey would do for one customer, day by day, sending nothing",
		Long: `Preview runs a journey for one customer on Temporal's test environment,
skipping time, with the real interpreter, the customer's real facts,
preferences, orders, recent marketing and suppressed addresses read from
the database (DATABASE_URL), the templates of the journeys folder, and
activities that send nothing and store nothing. It prints the
timeline in the customer's local time: each message with its channel,
subject and first line, each hold with its reason and when it ends, staff
tasks, what the journey decided and why, and how it ended.

The run starts with --event FILE (a JSON event: {"type": ..., "data":
...}), else with a stand-in for the journey's trigger (the customer's
latest order for an order event). --what-if 'event TYPE at day N' sends an
event N days in (repeatable): 'at day 2 12h30m' (or 'at 36h', 'at 90m')
for a time of day, and 'with {"product_id": "p1"}' at the end for its
data (a JSON object), so 'event order.placed at day 2 12h with
{"product_id": "p1"}'. --days bounds the preview. Staff tasks are
never done in a preview: they go overdue as the journey says. A webhook
follows its endpoint's contacts_customer when RAPPORT_WEBHOOK_ENDPOINTS
(or RAPPORT_WEBHOOK_ENDPOINTS_FILE) configures it; otherwise the preview
takes it to contact the customer, applies the contact rules, and says so.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if customerID == "" {
				return errors.New("give the customer: --customer ID")
			}
			if days < 1 || days > 3650 {
				return fmt.Errorf("--days must be 1 to 3650, not %d", days)
			}
			events, err := preview.ParseWhatIf(whatIf, days)
			if err != nil {
				return err
			}
			cfg, err := app.ConfigFromEnv(app.OSEnv{})
			if err != nil {
				return err
			}
			if cfg.DatabaseURL == "" {
				return errors.New("DATABASE_URL is not set: preview reads the customer's facts, preferences and orders from the database")
			}
			js, err := app.LoadJourneys(journeysDir)
			if err != nil {
				return err
			}
			plan, ok := js.Catalog.Get(args[0])
			if !ok {
				return fmt.Errorf("no journey %q in %s", args[0], journeysDir)
			}
			st, err := store.Open(cmd.Context(), cfg.DatabaseURL)
			if err != nil {
				return err
			}
			defer st.Close()
			var ev *journey.Event
			if eventFile != "" {
				if ev, err = preview.ReadEvent(eventFile); err != nil {
					return err
				}
			}
			return preview.Run(cmd.Context(), cmd.OutOrStdout(), preview.Options{Store: st, Templates: js.Templates, Env: js.Compiler.Env(), Config: cfg,
				Plan: plan, CustomerID: customerID, Event: ev, WhatIf: events, Days: days})
		},
	}
	f := cmd.Flags()
	f.StringVar(&customerID, "customer", "", "the customer's id")
	f.StringVar(&eventFile, "event", "", "a JSON file with the event that starts the journey")
	f.IntVar(&days, "days", 60, "how many days of the journey to show")
	f.StringArrayVar(&whatIf, "what-if", nil, `an event during the journey: 'event order.placed at day 10', 'event order.placed at day 2 12h with {"product_id": "p1"}' (repeatable)`)
	f.StringVar(&journeysDir, "journeys-dir", "journeys", "the folder of journeys and their templates")
	return cmd
}
