package main

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/journeyfiles"
)

func newDiffCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "diff OLD NEW",
		Short: "Show, step by step, what an edit of a journey changes",
		Long: `Diff compiles two versions of a journey, each a file or a git revision
of one (REV:PATH, such as HEAD:journeys/lapse-winback.yaml or
main~3:journeys/lapse-winback.yaml), with the templates beside it, and
prints what changes (a file with no templates folder beside it, such as
an old copy kept elsewhere, uses the other file's templates folder, else
the journeys folder's: RAPPORT_JOURNEYS, by default journeys): journey settings, steps added, removed, reordered or
changed setting by setting (matched by id: give steps ids to follow them
through edits), and templates whose words changed.

Runs in flight keep the plan they started with, templates included
(each plan pins its templates' content): an edit changes nothing for
them, unless the journey says on_edit: restart-at-step; diff then says at
which steps a waiting run would move and where it would keep its plan,
and why. diff prints both plans' hashes; rapport runs list --journey NAME
--plan HASH counts the runs still on the old one.

Exit status: 0 when the plans are the same, 1 when they differ, 2 on an
error (git's convention).`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			// An error is status 2, so a script tells it from "they differ".
			fail := func(err error) error {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				return &exitError{code: 2}
			}
			// A file with no templates folder beside it (a copy kept
			// elsewhere) takes the other file's, else the journeys folder's.
			journeysDir := cmp.Or(os.Getenv("RAPPORT_JOURNEYS"), "journeys")
			fallbacks := func(other string) []string {
				return []string{filepath.Join(filepath.Dir(other), "templates"), filepath.Join(journeysDir, "templates")}
			}
			old, err := journeyfiles.Compile(cmd.Context(), args[0], fallbacks(args[1])...)
			if err != nil {
				return fail(err)
			}
			new, err := journeyfiles.Compile(cmd.Context(), args[1], fallbacks(args[0])...)
			if err != nil {
				return fail(err)
			}
			changes := journey.Diff(old, new)
			if asJSON {
				if err := printJSON(cmd, map[string]any{"journey": new.Journey, "old_plan": old.Hash, "new_plan": new.Hash, "changes": changes, "on_edit": cmp.Or(string(new.OnEdit), string(journey.OnEditKeep)), "rests": restsIfMoving(old, new)}); err != nil {
					return err
				}
			} else {
				printDiff(cmd.OutOrStdout(), old, new, changes)
			}
			if len(changes) > 0 {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printDiff(w io.Writer, old, new *journey.Plan, changes []journey.Change) {
	if len(changes) == 0 {
		fmt.Fprintf(w, "%s: no change (plan %s)\n", new.Journey, new.ShortHash())
		return
	}
	fmt.Fprintf(w, "%s: plan %s → %s, %s\n", new.Journey, old.ShortHash(), new.ShortHash(), plural(len(changes), "change", "changes"))
	where := ""
	for _, c := range changes {
		if c.Where != where {
			fmt.Fprintf(w, "  %s\n", c.Where)
			where = c.Where
		}
		fmt.Fprintf(w, "    %s\n", c.What)
	}
	if !new.Moves() {
		fmt.Fprintf(w, "Runs in flight keep plan %s, templates included, until they end; new runs take %s.\n", old.ShortHash(), new.ShortHash())
		fmt.Fprintf(w, "Count them: rapport runs list --journey %s --plan %s\n", old.Journey, old.ShortHash())
		return
	}
	fmt.Fprintf(w, "on_edit: restart-at-step: runs in flight on plan %s move to %s at the step they wait in, when a worker starts with it or on rapport runs move; new runs take %s.\n", old.ShortHash(), new.ShortHash(), new.ShortHash())
	rests := new.Rests(old)
	kept := 0
	for _, r := range rests {
		if r.Keeps != "" {
			fmt.Fprintf(w, "  runs waiting at %s keep plan %s: %s\n", r.Step, old.ShortHash(), r.Keeps)
			kept++
		}
	}
	if kept == 0 {
		fmt.Fprintf(w, "  every step a run can wait at (%d) has its match in the new plan\n", len(rests))
	}
	fmt.Fprintf(w, "Count them: rapport runs list --journey %s --plan %s\n", old.Journey, old.ShortHash())
}

// restsIfMoving is what becomes of runs waiting at each step of old, when
// the journey moves its runs (nil when it keeps them).
func restsIfMoving(old, new *journey.Plan) []journey.Rest {
	if !new.Moves() {
		return nil
	}
	return new.Rests(old)
}
