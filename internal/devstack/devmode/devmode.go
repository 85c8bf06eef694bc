// Package devmode runs all of Rapport in one process, as `rapport dev`
// does: the embedded Temporal server (internal/devstack), PostgreSQL
// (pglocal), the fake SendGrid, Twilio and Lob, a worker, the API and its
// probes. The tests of cmd/rapport, `rapport simulate` and `rapport bench`
// start the same stack. It is dev-only: the production build links none
// of it.
package devmode

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"

	"github.com/rapporthq/rapport/internal/api"
	"github.com/rapporthq/rapport/internal/app"
	"github.com/rapporthq/rapport/internal/devstack"
	"github.com/rapporthq/rapport/internal/devstack/pglocal"
	"github.com/rapporthq/rapport/internal/fakes"
	"github.com/rapporthq/rapport/internal/metrics"
	"github.com/rapporthq/rapport/internal/store"
)

// Credentials the dev fakes accept.
const (
	SendGridKey      = "SG.rapport-dev"
	TwilioSID        = "ACdeadbeefdeadbeefdeadbeefdeadbeef"
	TwilioToken      = "rapportdevtoken"
	TwilioFrom       = "+15005550006"
	LobKey           = "test_rapport_dev"
	LobWebhookSecret = "rapport-dev-lob-webhooks"
	// ShopifySecret signs Shopify webhooks in dev mode unless
	// SHOPIFY_WEBHOOK_SECRET is set.
	ShopifySecret = "rapport-dev-shopify-webhooks"
)

// Options configures a stack.
type Options struct {
	StateDir     string // .rapport: Temporal's SQLite file, a private Postgres cluster
	JourneysDir  string
	IP           string
	TemporalPort int
	UIPort       int // -1: no UI
	APIPort      int
	FakesPort    int
	// OpsPort serves /healthz, /readyz and /metrics, apart from the API
	// (0: any free port, -1: none).
	OpsPort int
	// DatabaseURL, when set, is used as is (tests give each run its own
	// database); otherwise DATABASE_URL, 127.0.0.1:5432 or a private
	// cluster.
	DatabaseURL string
	// InMemory keeps Temporal's state in memory instead of StateDir.
	InMemory bool
	// TemporalPostgresURL, when set, keeps Temporal's state in this
	// PostgreSQL database instead (InMemory and StateDir are then
	// ignored for it; see devstack.TemporalOptions.PostgresURL).
	TemporalPostgresURL string
	// NoWorker starts no worker in this process: workers run elsewhere
	// (the worker processes of `rapport bench --workers N`).
	NoWorker bool
	NoDemo   bool
	// DayLength makes journeys run faster: a day lasts this long (--day).
	DayLength time.Duration
	// TaskDueFloor keeps staff tasks due at least this long after they
	// appear when DayLength is set (--task-due-floor), so a person can do
	// them; 0 scales them with the day.
	TaskDueFloor time.Duration
	// Sender is the configuration (nil: read from the environment).
	Sender *app.Config
	// SweepInterval is how often unrouted events are retried (default 15s).
	SweepInterval time.Duration
	// Interceptors wrap the worker (tests use them to inject faults).
	Interceptors []interceptor.WorkerInterceptor
	// RetryBudget is the worker's retry budget (--retry-budget; 0: 24h).
	RetryBudget time.Duration
	// PinRevision caps the interpreter revision runs record (tests stand
	// for a fleet of an older release with it; 0: no cap).
	PinRevision int
	// RunRecordTimeout is how long the answer to a change of a task
	// waits for its run to record it (0: api.DefaultRunRecordTimeout).
	RunRecordTimeout time.Duration
	// Register adds workflows and activities to the worker (the bench's
	// hand-written workflow).
	Register func(worker.Registry)
	// Encrypt encrypts payloads in Temporal and serves a codec server on
	// CodecPort for the UI (--encrypt).
	Encrypt   bool
	CodecPort int
	// ParkAudienceJourneys makes audience runs start journeys on a task
	// queue no worker polls (the bench measures starts, not journeys).
	ParkAudienceJourneys bool
	// NoLanes starts runs without priority or fairness keys, in arrival
	// order (the bench compares; see router.Router.NoLanes).
	NoLanes bool
	// TransactionalQueue, when set, is a task queue of their own for the
	// runs of the first lane (transactional, started by an event), which
	// a second worker in this process polls: the fallback to priority the
	// bench measures (router.Router.LaneQueue).
	TransactionalQueue string
	// Log receives the stack's logs (nil: none).
	Log *slog.Logger
	// PublicLimit, when set, replaces the rate limits of the customer
	// pages and webhooks: a simulated crowd all comes from 127.0.0.1.
	PublicLimit *api.PublicLimit
	// WebhookTransport, when set, wraps the webhook channel's transport
	// (tests stage faults with it).
	WebhookTransport func(http.RoundTripper) http.RoundTripper
}

// laneQueue is the router's LaneQueue for TransactionalQueue, nil
// without one.
func (o Options) laneQueue() func(int) string {
	if o.TransactionalQueue == "" {
		return nil
	}
	return func(key int) string {
		if key == 1 {
			return o.TransactionalQueue
		}
		return ""
	}
}

// withDefaults fills in the logger and the configuration.
func (o Options) withDefaults() (Options, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Sender == nil {
		cfg, err := app.ConfigFromEnv(app.OSEnv{})
		if err != nil {
			return o, err
		}
		o.Sender = &cfg
	}
	return o, nil
}

// CrowdLimit lets a simulated crowd, all on 127.0.0.1, through the rate
// limits meant for one person each.
func CrowdLimit() *api.PublicLimit {
	return &api.PublicLimit{Rate: 10000, Burst: 10000, WebhookRate: 10000, WebhookBurst: 10000}
}

// Stack is everything `rapport dev` runs, in one process.
type Stack struct {
	// Opts are the options it started with, defaults filled in.
	Opts Options
	Log  *slog.Logger
	// Temporal is the embedded server (a test that stops it and starts
	// another sets it, so that Stop stops the new one).
	Temporal *devstack.Temporal
	Store    *store.Store
	Client   client.Client
	// Worker is the worker of this process (nil with NoWorker); a test
	// that replaces a worker that "died" sets it, made by NewWorker.
	Worker    worker.Worker
	NewWorker func() worker.Worker
	// LaneWorker polls Options.TransactionalQueue, when set.
	LaneWorker worker.Worker
	Fakes      *fakes.Fakes
	Metrics    *metrics.Metrics

	APIURL, FakesURL, UIURL, TemporalAddress string
	// OpsURL serves /healthz, /readyz and /metrics ("" with OpsPort -1).
	OpsURL string
	// CodecURL is the codec server (with Encrypt); codecToken opens it.
	CodecURL   string
	codecToken string
	// DatabaseURL is the PostgreSQL database the stack uses, and
	// PostgresSource says where it came from.
	DatabaseURL, PostgresSource string
	// APIKey is an admin key for /v1, also in StateDir/api-key.
	APIKey string

	pg      *pglocal.Server
	servers []*http.Server
	cancel  context.CancelFunc
	unlock  func() // releases the state folder (LockStateDir)
}

// Start starts the whole stack and returns once it accepts requests.
func Start(ctx context.Context, opts Options) (_ *Stack, err error) {
	if opts, err = opts.withDefaults(); err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	s := &Stack{Opts: opts, Log: opts.Log, cancel: cancel}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	// Journeys first: a broken journey should fail fast, before anything
	// slow starts.
	js, err := app.LoadJourneys(opts.JourneysDir)
	if err != nil {
		return nil, err
	}
	if err := s.takeStateDir(); err != nil {
		return nil, err
	}
	if err := s.openStore(ctx, js); err != nil {
		return nil, err
	}
	dc, err := s.startTemporal(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.startFakes(); err != nil {
		return nil, err
	}
	if err := s.startRapport(ctx, runCtx, js, dc); err != nil {
		return nil, err
	}
	if !opts.NoDemo {
		if err := SeedDemo(ctx, s.Store); err != nil {
			return nil, fmt.Errorf("demo customers: %w", err)
		}
	}
	return s, nil
}

// takeStateDir makes the state folder, locks it for this process and
// checks the ports are free.
func (s *Stack) takeStateDir() (err error) {
	if err := os.MkdirAll(s.Opts.StateDir, 0o755); err != nil {
		return err
	}
	if s.unlock, err = LockStateDir(s.Opts.StateDir); err != nil {
		return err
	}
	return CheckPorts(s.Opts)
}

// openStore finds the database, migrates it, saves the journeys'
// templates and keeps the admin key.
func (s *Stack) openStore(ctx context.Context, js *app.Journeys) (err error) {
	if s.DatabaseURL, err = s.startPostgres(ctx); err != nil {
		return err
	}
	secret, err := s.Secret()
	if err != nil {
		return err
	}
	if s.Store, err = store.Open(ctx, s.DatabaseURL, store.WithHashKey(secret)); err != nil {
		return err
	}
	if err := s.Store.Migrate(ctx, s.Log); err != nil {
		return err
	}
	if err := app.SaveTemplateVersions(ctx, s.Store, js.Templates); err != nil {
		return err
	}
	s.APIKey, err = APIKey(ctx, s.Store, s.Opts.StateDir)
	return err
}

// Stop shuts everything down in reverse order.
func (s *Stack) Stop() {
	if s.Fakes != nil {
		s.Fakes.StopWebhooks() // the API they post to is going away
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := len(s.servers) - 1; i >= 0; i-- {
		_ = s.servers[i].Shutdown(ctx)
	}
	s.cancel()
	if s.Worker != nil {
		s.Worker.Stop()
	}
	if s.LaneWorker != nil {
		s.LaneWorker.Stop()
	}
	if s.Client != nil {
		s.Client.Close()
	}
	if s.Metrics != nil {
		_ = s.Metrics.Close()
	}
	if s.Temporal != nil {
		s.Temporal.Stop()
	}
	if s.Store != nil {
		s.Store.Close()
	}
	if s.pg != nil {
		_ = s.pg.Stop()
	}
	if s.unlock != nil {
		s.unlock()
	}
}
