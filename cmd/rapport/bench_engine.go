//go:build !production

package main

// The engine `rapport bench` measures on: Temporal's persistence
// (--temporal-db) and where the workers run (--workers).

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rapporthq/rapport/internal/devstack"
	"github.com/rapporthq/rapport/internal/devstack/pglocal"
)

// The values of --temporal-db.
const (
	benchSQLite   = "sqlite"   // the embedded server's in-memory SQLite, as rapport dev's tests
	benchPostgres = "postgres" // PostgreSQL, the store real clusters use
)

// benchEngine is what a bench runs on besides the dev stack: a database
// for Temporal on PostgreSQL, and worker processes.
type benchEngine struct {
	o benchOptions
	// temporalURL is Temporal's database with --temporal-db postgres
	// (its visibility database is the same name with "_visibility").
	temporalURL string
	serverURL   string // connects to the server to drop it
	workers     []*benchWorker
}

// benchWorker is one `rapport worker` process: the bench's (--bench), or
// a test's.
type benchWorker struct {
	name    string
	cmd     *exec.Cmd
	exited  chan error
	logPath string
}

// checkEngine checks --temporal-db and --workers.
func (o benchOptions) checkEngine() error {
	if o.TemporalDB != benchSQLite && o.TemporalDB != benchPostgres {
		return fmt.Errorf("--temporal-db: %q is not a Temporal persistence the bench knows; use sqlite (in memory, the default) or postgres", o.TemporalDB)
	}
	if o.Workers < 0 {
		return fmt.Errorf("--workers: %d; give 0 (the worker in this process) or more worker processes", o.Workers)
	}
	return nil
}

// engine describes the engine for the first line of the output.
func (o benchOptions) engine() string {
	temporal := fmt.Sprintf("Temporal on in-memory SQLite (%d history shard)", devstack.SQLiteHistoryShards)
	if o.TemporalDB == benchPostgres {
		temporal = fmt.Sprintf("Temporal on PostgreSQL (%d history shards)", devstack.PostgresHistoryShards)
	}
	switch o.Workers {
	case 0:
		return temporal + ", the worker in this process"
	case 1:
		return temporal + ", 1 worker process"
	default:
		return fmt.Sprintf("%s, %d worker processes", temporal, o.Workers)
	}
}

// heapNote says what (b)'s peak heap holds besides the scan.
func (o benchOptions) heapNote() string {
	if o.TemporalDB == benchPostgres {
		return "this process's: the embedded server's caches; the runs are in PostgreSQL"
	}
	return "the in-memory server holds the new runs"
}

// newBenchEngine prepares the engine o asks for. With --temporal-db
// postgres it creates Temporal's databases next to dbURL's (the bench's
// private database, whose name they take with temporal_ in front);
// dropDatabases removes them.
func newBenchEngine(ctx context.Context, o benchOptions, dbURL string) (*benchEngine, error) {
	e := &benchEngine{o: o, serverURL: dbURL}
	if o.TemporalDB != benchPostgres {
		return e, nil
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		return nil, fmt.Errorf("bench database URL: %w", err)
	}
	name := "temporal_" + strings.TrimPrefix(u.Path, "/")
	if e.temporalURL, err = pglocal.WithDatabase(dbURL, name); err != nil {
		return nil, err
	}
	if err := devstack.SetupPostgres(ctx, e.temporalURL); err != nil {
		e.dropDatabases()
		return nil, fmt.Errorf("the bench's Temporal databases: %w", err)
	}
	return e, nil
}

// dropDatabases drops Temporal's databases, if the bench made them. The
// server using them must be stopped first.
func (e *benchEngine) dropDatabases() {
	if e.temporalURL == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u, err := url.Parse(e.temporalURL)
	if err != nil {
		return
	}
	name := strings.TrimPrefix(u.Path, "/")
	for _, db := range []string{name, name + "_visibility"} {
		_ = pglocal.DropDatabase(ctx, e.serverURL, db)
	}
}

// startWorkers starts the worker processes --workers asks for: this
// executable's `rapport worker --bench`, against the stack's Temporal
// server and database, with the fake providers and the secret the stack
// uses. Each logs to a file in logDir. It returns once every one is
// ready (its /readyz answers).
func (e *benchEngine) startWorkers(ctx context.Context, d *devStack, journeysDir, logDir string) error {
	if e.o.Workers == 0 {
		return nil
	}
	bin, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the rapport executable for the worker processes: %w", err)
	}
	env, err := benchWorkerEnv(d, journeysDir)
	if err != nil {
		return err
	}
	for i := range e.o.Workers {
		w, err := startBenchWorker(ctx, bin, env, filepath.Join(logDir, fmt.Sprintf("worker-%d.log", i)), fmt.Sprintf("worker %d", i))
		if err != nil {
			e.stopWorkers()
			return err
		}
		e.workers = append(e.workers, w)
	}
	return nil
}

// benchWorkerEnv is the environment of the worker processes: this
// process's, without its Temporal, provider and database settings, and
// with the stack's.
func benchWorkerEnv(d *devStack, journeysDir string) ([]string, error) {
	secret, err := d.secret()
	if err != nil {
		return nil, err
	}
	journeys, err := filepath.Abs(journeysDir)
	if err != nil {
		return nil, err
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "TEMPORAL_") || strings.HasPrefix(k, "SENDGRID_") || strings.HasPrefix(k, "TWILIO_") ||
			strings.HasPrefix(k, "LOB_") || k == "DATABASE_URL" || k == "RAPPORT_OPS_ADDR" {
			continue
		}
		env = append(env, kv)
	}
	a := devReturnAddress
	sender := d.opts.Sender.Sender
	return append(env,
		"DATABASE_URL="+d.DatabaseURL, "TEMPORAL_ADDRESS="+d.TemporalAddress, "TEMPORAL_NAMESPACE="+d.temporal.Namespace(),
		"RAPPORT_SECRET="+string(secret), "RAPPORT_JOURNEYS="+journeys, "RAPPORT_PUBLIC_URL="+d.APIURL,
		// The stack's sender: worker processes with provider keys refuse
		// to start without one set.
		"RAPPORT_EMAIL_FROM="+sender.EmailFrom, "RAPPORT_EMAIL_FROM_NAME="+sender.EmailFromName, "RAPPORT_SHOP_NAME="+sender.Shop.Name,
		"RAPPORT_SHOP_URL="+sender.Shop.URL, "RAPPORT_SUPPORT_EMAIL="+sender.Shop.SupportEmail,
		"SENDGRID_API_KEY="+devSendGridKey, "SENDGRID_BASE_URL="+d.FakesURL,
		"TWILIO_ACCOUNT_SID="+devTwilioSID, "TWILIO_AUTH_TOKEN="+devTwilioToken, "TWILIO_FROM="+devTwilioFrom, "TWILIO_BASE_URL="+d.FakesURL,
		"LOB_API_KEY="+devLobKey, "LOB_BASE_URL="+d.FakesURL,
		"RAPPORT_MAIL_FROM_NAME="+a.Name, "RAPPORT_MAIL_FROM_LINE1="+a.Line1, "RAPPORT_MAIL_FROM_LINE2="+a.Line2,
		"RAPPORT_MAIL_FROM_CITY="+a.City, "RAPPORT_MAIL_FROM_STATE="+a.State, "RAPPORT_MAIL_FROM_POSTAL_CODE="+a.PostalCode,
		"RAPPORT_MAIL_FROM_COUNTRY="+a.Country,
		"RAPPORT_LOG_LEVEL=warn",
	), nil
}

// startBenchWorker starts one worker process of the bench (`rapport
// worker --bench`) and waits until it is ready.
func startBenchWorker(ctx context.Context, bin string, env []string, logPath, name string) (*benchWorker, error) {
	return startWorkerProcess(ctx, bin, env, logPath, name, "--bench")
}

// startWorkerProcess starts `bin worker` with flags, logging to logPath,
// and waits until its /readyz answers.
func startWorkerProcess(ctx context.Context, bin string, env []string, logPath, name string, flags ...string) (*benchWorker, error) {
	port, err := freeLocalPort()
	if err != nil {
		return nil, err
	}
	ops := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, append([]string{"worker", "--ops-addr", ops}, flags...)...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = lf, lf
	// Its own process group, so Ctrl-C reaches the bench only, which
	// stops the workers; and it dies with the bench.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("start %s (%s worker): %w", name, bin, err)
	}
	w := &benchWorker{name: name, cmd: cmd, exited: make(chan error, 1), logPath: logPath}
	go func() { w.exited <- cmd.Wait(); lf.Close() }()
	if err := w.waitReady(ctx, "http://"+ops+"/readyz", 2*time.Minute); err != nil {
		w.stop()
		return nil, err
	}
	return w, nil
}

// waitReady waits until the worker's /readyz answers 200, failing early
// when the process exits.
func (w *benchWorker) waitReady(ctx context.Context, readyz string, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, readyz, nil)
		if err != nil {
			return err
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-w.exited:
			w.exited <- err // for stop
			return fmt.Errorf("%s exited before it was ready (%v): %s", w.name, err, logTail(w.logPath))
		case <-ctx.Done():
			return fmt.Errorf("%s was not ready within %s: %s", w.name, within, logTail(w.logPath))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stopWorkers stops the worker processes, together: SIGTERM, then
// SIGKILL for one still running after 15 s.
func (e *benchEngine) stopWorkers() {
	done := make(chan struct{}, len(e.workers))
	for _, w := range e.workers {
		go func() { w.stop(); done <- struct{}{} }()
	}
	for range e.workers {
		<-done
	}
	e.workers = nil
}

func (w *benchWorker) stop() {
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.exited:
	case <-time.After(15 * time.Second):
		_ = w.cmd.Process.Kill()
		<-w.exited
	}
}

// freeLocalPort returns a port nothing listens on at 127.0.0.1.
func freeLocalPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// logTail is the end of a log file, for an error message.
func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	s := strings.TrimSpace(string(b))
	if len(s) > 2000 {
		s = "..." + s[len(s)-2000:]
	}
	if s == "" {
		return "its log is empty"
	}
	return "its log ends:\n" + s
}
