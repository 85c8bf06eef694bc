// Package pglocal finds or starts a PostgreSQL server for `rapport dev` and
// the tests: the server in DATABASE_URL, else one already listening on
// 127.0.0.1:5432, else a private cluster started from the PostgreSQL
// binaries installed on this machine.
package pglocal

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultLocalURL is where a machine's own PostgreSQL usually listens.
const DefaultLocalURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// Server is a PostgreSQL server Rapport can use.
type Server struct {
	// URL connects to the server's maintenance database (or, when it came
	// from DATABASE_URL, to exactly what the user gave).
	URL string
	// Source says where the server came from, for messages: "DATABASE_URL",
	// "127.0.0.1:5432" or the cluster's data directory.
	Source string
	// cluster is the private cluster this package started (nil for a
	// server that was already running).
	cluster *cluster
}

// Stop stops a cluster this package started (a fast shutdown: sessions
// are disconnected); it does nothing for servers that were already
// running.
func (s *Server) Stop() error {
	if s.cluster == nil {
		return nil
	}
	return s.cluster.stop()
}

// Start starts again a private cluster that Stop stopped, on the same
// port, and returns once it accepts connections. It fails for a server
// this package did not start.
func (s *Server) Start(ctx context.Context) error {
	if s.cluster == nil {
		return errors.New("pglocal: only a private cluster can be started again")
	}
	return s.cluster.start(ctx)
}

// Options says where a private cluster may live.
type Options struct {
	// DataDir is where a private cluster is created (initdb) if one is
	// needed. Reused when it already holds a cluster.
	DataDir string
	// SkipLocal ignores a server on 127.0.0.1:5432.
	SkipLocal bool
	// Private always starts a private cluster in DataDir, ignoring
	// DATABASE_URL and 127.0.0.1:5432 (what must be stopped and started
	// again, as `rapport chaos` does, must be ours).
	Private bool
	// Log receives progress messages; may be nil.
	Log func(format string, args ...any)
}

// Find returns a server: DATABASE_URL, else 127.0.0.1:5432, else a private
// cluster in opts.DataDir started from the installed binaries.
func Find(ctx context.Context, opts Options) (*Server, error) {
	logf := opts.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if opts.Private {
		if opts.DataDir == "" {
			return nil, errors.New("a private PostgreSQL cluster needs a data directory")
		}
		return startCluster(ctx, opts.DataDir, logf)
	}
	if u := os.Getenv("DATABASE_URL"); u != "" {
		if err := ping(ctx, u); err != nil {
			return nil, fmt.Errorf("DATABASE_URL is set but PostgreSQL there does not answer: %w", err)
		}
		return &Server{URL: u, Source: "DATABASE_URL"}, nil
	}
	if !opts.SkipLocal {
		if err := ping(ctx, DefaultLocalURL); err == nil {
			return &Server{URL: DefaultLocalURL, Source: "127.0.0.1:5432"}, nil
		}
	}
	if opts.DataDir == "" {
		return nil, errors.New("no PostgreSQL: DATABASE_URL is not set, nothing answers on 127.0.0.1:5432, and no data directory was given for a private cluster")
	}
	return startCluster(ctx, opts.DataDir, logf)
}

func ping(ctx context.Context, u string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.Ping(ctx)
}

// BinDir finds the directory holding initdb and postgres.
func BinDir() (string, error) {
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dir := strings.TrimSpace(string(out))
		if _, err := os.Stat(filepath.Join(dir, "initdb")); err == nil {
			return dir, nil
		}
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(matches, func(i, j int) bool { return versionOf(matches[i]) > versionOf(matches[j]) })
	if len(matches) > 0 {
		return filepath.Dir(matches[0]), nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("PostgreSQL is not installed: no initdb found. Install it (Debian/Ubuntu: sudo apt-get install postgresql; macOS: brew install postgresql) or set DATABASE_URL to a server you have")
}

func versionOf(initdb string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return v
}

// startCluster creates (if needed) and starts a private cluster listening
// on a free port on 127.0.0.1, with its socket in the data directory.
func startCluster(ctx context.Context, dataDir string, logf func(string, ...any)) (*Server, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	dataDir, err = filepath.Abs(dataDir)
	if err != nil {
		return nil, err
	}
	// initdb and postgres refuse to run as root; run them as the postgres
	// system user then, with the directory handed over to it.
	var runAs *user.User
	if os.Geteuid() == 0 {
		if runAs, err = user.Lookup("postgres"); err != nil {
			return nil, errors.New("running as root, and PostgreSQL refuses to run as root: create a postgres system user (the postgresql package does) or set DATABASE_URL")
		}
	}
	if runAs != nil && !reachableByOthers(filepath.Dir(dataDir)) {
		// The postgres user cannot reach a folder under root's home; keep
		// the cluster in the system temp folder instead of loosening
		// permissions on the user's files.
		sum := sha256.Sum256([]byte(dataDir))
		alt := filepath.Join(os.TempDir(), "rapport-postgres-"+hex.EncodeToString(sum[:6]))
		logf("%s is not reachable by the postgres user; keeping the cluster in %s", dataDir, alt)
		dataDir = alt
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dataDir, err)
	}
	if runAs != nil {
		if err := chownTree(dataDir, runAs); err != nil {
			return nil, err
		}
	}
	if _, err := os.Stat(filepath.Join(dataDir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		logf("creating a PostgreSQL cluster in %s", dataDir)
		cmd := command(runAs, filepath.Join(bin, "initdb"), "-D", dataDir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("initdb %s: %w\n%s", dataDir, err, out)
		}
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	c := &cluster{bin: bin, dataDir: dataDir, port: port, runAs: runAs}
	if err := c.start(ctx); err != nil {
		return nil, err
	}
	return &Server{URL: c.url(), Source: dataDir, cluster: c}, nil
}

// cluster is a private PostgreSQL cluster: its data directory and port,
// and its server process while it runs.
type cluster struct {
	bin, dataDir string
	port         int
	runAs        *user.User
	mu           sync.Mutex
	cmd          *exec.Cmd
	exited       chan error
}

func (c *cluster) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// start starts the server process and waits until it accepts connections.
func (c *cluster) start(ctx context.Context) error {
	c.mu.Lock()
	if c.cmd != nil {
		c.mu.Unlock()
		return errors.New("pglocal: the cluster is already running")
	}
	logFile := filepath.Join(c.dataDir, "postgres.log")
	cmd := command(c.runAs, filepath.Join(c.bin, "postgres"), "-D", c.dataDir, "-h", "127.0.0.1", "-p", strconv.Itoa(c.port), "-k", c.dataDir, "-c", "fsync=off", "-c", "max_connections=200")
	lf, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.mu.Unlock()
		return err
	}
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr.Setpgid = true // Ctrl-C in a terminal goes to us; we stop it cleanly
	// If we die without stopping it (a test binary killed on timeout), the
	// server stops too instead of lingering.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGINT
	if err := cmd.Start(); err != nil {
		lf.Close()
		c.mu.Unlock()
		return fmt.Errorf("start postgres: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); lf.Close() }()
	c.cmd, c.exited = cmd, exited
	c.mu.Unlock()

	u := c.url()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := ping(ctx, u); err == nil {
			return nil
		}
		select {
		case err := <-exited:
			c.mu.Lock()
			c.cmd = nil
			c.mu.Unlock()
			log, _ := os.ReadFile(logFile)
			return fmt.Errorf("postgres exited during start (%v); its log %s says:\n%s", err, logFile, tail(string(log), 20))
		case <-ctx.Done():
			c.stop()
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.stop()
			return fmt.Errorf("postgres in %s did not accept connections within 30s; see %s", c.dataDir, logFile)
		}
	}
}

// stop shuts the server process down (fast shutdown), if it runs.
func (c *cluster) stop() error {
	c.mu.Lock()
	cmd, exited := c.cmd, c.exited
	c.cmd = nil
	c.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(syscall.SIGINT) // fast shutdown
	select {
	case <-exited:
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
	return nil
}

func command(runAs *user.User, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	if runAs != nil {
		uid, _ := strconv.Atoi(runAs.Uid)
		gid, _ := strconv.Atoi(runAs.Gid)
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		cmd.Dir = "/"
		cmd.Env = append(os.Environ(), "HOME="+runAs.HomeDir)
	}
	return cmd
}

// reachableByOthers reports whether every existing folder on the way to dir
// lets other users pass through (the execute bit for others).
func reachableByOthers(dir string) bool {
	for p := dir; ; p = filepath.Dir(p) {
		if st, err := os.Stat(p); err == nil && st.Mode().Perm()&0o001 == 0 {
			return false
		}
		if p == "/" || p == "." {
			return true
		}
	}
}

func chownTree(dir string, u *user.User) error {
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// WithDatabase returns u with its database name replaced.
func WithDatabase(u, database string) (string, error) {
	parsed, err := url.Parse(u)
	if err != nil || (parsed.Scheme != "postgres" && parsed.Scheme != "postgresql") {
		// keyword/value form: append dbname, the last one wins
		if !strings.Contains(u, "://") {
			return u + " dbname=" + database, nil
		}
		return "", fmt.Errorf("cannot parse database URL: %v", err)
	}
	parsed.Path = "/" + database
	return parsed.String(), nil
}

// EnsureDatabase creates a database on the server unless it exists.
func EnsureDatabase(ctx context.Context, serverURL, name string) error {
	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr interface{ SQLState() string }
	if errors.As(err, &pgErr) && pgErr.SQLState() == "42P04" { // created concurrently
		return nil
	}
	return err
}

// DropDatabase drops a database, disconnecting its sessions.
func DropDatabase(ctx context.Context, serverURL, name string) error {
	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	return err
}
