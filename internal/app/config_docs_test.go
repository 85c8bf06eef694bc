package app

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const configDoc = "../../docs/configuration.md"

// temporalVariables are the variables the Temporal SDK's envconfig reads
// for the connection (go.temporal.io/sdk/contrib/envconfig,
// client_config_load.go). Its TEMPORAL_CODEC_* are left out: Rapport does
// not ask it for a remote codec, so they do nothing.
var temporalVariables = []string{
	"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_API_KEY", "TEMPORAL_CLIENT_AUTHORITY",
	"TEMPORAL_TLS", "TEMPORAL_TLS_CLIENT_CERT_PATH", "TEMPORAL_TLS_CLIENT_CERT_DATA",
	"TEMPORAL_TLS_CLIENT_KEY_PATH", "TEMPORAL_TLS_CLIENT_KEY_DATA",
	"TEMPORAL_TLS_SERVER_CA_CERT_PATH", "TEMPORAL_TLS_SERVER_CA_CERT_DATA",
	"TEMPORAL_TLS_SERVER_NAME", "TEMPORAL_TLS_DISABLE_HOST_VERIFICATION",
	"TEMPORAL_GRPC_META_<NAME>", "TEMPORAL_PROFILE", "TEMPORAL_CONFIG_FILE",
}

var (
	// variableRe is a variable Rapport could read, as a whole string.
	variableRe = regexp.MustCompile(`^(?:RAPPORT|SENDGRID|TWILIO|LOB|SHOPIFY|SEGMENT|DATABASE|TEMPORAL)_[A-Z0-9_]+$`)
	// ownVariableRe is a variable of Rapport's or its providers' named
	// anywhere in the docs: each must be one Rapport reads.
	ownVariableRe = regexp.MustCompile(`\b(?:RAPPORT|SENDGRID|TWILIO|LOB|SHOPIFY|SEGMENT)_[A-Z0-9_]*[A-Z0-9]\b`)
	// rowNameRe is a variable in the first cell of a table row.
	rowNameRe = regexp.MustCompile("`([A-Z][A-Z0-9_]*_[A-Z0-9_]*(?:<NAME>)?)`")
)

// variablesReadInCode lists every string literal of the repository's
// non-test Go code that is a whole variable name, such as
// env("RAPPORT_JOURNEYS", ...) or os.Getenv("RAPPORT_CODEC_TOKEN"): the
// variables read outside the settings (the commands' flags, the codec
// keys, the webhook endpoints), wherever the code that reads them moves.
func variablesReadInCode(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	fset := token.NewFileSet()
	err := filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != "../.." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil && variableRe.MatchString(s) {
					out[s] = true
				}
			}
			return true
		})
		return nil
	})
	require.NoError(t, err)
	return out
}

// docRow is a row of the variables' table: the variables its first cell
// names, and its default cell.
type docRow struct {
	names []string
	def   string
}

// configDocRows reads the rows of doc's tables by the variables they
// name.
func configDocRows(doc string) map[string]docRow {
	rows := map[string]docRow{}
	for _, line := range strings.Split(doc, "\n") {
		cells := strings.Split(line, "|")
		if !strings.HasPrefix(line, "| `") || len(cells) < 4 {
			continue
		}
		var row docRow
		for _, m := range rowNameRe.FindAllStringSubmatch(cells[1], -1) {
			row.names = append(row.names, m[1])
		}
		row.def = cells[2]
		for _, n := range row.names {
			rows[n] = row
		}
	}
	return rows
}

// configDocProblems says what doc gets wrong about the variables: one
// declared or read without a row of its own, a declared default its row
// does not give, and one named that nothing reads.
func configDocProblems(doc string, declared []declaredVariable, read map[string]bool) []string {
	rows := configDocRows(doc)
	var problems []string
	known := map[string]bool{}
	for _, v := range declared {
		known[v.key] = true
		row, ok := rows[v.key]
		switch {
		case !ok:
			problems = append(problems, v.key+" is declared (internal/app/settings.go) but has no row in docs/configuration.md")
		case v.hasDef && !strings.Contains(row.def, "`"+v.def+"`"):
			problems = append(problems, v.key+": the row's default does not give `"+v.def+"`, the declared default")
		}
	}
	for _, k := range append(slices.Sorted(maps.Keys(read)), temporalVariables...) {
		known[k] = true
		if _, ok := rows[k]; !ok {
			problems = append(problems, k+" is read but has no row in docs/configuration.md")
		}
	}
	seen := map[string]bool{}
	for _, name := range ownVariableRe.FindAllString(doc, -1) {
		if !known[name] && !seen[name] {
			seen[name] = true
			problems = append(problems, name+" is documented but nothing reads it")
		}
	}
	return problems
}

// TestConfigDocumented: docs/configuration.md has a row for every
// variable the settings declare and every one the code or the Temporal
// SDK reads elsewhere, gives each declared default, and names no variable
// of Rapport's or its providers' that nothing reads.
func TestConfigDocumented(t *testing.T) {
	data, err := os.ReadFile(configDoc)
	require.NoError(t, err)
	doc := string(data)
	declared := declaredVariables()
	read := variablesReadInCode(t)
	for _, k := range []string{"RAPPORT_CODEC_KEYS", "RAPPORT_WEBHOOK_ENDPOINTS_FILE", "RAPPORT_WORKER_DRAIN", "RAPPORT_JOURNEYS", "RAPPORT_API_KEY"} {
		require.True(t, read[k], "the scan of the code finds %s, read outside the settings", k)
	}
	assert.Empty(t, configDocProblems(doc, declared, read))
	t.Logf("%d variables declared, %d read in code, %d by the Temporal SDK", len(declared), len(read), len(temporalVariables))

	// The check finds a missing row, a default the docs no longer give,
	// and a stale variable.
	broken := regexp.MustCompile("(?m)^\\| `RAPPORT_TRUSTED_PROXIES`.*\n").ReplaceAllString(doc, "")
	broken = strings.Replace(broken, "| `RAPPORT_LOG_LEVEL` | `info` |", "| `RAPPORT_LOG_LEVEL` | `warn` |", 1)
	broken = strings.Replace(broken, "| `RAPPORT_LOG_FORMAT` |", "| `RAPPORT_LOG_STYLE` | | gone |\n| `RAPPORT_LOG_FORMAT` |", 1)
	require.NotEqual(t, doc, broken)
	assert.ElementsMatch(t, []string{
		"RAPPORT_TRUSTED_PROXIES is declared (internal/app/settings.go) but has no row in docs/configuration.md",
		"RAPPORT_LOG_LEVEL: the row's default does not give `info`, the declared default",
		"RAPPORT_LOG_STYLE is documented but nothing reads it",
	}, configDocProblems(broken, declared, read))
}
