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
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Fatalf("workflowcheck found non-deterministic workflow code (%v):\n%s", err, out)
	}
}
