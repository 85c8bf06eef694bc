package app

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/rapporthq/rapport/internal/metrics"
	"github.com/rapporthq/rapport/internal/ops"
	"github.com/rapporthq/rapport/internal/router"
	"github.com/rapporthq/rapport/internal/store"
)

// Services are what the worker and the API both need: the journeys, the
// database (migrated) and a Temporal client. Connect makes them; dev mode
// and the bench fill one in from the connections they made themselves.
type Services struct {
	// Log is the process's log (Config.Logger).
	Log *slog.Logger
	// Journeys are the journeys folder's, compiled.
	Journeys *Journeys
	// Store is the database, migrated.
	Store *store.Store
	// Temporal is the client, on Config.Temporal's namespace.
	Temporal client.Client
	// Metrics are the process's Prometheus metrics (Rapport's and the
	// SDK's), served on /metrics.
	Metrics *metrics.Metrics
	// DataConverter is the Temporal client's (with the codec when payloads
	// are encrypted; nil: Temporal's default).
	DataConverter converter.DataConverter
	// DefaultZone is the time zone of customers with neither their own
	// nor a known country's (Config.Rules.DefaultZone); empty is UTC.
	DefaultZone string
}

// Connect loads the journeys in journeysDir, opens and migrates the
// database, and dials Temporal, failing with a message that says what to
// fix. Close the Services it returns.
func Connect(ctx context.Context, cfg Config, journeysDir string) (_ *Services, err error) {
	if cfg.DatabaseURL == "" {
		return nil, errors.New("DATABASE_URL is not set; it names the PostgreSQL database, such as postgres://rapport@localhost:5432/rapport")
	}
	svc := &Services{Log: cfg.Logger(), Metrics: metrics.New(), DefaultZone: cfg.Rules.DefaultZone}
	defer func() {
		if err != nil {
			svc.Close()
		}
	}()
	if svc.Journeys, err = LoadJourneys(journeysDir); err != nil {
		return nil, err
	}
	if svc.Store, err = store.Open(ctx, cfg.DatabaseURL, store.WithHashKey([]byte(cfg.Secret))); err != nil {
		return nil, err
	}
	if err = svc.Store.Migrate(ctx, svc.Log); err != nil {
		return nil, err
	}
	if err = SaveTemplateVersions(ctx, svc.Store, svc.Journeys.Templates); err != nil {
		return nil, err
	}
	if svc.Temporal, svc.DataConverter, err = DialTemporal(ctx, cfg.Temporal, svc.Log, cfg.Codec, svc.Metrics); err != nil {
		return nil, err
	}
	return svc, nil
}

// Health is the readiness of a worker or API process: the database and
// Temporal answer. With temporalOptional (the API, which stores events
// while Temporal is away and routes them later) an unanswering Temporal is
// reported but does not make the process unready.
func (s *Services) Health(temporalOptional bool) *ops.Health {
	return &ops.Health{Log: s.Log, Checks: []ops.Check{
		{Name: "database", Check: func(ctx context.Context) error { return s.Store.Ping(ctx) }},
		{Name: "temporal", Degraded: temporalOptional, Check: func(ctx context.Context) error {
			_, err := s.Temporal.CheckHealth(ctx, &client.CheckHealthRequest{})
			return err
		}},
	}}
}

// MetricsHandler serves the process's Prometheus metrics (nil without
// Metrics).
func (s *Services) MetricsHandler() http.Handler {
	if s.Metrics == nil {
		return nil
	}
	return s.Metrics.Handler()
}

// NewRouter builds the router that starts journeys and delivers events.
// dayLength is dev mode's --day (0 in production), from dayEpoch.
func (s *Services) NewRouter(dayLength time.Duration, dayEpoch time.Time) *router.Router {
	return &router.Router{Store: s.Store, Temporal: s.Temporal, Catalog: s.Journeys.Catalog,
		Env: s.Journeys.Compiler.Env(), Log: s.Log, DayLength: dayLength, DayEpoch: dayEpoch, DefaultZone: s.DefaultZone}
}

// Close releases the database and Temporal connections and the metrics.
func (s *Services) Close() {
	if s.Temporal != nil {
		s.Temporal.Close()
	}
	if s.Store != nil {
		s.Store.Close()
	}
	if s.Metrics != nil {
		_ = s.Metrics.Close()
	}
}
