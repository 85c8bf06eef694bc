package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	"go.temporal.io/sdk/converter"
	sdklog "go.temporal.io/sdk/log"

	"github.com/rapporthq/rapport/activities"
	"github.com/rapporthq/rapport/internal/api"
	"github.com/rapporthq/rapport/internal/channels"
	"github.com/rapporthq/rapport/internal/channels/printmail"
	"github.com/rapporthq/rapport/internal/channels/sendgrid"
	"github.com/rapporthq/rapport/internal/channels/twilio"
	"github.com/rapporthq/rapport/internal/codec"
	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/links"
	"github.com/rapporthq/rapport/internal/metrics"
	"github.com/rapporthq/rapport/internal/ops"
	"github.com/rapporthq/rapport/internal/policy"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/templates"
	"github.com/rapporthq/rapport/workflows"
)

// config is Rapport's configuration from the environment. docs/configuration.md lists
// every variable.
type config struct {
	DatabaseURL string
	// Temporal is the connection to Temporal, from the SDK's envconfig:
	// TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS*,
	// TEMPORAL_PROFILE and TEMPORAL_CONFIG_FILE (a temporal.toml).
	Temporal          client.Options
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
	// Codec holds the keys that encrypt payloads in Temporal
	// (RAPPORT_CODEC_KEYS or RAPPORT_CODEC_KEYS_FILE); nil: no encryption.
	Codec *codec.KeyRing
	// TrustedProxies are the load balancers in front of the API
	// (RAPPORT_TRUSTED_PROXIES, CIDRs): behind them the client address for
	// rate limits comes from X-Forwarded-For.
	TrustedProxies []netip.Prefix
	// Retention is how long message content and event data are kept
	// (RAPPORT_RETENTION_MESSAGES, RAPPORT_RETENTION_EVENTS; unset: forever).
	Retention workflows.RetentionInput
	// InDoubt is how messages whose send is in doubt are settled
	// (RAPPORT_IN_DOUBT_DEADLINE, RAPPORT_IN_DOUBT_AT_LEAST_ONCE).
	InDoubt activities.InDoubtPolicy
}

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}

func configFromEnv() (config, error) {
	c := config{
		DatabaseURL:     os.Getenv("DATABASE_URL"),
		SendGridAPIKey:  os.Getenv("SENDGRID_API_KEY"),
		SendGridBaseURL: os.Getenv("SENDGRID_BASE_URL"),
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
	topts, err := temporalOptions()
	if err != nil {
		return c, err
	}
	c.Temporal = topts
	if c.Codec, err = codec.FromEnv(os.Getenv); err != nil {
		return c, err
	}
	c.Rules.DefaultZone = env("RAPPORT_DEFAULT_TIME_ZONE", "UTC")
	if _, err := time.LoadLocation(c.Rules.DefaultZone); err != nil {
		return c, fmt.Errorf("RAPPORT_DEFAULT_TIME_ZONE: %q is not an IANA time zone", c.Rules.DefaultZone)
	}
	// Empty counts as unset, as for every variable: "" in a compose file or
	// a Secret must not switch a protection off. Say "none" for none.
	if v := os.Getenv("RAPPORT_QUIET_HOURS"); v != "" {
		quiet, err := policy.ParseQuiet(v)
		if err != nil {
			return c, fmt.Errorf("RAPPORT_QUIET_HOURS: %w", err)
		}
		c.Rules.Quiet = quiet
	}
	if v := os.Getenv("RAPPORT_FREQUENCY_CAPS"); v != "" {
		if v == "none" {
			v = ""
		}
		caps, err := policy.ParseCaps(v)
		if err != nil {
			return c, fmt.Errorf("RAPPORT_FREQUENCY_CAPS: %w", err)
		}
		c.Rules.Caps = caps
	}
	if v := os.Getenv("RAPPORT_REQUIRE_OPT_IN"); v != "" {
		c.Rules.RequireOptIn = map[policy.Channel]bool{}
		for _, ch := range strings.Split(v, ",") {
			if ch = strings.TrimSpace(ch); ch == "" || ch == "none" {
				continue
			}
			if !slices.Contains(policy.Channels, policy.Channel(ch)) {
				return c, fmt.Errorf("RAPPORT_REQUIRE_OPT_IN: %q is not a channel (email, sms, mail, phone)", ch)
			}
			c.Rules.RequireOptIn[policy.Channel(ch)] = true
		}
	}
	for _, p := range strings.Split(os.Getenv("RAPPORT_TRUSTED_PROXIES"), ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			a, aerr := netip.ParseAddr(p)
			if aerr != nil {
				return c, fmt.Errorf("RAPPORT_TRUSTED_PROXIES: %q is not an address or CIDR such as 10.0.0.0/8", p)
			}
			prefix = netip.PrefixFrom(a, a.BitLen())
		}
		c.TrustedProxies = append(c.TrustedProxies, prefix.Masked())
	}
	for _, r := range []struct {
		name string
		into *string
	}{{"RAPPORT_RETENTION_MESSAGES", &c.Retention.Messages}, {"RAPPORT_RETENTION_EVENTS", &c.Retention.Events}} {
		v := strings.TrimSpace(os.Getenv(r.name))
		if _, err := workflows.ParseRetention(v); err != nil {
			return c, fmt.Errorf("%s: %w", r.name, err)
		}
		*r.into = v
	}
	if c.InDoubt, err = inDoubtFromEnv(); err != nil {
		return c, err
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

// temporalOptions reads the Temporal connection the way the Temporal CLI
// and SDKs do (go.temporal.io/sdk/contrib/envconfig): a profile of
// temporal.toml (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE), overridden by
// TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY and TEMPORAL_TLS*,
// so Temporal Cloud works by configuration alone. Without any, it is a
// local server: 127.0.0.1:7233, namespace default.
func temporalOptions() (client.Options, error) {
	opts, err := envconfig.LoadClientOptions(envconfig.LoadClientOptionsRequest{EnvLookup: setEnv{}})
	if err != nil {
		return opts, fmt.Errorf("the Temporal connection settings (TEMPORAL_* or temporal.toml): %w", err)
	}
	if opts.HostPort == "" {
		opts.HostPort = "127.0.0.1:7233"
	}
	if opts.Namespace == "" {
		opts.Namespace = "default"
	}
	return opts, nil
}

// setEnv is the environment with empty variables counted as unset, as
// Rapport reads every variable: compose files and Kubernetes secrets pass
// "" for what is not configured (an empty TEMPORAL_TLS_CLIENT_CERT_PATH
// must not turn TLS on).
type setEnv struct{}

func (setEnv) Environ() []string {
	var out []string
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "" && v != "" {
			out = append(out, kv)
		}
	}
	return out
}

func (setEnv) LookupEnv(name string) (string, bool) {
	v, ok := os.LookupEnv(name)
	return v, ok && v != ""
}

// dialTemporal connects to Temporal with opts, logging through log. With
// keys, payloads are encrypted (and decrypted) with them; with m, the
// SDK's metrics go to m. It returns the client's data converter too (nil:
// Temporal's default), for what reads payloads the client wrote.
func dialTemporal(ctx context.Context, opts client.Options, log *slog.Logger, keys *codec.KeyRing, m *metrics.Metrics) (client.Client, converter.DataConverter, error) {
	opts.Logger = sdklog.NewStructuredLogger(log.With("component", "temporal-sdk"))
	if keys != nil {
		dc, fc, err := codec.ClientOptions(keys)
		if err != nil {
			return nil, nil, err
		}
		opts.DataConverter, opts.FailureConverter = dc, fc
	}
	if m != nil {
		opts.MetricsHandler = m.TemporalHandler()
	}
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to Temporal at %s (namespace %s): %w; is it running (`rapport dev` starts one)? Its address is TEMPORAL_ADDRESS, or --temporal-address on the command line", opts.HostPort, opts.Namespace, err)
	}
	return c, opts.DataConverter, nil
}

// temporalFlags are a command-line tool's --temporal-address and
// --temporal-namespace, which override TEMPORAL_ADDRESS and
// TEMPORAL_NAMESPACE.
type temporalFlags struct{ address, namespace string }

// addTemporalFlags adds --temporal-address and --temporal-namespace to cmd
// and its subcommands.
func addTemporalFlags(cmd *cobra.Command) *temporalFlags {
	tf := &temporalFlags{}
	cmd.PersistentFlags().StringVar(&tf.address, "temporal-address", "", "Temporal's frontend host:port (default TEMPORAL_ADDRESS, else 127.0.0.1:7233)")
	cmd.PersistentFlags().StringVar(&tf.namespace, "temporal-namespace", "", "Temporal namespace (default TEMPORAL_NAMESPACE, else default)")
	return tf
}

// dialFromEnv connects a command-line tool to Temporal as the environment
// says (TEMPORAL_*, and RAPPORT_CODEC_KEYS when payloads are encrypted),
// with the tool's flags over it.
func dialFromEnv(ctx context.Context, tf *temporalFlags) (client.Client, converter.DataConverter, config, error) {
	cfg, err := configFromEnv()
	if err != nil {
		return nil, nil, cfg, err
	}
	if tf != nil && tf.address != "" {
		cfg.Temporal.HostPort = tf.address
	}
	if tf != nil && tf.namespace != "" {
		cfg.Temporal.Namespace = tf.namespace
	}
	c, dc, err := dialTemporal(ctx, cfg.Temporal, cfg.logger(), cfg.Codec, nil)
	return c, dc, cfg, err
}

// services are what the worker and the API both need: the journeys, the
// database (migrated) and a Temporal client.
type services struct {
	log      *slog.Logger
	journeys *journeySet
	store    *store.Store
	temporal client.Client
	// metrics are the process's Prometheus metrics (Rapport's and the
	// SDK's), served on /metrics.
	metrics *metrics.Metrics
	// dataConverter is the Temporal client's (with the codec when payloads
	// are encrypted; nil: Temporal's default).
	dataConverter converter.DataConverter
}

// connect loads the journeys, opens and migrates the database, and dials
// Temporal, failing with a message that says what to fix.
func connect(ctx context.Context, cfg config, journeysDir string) (_ *services, err error) {
	if cfg.DatabaseURL == "" {
		return nil, errors.New("DATABASE_URL is not set; it names the PostgreSQL database, such as postgres://rapport@localhost:5432/rapport")
	}
	svc := &services{log: cfg.logger(), metrics: metrics.New()}
	defer func() {
		if err != nil {
			svc.Close()
		}
	}()
	if svc.journeys, err = loadJourneys(journeysDir); err != nil {
		return nil, err
	}
	if svc.store, err = store.Open(ctx, cfg.DatabaseURL, store.WithHashKey([]byte(cfg.Secret))); err != nil {
		return nil, err
	}
	if err = svc.store.Migrate(ctx, svc.log); err != nil {
		return nil, err
	}
	if svc.temporal, svc.dataConverter, err = dialTemporal(ctx, cfg.Temporal, svc.log, cfg.Codec, svc.metrics); err != nil {
		return nil, err
	}
	return svc, nil
}

// health is the readiness of a worker or API process: the database and
// Temporal answer. With temporalOptional (the API, which stores events
// while Temporal is away and routes them later) an unanswering Temporal is
// reported but does not make the process unready.
func (s *services) health(temporalOptional bool) *ops.Health {
	return &ops.Health{Log: s.log, Checks: []ops.Check{
		{Name: "database", Check: func(ctx context.Context) error { return s.store.Pool().Ping(ctx) }},
		{Name: "temporal", Degraded: temporalOptional, Check: func(ctx context.Context) error {
			_, err := s.temporal.CheckHealth(ctx, &client.CheckHealthRequest{})
			return err
		}},
	}}
}

// metricsHandler serves the process's Prometheus metrics.
func (s *services) metricsHandler() http.Handler {
	if s.metrics == nil {
		return nil
	}
	return s.metrics.Handler()
}

// Close releases the database and Temporal connections.
func (s *services) Close() {
	if s.temporal != nil {
		s.temporal.Close()
	}
	if s.store != nil {
		s.store.Close()
	}
	if s.metrics != nil {
		_ = s.metrics.Close()
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

// inDoubtFromEnv reads how messages in doubt are settled:
// RAPPORT_IN_DOUBT_DEADLINE (how long to wait for evidence, default 6h)
// and RAPPORT_IN_DOUBT_AT_LEAST_ONCE (the channels sent again when it
// passes with no evidence: email, sms or none, the default).
func inDoubtFromEnv() (activities.InDoubtPolicy, error) {
	var p activities.InDoubtPolicy
	if v := strings.TrimSpace(os.Getenv("RAPPORT_IN_DOUBT_DEADLINE")); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Minute {
			return p, fmt.Errorf("RAPPORT_IN_DOUBT_DEADLINE: %q is not a duration of at least 1m, such as 6h", v)
		}
		p.Deadline = d
	}
	for _, ch := range strings.Split(os.Getenv("RAPPORT_IN_DOUBT_AT_LEAST_ONCE"), ",") {
		switch ch = strings.TrimSpace(ch); ch {
		case "", "none":
		case string(journey.Email), string(journey.SMS):
			if !slices.Contains(p.AtLeastOnce, journey.Channel(ch)) {
				p.AtLeastOnce = append(p.AtLeastOnce, journey.Channel(ch))
			}
		case string(journey.Mail):
			// Lob deduplicates by Idempotency-Key: mail is never in doubt.
		default:
			return p, fmt.Errorf("RAPPORT_IN_DOUBT_AT_LEAST_ONCE: %q is not email, sms or none", ch)
		}
	}
	return p, nil
}
