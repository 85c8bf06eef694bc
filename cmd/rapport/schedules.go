package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rapporthq/rapport/internal/app"
	"github.com/rapporthq/rapport/internal/schedules"
)

func newSchedulesCmd() *cobra.Command {
	journeysDir := env("RAPPORT_JOURNEYS", "journeys")
	var tf *temporalFlags
	cmd := &cobra.Command{
		Use:   "schedules",
		Short: "Keep Temporal Schedules in step with the audience journeys",
		Long: `Every journey with trigger.audience and trigger.schedule has a Temporal
Schedule (id rapport-audience-<journey>) that starts its audience
workflow at the cron times, in the journey's time zone. Workers sync them
when they start; sync does it by hand. Configured by TEMPORAL_ADDRESS and
TEMPORAL_NAMESPACE.`,
	}
	cmd.PersistentFlags().StringVar(&journeysDir, "journeys", journeysDir, "folder of journey files (RAPPORT_JOURNEYS)")
	var asJSON bool
	sync := &cobra.Command{
		Use:   "sync",
		Short: "Create, update and remove schedules to match journeys/",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			js, err := app.LoadJourneys(journeysDir)
			if err != nil {
				return err
			}
			c, dc, _, err := dialFromEnv(cmd.Context(), tf)
			if err != nil {
				return err
			}
			defer c.Close()
			rep, err := schedules.Sync(cmd.Context(), c, js.Catalog, dc)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return json.NewEncoder(out).Encode(rep)
			}
			for _, l := range []struct {
				what string
				ids  []string
			}{{"created", rep.Created}, {"updated", rep.Updated}, {"unchanged", rep.Unchanged}, {"deleted", rep.Deleted}} {
				if len(l.ids) > 0 {
					fmt.Fprintf(out, "%-9s %s\n", l.what, strings.Join(l.ids, ", "))
				}
			}
			if len(rep.Created)+len(rep.Updated)+len(rep.Unchanged)+len(rep.Deleted) == 0 {
				fmt.Fprintln(out, "no journey has trigger.schedule; nothing to do")
			}
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
	cmd.AddCommand(sync, trigger)
	tf = addTemporalFlags(cmd)
	return cmd
}
