package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/rapporthq/rapport/internal/app"
	"github.com/rapporthq/rapport/internal/schedules"
	"github.com/rapporthq/rapport/internal/store"
)

func newSchedulesCmd() *cobra.Command {
	journeysDir := env("RAPPORT_JOURNEYS", "journeys")
	var tf *temporalFlags
	cmd := &cobra.Command{
		Use:   "schedules",
		Short: "Keep Temporal Schedules in step with the audience journeys",
		Long: `Every journey with trigger.audience and trigger.schedule has a Temporal
Schedule (id rapport-audience-<journey>) that starts its audience
workflow at the cron times, in the journey's time zone.

The newest journeys own the schedules. A worker syncs them when it starts
only if its journeys are the newest seen (a release that adds, edits or
removes a journey is newer when its first worker starts); a worker of
older journeys (rolled back by hand, an old pod restarting mid-rollout)
leaves them alone. sync writes them from the journeys it is given and
makes those the newest: run it on every deploy, and after a rollback, from
the release you deploy. Configured by TEMPORAL_* and DATABASE_URL.`,
	}
	cmd.PersistentFlags().StringVar(&journeysDir, "journeys", journeysDir, "folder of journey files (RAPPORT_JOURNEYS)")
	var asJSON bool
	sync := &cobra.Command{
		Use:   "sync",
		Short: "Create, update and remove schedules to match journeys/, and make them the newest",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			js, err := app.LoadJourneys(journeysDir)
			if err != nil {
				return err
			}
			c, dc, cfg, err := dialFromEnv(cmd.Context(), tf)
			if err != nil {
				return err
			}
			defer c.Close()
			if cfg.DatabaseURL == "" {
				return errors.New("DATABASE_URL is not set: sync records the journeys it writes the schedules from as the newest, so that workers of older journeys leave them alone")
			}
			st, err := store.Open(cmd.Context(), cfg.DatabaseURL)
			if err != nil {
				return err
			}
			defer st.Close()
			// A deploy may run sync before any worker of its release has
			// migrated the database.
			if err := st.Migrate(cmd.Context(), nil); err != nil {
				return err
			}
			o, err := schedules.SyncOwned(cmd.Context(), c, st, js.Catalog, schedules.OwnOptions{Claim: true, DataConverter: dc})
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(struct {
					schedules.Report
					Catalog string `json:"catalog"`
				}{o.Audience, o.Catalog})
			}
			o.Print(cmd.OutOrStdout())
			return nil
		},
	}
	sync.Flags().BoolVar(&asJSON, "json", false, "print what was done as JSON")
	trigger := &cobra.Command{
		Use:   "trigger JOURNEY",
		Short: "Start a journey's scheduled audience run now",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, _, err := dialFromEnv(cmd.Context(), tf)
			if err != nil {
				return err
			}
			defer c.Close()
			if err := schedules.Trigger(cmd.Context(), c, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "triggered %s; follow the audience run in the Temporal UI\n", schedules.ID(args[0]))
			return nil
		},
	}
	var listJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "Show Rapport's schedules: next time, last run, runs older than their period, what waits or was skipped",
		Long: `List shows each of Rapport's schedules (the audience schedules and
retention's): its next time, the run it started last and how it went, the
runs still running, and how many runs wait for one to end or were
skipped. A run still running after the schedule's next time has passed is
older than its period: list says so (it also shows in the worker's
rapport_audience_run_overdue_seconds). With DATABASE_URL set it also says
which journeys own the schedules, and which older journeys started a
worker lately. Configured by TEMPORAL_*.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, dc, cfg, err := dialFromEnv(cmd.Context(), tf)
			if err != nil {
				return err
			}
			defer c.Close()
			now := time.Now()
			sts, err := schedules.Statuses(cmd.Context(), c, cfg.Temporal.Namespace, dc, now)
			if err != nil {
				return err
			}
			var cats []store.JourneyCatalog
			if cfg.DatabaseURL != "" {
				st, err := store.Open(cmd.Context(), cfg.DatabaseURL)
				if err != nil {
					return err
				}
				defer st.Close()
				if cats, err = st.Catalogs(cmd.Context(), 20); err != nil {
					return err
				}
			}
			if listJSON {
				return printJSON(cmd, struct {
					Schedules []schedules.Status     `json:"schedules"`
					Journeys  []store.JourneyCatalog `json:"journeys,omitempty"`
				}{sts, cats})
			}
			schedules.PrintStatuses(cmd.OutOrStdout(), sts, now)
			schedules.PrintCatalogs(cmd.OutOrStdout(), cats, now)
			return nil
		},
	}
	list.Flags().BoolVar(&listJSON, "json", false, "print the schedules as JSON")
	cmd.AddCommand(sync, trigger, list)
	tf = addTemporalFlags(cmd)
	return cmd
}
