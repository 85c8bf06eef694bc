package storetest

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rapporthq/rapport/internal/devstack/pglocal"
)

// Dump returns the data of the database at url as pg_dump --data-only
// writes it: every row of every table, for tests that must show something
// is nowhere in the database (an erased customer's email, say).
func Dump(t testing.TB, url string) string {
	t.Helper()
	dir, err := pglocal.BinDir()
	if err != nil {
		t.Fatalf("pg_dump: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(dir, "pg_dump"), "--data-only", "--no-owner", "--dbname="+url)
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("pg_dump: %v: %s", err, strings.TrimSpace(stderr))
	}
	return string(out)
}

// LinesWith returns the lines of a dump holding s, in any case: what a
// failing test should show, rather than the whole dump.
func LinesWith(dump, s string) []string {
	var out []string
	for _, line := range strings.Split(dump, "\n") {
		if strings.Contains(strings.ToLower(line), strings.ToLower(s)) {
			out = append(out, line)
		}
	}
	return out
}
