package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rapporthq/rapport/internal/app"
	"github.com/rapporthq/rapport/internal/onedit"
	"github.com/rapporthq/rapport/internal/store"
)

// newRunsMoveCmd moves the runs in flight of journeys that say on_edit:
// restart-at-step to their plan in journeys/, as workers do when they
// start.
func newRunsMoveCmd(tf *temporalFlags) *cobra.Command {
	journeysDir := env("RAPPORT_JOURNEYS", "journeys")
	var journeyName, by string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "move",
		Short: "Move runs in flight to their journey's new plan (on_edit: restart-at-step)",
		Long: `Move asks every running run of a journey that says on_edit:
restart-at-step, and is on an older plan, to move to the journey's plan in
journeys/. A run waiting at a wait or a task step moves at once, to the
step with the same id; a run busy elsewhere (sending, held back by the
contact rules) moves at its next wait; a run whose step the new plan does
not wait at keeps its plan, and says why. Workers do this when they start;
move does it by hand and prints what became of the runs. Journeys that
keep their runs' plans (the default) are left alone.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			js, err := app.LoadJourneys(journeysDir)
			if err != nil {
				return err
			}
			if journeyName != "" {
				p, ok := js.Catalog.Get(journeyName)
				if !ok {
					return fmt.Errorf("no journey %q in %s", journeyName, journeysDir)
				}
				if !p.Moves() {
					return fmt.Errorf("journey %s keeps its runs' plans (on_edit: keep, the default); add `on_edit: restart-at-step` to %s to move them", journeyName, p.Source)
				}
			}
			c, _, cfg, err := dialFromEnv(cmd.Context(), tf)
			if err != nil {
				return err
			}
			defer c.Close()
			if cfg.DatabaseURL == "" {
				return errors.New("DATABASE_URL is not set: move reads the runs in flight from the run registry")
			}
			st, err := store.Open(cmd.Context(), cfg.DatabaseURL)
			if err != nil {
				return err
			}
			defer st.Close()
			// The new plan pins its templates by hash; the workers read the
			// versions they do not have from the database.
			if err := app.SaveTemplateVersions(cmd.Context(), st, js.Templates); err != nil {
				return err
			}
			m := &onedit.Mover{Store: st, Temporal: c, Env: js.Compiler.Env(), By: by}
			rep, err := m.Move(cmd.Context(), js.Catalog, journeyName)
			if asJSON {
				if jerr := printJSON(cmd, rep); jerr != nil {
					return jerr
				}
			} else {
				rep.Print(cmd.OutOrStdout())
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&journeysDir, "journeys", journeysDir, "folder of journey files (RAPPORT_JOURNEYS)")
	f.StringVar(&journeyName, "journey", "", "move only this journey's runs")
	f.StringVar(&by, "by", env("USER", ""), "who moves them, for the runs' record")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
