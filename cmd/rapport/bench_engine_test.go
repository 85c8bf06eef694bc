//go:build !production

package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBenchOnPostgresWithWorkerProcesses runs part (a) of the bench on
// Temporal with PostgreSQL persistence and two `rapport worker`
// processes: a built rapport binary, so that the bench starts the same
// binary as its workers. The bench itself checks that the SendGrid fake
// got one email per journey; no in-process worker runs, so every journey
// that completes ran in a worker process.
func TestBenchOnPostgresWithWorkerProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds rapport and runs the bench on PostgreSQL with worker processes; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "rapport")
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/rapporthq/rapport/cmd/rapport").CombinedOutput()
	require.NoError(t, err, "build rapport: %s", out)

	cmd := exec.CommandContext(ctx, bin, "bench", "--journeys-dir=../../journeys", "--temporal-db=postgres", "--workers=2", "--skip=b,c,d,paths", "--journeys=20", "--concurrency=6", "--rounds=2")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	require.NoError(t, err, "%s%s", stdout, stderr.String())
	t.Logf("%s", stdout)
	lines := strings.Split(strings.TrimSpace(string(stdout)), "\n")
	assert.Regexp(t, `^bench: go\S+, \d+ CPUs, \d{4}-\d\d-\d\d, Temporal on PostgreSQL \(\d+ history shards\), 2 worker processes$`, lines[0])
	assert.Regexp(t, `(?m)^    \d+ emails received by the SendGrid fake, one per journey$`, string(stdout))
	assert.Regexp(t, `^ratio interpreted/hand-written: \d+\.\d\d$`, lines[len(lines)-1])
}

// TestBenchRejectsAnUnknownEngine: --temporal-db, --workers and (d)'s
// flags are checked before anything starts.
func TestBenchRejectsAnUnknownEngine(t *testing.T) {
	_, _, err := run("bench", "--temporal-db=mysql")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `--temporal-db: "mysql" is not a Temporal persistence the bench knows; use sqlite (in memory, the default) or postgres`)
	_, _, err = run("bench", "--workers=-1")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--workers: -1")
	_, _, err = run("bench", "--lanes=on,fast")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `--lanes: "fast"; give one or more of off, on, queues`)
	_, _, err = run("bench", "--scale=0")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--scale: 0")
}
