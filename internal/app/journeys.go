package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/templates"
)

// Journeys are the compiled journeys of a folder and their templates.
type Journeys struct {
	// Compiler compiled them; its Env is the one their conditions run in.
	Compiler *journey.Compiler
	// Catalog holds the compiled plans, by journey name.
	Catalog *journey.Catalog
	// Templates are the folder's templates/.
	Templates *templates.Set
	// Diags are the warnings (there are no errors).
	Diags journey.Diagnostics
}

// LoadJourneys compiles every journey in dir, checking their templates in
// dir/templates. It fails with every diagnostic (a journey.Diagnostics)
// when any journey or template has an error.
func LoadJourneys(dir string) (*Journeys, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("journeys folder: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("journeys folder %s is not a folder", dir)
	}
	tmpl, err := LoadTemplates(filepath.Join(dir, "templates"))
	if err != nil {
		return nil, err
	}
	comp, err := journey.NewCompiler(journey.Options{Templates: tmpl})
	if err != nil {
		return nil, fmt.Errorf("journey compiler: %w", err)
	}
	cat, diags := comp.LoadFS(os.DirFS(dir), dir)
	if diags.HasErrors() {
		return nil, diags
	}
	return &Journeys{Compiler: comp, Catalog: cat, Templates: tmpl, Diags: diags}, nil
}

// LoadTemplates loads the message templates in dir.
func LoadTemplates(dir string) (*templates.Set, error) {
	return templates.Load(os.DirFS(dir), dir)
}

// SaveTemplateVersions stores the content of every template, by hash, so
// that a run renders the version its plan pinned after the files were
// edited, renamed or deleted (workers and the API both save what they
// load: either may compile the plan a run starts with).
func SaveTemplateVersions(ctx context.Context, st *store.Store, set *templates.Set) error {
	var versions []store.TemplateVersion
	for _, v := range set.Versions() {
		versions = append(versions, store.TemplateVersion{Hash: v.Hash, Name: v.Name, Files: v.Files})
	}
	if len(versions) == 0 {
		return nil
	}
	return st.SaveTemplateVersions(ctx, versions)
}
