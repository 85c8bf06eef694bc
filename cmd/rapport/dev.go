//go:build !production

package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"

	"github.com/rapporthq/rapport/internal/api"
	"github.com/rapporthq/rapport/internal/apikey"
	"github.com/rapporthq/rapport/internal/app"
	"github.com/rapporthq/rapport/internal/channels"
	"github.com/rapporthq/rapport/internal/channels/printmail"
	"github.com/rapporthq/rapport/internal/channels/sendgrid"
	"github.com/rapporthq/rapport/internal/channels/twilio"
	"github.com/rapporthq/rapport/internal/channels/webhook"
	"github.com/rapporthq/rapport/internal/codec"
	"github.com/rapporthq/rapport/internal/devstack"
	"github.com/rapporthq/rapport/internal/devstack/pglocal"
	"github.com/rapporthq/rapport/internal/fakes"
	"github.com/rapporthq/rapport/internal/links"
	"github.com/rapporthq/rapport/internal/metrics"
	"github.com/rapporthq/rapport/internal/money"
	"github.com/rapporthq/rapport/internal/ops"
	"github.com/rapporthq/rapport/internal/phone"
	"github.com/rapporthq/rapport/internal/store"
)

// Credentials the dev fakes accept.
const (
	devSendGridKey      = "SG.rapport-dev"
	devTwilioSID        = "ACdeadbeefdeadbeefdeadbeefdeadbeef"
	devTwilioToken      = "rapportdevtoken"
	devTwilioFrom       = "+15005550006"
	devLobKey           = "test_rapport_dev"
	devLobWebhookSecret = "rapport-dev-lob-webhooks"
	// devShopifySecret signs Shopify webhooks in dev mode unless
	// SHOPIFY_WEBHOOK_SECRET is set.
	devShopifySecret = "rapport-dev-shopify-webhooks"
	devSecretFile    = "secret"
	devSecretEnvName = "RAPPORT_SECRET"
)

// devReturnAddress is where dev mode's letters come from.
var devReturnAddress = channels.PostalAddress{Name: "The Shop", Line1: "185 Berry St", Line2: "Suite 6100", City: "San Francisco", State: "CA", PostalCode: "94107", Country: "US"}

// devOptions configures `rapport dev`.
type devOptions struct {
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
	Sender       *app.Config
	// SweepInterval is how often unrouted events are retried (default 15s).
	SweepInterval time.Duration
	// Interceptors wrap the worker (tests use them to inject faults).
	Interceptors []interceptor.WorkerInterceptor
	// RetryBudget is the worker's retry budget (--retry-budget; 0: 24h).
	RetryBudget time.Duration
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
	Log                *slog.Logger
	// PublicLimit, when set, replaces the rate limits of the customer
	// pages and webhooks: a simulated crowd all comes from 127.0.0.1.
	PublicLimit *api.PublicLimit
	// WebhookTransport, when set, wraps the webhook channel's transport
	// (tests stage faults with it).
	WebhookTransport func(http.RoundTripper) http.RoundTripper
}

// laneQueue is the router's LaneQueue for TransactionalQueue, nil
// without one.
func (o devOptions) laneQueue() func(int) string {
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

// devStack is everything `rapport dev` runs, in one process.
type devStack struct {
	opts     devOptions
	log      *slog.Logger
	temporal *devstack.Temporal
	pg       *pglocal.Server
	pgSource string
	store    *store.Store
	client   client.Client
	worker   worker.Worker
	// laneWorker polls devOptions.TransactionalQueue, when set.
	laneWorker worker.Worker
	// newWorker makes another worker like the first (tests replace a
	// worker that "died" with it).
	newWorker func() worker.Worker
	fakes     *fakes.Fakes
	servers   []*http.Server
	cancel    context.CancelFunc
	unlock    func() // releases the state folder (lockStateDir)

	APIURL, FakesURL, UIURL, TemporalAddress string
	// OpsURL serves /healthz, /readyz and /metrics ("" with OpsPort -1).
	OpsURL string
	// CodecURL is the codec server (with --encrypt); codecToken opens it.
	CodecURL   string
	codecToken string
	metrics    *metrics.Metrics
	// DatabaseURL is the PostgreSQL database the stack uses.
	DatabaseURL string
	// APIKey is an admin key for /v1, also in StateDir/api-key.
	APIKey string
}

func newDevCmd() *cobra.Command {
	opts := devOptions{
		StateDir:     ".rapport",
		JourneysDir:  env("RAPPORT_JOURNEYS", "journeys"),
		IP:           "127.0.0.1",
		TemporalPort: 7233,
		UIPort:       8233,
		APIPort:      8080,
		FakesPort:    8089,
		OpsPort:      9090,
		CodecPort:    8088,
	}
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run all of Rapport on this machine: Temporal, its UI, Postgres, fake providers, worker and API",
		Long: `Dev runs everything in one process, with nothing to install but Go and
PostgreSQL: an embedded Temporal server and its web UI (state in
.rapport/temporal.db), PostgreSQL (DATABASE_URL, else a server on
127.0.0.1:5432 with a "rapport" database, else a private cluster in
.rapport/postgres), fake SendGrid, Twilio and Lob that capture every
message (see /dev/outbox), the worker, the API, the journeys in journeys/,
and demo customers, orders and products. With --day=2s a day of journey
time lasts two seconds, so a five-week win-back plays out in a minute and
a half. Ctrl-C stops it all.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := configFromEnv()
			if err != nil {
				return err
			}
			opts.Sender = &cfg
			opts.Log = cfg.Logger()
			if v := os.Getenv("RAPPORT_RETRY_BUDGET"); v != "" && !cmd.Flags().Changed("retry-budget") {
				if opts.RetryBudget, err = time.ParseDuration(v); err != nil {
					return fmt.Errorf("RAPPORT_RETRY_BUDGET=%q: %w", v, err)
				}
			}
			d, err := startDev(cmd.Context(), opts)
			if err != nil {
				return err
			}
			d.printReady(cmd.OutOrStdout())
			<-cmd.Context().Done()
			fmt.Fprintln(cmd.OutOrStdout(), "\nstopping Rapport dev...")
			d.Stop()
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.StateDir, "state", opts.StateDir, "folder for Temporal's database and a private PostgreSQL cluster")
	f.StringVar(&opts.JourneysDir, "journeys", opts.JourneysDir, "folder of journey files and templates")
	f.StringVar(&opts.IP, "ip", opts.IP, "address every port listens on")
	f.IntVar(&opts.TemporalPort, "temporal-port", opts.TemporalPort, "Temporal gRPC port")
	f.IntVar(&opts.UIPort, "ui-port", opts.UIPort, "Temporal web UI port (-1 for no UI)")
	f.IntVar(&opts.APIPort, "port", opts.APIPort, "API port (also serves /dev/outbox)")
	f.IntVar(&opts.FakesPort, "fakes-port", opts.FakesPort, "port of the fake providers")
	f.IntVar(&opts.OpsPort, "ops-port", opts.OpsPort, "port of /healthz, /readyz and /metrics, apart from the API (-1 for none)")
	f.BoolVar(&opts.Encrypt, "encrypt", false, "encrypt payloads in Temporal (AES-256-GCM, key in .rapport/codec-keys unless RAPPORT_CODEC_KEYS is set) and serve a codec server the UI decodes them with")
	f.IntVar(&opts.CodecPort, "codec-port", opts.CodecPort, "codec server port (with --encrypt)")
	f.BoolVar(&opts.NoDemo, "no-demo", false, "do not create the demo customers, orders and products")
	f.DurationVar(&opts.DayLength, "day", 0, "run journeys faster: a day lasts this long (such as 2s); waits, timeouts and task due times shrink with it")
	f.DurationVar(&opts.TaskDueFloor, "task-due-floor", 5*time.Minute, "with --day, staff tasks are due at least this long after they appear, so a person can do them (0: they shrink with the day)")
	f.DurationVar(&opts.RetryBudget, "retry-budget", 0, "how long a journey run retries a failing activity before it waits and tries again, 0 for 24h (RAPPORT_RETRY_BUDGET)")
	return cmd
}

// startDev starts the whole stack and returns once it accepts requests.
func startDev(ctx context.Context, opts devOptions) (_ *devStack, err error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Sender == nil {
		cfg, err := configFromEnv()
		if err != nil {
			return nil, err
		}
		opts.Sender = &cfg
	}
	log := opts.Log
	runCtx, cancel := context.WithCancel(context.Background())
	d := &devStack{opts: opts, log: log, cancel: cancel}
	defer func() {
		if err != nil {
			d.Stop()
		}
	}()

	// Journeys first: a broken journey should fail fast, before anything
	// slow starts.
	js, err := app.LoadJourneys(opts.JourneysDir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.StateDir, 0o755); err != nil {
		return nil, err
	}
	if d.unlock, err = lockStateDir(opts.StateDir); err != nil {
		return nil, err
	}
	if err := checkPorts(opts); err != nil {
		return nil, err
	}

	dbURL, err := d.startPostgres(ctx)
	if err != nil {
		return nil, err
	}
	d.DatabaseURL = dbURL
	secret, err := d.secret()
	if err != nil {
		return nil, err
	}
	if d.store, err = store.Open(ctx, dbURL, store.WithHashKey(secret)); err != nil {
		return nil, err
	}
	if err := d.store.Migrate(ctx, log); err != nil {
		return nil, err
	}
	if err := app.SaveTemplateVersions(ctx, d.store, js.Templates); err != nil {
		return nil, err
	}
	if d.APIKey, err = devAPIKey(ctx, d.store, opts.StateDir); err != nil {
		return nil, err
	}

	keys := opts.Sender.Codec
	var codecListener net.Listener
	if opts.Encrypt {
		if keys, d.codecToken, err = devCodec(opts.StateDir, keys); err != nil {
			return nil, err
		}
		if codecListener, err = listen(opts.IP, opts.CodecPort, "codec server"); err != nil {
			return nil, err
		}
		d.CodecURL = "http://" + codecListener.Addr().String()
	}
	attrs := app.SearchAttributeTypes()
	topts := devstack.TemporalOptions{
		IP: opts.IP, FrontendPort: opts.TemporalPort, UIPort: opts.UIPort, Namespace: "default",
		SearchAttributes: attrs, Logger: log.With("component", "temporal-server"), LogLevel: slog.LevelWarn,
	}
	if codecListener != nil {
		// The UI's browser code calls the codec server; the token travels
		// in the endpoint's path, as the UI sends no header of its own.
		topts.UICodecEndpoint = d.CodecURL + "/t/" + d.codecToken
	}
	if !opts.InMemory {
		topts.DatabaseFile = filepath.Join(opts.StateDir, "temporal.db")
	}
	topts.PostgresURL = opts.TemporalPostgresURL
	log.Info("starting the embedded Temporal server")
	if d.temporal, err = devstack.StartTemporal(ctx, topts); err != nil {
		return nil, err
	}
	d.TemporalAddress, d.UIURL = d.temporal.Address(), d.temporal.UIURL()
	d.metrics = metrics.New()
	var dc converter.DataConverter
	if d.client, dc, err = app.DialTemporal(ctx, client.Options{HostPort: d.temporal.Address(), Namespace: d.temporal.Namespace()}, log, keys, d.metrics); err != nil {
		return nil, err
	}
	if codecListener != nil {
		var origins []string // the UI's, where its browser code calls from
		if d.UIURL != "" {
			origins = append(origins, d.UIURL)
			if opts.IP == "127.0.0.1" {
				origins = append(origins, "http://localhost:"+strconv.Itoa(opts.UIPort))
			}
		}
		h, err := codec.NewServer(codec.ServerOptions{Ring: keys, Token: d.codecToken, Origins: origins, Log: log.With("component", "codec-server")})
		if err != nil {
			return nil, err
		}
		d.serve(&http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}, codecListener)
	}

	d.fakes = fakes.New(fakes.Config{SendGridAPIKey: devSendGridKey, TwilioAccountSID: devTwilioSID, TwilioAuthToken: devTwilioToken, LobAPIKey: devLobKey})
	fakesListener, err := listen(opts.IP, opts.FakesPort, "fake providers")
	if err != nil {
		return nil, err
	}
	d.FakesURL = "http://" + fakesListener.Addr().String()
	d.serve(&http.Server{Handler: d.fakes, ReadHeaderTimeout: 10 * time.Second}, fakesListener)

	apiListener, err := listen(opts.IP, opts.APIPort, "API")
	if err != nil {
		return nil, err
	}
	d.APIURL = "http://" + apiListener.Addr().String()

	signer, err := d.signer()
	if err != nil {
		return nil, err
	}
	svc := &app.Services{Log: log, Journeys: js, Store: d.store, Temporal: d.client, Metrics: d.metrics, DataConverter: dc, DefaultZone: opts.Sender.Rules.DefaultZone}
	cfg := *opts.Sender
	cfg.PublicURL = d.APIURL
	cfg.Temporal.Namespace = d.temporal.Namespace()
	cfg.ReturnAddress = devReturnAddress
	sms, err := twilio.New(twilio.Config{AccountSID: devTwilioSID, AuthToken: devTwilioToken, From: devTwilioFrom, BaseURL: d.FakesURL})
	if err != nil {
		return nil, err
	}
	mail, err := printmail.New(printmail.Config{APIKey: devLobKey, BaseURL: d.FakesURL})
	if err != nil {
		return nil, err
	}
	senders := app.Senders{Email: sendgrid.New(sendgrid.Config{APIKey: devSendGridKey, BaseURL: d.FakesURL}), SMS: sms, Mail: mail}
	if len(cfg.WebhookEndpoints) > 0 {
		// Dev mode's receivers run on this machine: loopback is allowed.
		allow := append(slices.Clone(cfg.WebhookAllowNetworks), netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"))
		w, err := webhook.New(webhook.Config{Endpoints: cfg.WebhookEndpoints, AllowNetworks: allow, Transport: opts.WebhookTransport})
		if err != nil {
			return nil, err
		}
		senders.Webhook = w
	}
	if err := app.CheckWebhookEndpoints(js, cfg.WebhookEndpointNames()); err != nil {
		return nil, err
	}
	dayEpoch := time.Now()
	audienceRouter := svc.NewRouter(opts.DayLength, dayEpoch)
	audienceRouter.TaskDueFloor = opts.TaskDueFloor
	if opts.ParkAudienceJourneys {
		audienceRouter.TaskQueue = app.ParkedTaskQueue
	}
	laneQueue := opts.laneQueue()
	audienceRouter.NoLanes, audienceRouter.LaneQueue = opts.NoLanes, laneQueue
	if !opts.NoWorker {
		acts := cfg.Activities(svc, senders, signer, audienceRouter)
		d.newWorker = func() worker.Worker {
			return app.NewWorker(d.client, acts, js, app.WorkerTuning{RetryBudget: opts.RetryBudget}, opts.Interceptors...)
		}
		d.worker = d.newWorker()
		if opts.Register != nil {
			opts.Register(d.worker)
		}
		if err := d.worker.Start(); err != nil {
			return nil, fmt.Errorf("start worker: %w", err)
		}
		if opts.TransactionalQueue != "" {
			d.laneWorker = app.NewWorker(d.client, acts, js, app.WorkerTuning{RetryBudget: opts.RetryBudget, TaskQueue: opts.TransactionalQueue}, opts.Interceptors...)
			if err := d.laneWorker.Start(); err != nil {
				return nil, fmt.Errorf("start the transactional lane's worker: %w", err)
			}
		}
	}
	// Dev mode owns its schedules: its journeys are the ones it runs, even
	// when an edit was undone since the last start.
	app.SyncSchedules(ctx, svc, cfg.Retention, true)
	if !opts.NoWorker {
		go app.MoveRuns(runCtx, svc)
	}

	outbox := fakes.OutboxHandler(d.fakes.Recorder, d.enrich, d.unsent)
	hooks, err := cfg.WebhookKeys()
	if err != nil {
		return nil, err
	}
	hooks.TwilioAuthToken, hooks.PublicURL = devTwilioToken, d.APIURL
	// The Twilio fake posts signed status callbacks (sent, delivered) to
	// each text's StatusCallback, so in-doubt texts are settled in dev
	// mode as in production. The callback URL is cfg.PublicURL (d.APIURL)
	// + /webhooks/twilio/status, and the API checks the signature over
	// hooks.PublicURL (also d.APIURL) + the path it was called at, so the
	// two agree.
	d.fakes.Twilio.PostStatusCallbacks(true)
	if hooks.LobSecret == "" {
		hooks.LobSecret = devLobWebhookSecret
	}
	if len(hooks.ShopifySecrets) == 0 {
		// Sign webhooks sent to /webhooks/shopify with this to try them.
		hooks.ShopifySecrets = []string{devShopifySecret}
	}
	if hooks.SendGrid == nil {
		// The fake posts SendGrid's signed event webhook with a key of its
		// own, so in-doubt email is settled in dev mode as in production.
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("dev SendGrid webhook key: %w", err)
		}
		hooks.SendGrid = &key.PublicKey
		d.fakes.SendGrid.PostEvents(d.APIURL+"/webhooks/sendgrid", key)
	}
	d.serve(app.NewAPIServer(runCtx, app.APIDeps{Services: svc, Config: cfg, Signer: signer, Webhooks: hooks, Sweep: opts.SweepInterval, DayLength: opts.DayLength, DayEpoch: dayEpoch, TaskDueFloor: opts.TaskDueFloor, NoLanes: opts.NoLanes, LaneQueue: laneQueue,
		Extra: map[string]http.Handler{"/dev/": outbox}, PublicLimit: opts.PublicLimit}), apiListener)
	// Probes and metrics on a port of their own, never on the API's.
	if opts.OpsPort >= 0 {
		opsListener, err := listen(opts.IP, opts.OpsPort, "/healthz, /readyz and /metrics (--ops-port)")
		if err != nil {
			return nil, err
		}
		d.OpsURL = "http://" + opsListener.Addr().String()
		d.serve(newOpsServer(svc), opsListener)
	}

	if !opts.NoDemo {
		if err := seedDemo(ctx, d.store); err != nil {
			return nil, fmt.Errorf("demo customers: %w", err)
		}
	}
	return d, nil
}

// devAPIKey returns an admin key for /v1: the one an earlier start left in
// the state folder if the database still knows it, else a new one, written
// there (readable by this user only) for the CLI to find.
func devAPIKey(ctx context.Context, s *store.Store, stateDir string) (string, error) {
	path := filepath.Join(stateDir, devKeyFile)
	if b, err := os.ReadFile(path); err == nil {
		token := strings.TrimSpace(string(b))
		if p, err := s.Authenticate(ctx, token); err == nil && apikey.Allows(p.Scopes, apikey.Admin) {
			return token, os.Chmod(path, 0o600)
		}
	}
	_, token, err := s.CreateAPIKey(ctx, "dev-admin", []apikey.Scope{apikey.Admin})
	if errors.Is(err, store.ErrKeyNameTaken) {
		// The key of an earlier dev database whose file is gone: make another.
		_, token, err = s.CreateAPIKey(ctx, fmt.Sprintf("dev-admin-%d", time.Now().Unix()), []apikey.Scope{apikey.Admin})
	}
	if err != nil {
		return "", fmt.Errorf("dev API key: %w", err)
	}
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("dev API key: %w", err)
	}
	return token, os.Chmod(path, 0o600) // WriteFile keeps an existing file's mode
}

// signer signs links with the dev secret.
func (d *devStack) signer() (*links.Signer, error) {
	secret, err := d.secret()
	if err != nil {
		return nil, err
	}
	return links.NewSigner(secret)
}

// secret is RAPPORT_SECRET, or a secret kept in the state folder (made on
// first use), so links in dev messages keep working across restarts and
// erased addresses stay recognisable.
func (d *devStack) secret() ([]byte, error) {
	if s := os.Getenv(devSecretEnvName); s != "" {
		return []byte(s), nil
	}
	path := filepath.Join(d.opts.StateDir, devSecretFile)
	secret, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		secret = []byte(hex.EncodeToString(b))
		if err := os.WriteFile(path, secret, 0o600); err != nil {
			return nil, fmt.Errorf("keep the dev link secret: %w", err)
		}
	} else if err != nil {
		return nil, err
	}
	return secret, nil
}

// enrich fills in the customer, journey and step of a captured message
// (an SMS carries only the outbox id) from the outbox.
func (d *devStack) enrich(ctx context.Context, m *fakes.Message) {
	row, err := d.store.GetMessage(ctx, m.MessageID)
	if err != nil {
		return
	}
	m.CustomerID, m.Journey, m.Step = row.CustomerID, row.Journey, row.StepID
}

// unsent lists the latest messages that were not sent, for the dev
// outbox page.
func (d *devStack) unsent(ctx context.Context) []fakes.Unsent {
	msgs, err := d.store.LatestUnsent(ctx, 100)
	if err != nil {
		d.log.Warn("dev outbox: could not list the messages not sent", "error", err)
		return nil
	}
	out := make([]fakes.Unsent, len(msgs))
	for i, m := range msgs {
		out[i] = fakes.Unsent{Channel: m.Channel, Status: string(m.Status), Reason: m.Reason, CustomerID: m.CustomerID,
			Journey: m.Journey, Step: m.StepID, Template: m.Template, At: m.UpdatedAt}
	}
	return out
}

// startPostgres finds the database: the URL given, DATABASE_URL,
// 127.0.0.1:5432 (with a "rapport" database), or a private cluster.
func (d *devStack) startPostgres(ctx context.Context) (string, error) {
	if d.opts.DatabaseURL != "" {
		d.pgSource = "given database"
		return d.opts.DatabaseURL, nil
	}
	srv, err := pglocal.Find(ctx, pglocal.Options{
		DataDir: filepath.Join(d.opts.StateDir, "postgres"),
		Log:     func(f string, a ...any) { d.log.Info(fmt.Sprintf(f, a...)) },
	})
	if err != nil {
		return "", err
	}
	d.pg = srv
	if srv.Source == "DATABASE_URL" {
		d.pgSource = "DATABASE_URL"
		return srv.URL, nil
	}
	if err := pglocal.EnsureDatabase(ctx, srv.URL, "rapport"); err != nil {
		return "", fmt.Errorf("create the rapport database: %w", err)
	}
	d.pgSource = srv.Source + ", database rapport"
	return pglocal.WithDatabase(srv.URL, "rapport")
}

// checkPorts fails early, naming the flag, when a port is taken.
func checkPorts(opts devOptions) error {
	for _, p := range []struct {
		port       int
		what, flag string
	}{
		{opts.TemporalPort, "Temporal", "--temporal-port"},
		{opts.UIPort, "the Temporal UI", "--ui-port"},
		{opts.APIPort, "the API", "--port"},
		{opts.FakesPort, "the fake providers", "--fakes-port"},
		{opts.OpsPort, "/healthz, /readyz and /metrics", "--ops-port"},
	} {
		if p.port <= 0 {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort(opts.IP, strconv.Itoa(p.port)))
		if err != nil {
			return fmt.Errorf("port %d, for %s, is taken (is another rapport dev or Temporal running?); stop it or choose another port with %s", p.port, p.what, p.flag)
		}
		l.Close()
	}
	return nil
}

func listen(ip string, port int, what string) (net.Listener, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("%s: port %d is taken (%w); stop what holds it or pick another port with a flag", what, port, err)
	}
	return l, nil
}

func (d *devStack) serve(srv *http.Server, l net.Listener) {
	d.servers = append(d.servers, srv)
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("server stopped", "addr", l.Addr().String(), "error", err)
		}
	}()
}

// Stop shuts everything down in reverse order.
func (d *devStack) Stop() {
	if d.fakes != nil {
		d.fakes.StopWebhooks() // the API they post to is going away
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := len(d.servers) - 1; i >= 0; i-- {
		_ = d.servers[i].Shutdown(ctx)
	}
	d.cancel()
	if d.laneWorker != nil {
		d.laneWorker.Stop()
	}
	if d.worker != nil {
		d.worker.Stop()
	}
	if d.client != nil {
		d.client.Close()
	}
	if d.metrics != nil {
		_ = d.metrics.Close()
	}
	if d.temporal != nil {
		d.temporal.Stop()
	}
	if d.store != nil {
		d.store.Close()
	}
	if d.pg != nil {
		_ = d.pg.Stop()
	}
	if d.unlock != nil {
		d.unlock()
	}
}

func (d *devStack) printReady(w io.Writer) {
	speed := ""
	if d.opts.DayLength > 0 {
		speed = fmt.Sprintf("\n  Dev time         a day lasts %s: journey waits, timeouts and task due times shrink with it\n", d.opts.DayLength)
		if d.opts.TaskDueFloor > 0 {
			speed += fmt.Sprintf("                   (staff tasks stay due at least %s, for a person to do them)\n", d.opts.TaskDueFloor)
		}
	}
	fmt.Fprintf(w, `
Rapport dev is running.

  API              %[1]s        POST /v1/customers, POST /v1/events, GET /v1/tasks
  API key          %[9]s  (admin; in %[10]s, which the CLI finds)
  Dev outbox       %[1]s/dev/outbox   every email, SMS, letter and postcard the fakes captured
  Temporal UI      %[2]s
  Temporal         %[3]s  (namespace default)
  PostgreSQL       %[4]s
                   %[7]s  (DATABASE_URL for rapport audit)
  Fake providers   %[5]s  (SendGrid, Twilio, Lob; make one fail: curl -X POST '%[5]s/_fakes/sendgrid/fail?status=500&times=1')
  Operations       %[11]s
%[8]s%[6]s
Demo customers: c_ada and c_linus (lapsed), c_grace, c_alan; a small tea catalog.

Try it: thank Ada for an order (change both ids to send another):

  curl -s -X POST %[1]s/v1/events -H "Authorization: Bearer $(cat %[10]s)" \
    -H 'Content-Type: application/json' -d '{
    "id": "evt-demo-1", "type": "order.placed", "customer_id": "c_ada",
    "data": {"order": {"id": "o-demo-1", "total": 42.5, "currency": "GBP",
      "items": [{"product_id": "tea-earl-grey", "name": "Earl Grey tea", "quantity": 2, "price": 21.25}]}}}'

Or win back the lapsed customers (email, postcard, then a phone task):

  go run ./cmd/rapport audience run lapse-winback%[12]s
  go run ./cmd/rapport tasks list --queue retention%[12]s

Then open %[1]s/dev/outbox. Press Ctrl-C to stop.
`, d.APIURL, orNone(d.UIURL), d.TemporalAddress, d.pgSource, d.FakesURL, speed, redacted(d.DatabaseURL), d.encryption(), d.APIKey, filepath.Join(d.opts.StateDir, devKeyFile), d.operations(), d.cliAPIFlag())
}

// cliAPIFlag is what the CLI commands printReady shows need to reach this
// API: nothing on the default address, else --api with it.
func (d *devStack) cliAPIFlag() string {
	if d.APIURL == defaultAPIURL {
		return ""
	}
	return " --api " + d.APIURL
}

// operations describes the ops port for printReady.
func (d *devStack) operations() string {
	if d.OpsURL == "" {
		return "(disabled: --ops-port -1)"
	}
	return d.OpsURL + "/metrics, probes " + d.OpsURL + "/healthz and /readyz (not on the API's port)"
}

// encryption describes --encrypt for printReady.
func (d *devStack) encryption() string {
	if d.CodecURL == "" {
		return ""
	}
	where := filepath.Join(d.opts.StateDir, "codec-token")
	if os.Getenv("RAPPORT_CODEC_TOKEN") != "" {
		where = "RAPPORT_CODEC_TOKEN"
	}
	return fmt.Sprintf(`  Codec server     %s  payloads are encrypted in Temporal; the UI decodes them here
                   token in %s (Authorization: Bearer, or the endpoint %s/t/TOKEN)
`, d.CodecURL, where, d.CodecURL)
}

// redacted hides a URL's password.
func redacted(u string) string {
	if p, err := url.Parse(u); err == nil && p.Scheme != "" {
		return p.Redacted()
	}
	return u
}

func orNone(s string) string {
	if s == "" {
		return "(disabled)"
	}
	return s
}

// seedDemo creates the demo data unless it exists (edits made to it are
// kept): customers, their order history (no journeys start for it), and a
// small tea catalog with the products that go together.
func seedDemo(ctx context.Context, s *store.Store) error {
	for _, c := range []store.Customer{
		{ID: "c_ada", Email: "ada@example.com", Phone: "+44 7911 123456", Name: "Ada Lovelace", Locale: "en-GB", TimeZone: "Europe/London",
			Address:    store.Address{Line1: "12 St James's Square", City: "London", PostalCode: "SW1Y 4LB", Country: "GB"},
			Attributes: map[string]any{"tier": "gold", "tags": []any{"tea"}}},
		{ID: "c_linus", Email: "linus@example.com", Name: "Linus Pauling", Locale: "en-US", TimeZone: "America/Los_Angeles",
			Address:    store.Address{Line1: "1 Dolores St", City: "San Francisco", State: "CA", PostalCode: "94110", Country: "US"},
			Attributes: map[string]any{}},
		{ID: "c_grace", Email: "grace@example.com", Phone: "+1 212 555 2368", Name: "Grace Hopper", Locale: "en-US", TimeZone: "America/New_York",
			Address:    store.Address{Line1: "1 Navy Way", City: "Arlington", State: "VA", PostalCode: "22202", Country: "US"},
			Attributes: map[string]any{"tier": "silver"}},
		{ID: "c_alan", Name: "Alan Turing", Locale: "en-GB", TimeZone: "Europe/London", Attributes: map[string]any{}},
	} {
		if _, err := s.GetCustomer(ctx, c.ID); err == nil {
			continue
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if c.Phone != "" {
			c.PhoneE164, _ = phone.Normalize(c.Phone, c.Address.Country)
		}
		if _, err := s.UpsertCustomer(ctx, c); err != nil {
			return err
		}
		// Ada and Grace said yes to texts and calls when they signed up.
		if c.Phone != "" {
			for _, ch := range []string{"sms", "phone"} {
				if _, err := s.RecordConsent(ctx, c.ID, ch, "opted_in", "demo", store.Evidence{Shown: "sign-up form: texts and calls about offers"}); err != nil {
					return err
				}
			}
		}
	}
	p := func(id, name string, price string, comps map[string]float64) store.Product {
		return store.Product{ID: id, Name: name, Price: money.MustParse(price), Currency: "GBP", URL: "https://shop.example/p/" + id, Active: true, Complements: comps}
	}
	if err := s.UpsertProducts(ctx, []store.Product{
		p("tea-earl-grey", "Earl Grey tea", "8.5", map[string]float64{"teapot-blue": 0.9, "cup-stoneware": 0.6, "biscuits-shortbread": 0.5, "honey-wildflower": 0.3}),
		p("tea-sencha", "Sencha green tea", "9.5", map[string]float64{"strainer": 0.8, "cup-stoneware": 0.6, "honey-wildflower": 0.4}),
		p("teapot-blue", "Blue stoneware teapot", "32", map[string]float64{"tea-cosy": 0.9, "strainer": 0.7, "cup-stoneware": 0.5}),
		p("cup-stoneware", "Stoneware cup", "12", map[string]float64{"teapot-blue": 0.4, "biscuits-shortbread": 0.5}),
		p("honey-wildflower", "Wildflower honey", "7", map[string]float64{"biscuits-shortbread": 0.3}),
		p("tea-cosy", "Knitted tea cosy", "18", nil),
		p("strainer", "Tea strainer", "6", nil),
		p("biscuits-shortbread", "Shortbread biscuits", "5", nil),
	}); err != nil {
		return err
	}
	now := time.Now().UTC()
	for _, o := range []store.Order{
		{ID: "o-ada-1", CustomerID: "c_ada", Total: money.MustParse("22"), Currency: "GBP", PlacedAt: now.AddDate(0, 0, -120),
			Items: []store.Item{{ProductID: "tea-earl-grey", Name: "Earl Grey tea", Quantity: 2, Price: money.MustParse("8.5")}, {ProductID: "biscuits-shortbread", Name: "Shortbread biscuits", Quantity: 1, Price: money.MustParse("5")}}},
		{ID: "o-linus-1", CustomerID: "c_linus", Total: money.MustParse("9.5"), Currency: "USD", PlacedAt: now.AddDate(0, 0, -200),
			Items: []store.Item{{ProductID: "tea-sencha", Name: "Sencha green tea", Quantity: 1, Price: money.MustParse("9.5")}}},
		{ID: "o-grace-1", CustomerID: "c_grace", Total: money.MustParse("8.5"), Currency: "USD", PlacedAt: now.AddDate(0, 0, -40),
			Items: []store.Item{{ProductID: "tea-earl-grey", Name: "Earl Grey tea", Quantity: 1, Price: money.MustParse("8.5")}}},
		{ID: "o-grace-2", CustomerID: "c_grace", Total: money.MustParse("32"), Currency: "USD", Gift: true, PlacedAt: now.AddDate(0, 0, -10),
			Items: []store.Item{{ProductID: "teapot-blue", Name: "Blue stoneware teapot", Quantity: 1, Price: money.MustParse("32")}}},
	} {
		if _, err := s.RecordOrder(ctx, o); err != nil {
			return err
		}
	}
	return nil
}

// crowdLimit lets a simulated crowd, all on 127.0.0.1, through the rate
// limits meant for one person each.
var crowdLimit = &api.PublicLimit{Rate: 10000, Burst: 10000, WebhookRate: 10000, WebhookBurst: 10000}

// newOpsServer serves dev mode's probes and metrics, ready at once (the
// API and the worker run in the same process, already started).
func newOpsServer(svc *app.Services) *http.Server {
	health := svc.Health(true)
	health.Ready()
	return ops.NewServer(health, svc.MetricsHandler())
}

// devCodec is dev mode's encryption: keys and token kept in the state
// folder (made on first use) unless the environment gives them.
func devCodec(stateDir string, keys *codec.KeyRing) (*codec.KeyRing, string, error) {
	if keys == nil {
		path := filepath.Join(stateDir, "codec-keys")
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			secret := make([]byte, codec.KeySize)
			if _, err := rand.Read(secret); err != nil {
				return nil, "", err
			}
			line := "# rapport dev --encrypt: id:key, newest last\ndev-1:" + base64.StdEncoding.EncodeToString(secret) + "\n"
			if err := os.WriteFile(path, []byte(line), 0o600); err != nil {
				return nil, "", fmt.Errorf("keep the dev codec key: %w", err)
			}
		}
		var err error
		if keys, err = codec.LoadKeysFile(path); err != nil {
			return nil, "", err
		}
	}
	token := os.Getenv("RAPPORT_CODEC_TOKEN")
	if token == "" {
		path := filepath.Join(stateDir, "codec-token")
		b, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			raw := make([]byte, 24)
			if _, err := rand.Read(raw); err != nil {
				return nil, "", err
			}
			b = []byte(hex.EncodeToString(raw))
			if err := os.WriteFile(path, b, 0o600); err != nil {
				return nil, "", fmt.Errorf("keep the dev codec token: %w", err)
			}
		} else if err != nil {
			return nil, "", err
		}
		token = strings.TrimSpace(string(b))
	}
	return keys, token, nil
}
