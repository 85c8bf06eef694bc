package storetest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/devstack/pglocal"
)

// deadPID is the id of a process that has ended.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	require.NoError(t, cmd.Run())
	pid := cmd.Process.Pid
	require.False(t, processRuns(pid), "process %d has ended", pid)
	return pid
}

// A database left by a killed test run is dropped by the next one; the
// databases of test processes still running, here or on another machine,
// and databases not named like test databases stay.
func TestDropStaleDropsOnlyDatabasesOfEndedRuns(t *testing.T) {
	srv := Server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	now := time.Now()
	host, other := hostTag(), "0badf00d"
	if host == other {
		other = "0badf00e"
	}
	name := func(host string, pid int, made time.Time) string {
		return fmt.Sprintf("rapport_test_%s_%d_%d_%s", host, pid, made.Unix(), randomSuffix())
	}
	parent := os.Getppid() // the go command: runs as long as this test does
	killedHere := name(host, deadPID(t), now.Add(-time.Minute))
	oldElsewhere := name(other, 1, now.Add(-StaleAfter-time.Hour))
	keep := map[string]string{
		"this process":                 name(host, os.Getpid(), now),
		"another running process":      name(host, parent, now.Add(-time.Hour)),
		"a recent one of another host": name(other, 1, now.Add(-time.Hour)),
		"named otherwise":              "rapport_test_" + randomSuffix(),
	}
	all := []string{killedHere, oldElsewhere}
	for _, n := range keep {
		all = append(all, n)
	}
	for _, n := range all {
		require.NoError(t, pglocal.EnsureDatabase(ctx, srv.URL, n))
		t.Cleanup(func() { _ = pglocal.DropDatabase(context.Background(), srv.URL, n) })
	}

	dropped, err := DropStale(ctx, srv.URL, now)
	require.NoError(t, err)
	assert.Contains(t, dropped, killedHere)
	assert.Contains(t, dropped, oldElsewhere)
	present := databases(t, ctx, srv.URL)
	assert.NotContains(t, present, killedHere)
	assert.NotContains(t, present, oldElsewhere)
	for why, n := range keep {
		assert.NotContains(t, dropped, n, why)
		assert.Contains(t, present, n, why)
	}
}

// New names its databases so DropStale can tell whose they are, and leaves
// them alone while the test runs.
func TestNewNamesDatabasesForTheirProcess(t *testing.T) {
	_, dbURL := New(t)
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	name := strings.TrimPrefix(u.Path, "/")
	m := testDatabase.FindStringSubmatch(name)
	require.NotNil(t, m, name)
	assert.Equal(t, hostTag(), m[1])
	assert.Equal(t, fmt.Sprint(os.Getpid()), m[2])
	assert.False(t, stale(name, time.Now()))
	assert.True(t, stale(name, time.Now().Add(StaleAfter+time.Minute)), "even a running process's database goes after StaleAfter")
}

func databases(t *testing.T, ctx context.Context, serverURL string) map[string]bool {
	t.Helper()
	conn, err := pgx.Connect(ctx, serverURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT datname FROM pg_database")
	require.NoError(t, err)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	present := map[string]bool{}
	for _, n := range names {
		present[n] = true
	}
	return present
}
