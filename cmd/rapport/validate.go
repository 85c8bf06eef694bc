package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/rapporthq/rapport/internal/app"
	"github.com/rapporthq/rapport/internal/journey"
)

func newValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate [paths...]",
		Short: "Check journey files and their templates",
		Long: `Validate compiles journey files (or every journey in the folders given,
journeys/ by default) and checks that their templates exist and render.
Every problem is printed as file:line:col: message. The exit status is 0
when everything is valid and 1 otherwise.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				args = []string{"journeys"}
			}
			out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
			var diags journey.Diagnostics
			var problems []error
			valid := 0
			for _, path := range args {
				plans, ds, err := validatePath(path)
				diags = append(diags, ds...)
				if err != nil {
					problems = append(problems, err)
				}
				for _, p := range plans {
					valid++
					fmt.Fprintf(out, "%s: ok (%s, plan %s)\n", p.Source, p.Journey, p.ShortHash())
				}
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
