package app

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"

	"github.com/rapporthq/rapport/activities"
	"github.com/rapporthq/rapport/internal/api"
	"github.com/rapporthq/rapport/internal/channels"
	"github.com/rapporthq/rapport/internal/channels/twilio"
	"github.com/rapporthq/rapport/internal/channels/webhook"
	"github.com/rapporthq/rapport/internal/codec"
	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/links"
	"github.com/rapporthq/rapport/internal/policy"
	"github.com/rapporthq/rapport/internal/templates"
	"github.com/rapporthq/rapport/workflows"
)

// Config is Rapport's configuration from the environment.
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

// demoDefault is a variable whose default only suits a demo.
type demoDefault struct {
	name, def, what string
	// needs says which configuration needs the variable set: any provider
	// key, or only SendGrid's.
	needs func(Config) bool
}

// demoDefaults are the variables whose defaults only suit a demo: where
// the links in messages point, and who messages say they come from. With
// a provider key set, messages reach real people, so a worker or an API
// needs each set (CheckNoDemoDefaults); what needs it, for the error.
var demoDefaults = []demoDefault{
	{"RAPPORT_PUBLIC_URL", "http://127.0.0.1:8080", "where customers reach the unsubscribe, preference and survey links, and providers the webhooks", Config.sends},
	{"RAPPORT_SHOP_NAME", "The Shop", "the shop's name, in messages and as the sender's name", Config.sends},
	{"RAPPORT_SHOP_URL", "https://shop.example", "the shop's website, in messages", Config.sends},
	{"RAPPORT_SUPPORT_EMAIL", "help@shop.example", "where customers write for help, in messages", Config.sends},
	{"RAPPORT_EMAIL_FROM", "hello@shop.example", "the address email comes from, verified with SendGrid", func(c Config) bool { return c.SendGridAPIKey != "" }},
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
			missing = append(missing, fmt.Sprintf("%s (%s; the demo's is %s)", d.name, d.what, d.def))
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
// it: a bad value fails with an error that names its variable.
func ConfigFromEnv(env Env) (Config, error) {
	var demo []string
	// orDemo is getOr for a variable with a demo default, noting it.
	orDemo := func(key string) string {
		if v := get(env, key); v != "" {
			return v
		}
		demo = append(demo, key)
		i := slices.IndexFunc(demoDefaults, func(d demoDefault) bool { return d.name == key })
		return demoDefaults[i].def
	}
	shopName := orDemo("RAPPORT_SHOP_NAME")
	c := Config{
		DatabaseURL:     get(env, "DATABASE_URL"),
		SendGridAPIKey:  get(env, "SENDGRID_API_KEY"),
		SendGridBaseURL: get(env, "SENDGRID_BASE_URL"),
		Sender: activities.Sender{
			EmailFrom:     orDemo("RAPPORT_EMAIL_FROM"),
			EmailFromName: getOr(env, "RAPPORT_EMAIL_FROM_NAME", shopName),
			ReplyTo:       get(env, "RAPPORT_EMAIL_REPLY_TO"),
			Shop: templates.Shop{
				Name:         shopName,
				URL:          orDemo("RAPPORT_SHOP_URL"),
				SupportEmail: orDemo("RAPPORT_SUPPORT_EMAIL"),
			},
		},
		Twilio: twilio.Config{
			AccountSID:          get(env, "TWILIO_ACCOUNT_SID"),
			AuthToken:           get(env, "TWILIO_AUTH_TOKEN"),
			From:                get(env, "TWILIO_FROM"),
			MessagingServiceSID: get(env, "TWILIO_MESSAGING_SERVICE_SID"),
			BaseURL:             get(env, "TWILIO_BASE_URL"),
		},
		LobAPIKey:  get(env, "LOB_API_KEY"),
		LobBaseURL: get(env, "LOB_BASE_URL"),
		ReturnAddress: channels.PostalAddress{
			Name:       getOr(env, "RAPPORT_MAIL_FROM_NAME", shopName),
			Line1:      get(env, "RAPPORT_MAIL_FROM_LINE1"),
			Line2:      get(env, "RAPPORT_MAIL_FROM_LINE2"),
			City:       get(env, "RAPPORT_MAIL_FROM_CITY"),
			State:      get(env, "RAPPORT_MAIL_FROM_STATE"),
			PostalCode: get(env, "RAPPORT_MAIL_FROM_POSTAL_CODE"),
			Country:    getOr(env, "RAPPORT_MAIL_FROM_COUNTRY", "US"),
		},
		Secret:             get(env, "RAPPORT_SECRET"),
		PublicURL:          orDemo("RAPPORT_PUBLIC_URL"),
		Rules:              policy.DefaultRules(),
		UnsubscribeMailto:  get(env, "RAPPORT_UNSUBSCRIBE_MAILTO"),
		DefaultCurrency:    getOr(env, "RAPPORT_DEFAULT_CURRENCY", "USD"),
		SendGridWebhookKey: get(env, "SENDGRID_WEBHOOK_PUBLIC_KEY"),
		LobWebhookSecret:   get(env, "LOB_WEBHOOK_SECRET"),
		LogFormat:          getOr(env, "RAPPORT_LOG_FORMAT", "text"),
	}
	c.ShopifyWebhookSecrets = commaList(get(env, "SHOPIFY_WEBHOOK_SECRET"), false)
	c.ShopifyShopDomains = commaList(get(env, "SHOPIFY_SHOP_DOMAINS"), true)
	c.SegmentSharedSecrets = commaList(get(env, "SEGMENT_SHARED_SECRET"), false)
	slices.Sort(demo)
	c.DemoDefaults = demo
	topts, err := temporalOptions(env)
	if err != nil {
		return c, err
	}
	c.Temporal = topts
	if c.Codec, err = codec.FromEnv(func(key string) string { return get(env, key) }); err != nil {
		return c, err
	}
	c.Rules.DefaultZone = getOr(env, "RAPPORT_DEFAULT_TIME_ZONE", "UTC")
	if _, err := time.LoadLocation(c.Rules.DefaultZone); err != nil {
		return c, fmt.Errorf("RAPPORT_DEFAULT_TIME_ZONE: %q is not an IANA time zone", c.Rules.DefaultZone)
	}
	// Empty counts as unset, as for every variable: "" in a compose file or
	// a Secret must not switch a protection off. Say "none" for none.
	if v := get(env, "RAPPORT_QUIET_HOURS"); v != "" {
		quiet, err := policy.ParseQuiet(v)
		if err != nil {
			return c, fmt.Errorf("RAPPORT_QUIET_HOURS: %w", err)
		}
		c.Rules.Quiet = quiet
	}
	if v := get(env, "RAPPORT_FREQUENCY_CAPS"); v != "" {
		if v == "none" {
			v = ""
		}
		caps, err := policy.ParseCaps(v)
		if err != nil {
			return c, fmt.Errorf("RAPPORT_FREQUENCY_CAPS: %w", err)
		}
		c.Rules.Caps = caps
	}
	if v := get(env, "RAPPORT_REQUIRE_OPT_IN"); v != "" {
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
	for _, p := range strings.Split(get(env, "RAPPORT_TRUSTED_PROXIES"), ",") {
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
		v := strings.TrimSpace(get(env, r.name))
		if _, err := workflows.ParseRetention(v); err != nil {
			return c, fmt.Errorf("%s: %w", r.name, err)
		}
		*r.into = v
	}
	if c.InDoubt, err = inDoubtFromEnv(env); err != nil {
		return c, err
	}
	if c.WebhookEndpoints, c.WebhookAllowNetworks, err = webhooksFromEnv(env); err != nil {
		return c, err
	}
	if path := get(env, "RAPPORT_TOPICS_FILE"); path != "" {
		if c.TopicLabels, err = readTopicLabels(path); err != nil {
			return c, err
		}
	}
	if err := c.LogLevel.UnmarshalText([]byte(getOr(env, "RAPPORT_LOG_LEVEL", "info"))); err != nil {
		return c, fmt.Errorf("RAPPORT_LOG_LEVEL: %w", err)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return c, fmt.Errorf("RAPPORT_LOG_FORMAT must be text or json, not %q", c.LogFormat)
	}
	return c, nil
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

// webhooksFromEnv reads the webhook channel's endpoints
// (WebhookEndpointsFromEnv) and the networks they may reach although not
// public, RAPPORT_WEBHOOK_ALLOW_NETWORKS (CIDRs or addresses,
// comma-separated).
func webhooksFromEnv(env Env) ([]webhook.Endpoint, []netip.Prefix, error) {
	eps, _, err := WebhookEndpointsFromEnv(env)
	if err != nil {
		return nil, nil, err
	}
	var allow []netip.Prefix
	for _, p := range strings.Split(get(env, "RAPPORT_WEBHOOK_ALLOW_NETWORKS"), ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			a, aerr := netip.ParseAddr(p)
			if aerr != nil {
				return nil, nil, fmt.Errorf("RAPPORT_WEBHOOK_ALLOW_NETWORKS: %q is not an address or CIDR such as 10.0.0.0/8", p)
			}
			prefix = netip.PrefixFrom(a, a.BitLen())
		}
		allow = append(allow, prefix.Masked())
	}
	return eps, allow, nil
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

// inDoubtFromEnv reads how messages in doubt are settled:
// RAPPORT_IN_DOUBT_DEADLINE (how long to wait for evidence, default 6h)
// and RAPPORT_IN_DOUBT_AT_LEAST_ONCE (the channels sent again when it
// passes with no evidence: email, sms or none, the default).
func inDoubtFromEnv(env Env) (activities.InDoubtPolicy, error) {
	var p activities.InDoubtPolicy
	if v := strings.TrimSpace(get(env, "RAPPORT_IN_DOUBT_DEADLINE")); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Minute {
			return p, fmt.Errorf("RAPPORT_IN_DOUBT_DEADLINE: %q is not a duration of at least 1m, such as 6h", v)
		}
		p.Deadline = d
	}
	for _, ch := range strings.Split(get(env, "RAPPORT_IN_DOUBT_AT_LEAST_ONCE"), ",") {
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

// commaList splits a comma-separated setting into its trimmed, non-empty
// parts (lower-cased with lower); nil when there are none.
func commaList(v string, lower bool) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			if lower {
				p = strings.ToLower(p)
			}
			out = append(out, p)
		}
	}
	return out
}
