package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/rapporthq/rapport/activities"
	"github.com/rapporthq/rapport/internal/api"
	"github.com/rapporthq/rapport/internal/channels"
	"github.com/rapporthq/rapport/internal/channels/printmail"
	"github.com/rapporthq/rapport/internal/channels/sendgrid"
	"github.com/rapporthq/rapport/internal/channels/twilio"
	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/links"
	"github.com/rapporthq/rapport/internal/policy"
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
	Twilio            twilio.Config
	LobAPIKey         string
	LobBaseURL        string
	ReturnAddress     channels.PostalAddress
	Sender            activities.Sender
	Secret            string
	PublicURL         string
	Rules             policy.Rules
	UnsubscribeMailto string
	DefaultCurrency   string
	// SendGrid's webhook public key, Lob's webhook secret.
	SendGridWebhookKey string
	LobWebhookSecret   string
	LogLevel           slog.Level
	LogFormat          string
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
		Twilio: twilio.Config{
			AccountSID:          os.Getenv("TWILIO_ACCOUNT_SID"),
			AuthToken:           os.Getenv("TWILIO_AUTH_TOKEN"),
			From:                os.Getenv("TWILIO_FROM"),
			MessagingServiceSID: os.Getenv("TWILIO_MESSAGING_SERVICE_SID"),
			BaseURL:             os.Getenv("TWILIO_BASE_URL"),
		},
		LobAPIKey:  os.Getenv("LOB_API_KEY"),
		LobBaseURL: os.Getenv("LOB_BASE_URL"),
		ReturnAddress: channels.PostalAddress{
			Name:       env("RAPPORT_MAIL_FROM_NAME", "The Shop"),
			Line1:      os.Getenv("RAPPORT_MAIL_FROM_LINE1"),
			Line2:      os.Getenv("RAPPORT_MAIL_FROM_LINE2"),
			City:       os.Getenv("RAPPORT_MAIL_FROM_CITY"),
			State:      os.Getenv("RAPPORT_MAIL_FROM_STATE"),
			PostalCode: os.Getenv("RAPPORT_MAIL_FROM_POSTAL_CODE"),
			Country:    env("RAPPORT_MAIL_FROM_COUNTRY", "US"),
		},
		Secret:             os.Getenv("RAPPORT_SECRET"),
		PublicURL:          env("RAPPORT_PUBLIC_URL", "http://127.0.0.1:8080"),
		Rules:              policy.DefaultRules(),
		UnsubscribeMailto:  os.Getenv("RAPPORT_UNSUBSCRIBE_MAILTO"),
		DefaultCurrency:    env("RAPPORT_DEFAULT_CURRENCY", "USD"),
		SendGridWebhookKey: os.Getenv("SENDGRID_WEBHOOK_PUBLIC_KEY"),
		LobWebhookSecret:   os.Getenv("LOB_WEBHOOK_SECRET"),
		LogFormat:          env("RAPPORT_LOG_FORMAT", "text"),
	}
	c.Rules.DefaultZone = env("RAPPORT_DEFAULT_TIME_ZONE", "UTC")
	if _, err := time.LoadLocation(c.Rules.DefaultZone); err != nil {
		return c, fmt.Errorf("RAPPORT_DEFAULT_TIME_ZONE: %q is not an IANA time zone", c.Rules.DefaultZone)
	}
	if v, ok := os.LookupEnv("RAPPORT_QUIET_HOURS"); ok {
		quiet, err := policy.ParseQuiet(v)
		if err != nil {
			return c, fmt.Errorf("RAPPORT_QUIET_HOURS: %w", err)
		}
		c.Rules.Quiet = quiet
	}
	if v, ok := os.LookupEnv("RAPPORT_FREQUENCY_CAPS"); ok {
		caps, err := policy.ParseCaps(v)
		if err != nil {
			return c, fmt.Errorf("RAPPORT_FREQUENCY_CAPS: %w", err)
		}
		c.Rules.Caps = caps
	}
	if v, ok := os.LookupEnv("RAPPORT_REQUIRE_OPT_IN"); ok {
		c.Rules.RequireOptIn = map[policy.Channel]bool{}
		for _, ch := range strings.Split(v, ",") {
			if ch = strings.TrimSpace(ch); ch == "" {
				continue
			}
			if !slices.Contains(policy.Channels, policy.Channel(ch)) {
				return c, fmt.Errorf("RAPPORT_REQUIRE_OPT_IN: %q is not a channel (email, sms, mail, phone)", ch)
			}
			c.Rules.RequireOptIn[policy.Channel(ch)] = true
		}
	}
	if err := c.LogLevel.UnmarshalText([]byte(env("RAPPORT_LOG_LEVEL", "info"))); err != nil {
		return c, fmt.Errorf("RAPPORT_LOG_LEVEL: %w", err)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return c, fmt.Errorf("RAPPORT_LOG_FORMAT must be text or json, not %q", c.LogFormat)
	}
	return c, nil
}

// signer returns the link signer for RAPPORT_SECRET.
func (c config) signer() (*links.Signer, error) {
	if c.Secret == "" {
		return nil, errors.New("RAPPORT_SECRET is not set; it signs the links in messages (surveys): use 32 or more random characters, the same for every worker and API, such as the output of `openssl rand -hex 32`")
	}
	return links.NewSigner([]byte(c.Secret))
}

// webhookKeys are the keys that verify provider callbacks.
func (c config) webhookKeys() (api.WebhookKeys, error) {
	k := api.WebhookKeys{TwilioAuthToken: c.Twilio.AuthToken, LobSecret: c.LobWebhookSecret, PublicURL: c.PublicURL}
	if c.SendGridWebhookKey != "" {
		key, err := api.ParseSendGridKey(c.SendGridWebhookKey)
		if err != nil {
			return k, fmt.Errorf("SENDGRID_WEBHOOK_PUBLIC_KEY: %w", err)
		}
		k.SendGrid = key
	}
	return k, nil
}

// senders builds the provider clients that are configured. A channel
// without configuration is nil: its messages are skipped with that reason.
func (c config) senders(log *slog.Logger) (channels.EmailSender, channels.SMSSender, channels.MailSender, error) {
	var email channels.EmailSender
	var sms channels.SMSSender
	var mail channels.MailSender
	if c.SendGridAPIKey != "" {
		email = sendgrid.New(sendgrid.Config{APIKey: c.SendGridAPIKey, BaseURL: c.SendGridBaseURL})
	} else {
		log.Warn("email is not configured (SENDGRID_API_KEY); email messages will be skipped")
	}
	if c.Twilio.AccountSID != "" {
		t, err := twilio.New(c.Twilio)
		if err != nil {
			return nil, nil, nil, err
		}
		sms = t
	} else {
		log.Warn("SMS is not configured (TWILIO_ACCOUNT_SID); text messages will be skipped")
	}
	if c.LobAPIKey != "" {
		if c.ReturnAddress.Line1 == "" || c.ReturnAddress.City == "" {
			return nil, nil, nil, errors.New("LOB_API_KEY is set but the return address is not: set RAPPORT_MAIL_FROM_LINE1, _CITY, _STATE, _POSTAL_CODE (a US address)")
		}
		p, err := printmail.New(printmail.Config{APIKey: c.LobAPIKey, BaseURL: c.LobBaseURL})
		if err != nil {
			return nil, nil, nil, err
		}
		mail = p
	} else {
		log.Warn("print mail is not configured (LOB_API_KEY); letters and postcards will be skipped")
	}
	return email, sms, mail, nil
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
