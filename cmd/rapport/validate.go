package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rapporthq/rapport/internal/app"
	"github.com/rapporthq/rapport/internal/journey"
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
			for _, path := range args {
				plans, ds, err := validatePath(path)
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

// validatePath checks a journey file, or every journey in a folder.
// Templates come from the templates folder next to the journeys.
func validatePath(path string) ([]*journey.Plan, journey.Diagnostics, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, errors.Unwrap(err))
	}
	dir := path
	if !st.IsDir() {
		dir = filepath.Dir(path)
	}
	tmpl, err := app.LoadTemplates(filepath.Join(dir, "templates"))
	var opts journey.Options
	if err == nil {
		opts.Templates = tmpl
	}
	comp, cerr := journey.NewCompiler(opts)
	if cerr != nil {
		return nil, nil, cerr
	}
	if st.IsDir() {
		// Each file is valid or not on its own: one broken file does not
		// make the others invalid (the worker, which loads them as one
		// catalog, refuses to start until all are).
		plans, diags := comp.CompileFS(os.DirFS(dir), dir)
		if !diags.HasErrors() {
			if _, cerr := journey.NewCatalog(plans...); cerr != nil {
				return nil, append(diags, journey.Diagnostic{File: dir, Pos: journey.Pos{Line: 1, Col: 1}, Message: cerr.Error()}), err
			}
		}
		return plans, diags, err
	}
	src, rerr := os.ReadFile(path)
	if rerr != nil {
		return nil, nil, rerr
	}
	plan, diags := comp.Compile(path, src)
	if plan == nil {
		return nil, diags, err
	}
	return []*journey.Plan{plan}, diags, err
}
