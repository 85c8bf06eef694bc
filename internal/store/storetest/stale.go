package storetest

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"regexp"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rapporthq/rapport/internal/devstack/pglocal"
)

// A test database is named rapport_test_<host>_<pid>_<unix seconds>_<random>:
// the machine and process that made it, and when. That is what lets a later
// test run tell the databases of a killed run from those of a run still
// going, on this machine or another one sharing the server.

// StaleAfter is how old a test database must be to be dropped although its
// maker cannot be seen to have ended (it ran on another machine, or its
// process id has been reused). No test runs that long.
const StaleAfter = 24 * time.Hour

var testDatabase = regexp.MustCompile(`^rapport_test_([0-9a-f]{8})_([0-9]+)_([0-9]+)_[0-9a-f]+$`)

// databaseName names a new test database made now by this process.
func databaseName(now time.Time) string {
	return fmt.Sprintf("rapport_test_%s_%d_%d_%s", hostTag(), os.Getpid(), now.Unix(), randomSuffix())
}

// hostTag is a short hash of this machine's name.
func hostTag() string {
	name, err := os.Hostname()
	if err != nil {
		name = "unknown"
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	return fmt.Sprintf("%08x", h.Sum32())
}

// stale reports whether the test database name belongs to a test process
// that has ended: one of this machine whose process is gone, or any made
// more than StaleAfter before now. Names in another form are never stale:
// they are not ours to drop.
func stale(name string, now time.Time) bool {
	m := testDatabase.FindStringSubmatch(name)
	if m == nil {
		return false
	}
	pid, err1 := strconv.Atoi(m[2])
	made, err2 := strconv.ParseInt(m[3], 10, 64)
	if err1 != nil || err2 != nil {
		return false
	}
	if now.Sub(time.Unix(made, 0)) > StaleAfter {
		return true
	}
	return m[1] == hostTag() && pid != os.Getpid() && !processRuns(pid)
}

// processRuns reports whether a process with this id runs on this machine.
func processRuns(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// DropStale drops the test databases on the server that test runs killed
// before they could drop them (see stale), and returns their names. A test
// binary calls it once, when it first reaches the server; databases of test
// processes still running are left alone.
func DropStale(ctx context.Context, serverURL string, now time.Time) ([]string, error) {
	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	rows, err := conn.Query(ctx, `SELECT datname FROM pg_database WHERE datname LIKE 'rapport\_test\_%'`)
	if err != nil {
		conn.Close(ctx)
		return nil, fmt.Errorf("list test databases: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	conn.Close(ctx)
	if err != nil {
		return nil, fmt.Errorf("list test databases: %w", err)
	}
	var dropped []string
	var errs []error
	for _, name := range names {
		if !stale(name, now) {
			continue
		}
		if err := pglocal.DropDatabase(ctx, serverURL, name); err != nil {
			errs = append(errs, fmt.Errorf("drop %s: %w", name, err))
			continue
		}
		dropped = append(dropped, name)
	}
	return dropped, errors.Join(errs...)
}
