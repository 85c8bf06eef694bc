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
	cmd := &cobra.Command{
		Use:   "api",
		Short: "Serve the HTTP API (customers, events)",
		Long: `API serves Rapport's HTTP API: the shop posts customers and events, and
each event starts the journeys it triggers and reaches the customer's
running journeys. Events are stored before they are acknowledged; if
Temporal is unreachable they are routed later by a sweeper.

Configured by the environment: DATABASE_URL, TEMPORAL_ADDRESS,
TEMPORAL_NAMESPACE, RAPPORT_SECRET, RAPPORT_API_ADDR and RAPPORT_* (see
README.md).`,
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
			l, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("listen on %s: %w", addr, err)
			}
			hooks, err := cfg.webhookKeys()
			if err != nil {
				return err
			}
			health := svc.health(true)
			srv := newAPIServer(ctx, apiDeps{svc: svc, cfg: cfg, signer: signer, hooks: hooks, sweep: sweepInterval, health: health})
			svc.log.Info("API listening", "addr", l.Addr().String(), "probes", "/healthz /readyz /metrics")
			health.Ready()
			return serveUntilDone(ctx, srv, l, health, svc.log)
		},
	}
	cmd.Flags().StringVar(&journeysDir, "journeys", journeysDir, "folder of journey files and templates (RAPPORT_JOURNEYS)")
	cmd.Flags().StringVar(&addr, "addr", addr, "address to listen on (RAPPORT_API_ADDR)")
	return cmd
}

// apiDeps are what the API server is built from.
type apiDeps struct {
	svc    *services
	cfg    config
	signer *links.Signer
	hooks  api.WebhookKeys
	sweep  time.Duration
	// dayLength is dev mode's --day (0 in production), from dayEpoch.
	dayLength time.Duration
	dayEpoch  time.Time
	// extra routes (dev mode's /dev/outbox).
	extra map[string]http.Handler
	// health answers /healthz and /readyz (ready at once when nil).
	health *ops.Health
}

// newAPIServer builds the API (plus any extra routes) and starts the
// routing sweeper, which stops with ctx.
func newAPIServer(ctx context.Context, d apiDeps) *http.Server {
	rt := newRouter(d.svc, d.dayLength, d.dayEpoch)
	rt.RunQueue(ctx, routingShards)
	go rt.Sweep(ctx, d.sweep)
	a := &api.Server{Store: d.svc.store, Router: rt, Temporal: d.svc.temporal, Links: d.signer, Log: d.svc.log,
		Rules: d.cfg.Rules, Topics: marketingTopics(d.svc.journeys.catalog), ShopName: d.cfg.Sender.Shop.Name, Webhooks: d.hooks, Metrics: d.svc.metrics}
	mux := http.NewServeMux()
	health := d.health
	if health == nil {
		health = d.svc.health(true)
		health.Ready()
	}
	health.Register(mux, d.svc.metricsHandler())
	for pattern, h := range d.extra {
		mux.Handle(pattern, h)
	}
	mux.Handle("/", a.Handler())
	return &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
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
