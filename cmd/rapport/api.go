package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/rapporthq/rapport/internal/api"
	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/links"
	"github.com/rapporthq/rapport/internal/ops"
	"github.com/rapporthq/rapport/internal/router"
)

// sweepInterval is how often the API retries routing events that could not
// be routed when they arrived.
const sweepInterval = 15 * time.Second

func newAPICmd() *cobra.Command {
	journeysDir := env("RAPPORT_JOURNEYS", "journeys")
	addr := env("RAPPORT_API_ADDR", ":8080")
	opsAddr := env("RAPPORT_OPS_ADDR", defaultOpsAddr)
	cmd := &cobra.Command{
		Use:   "api",
		Short: "Serve the HTTP API (customers, events)",
		Long: `API serves Rapport's HTTP API: the shop posts customers and events, and
each event starts the journeys it triggers and reaches the customer's
running journeys. Events are stored before they are acknowledged; if
Temporal is unreachable they are routed later by a sweeper.

The API's port (--addr) serves only what may face the internet: /v1 (with
an API key) and the signed public pages and webhooks. /healthz, /readyz
and /metrics are served on the operations address (--ops-addr), which
only the cluster should reach.

Configured by the environment: DATABASE_URL, TEMPORAL_ADDRESS,
TEMPORAL_NAMESPACE, RAPPORT_SECRET, RAPPORT_API_ADDR, RAPPORT_OPS_ADDR and
RAPPORT_* (see docs/configuration.md).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := configFromEnv()
			if err != nil {
				return err
			}
			signer, err := cfg.signer()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			svc, err := connect(ctx, cfg, journeysDir)
			if err != nil {
				return err
			}
			defer svc.Close()
			warnWithoutKeys(ctx, svc)
			health := svc.health(true)
			opsSrv, err := startOps(opsAddr, health, svc)
			if err != nil {
				return err
			}
			defer opsSrv.Stop() // after the API: /readyz fails while it drains
			l, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("listen on %s: %w", addr, err)
			}
			hooks, err := cfg.webhookKeys()
			if err != nil {
				return err
			}
			maxAttempts, err := routingMaxAttempts()
			if err != nil {
				return err
			}
			srv := newAPIServer(ctx, apiDeps{svc: svc, cfg: cfg, signer: signer, hooks: hooks, sweep: sweepInterval, maxAttempts: maxAttempts})
			svc.log.Info("API listening", "addr", l.Addr().String())
			health.Ready()
			return serveUntilDone(ctx, srv, l, health, svc.log)
		},
	}
	cmd.Flags().StringVar(&journeysDir, "journeys", journeysDir, "folder of journey files and templates (RAPPORT_JOURNEYS)")
	cmd.Flags().StringVar(&addr, "addr", addr, "address of the API and its public pages (RAPPORT_API_ADDR)")
	cmd.Flags().StringVar(&opsAddr, "ops-addr", opsAddr, "address of /healthz, /readyz and /metrics, apart from the API, or off (RAPPORT_OPS_ADDR)")
	return cmd
}

// apiDeps are what the API server is built from.
type apiDeps struct {
	svc    *services
	cfg    config
	signer *links.Signer
	hooks  api.WebhookKeys
	sweep  time.Duration
	// maxAttempts dead-letters an event after this many failed routing
	// attempts (0: router.DefaultMaxRoutingAttempts).
	maxAttempts int
	// dayLength is dev mode's --day (0 in production), from dayEpoch.
	dayLength time.Duration
	dayEpoch  time.Time
	// extra routes (dev mode's /dev/outbox).
	extra map[string]http.Handler
	// publicLimit replaces api.DefaultPublicLimit when set.
	publicLimit *api.PublicLimit
}

// newAPIServer builds the API (plus any extra routes) and starts the
// routing sweeper, which stops with ctx. It serves no probes or metrics:
// those are on the operations server (startOps), off the public port.
func newAPIServer(ctx context.Context, d apiDeps) *http.Server {
	rt := newRouter(d.svc, d.dayLength, d.dayEpoch)
	rt.RunQueue(ctx, routingShards)
	go rt.SweepWith(ctx, router.SweepOptions{Interval: d.sweep, MaxAttempts: d.maxAttempts, Metrics: d.svc.metrics})
	a := &api.Server{Store: d.svc.store, Router: rt, Temporal: d.svc.temporal, Links: d.signer, Log: d.svc.log,
		PublicLimit: api.DefaultPublicLimit,
		Rules:       d.cfg.Rules, Topics: marketingTopics(d.svc.journeys.catalog), ShopName: d.cfg.Sender.Shop.Name, Webhooks: d.hooks, Metrics: d.svc.metrics}
	if d.publicLimit != nil {
		a.PublicLimit = *d.publicLimit
	}
	a.PublicLimit.TrustedProxies = d.cfg.TrustedProxies
	mux := http.NewServeMux()
	for pattern, h := range d.extra {
		mux.Handle(pattern, h)
	}
	mux.Handle("/", a.Handler())
	// A client must send its whole request within a minute, so slow
	// senders cannot hold connections (and buffered bodies) open; answers
	// may stream longer (an export).
	return &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
}

// defaultOpsAddr is where the worker and the API serve /healthz, /readyz
// and /metrics unless RAPPORT_OPS_ADDR says otherwise.
const defaultOpsAddr = ":9090"

// startOps serves health's probes and svc's metrics on addr
// (RAPPORT_OPS_ADDR), apart from any public port; "off" serves none. Stop
// the server it returns (nil when off) after the process has drained.
func startOps(addr string, health *ops.Health, svc *services) (*ops.Server, error) {
	s, err := ops.Start(addr, health, svc.metricsHandler())
	if err != nil {
		return nil, err
	}
	if s == nil {
		svc.log.Warn("RAPPORT_OPS_ADDR is off: /healthz, /readyz and /metrics are served nowhere")
		return nil, nil
	}
	svc.log.Info("operations endpoints", "addr", s.Addr(), "paths", "/healthz /readyz /metrics")
	return s, nil
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

// serveUntilDone serves until ctx ends, then shuts down gracefully:
// /readyz fails at once, and requests under way may finish.
func serveUntilDone(ctx context.Context, srv *http.Server, l net.Listener, health *ops.Health, log *slog.Logger) error {
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

// routingShards is how many goroutines route batches of events.
const routingShards = 8

// newRouter builds the router that starts journeys and delivers events.
// dayLength is dev mode's --day (0 in production), from dayEpoch.
func newRouter(svc *services, dayLength time.Duration, dayEpoch time.Time) *router.Router {
	return &router.Router{Store: svc.store, Temporal: svc.temporal, Catalog: svc.journeys.catalog,
		Env: svc.journeys.compiler.Env(), Log: svc.log, DayLength: dayLength, DayEpoch: dayEpoch}
}

// warnWithoutKeys says how to make a key when none can call /v1 yet.
func warnWithoutKeys(ctx context.Context, svc *services) {
	keys, err := svc.store.ListAPIKeys(ctx)
	if err != nil {
		return
	}
	for _, k := range keys {
		if k.RevokedAt == nil {
			return
		}
	}
	svc.log.Warn("no API key can call /v1 yet: every request will answer 401; create one with `rapport keys create --name NAME --scopes ...`")
}
