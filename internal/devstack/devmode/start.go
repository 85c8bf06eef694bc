package devmode

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"

	"github.com/rapporthq/rapport/internal/api"
	"github.com/rapporthq/rapport/internal/app"
	"github.com/rapporthq/rapport/internal/channels"
	"github.com/rapporthq/rapport/internal/channels/printmail"
	"github.com/rapporthq/rapport/internal/channels/sendgrid"
	"github.com/rapporthq/rapport/internal/channels/twilio"
	"github.com/rapporthq/rapport/internal/channels/webhook"
	"github.com/rapporthq/rapport/internal/codec"
	"github.com/rapporthq/rapport/internal/devstack"
	"github.com/rapporthq/rapport/internal/fakes"
	"github.com/rapporthq/rapport/internal/links"
	"github.com/rapporthq/rapport/internal/metrics"
	"github.com/rapporthq/rapport/internal/ops"
	"github.com/rapporthq/rapport/internal/router"
)

// ReturnAddress is where dev mode's letters come from.
func ReturnAddress() channels.PostalAddress {
	return channels.PostalAddress{Name: "The Shop", Line1: "185 Berry St", Line2: "Suite 6100", City: "San Francisco", State: "CA", PostalCode: "94107", Country: "US"}
}

// startTemporal starts the embedded server (with a codec server before it
// when payloads are encrypted) and connects to it.
func (s *Stack) startTemporal(ctx context.Context) (converter.DataConverter, error) {
	opts := s.Opts
	keys := opts.Sender.Codec
	var codecListener net.Listener
	if opts.Encrypt {
		var err error
		if keys, s.codecToken, err = devCodec(opts.StateDir, keys); err != nil {
			return nil, err
		}
		if codecListener, err = listen(opts.IP, opts.CodecPort, "codec server"); err != nil {
			return nil, err
		}
		s.CodecURL = "http://" + codecListener.Addr().String()
	}
	topts := devstack.TemporalOptions{
		IP: opts.IP, FrontendPort: opts.TemporalPort, UIPort: opts.UIPort, Namespace: "default",
		SearchAttributes: app.SearchAttributeTypes(), Logger: s.Log.With("component", "temporal-server"), LogLevel: slog.LevelWarn,
	}
	if codecListener != nil {
		// The UI's browser code calls the codec server; the token travels
		// in the endpoint's path, as the UI sends no header of its own.
		topts.UICodecEndpoint = s.CodecURL + "/t/" + s.codecToken
	}
	if !opts.InMemory {
		topts.DatabaseFile = filepath.Join(opts.StateDir, "temporal.db")
	}
	topts.PostgresURL = opts.TemporalPostgresURL
	s.Log.Info("starting the embedded Temporal server")
	var err error
	if s.Temporal, err = devstack.StartTemporal(ctx, topts); err != nil {
		return nil, err
	}
	s.TemporalAddress, s.UIURL = s.Temporal.Address(), s.Temporal.UIURL()
	s.Metrics = metrics.New()
	var dc converter.DataConverter
	if s.Client, dc, err = app.DialTemporal(ctx, client.Options{HostPort: s.Temporal.Address(), Namespace: s.Temporal.Namespace()}, s.Log, keys, s.Metrics); err != nil {
		return nil, err
	}
	if codecListener != nil {
		if err := s.serveCodec(keys, codecListener); err != nil {
			return nil, err
		}
	}
	return dc, nil
}

// serveCodec serves the codec server the UI decodes payloads with.
func (s *Stack) serveCodec(keys *codec.KeyRing, l net.Listener) error {
	var origins []string // the UI's, where its browser code calls from
	if s.UIURL != "" {
		origins = append(origins, s.UIURL)
		if s.Opts.IP == "127.0.0.1" {
			origins = append(origins, "http://localhost:"+strconv.Itoa(s.Opts.UIPort))
		}
	}
	h, err := codec.NewServer(codec.ServerOptions{Ring: keys, Token: s.codecToken, Origins: origins, Log: s.Log.With("component", "codec-server")})
	if err != nil {
		return err
	}
	s.serve(&http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}, l)
	return nil
}

// startFakes serves the fake SendGrid, Twilio and Lob.
func (s *Stack) startFakes() error {
	s.Fakes = fakes.New(fakes.Config{SendGridAPIKey: SendGridKey, TwilioAccountSID: TwilioSID, TwilioAuthToken: TwilioToken, LobAPIKey: LobKey})
	l, err := listen(s.Opts.IP, s.Opts.FakesPort, "fake providers")
	if err != nil {
		return err
	}
	s.FakesURL = "http://" + l.Addr().String()
	s.serve(&http.Server{Handler: s.Fakes, ReadHeaderTimeout: 10 * time.Second}, l)
	return nil
}

// startRapport starts the worker and the API (and its probes) on the
// running Temporal server and fakes.
func (s *Stack) startRapport(ctx, runCtx context.Context, js *app.Journeys, dc converter.DataConverter) error {
	opts := s.Opts
	apiListener, err := listen(opts.IP, opts.APIPort, "API")
	if err != nil {
		return err
	}
	s.APIURL = "http://" + apiListener.Addr().String()
	signer, err := s.Signer()
	if err != nil {
		return err
	}
	svc := &app.Services{Log: s.Log, Journeys: js, Store: s.Store, Temporal: s.Client, Metrics: s.Metrics, DataConverter: dc, DefaultZone: opts.Sender.Rules.DefaultZone}
	cfg := *opts.Sender
	cfg.PublicURL = s.APIURL
	cfg.Temporal.Namespace = s.Temporal.Namespace()
	cfg.ReturnAddress = ReturnAddress()
	senders, err := s.senders(cfg)
	if err != nil {
		return err
	}
	if err := app.CheckWebhookEndpoints(js, cfg.WebhookEndpointNames()); err != nil {
		return err
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
		if err := s.startWorker(cfg, svc, senders, signer, audienceRouter); err != nil {
			return err
		}
	}
	// Dev mode owns its schedules: its journeys are the ones it runs, even
	// when an edit was undone since the last start.
	app.SyncSchedules(ctx, svc, cfg.Retention, true)
	if !opts.NoWorker {
		go app.MoveRuns(runCtx, svc)
	}
	hooks, err := s.webhookKeys(cfg)
	if err != nil {
		return err
	}
	outbox := fakes.OutboxHandler(s.Fakes.Recorder, s.enrich, s.unsent)
	s.serve(app.NewAPIServer(runCtx, app.APIDeps{Services: svc, Config: cfg, Signer: signer, Webhooks: hooks, Sweep: opts.SweepInterval, DayLength: opts.DayLength, DayEpoch: dayEpoch, TaskDueFloor: opts.TaskDueFloor, NoLanes: opts.NoLanes, LaneQueue: laneQueue,
		Extra: map[string]http.Handler{"/dev/": outbox}, PublicLimit: opts.PublicLimit, RunRecordTimeout: opts.RunRecordTimeout}), apiListener)
	// Probes and metrics on a port of their own, never on the API's.
	if opts.OpsPort >= 0 {
		opsListener, err := listen(opts.IP, opts.OpsPort, "/healthz, /readyz and /metrics (--ops-port)")
		if err != nil {
			return err
		}
		s.OpsURL = "http://" + opsListener.Addr().String()
		s.serve(newOpsServer(svc), opsListener)
	}
	return nil
}

// senders are the provider clients, talking to the fakes; webhooks go to
// the configured endpoints, which may be on this machine.
func (s *Stack) senders(cfg app.Config) (app.Senders, error) {
	sms, err := twilio.New(twilio.Config{AccountSID: TwilioSID, AuthToken: TwilioToken, From: TwilioFrom, BaseURL: s.FakesURL})
	if err != nil {
		return app.Senders{}, err
	}
	mail, err := printmail.New(printmail.Config{APIKey: LobKey, BaseURL: s.FakesURL})
	if err != nil {
		return app.Senders{}, err
	}
	senders := app.Senders{Email: sendgrid.New(sendgrid.Config{APIKey: SendGridKey, BaseURL: s.FakesURL}), SMS: sms, Mail: mail}
	if len(cfg.WebhookEndpoints) > 0 {
		// Dev mode's receivers run on this machine: loopback is allowed.
		allow := append(slices.Clone(cfg.WebhookAllowNetworks), netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"))
		w, err := webhook.New(webhook.Config{Endpoints: cfg.WebhookEndpoints, AllowNetworks: allow, Transport: s.Opts.WebhookTransport})
		if err != nil {
			return app.Senders{}, err
		}
		senders.Webhook = w
	}
	return senders, nil
}

// startWorker starts this process's worker.
func (s *Stack) startWorker(cfg app.Config, svc *app.Services, senders app.Senders, signer *links.Signer, rt *router.Router) error {
	opts := s.Opts
	acts := cfg.Activities(svc, senders, signer, rt)
	s.NewWorker = func() worker.Worker {
		return app.NewWorker(s.Client, acts, svc.Journeys, app.WorkerTuning{RetryBudget: opts.RetryBudget, PinRevision: opts.PinRevision}, opts.Interceptors...)
	}
	s.Worker = s.NewWorker()
	if opts.Register != nil {
		opts.Register(s.Worker)
	}
	if err := s.Worker.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	if opts.TransactionalQueue != "" {
		s.LaneWorker = app.NewWorker(s.Client, acts, svc.Journeys, app.WorkerTuning{RetryBudget: opts.RetryBudget, PinRevision: opts.PinRevision, TaskQueue: opts.TransactionalQueue}, opts.Interceptors...)
		if err := s.LaneWorker.Start(); err != nil {
			return fmt.Errorf("start the transactional lane's worker: %w", err)
		}
	}
	return nil
}

// webhookKeys are the keys the API checks webhooks with: the
// configuration's, else the fakes' own, so that the fakes' signed
// deliveries and status callbacks settle messages in dev mode as the
// providers' do in production.
func (s *Stack) webhookKeys(cfg app.Config) (api.WebhookKeys, error) {
	hooks, err := cfg.WebhookKeys()
	if err != nil {
		return hooks, err
	}
	hooks.TwilioAuthToken, hooks.PublicURL = TwilioToken, s.APIURL
	// The Twilio fake posts signed status callbacks (sent, delivered) to
	// each text's StatusCallback, so in-doubt texts are settled in dev
	// mode as in production. The callback URL is cfg.PublicURL (s.APIURL)
	// + /webhooks/twilio/status, and the API checks the signature over
	// hooks.PublicURL (also s.APIURL) + the path it was called at, so the
	// two agree.
	s.Fakes.Twilio.PostStatusCallbacks(true)
	if hooks.LobSecret == "" {
		hooks.LobSecret = LobWebhookSecret
	}
	if len(hooks.ShopifySecrets) == 0 {
		// Sign webhooks sent to /webhooks/shopify with this to try them.
		hooks.ShopifySecrets = []string{ShopifySecret}
	}
	if hooks.SendGrid == nil {
		// The fake posts SendGrid's signed event webhook with a key of its
		// own, so in-doubt email is settled in dev mode as in production.
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return hooks, fmt.Errorf("dev SendGrid webhook key: %w", err)
		}
		hooks.SendGrid = &key.PublicKey
		s.Fakes.SendGrid.PostEvents(s.APIURL+"/webhooks/sendgrid", key)
	}
	return hooks, nil
}

// newOpsServer serves dev mode's probes and metrics, ready at once (the
// API and the worker run in the same process, already started).
func newOpsServer(svc *app.Services) *http.Server {
	health := svc.Health(true)
	health.Ready()
	return ops.NewServer(health, svc.MetricsHandler())
}

// enrich fills in the customer, journey and step of a captured message
// (an SMS carries only the outbox id) from the outbox.
func (s *Stack) enrich(ctx context.Context, m *fakes.Message) {
	row, err := s.Store.GetMessage(ctx, m.MessageID)
	if err != nil {
		return
	}
	m.CustomerID, m.Journey, m.Step = row.CustomerID, row.Journey, row.StepID
}

// unsent lists the latest messages that were not sent, for the dev
// outbox page.
func (s *Stack) unsent(ctx context.Context) []fakes.Unsent {
	msgs, err := s.Store.LatestUnsent(ctx, 100)
	if err != nil {
		s.Log.Warn("dev outbox: could not list the messages not sent", "error", err)
		return nil
	}
	out := make([]fakes.Unsent, len(msgs))
	for i, m := range msgs {
		out[i] = fakes.Unsent{Channel: m.Channel, Status: string(m.Status), Reason: m.Reason, CustomerID: m.CustomerID,
			Journey: m.Journey, Step: m.StepID, Template: m.Template, At: m.UpdatedAt}
	}
	return out
}
