package policy

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The contact rules are a pure decision: they import neither the journey
// language (and with it CEL and YAML) nor the store.
func TestPolicyStaysPure(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range file.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			for _, banned := range []string{"internal/journey", "internal/store", "cel.dev", "yaml"} {
				if strings.Contains(path, banned) {
					t.Errorf("%s imports %s", f, path)
				}
			}
		}
	}
}
