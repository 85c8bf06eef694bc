package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/rapporthq/rapport/internal/api"
	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/links"
	"github.com/rapporthq/rapport/internal/ops"
	"github.com/rapporthq/rapport/internal/router"
)

// SweepInterval is how often the API retries routing events that could
// not be routed when they arrived.
const SweepInterval = 15 * time.Second

// DefaultOpsAddr is where the worker and the API serve /healthz, /readyz
// and /metrics unless RAPPORT_OPS_ADDR says otherwise.
const DefaultOpsAddr = ":9090"

// routingShards is how many goroutines route batches of events.
const routingShards = 8

// APIOptions are where the API listens and how it routes, from the api
// command's flags and variables.
type APIOptions struct {
	// Addr serves the API and its public pages (RAPPORT_API_ADDR).
	Addr string
	// OpsAddr serves /healthz, /readyz and /metrics ("" or "off": none;
	// RAPPORT_OPS_ADDR).
	OpsAddr string
	// MaxRoutingAttempts dead-letters an event after this many failed
	// routing attempts (RAPPORT_ROUTING_MAX_ATTEMPTS; 0:
	// router.DefaultMaxRoutingAttempts).
	MaxRoutingAttempts int
}

// RunAPI serves the API of the journeys in journeysDir until ctx ends,
// then shuts down gracefully: /readyz fails at once, and requests under
// way may finish. With a provider key set it refuses the demo's public
// URL and sender identity (Config.CheckNoDemoDefaults).
func RunAPI(ctx context.Context, cfg Config, journeysDir string, o APIOptions) error {
	if err := cfg.CheckNoDemoDefaults(); err != nil {
		return err
	}
	signer, err := cfg.Signer()
	if err != nil {
		return err
	}
	svc, err := Connect(ctx, cfg, journeysDir)
	if err != nil {
		return err
	}
	defer svc.Close()
	warnWithoutKeys(ctx, svc)
	health := svc.Health(true)
	opsSrv, err := StartOps(o.OpsAddr, health, svc)
	if err != nil {
		return err
	}
	defer opsSrv.Stop() // after the API: /readyz fails while it drains
	l, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.Addr, err)
	}
	hooks, err := cfg.WebhookKeys()
	if err != nil {
		l.Close()
		return err
	}
	if hooks.SendGrid == nil {
		svc.Log.Warn(NoEmailWebhook + "; /webhooks/sendgrid refuses every post")
	}
	srv := NewAPIServer(ctx, APIDeps{Services: svc, Config: cfg, Signer: signer, Webhooks: hooks, MaxRoutingAttempts: o.MaxRoutingAttempts})
	svc.Log.Info("API listening", "addr", l.Addr().String())
	health.Ready()
	return ServeUntilDone(ctx, srv, l, health, svc.Log)
}

// APIDeps are what the API server is built from.
type APIDeps struct {
	// Services are the connections and the journeys.
	Services *Services
	// Config gives the contact rules, the shop's name and the trusted
	// proxies.
	Config Config
	// Signer signs and checks the links in messages (Config.Signer).
	Signer *links.Signer
	// Webhooks verify the providers' callbacks (Config.WebhookKeys).
	Webhooks api.WebhookKeys
	// Sweep is how often unrouted events are retried (0: SweepInterval).
	Sweep time.Duration
	// MaxRoutingAttempts dead-letters an event after this many failed
	// routing attempts (0: router.DefaultMaxRoutingAttempts).
	MaxRoutingAttempts int
	// DayLength is dev mode's --day (0 in production), from DayEpoch.
	DayLength time.Duration
	DayEpoch  time.Time
	// TaskDueFloor is dev mode's --task-due-floor: staff tasks are due no
	// sooner than this after they appear, however fast the day.
	TaskDueFloor time.Duration
	// NoLanes starts runs without priority or fairness keys, and LaneQueue
	// starts a lane's runs on a queue of its own (router.Router): `rapport
	// bench` compares.
	NoLanes   bool
	LaneQueue func(priorityKey int) string
	// Extra are more routes (dev mode's /dev/outbox).
	Extra map[string]http.Handler
	// PublicLimit replaces api.DefaultPublicLimit when set.
	PublicLimit *api.PublicLimit
	// RunRecordTimeout is api.Server.RunRecordTimeout (0:
	// api.DefaultRunRecordTimeout).
	RunRecordTimeout time.Duration
}

// NewAPIServer builds the API (plus any extra routes) and starts the
// routing queue and sweeper, which stop with ctx. It serves no probes or
// metrics: those are on the operations server (StartOps), off the public
// port.
func NewAPIServer(ctx context.Context, d APIDeps) *http.Server {
	sweep := d.Sweep
	if sweep == 0 {
		sweep = SweepInterval
	}
	svc := d.Services
	rt := svc.NewRouter(d.DayLength, d.DayEpoch)
	rt.TaskDueFloor = d.TaskDueFloor
	rt.NoLanes, rt.LaneQueue = d.NoLanes, d.LaneQueue
	rt.RunQueue(ctx, routingShards)
	go rt.SweepWith(ctx, router.SweepOptions{Interval: sweep, MaxAttempts: d.MaxRoutingAttempts, Metrics: svc.Metrics})
	rt.RunFanouts(ctx, router.FanoutOptions{Interval: sweep, Metrics: svc.Metrics})
	a := &api.Server{Store: svc.Store, Router: rt, Temporal: svc.Temporal, Links: d.Signer, Log: svc.Log,
		PublicLimit: api.DefaultPublicLimit,
		Rules:       d.Config.Rules, Topics: marketingTopics(svc.Journeys.Catalog), TopicLabels: d.Config.TopicLabels, ShopName: d.Config.Sender.Shop.Name, Webhooks: d.Webhooks, Metrics: svc.Metrics,
		RunRecordTimeout: d.RunRecordTimeout}
	if d.PublicLimit != nil {
		a.PublicLimit = *d.PublicLimit
	}
	a.PublicLimit.TrustedProxies = d.Config.TrustedProxies
	mux := http.NewServeMux()
	for pattern, h := range d.Extra {
		mux.Handle(pattern, h)
	}
	mux.Handle("/", a.Handler())
	// A client must send its whole request within a minute, so slow
	// senders cannot hold connections (and buffered bodies) open; answers
	// may stream longer (an export).
	return &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
}

// StartOps serves health's probes and svc's metrics on addr
// (RAPPORT_OPS_ADDR), apart from any public port; "" or "off" serves
// none. Stop the server it returns (nil when off) after the process has
// drained.
func StartOps(addr string, health *ops.Health, svc *Services) (*ops.Server, error) {
	s, err := ops.Start(addr, health, svc.MetricsHandler())
	if err != nil {
		return nil, err
	}
	if s == nil {
		svc.Log.Warn("RAPPORT_OPS_ADDR is off: /healthz, /readyz and /metrics are served nowhere")
		return nil, nil
	}
	svc.Log.Info("operations endpoints", "addr", s.Addr(), "paths", "/healthz /readyz /metrics")
	return s, nil
}

// ServeUntilDone serves srv on l until ctx ends, then shuts down
// gracefully: /readyz fails at once, and requests under way may finish.
func ServeUntilDone(ctx context.Context, srv *http.Server, l net.Listener, health *ops.Health, log *slog.Logger) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	health.Drain()
	log.Info("stopping API")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}

// marketingTopics are the topics of the marketing journeys: what the
// preference center offers to leave.
func marketingTopics(cat *journey.Catalog) []string {
	var out []string
	for _, p := range cat.Plans() {
		if p.Purpose == journey.Marketing && p.Topic != "" && !slices.Contains(out, p.Topic) {
			out = append(out, p.Topic)
		}
	}
	slices.Sort(out)
	return out
}

// warnWithoutKeys says how to make a key when none can call /v1 yet.
func warnWithoutKeys(ctx context.Context, svc *Services) {
	keys, err := svc.Store.ListAPIKeys(ctx)
	if err != nil {
		return
	}
	for _, k := range keys {
		if k.RevokedAt == nil {
			return
		}
	}
	svc.Log.Warn("no API key can call /v1 yet: every request will answer 401; create one with `rapport keys create --name NAME --scopes ...`")
}
