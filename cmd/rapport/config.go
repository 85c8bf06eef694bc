package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/rapporthq/rapport/activities"
	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/templates"
)

// config is Rapport's configuration from the environment. README.md lists
// every variable.
type config struct {
	DatabaseURL       string
	TemporalAddress   string
	TemporalNamespace string
	SendGridAPIKey    string
	SendGridBaseURL   string
	Sender            activities.Sender
	LogLevel          slog.Level
	LogFormat         string
}

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}

func configFromEnv() (config, error) {
	c := config{
		DatabaseURL:       os.Getenv("DATABASE_URL"),
		TemporalAddress:   env("TEMPORAL_ADDRESS", "127.0.0.1:7233"),
		TemporalNamespace: env("TEMPORAL_NAMESPACE", "default"),
		SendGridAPIKey:    os.Getenv("SENDGRID_API_KEY"),
		SendGridBaseURL:   os.Getenv("SENDGRID_BASE_URL"),
		Sender: activities.Sender{
			EmailFrom:     env("RAPPORT_EMAIL_FROM", "hello@shop.example"),
			EmailFromName: env("RAPPORT_EMAIL_FROM_NAME", "The Shop"),
			ReplyTo:       os.Getenv("RAPPORT_EMAIL_REPLY_TO"),
			Shop: templates.Shop{
				Name:         env("RAPPORT_SHOP_NAME", "The Shop"),
				URL:          env("RAPPORT_SHOP_URL", "https://shop.example"),
				SupportEmail: env("RAPPORT_SUPPORT_EMAIL", "help@shop.example"),
			},
		},
		LogFormat: env("RAPPORT_LOG_FORMAT", "text"),
	}
	if err := c.LogLevel.UnmarshalText([]byte(env("RAPPORT_LOG_LEVEL", "info"))); err != nil {
		return c, fmt.Errorf("RAPPORT_LOG_LEVEL: %w", err)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return c, fmt.Errorf("RAPPORT_LOG_FORMAT must be text or json, not %q", c.LogFormat)
	}
	return c, nil
}

func (c config) logger() *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

func dialTemporal(ctx context.Context, address, namespace string, log *slog.Logger) (client.Client, error) {
	c, err := client.DialContext(ctx, client.Options{
		HostPort:  address,
		Namespace: namespace,
		Logger:    sdklog.NewStructuredLogger(log.With("component", "temporal-sdk")),
	})
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s (namespace %s): %w; is it running? `rapport dev` starts one", address, namespace, err)
	}
	return c, nil
}

// services are what the worker and the API both need: the journeys, the
// database (migrated) and a Temporal client.
type services struct {
	log      *slog.Logger
	journeys *journeySet
	store    *store.Store
	temporal client.Client
}

// connect loads the journeys, opens and migrates the database, and dials
// Temporal, failing with a message that says what to fix.
func connect(ctx context.Context, cfg config, journeysDir string) (_ *services, err error) {
	if cfg.DatabaseURL == "" {
		return nil, errors.New("DATABASE_URL is not set; it names the PostgreSQL database, such as postgres://rapport@localhost:5432/rapport")
	}
	svc := &services{log: cfg.logger()}
	defer func() {
		if err != nil {
			svc.Close()
		}
	}()
	if svc.journeys, err = loadJourneys(journeysDir); err != nil {
		return nil, err
	}
	if svc.store, err = store.Open(ctx, cfg.DatabaseURL); err != nil {
		return nil, err
	}
	if err = svc.store.Migrate(ctx, svc.log); err != nil {
		return nil, err
	}
	if svc.temporal, err = dialTemporal(ctx, cfg.TemporalAddress, cfg.TemporalNamespace, svc.log); err != nil {
		return nil, err
	}
	return svc, nil
}

// Close releases the database and Temporal connections.
func (s *services) Close() {
	if s.temporal != nil {
		s.temporal.Close()
	}
	if s.store != nil {
		s.store.Close()
	}
}

// journeySet is the compiled journeys of a folder and their templates.
type journeySet struct {
	compiler  *journey.Compiler
	catalog   *journey.Catalog
	templates *templates.Set
	diags     journey.Diagnostics
}

// loadJourneys compiles every journey in dir, checking their templates in
// dir/templates. It fails with every diagnostic when any journey or
// template has an error.
func loadJourneys(dir string) (*journeySet, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("journeys folder: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("journeys folder %s is not a folder", dir)
	}
	tmpl, err := loadTemplates(filepath.Join(dir, "templates"))
	if err != nil {
		return nil, err
	}
	comp, err := journey.NewCompiler(journey.Options{Templates: tmpl})
	if err != nil {
		return nil, err
	}
	cat, diags := comp.LoadFS(os.DirFS(dir), dir)
	if diags.HasErrors() {
		return nil, diags
	}
	return &journeySet{compiler: comp, catalog: cat, templates: tmpl, diags: diags}, nil
}

func loadTemplates(dir string) (*templates.Set, error) {
	return templates.Load(os.DirFS(dir), dir)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ")
}
