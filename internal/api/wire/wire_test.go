package wire

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsNothingHeavy keeps the package usable by any Go client: it
// may import the standard library, and internal/money with what money
// needs (a decimal type, x/text's currency tables), nothing else: no
// database driver, no Temporal, no other package of Rapport's.
func TestImportsNothingHeavy(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	allowed := []string{
		"github.com/rapporthq/rapport/internal/api/wire",
		"github.com/rapporthq/rapport/internal/money",
		"github.com/shopspring/decimal",
		"golang.org/x/text/",
	}
	for _, dep := range strings.Fields(string(out)) {
		ok := false
		for _, a := range allowed {
			if dep == a || strings.HasSuffix(a, "/") && strings.HasPrefix(dep, a) {
				ok = true
			}
		}
		if !ok {
			t.Errorf("package wire depends on %s; keep it to the standard library and internal/money", dep)
		}
	}
}
