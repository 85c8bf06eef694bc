package app

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strings"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"

	"github.com/rapporthq/rapport/activities"
	"github.com/rapporthq/rapport/internal/api"
	"github.com/rapporthq/rapport/internal/channels"
	"github.com/rapporthq/rapport/internal/channels/twilio"
	"github.com/rapporthq/rapport/internal/channels/webhook"
	"github.com/rapporthq/rapport/internal/codec"
	"github.com/rapporthq/rapport/internal/links"
	"github.com/rapporthq/rapport/internal/policy"
	"github.com/rapporthq/rapport/workflows"
)

// Config is Rapport's configuration from the environment, mapped from
// the settings each concern declares (settings.go);
// docs/configuration.md lists every variable.
type Config struct {
	// DatabaseURL names the PostgreSQL database (DATABASE_URL).
	DatabaseURL string
	// Temporal is the connection to Temporal, from the SDK's envconfig:
	// TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS*,
	// TEMPORAL_PROFILE and TEMPORAL_CONFIG_FILE (a temporal.toml).
	Temporal client.Options
	// SendGridAPIKey and SendGridBaseURL configure email
	// (SENDGRID_API_KEY, SENDGRID_BASE_URL); no key: no email.
	SendGridAPIKey  string
	SendGridBaseURL string
	// Twilio configures SMS (TWILIO_*); no account SID: no SMS.
	Twilio twilio.Config
	// LobAPIKey and LobBaseURL configure print mail (LOB_API_KEY,
	// LOB_BASE_URL); no key: no letters or postcards.
	LobAPIKey  string
	LobBaseURL string
	// ReturnAddress is where letters come from (RAPPORT_MAIL_FROM_*).
	ReturnAddress channels.PostalAddress
	// Sender is who messages come from and the shop they speak for
	// (RAPPORT_EMAIL_*, RAPPORT_SHOP_*, RAPPORT_SUPPORT_EMAIL).
	Sender activities.Sender
	// Secret signs the links in messages and keys erasure's hashes
	// (RAPPORT_SECRET).
	Secret string
	// PublicURL is where customers reach the API's public pages
	// (RAPPORT_PUBLIC_URL).
	PublicURL string
	// Rules are the contact rules (RAPPORT_DEFAULT_TIME_ZONE,
	// RAPPORT_QUIET_HOURS, RAPPORT_FREQUENCY_CAPS, RAPPORT_REQUIRE_OPT_IN).
	Rules policy.Rules
	// UnsubscribeMailto is the List-Unsubscribe mailto address
	// (RAPPORT_UNSUBSCRIBE_MAILTO).
	UnsubscribeMailto string
	// DefaultCurrency is the currency of amounts that name none
	// (RAPPORT_DEFAULT_CURRENCY).
	DefaultCurrency string
	// SendGridWebhookKey is SendGrid's webhook public key
	// (SENDGRID_WEBHOOK_PUBLIC_KEY); LobWebhookSecret is Lob's webhook
	// secret (LOB_WEBHOOK_SECRET).
	SendGridWebhookKey string
	LobWebhookSecret   string
	// ShopifyWebhookSecrets are the Shopify app's client secrets that
	// sign its webhooks (SHOPIFY_WEBHOOK_SECRET, comma-separated while
	// one is rotated); ShopifyShopDomains, when set, the shops whose
	// webhooks are applied (SHOPIFY_SHOP_DOMAINS).
	ShopifyWebhookSecrets []string
	ShopifyShopDomains    []string
	// SegmentSharedSecrets are the shared secrets Segment's Webhooks
	// destinations sign their calls with (SEGMENT_SHARED_SECRET,
	// comma-separated while one is rotated): when set, the Segment routes
	// take only calls signed with one of them.
	SegmentSharedSecrets []string
	// LogLevel and LogFormat (text or json) shape the log
	// (RAPPORT_LOG_LEVEL, RAPPORT_LOG_FORMAT).
	LogLevel  slog.Level
	LogFormat string
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
	// WebhookEndpoints are the webhook channel's endpoints
	// (RAPPORT_WEBHOOK_ENDPOINTS, or RAPPORT_WEBHOOK_ENDPOINTS_FILE);
	// WebhookAllowNetworks the non-public networks they may reach
	// (RAPPORT_WEBHOOK_ALLOW_NETWORKS).
	WebhookEndpoints     []webhook.Endpoint
	WebhookAllowNetworks []netip.Prefix
	// TopicLabels name topics to customers, by topic then locale
	// (RAPPORT_TOPICS_FILE); nil: Rapport's own names.
	TopicLabels map[string]map[string]string
	// DemoDefaults lists, sorted, the variables of the public URL and the
	// sender identity that were unset and took the demo's value (such as
	// RAPPORT_EMAIL_FROM, hello@shop.example). CheckNoDemoDefaults refuses
	// them once a provider key is set.
	DemoDefaults []string
}

// demoDefault is a variable whose default only suits a demo; the default
// itself is declared with the variable (identitySettings).
type demoDefault struct {
	name, what string
	// needs says which configuration needs the variable set: any provider
	// key, or only SendGrid's.
	needs func(Config) bool
}

// demoDefaults are the variables whose defaults only suit a demo: where
// the links in messages point, and who messages say they come from. With
// a provider key set, messages reach real people, so a worker or an API
// needs each set (CheckNoDemoDefaults); what needs it, for the error.
var demoDefaults = []demoDefault{
	{"RAPPORT_PUBLIC_URL", "where customers reach the unsubscribe, preference and survey links, and providers the webhooks", Config.sends},
	{"RAPPORT_SHOP_NAME", "the shop's name, in messages and as the sender's name", Config.sends},
	{"RAPPORT_SHOP_URL", "the shop's website, in messages", Config.sends},
	{"RAPPORT_SUPPORT_EMAIL", "where customers write for help, in messages", Config.sends},
	{"RAPPORT_EMAIL_FROM", "the address email comes from, verified with SendGrid", func(c Config) bool { return c.SendGridAPIKey != "" }},
}

// sends reports whether a provider key is set, so that messages reach
// real people: SENDGRID_API_KEY, TWILIO_ACCOUNT_SID or LOB_API_KEY.
func (c Config) sends() bool {
	return c.SendGridAPIKey != "" || c.Twilio.AccountSID != "" || c.LobAPIKey != ""
}

// providerKeys names the provider keys that are set.
func (c Config) providerKeys() []string {
	var keys []string
	for _, k := range []struct {
		name string
		set  bool
	}{{"SENDGRID_API_KEY", c.SendGridAPIKey != ""}, {"TWILIO_ACCOUNT_SID", c.Twilio.AccountSID != ""}, {"LOB_API_KEY", c.LobAPIKey != ""}} {
		if k.set {
			keys = append(keys, k.name)
		}
	}
	return keys
}

// CheckNoDemoDefaults refuses a configuration that would send real
// messages with the demo's defaults: with a provider key set
// (SENDGRID_API_KEY, TWILIO_ACCOUNT_SID, LOB_API_KEY), the public URL and
// the sender identity (RAPPORT_PUBLIC_URL, RAPPORT_SHOP_NAME,
// RAPPORT_SHOP_URL, RAPPORT_SUPPORT_EMAIL, and with SendGrid
// RAPPORT_EMAIL_FROM) must be set. The error names each one missing.
// `rapport worker` and `rapport api` check it before they start; dev mode
// sets its own and sends only to fakes.
func (c Config) CheckNoDemoDefaults() error {
	if !c.sends() {
		return nil
	}
	var missing []string
	for _, d := range demoDefaults {
		if d.needs(c) && slices.Contains(c.DemoDefaults, d.name) {
			missing = append(missing, fmt.Sprintf("%s (%s; the demo's is %s)", d.name, d.what, declaredDefault(d.name)))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	keys := c.providerKeys()
	verb := "is"
	if len(keys) > 1 {
		verb = "are"
	}
	return fmt.Errorf("%s %s set, so messages go to real people, but %s: %s. Set each (see docs/configuration.md), or unset the provider keys to run without sending",
		strings.Join(keys, " and "), verb, plural(len(missing), "this variable is not set and its demo default must not reach them", "these variables are not set and their demo defaults must not reach them"), strings.Join(missing, "; "))
}

// plural returns one when n is 1, else many.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// ConfigFromEnv reads the configuration from env (OSEnv for the
// process's), with the defaults docs/configuration.md gives, and checks
// it: a bad value fails with an error that names its variable. An empty
// variable counts as unset: "" in a compose file or a Secret must not
// switch a protection off ("none" says none).
func ConfigFromEnv(env Env) (Config, error) {
	s, set, err := parseSettings(env)
	if err != nil {
		return Config{}, err
	}
	c := s.config()
	c.DemoDefaults = unsetDemoDefaults(set)
	if c.Temporal, err = temporalOptions(env); err != nil {
		return Config{}, err
	}
	if c.Codec, err = codec.FromEnv(func(key string) string { return get(env, key) }); err != nil {
		return Config{}, err
	}
	if c.WebhookEndpoints, _, err = WebhookEndpointsFromEnv(env); err != nil {
		return Config{}, err
	}
	if path := s.Identity.TopicsFile; path != "" {
		if c.TopicLabels, err = readTopicLabels(path); err != nil {
			return Config{}, err
		}
	}
	return c, nil
}

// unsetDemoDefaults lists, sorted, the demo defaults' variables that are
// not among the variables set, so took the demo's value.
func unsetDemoDefaults(set map[string]string) []string {
	var out []string
	for _, d := range demoDefaults {
		if _, ok := set[d.name]; !ok {
			out = append(out, d.name)
		}
	}
	slices.Sort(out)
	return out
}

// Signer returns the link signer for RAPPORT_SECRET, or an error that
// says how to set it.
func (c Config) Signer() (*links.Signer, error) {
	if c.Secret == "" {
		return nil, errors.New("RAPPORT_SECRET is not set; it signs the links in messages (surveys): use 32 or more random characters, the same for every worker and API, such as the output of `openssl rand -hex 32`")
	}
	return links.NewSigner([]byte(c.Secret))
}

// WebhookKeys are the keys that verify provider callbacks.
func (c Config) WebhookKeys() (api.WebhookKeys, error) {
	k := api.WebhookKeys{TwilioAuthToken: c.Twilio.AuthToken, LobSecret: c.LobWebhookSecret, PublicURL: c.PublicURL,
		ShopifySecrets: c.ShopifyWebhookSecrets, ShopifyShops: c.ShopifyShopDomains, SegmentSecrets: c.SegmentSharedSecrets}
	if c.SendGridWebhookKey != "" {
		key, err := api.ParseSendGridKey(c.SendGridWebhookKey)
		if err != nil {
			return k, fmt.Errorf("SENDGRID_WEBHOOK_PUBLIC_KEY: %w", err)
		}
		k.SendGrid = key
	}
	return k, nil
}

// Logger is the process's log, on standard error, at LogLevel in
// LogFormat.
func (c Config) Logger() *slog.Logger {
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
func temporalOptions(env Env) (client.Options, error) {
	opts, err := envconfig.LoadClientOptions(envconfig.LoadClientOptionsRequest{EnvLookup: setEnv{env}})
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

// WebhookEndpointsFromEnv reads the webhook channel's endpoints from
// RAPPORT_WEBHOOK_ENDPOINTS (a JSON array) or the file
// RAPPORT_WEBHOOK_ENDPOINTS_FILE names (not both). configured says whether
// either is set: when neither is, there are no endpoints, and nothing can
// say which a journey may name (rapport validate without the secrets).
// The error names the variable and the endpoint at fault, never a secret.
func WebhookEndpointsFromEnv(env Env) (eps []webhook.Endpoint, configured bool, err error) {
	inline, file := get(env, "RAPPORT_WEBHOOK_ENDPOINTS"), get(env, "RAPPORT_WEBHOOK_ENDPOINTS_FILE")
	switch {
	case inline != "" && file != "":
		return nil, true, errors.New("RAPPORT_WEBHOOK_ENDPOINTS and RAPPORT_WEBHOOK_ENDPOINTS_FILE are both set; set one")
	case inline != "":
		if eps, err = webhook.ParseEndpoints([]byte(inline)); err != nil {
			return nil, true, fmt.Errorf("RAPPORT_WEBHOOK_ENDPOINTS: %w", err)
		}
		return eps, true, nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, true, fmt.Errorf("RAPPORT_WEBHOOK_ENDPOINTS_FILE: %w", err)
		}
		if len(b) > 1<<20 {
			return nil, true, fmt.Errorf("RAPPORT_WEBHOOK_ENDPOINTS_FILE: %s is larger than 1 MiB", file)
		}
		if eps, err = webhook.ParseEndpoints(b); err != nil {
			return nil, true, fmt.Errorf("RAPPORT_WEBHOOK_ENDPOINTS_FILE %s: %w", file, err)
		}
		return eps, true, nil
	}
	return nil, false, nil
}

// WebhookEndpointNames lists the configured webhook endpoints' names.
func (c Config) WebhookEndpointNames() []string {
	names := make([]string, len(c.WebhookEndpoints))
	for i, e := range c.WebhookEndpoints {
		names[i] = e.Name
	}
	slices.Sort(names)
	return names
}
