package journey

import (
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// Catalog is the set of journeys compiled from a folder.
type Catalog struct {
	plans []*Plan // sorted by journey name
}

// NewCatalog builds a catalog from plans. Names must be unique.
func NewCatalog(plans ...*Plan) (*Catalog, error) {
	c := &Catalog{plans: slices.Clone(plans)}
	slices.SortFunc(c.plans, func(a, b *Plan) int { return strings.Compare(a.Journey, b.Journey) })
	for i := 1; i < len(c.plans); i++ {
		if c.plans[i].Journey == c.plans[i-1].Journey {
			return nil, fmt.Errorf("journey %q is defined twice (%s and %s)", c.plans[i].Journey, c.plans[i-1].Source, c.plans[i].Source)
		}
	}
	return c, nil
}

// Plans returns every journey, sorted by name.
func (c *Catalog) Plans() []*Plan { return slices.Clone(c.plans) }

// Get returns the journey with that name.
func (c *Catalog) Get(name string) (*Plan, bool) {
	i, ok := slices.BinarySearchFunc(c.plans, name, func(p *Plan, n string) int { return strings.Compare(p.Journey, n) })
	if !ok {
		return nil, false
	}
	return c.plans[i], true
}

// TriggeredBy returns the journeys an event type starts, sorted by name.
func (c *Catalog) TriggeredBy(eventType string) []*Plan {
	var out []*Plan
	for _, p := range c.plans {
		if p.Trigger.Event == eventType {
			out = append(out, p)
		}
	}
	return out
}

// FansOut returns the journeys whose trigger fans out (trigger.for) on an
// event type: an event of the type without a customer starts them for
// every customer their condition selects. Sorted by name.
func (c *Catalog) FansOut(eventType string) []*Plan {
	var out []*Plan
	for _, p := range c.plans {
		if p.Trigger.Event == eventType && p.Trigger.FanOut() {
			out = append(out, p)
		}
	}
	return out
}

// IsJourneyFile reports whether a path names a journey file: YAML outside
// the templates folder.
func IsJourneyFile(p string) bool {
	ext := path.Ext(p)
	if ext != ".yaml" && ext != ".yml" {
		return false
	}
	return !slices.Contains(strings.Split(path.Dir(p), "/"), "templates")
}

// LoadFS compiles every journey file in fsys (recursively, skipping the
// templates folder) into a catalog. Diagnostics from all files are
// returned; the catalog is nil when any file has errors or two files define
// the same journey. Paths in diagnostics are prefixed with prefix.
func (c *Compiler) LoadFS(fsys fs.FS, prefix string) (*Catalog, Diagnostics) {
	plans, diags := c.CompileFS(fsys, prefix)
	if diags.HasErrors() {
		return nil, diags
	}
	cat, err := NewCatalog(plans...)
	if err != nil {
		return nil, append(diags, Diagnostic{File: prefix, Pos: Pos{1, 1}, Message: err.Error()})
	}
	return cat, diags
}

// CompileFS compiles every journey file in fsys (recursively, skipping the
// templates folder) and returns the plans of the files without errors, in
// path order, with the diagnostics of all files (a second file defining a
// journey already defined is an error). Unlike LoadFS it builds no
// catalog, so a folder with one broken file still yields the others.
func (c *Compiler) CompileFS(fsys fs.FS, prefix string) ([]*Plan, Diagnostics) {
	var (
		plans []*Plan
		diags Diagnostics
		seen  = map[string]string{}
	)
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			diags = append(diags, Diagnostic{File: path.Join(prefix, p), Pos: Pos{1, 1}, Message: "cannot read: " + err.Error()})
			return nil
		}
		if d.IsDir() {
			if d.Name() == "templates" || (strings.HasPrefix(d.Name(), ".") && p != ".") {
				return fs.SkipDir
			}
			return nil
		}
		if !IsJourneyFile(p) {
			return nil
		}
		name := path.Join(prefix, p)
		src, err := fs.ReadFile(fsys, p)
		if err != nil {
			diags = append(diags, Diagnostic{File: name, Pos: Pos{1, 1}, Message: "cannot read: " + err.Error()})
			return nil
		}
		plan, ds := c.Compile(name, src)
		diags = append(diags, ds...)
		if plan == nil {
			return nil
		}
		if other, dup := seen[plan.Journey]; dup {
			diags = append(diags, Diagnostic{File: name, Pos: Pos{1, 1}, Message: fmt.Sprintf("journey %q is already defined in %s; journey names must be unique", plan.Journey, other)})
			return nil
		}
		seen[plan.Journey] = name
		plans = append(plans, plan)
		return nil
	})
	if err != nil {
		diags = append(diags, Diagnostic{File: prefix, Pos: Pos{1, 1}, Message: "cannot read: " + err.Error()})
	}
	return plans, diags
}
