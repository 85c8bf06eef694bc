package workflows

import (
	"os/exec"
	"strings"
	"testing"
)

// TestWorkflowcheck runs Temporal's workflowcheck analyzer over this package:
// workflow code must not read the clock, start goroutines, use channels,
// iterate maps or do I/O. Exceptions are listed, with reasons, in
// workflowcheck.config.yaml at the module root.
func TestWorkflowcheck(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the analyzer over the whole dependency graph; skipped with -short")
	}
	cmd := exec.Command("go", "tool", "workflowcheck", "-config", "workflowcheck.config.yaml", "./workflows/...")
	cmd.Dir = ".."
	out, err := cmd.CombinedOutput()
	if findings := analyzerOutput(string(out)); err != nil || findings != "" {
		t.Fatalf("workflowcheck found non-deterministic workflow code (%v):\n%s", err, out)
	}
}

// analyzerOutput is what the analyzer said, without the go command's notes
// about modules it downloaded to build it (a machine with a cold module
// cache prints them).
func analyzerOutput(out string) string {
	var kept []string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "go: downloading ") || strings.TrimSpace(line) == "" {
			continue
		}
		kept = append(kept, line)
	}
	return strings.Join(kept, "\n")
}
