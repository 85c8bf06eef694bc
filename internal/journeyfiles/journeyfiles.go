// Package journeyfiles compiles journey files for the tools that check
// and compare them: a file or a folder as rapport validate checks it
// (Validate), and a file or a git revision of one, with its templates as
// they were, as rapport diff compares them (Compile).
package journeyfiles

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing/fstest"

	"github.com/rapporthq/rapport/internal/app"
	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/templates"
)

// Validate compiles a journey file, or every journey in a folder, as
// rapport validate checks them: each file is valid or not on its own, and
// a folder's valid journeys must make a catalog. Templates come from the
// templates folder next to the journeys (the error says why they could
// not be loaded; the journeys are still compiled); a webhook send must
// name one of endpoints, unless they are nil.
func Validate(path string, endpoints []string) ([]*journey.Plan, journey.Diagnostics, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, errors.Unwrap(err))
	}
	dir := path
	if !st.IsDir() {
		dir = filepath.Dir(path)
	}
	tmpl, err := app.LoadTemplates(filepath.Join(dir, "templates"))
	opts := journey.Options{Endpoints: endpoints}
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

// WebhookEndpoints are the endpoints the plan's webhook sends name, in
// the order they first appear, each once.
func WebhookEndpoints(p *journey.Plan) []string {
	var names []string
	p.Walk(func(s *journey.Step) {
		if s.Send != nil && slices.Contains(s.Send.Channels, journey.Webhook) && !slices.Contains(names, s.Send.Endpoint) {
			names = append(names, s.Send.Endpoint)
		}
	})
	return names
}

// Compile compiles a journey file, or a git revision of one (REV:PATH,
// such as HEAD:journeys/thank-you.yaml), with the templates folder beside
// it at the same revision. A file with no templates folder beside it
// takes the first of fallbacks that is a folder.
func Compile(ctx context.Context, where string, fallbacks ...string) (*journey.Plan, error) {
	var src []byte
	var tmpl *templates.Set
	if _, err := os.Stat(where); err == nil || !strings.Contains(where, ":") {
		if src, err = os.ReadFile(where); err != nil {
			return nil, err
		}
		dir := filepath.Join(filepath.Dir(where), "templates")
		for _, d := range append([]string{dir}, fallbacks...) {
			if fi, err := os.Stat(d); err == nil && fi.IsDir() {
				dir = d
				break
			}
		}
		if tmpl, err = app.LoadTemplates(dir); err != nil {
			return nil, err
		}
	} else {
		rev, file, _ := strings.Cut(where, ":")
		if src, err = gitOutput(ctx, "show", rev+":"+file); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if tmpl, err = templatesAt(ctx, rev, path.Join(path.Dir(file), "templates")); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
	}
	comp, err := journey.NewCompiler(journey.Options{Templates: tmpl})
	if err != nil {
		return nil, err
	}
	plan, diags := comp.Compile(where, src)
	if diags.HasErrors() {
		return nil, diags
	}
	return plan, nil
}

// templatesAt loads a templates folder as it was at a git revision.
func templatesAt(ctx context.Context, rev, dir string) (*templates.Set, error) {
	list, err := gitOutput(ctx, "ls-tree", "--full-tree", "-r", "--name-only", rev, "--", dir+"/")
	if err != nil {
		return nil, err
	}
	fsys := fstest.MapFS{}
	for _, name := range strings.Split(strings.TrimSpace(string(list)), "\n") {
		if name == "" {
			continue
		}
		b, err := gitOutput(ctx, "show", rev+":"+name)
		if err != nil {
			return nil, err
		}
		fsys[strings.TrimPrefix(name, dir+"/")] = &fstest.MapFile{Data: b}
	}
	return templates.Load(fsys, rev+":"+dir)
}

// gitOutput runs git and returns what it printed; its complaint is the
// error.
func gitOutput(ctx context.Context, args ...string) ([]byte, error) {
	var out, errOut bytes.Buffer
	c := exec.CommandContext(ctx, "git", args...)
	c.Stdout, c.Stderr = &out, &errOut
	if err := c.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return nil, fmt.Errorf("git %s: %s", args[0], strings.TrimSpace(errOut.String()))
		}
		return nil, fmt.Errorf("git %s: %w (is git installed?)", args[0], err)
	}
	return out.Bytes(), nil
}
