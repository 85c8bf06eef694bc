package app

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"time"

	envparse "github.com/caarlos0/env/v11"

	"github.com/rapporthq/rapport/activities"
	"github.com/rapporthq/rapport/internal/channels"
	"github.com/rapporthq/rapport/internal/channels/twilio"
	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/policy"
	"github.com/rapporthq/rapport/internal/templates"
	"github.com/rapporthq/rapport/workflows"
)

// settings is what the environment configures, one struct per concern.
// Each field's env tag names its variable in full (so a grep for the
// variable finds it), its envDefault tag the default when there is one;
// caarlos0/env reads them (parseSettings). Go field names are unique
// across the concerns: an error names the field, and errors are turned
// into messages that name the variable by it. TestConfigDocumented holds
// docs/configuration.md to these declarations.
//
// Read elsewhere, with rules of their own: TEMPORAL_* (the SDK's
// envconfig), RAPPORT_CODEC_KEYS* (codec.FromEnv),
// RAPPORT_WEBHOOK_ENDPOINTS* (WebhookEndpointsFromEnv), and the flags'
// variables of the commands (cmd/rapport).
type settings struct {
	Store     storeSettings
	Providers providerSettings
	Identity  identitySettings
	Mail      returnAddressSettings
	Rules     ruleSettings
	Retention retentionSettings
	InDoubt   inDoubtSettings
	Webhooks  webhookSettings
	Inbound   inboundSettings
	Ops       opsSettings
}

// storeSettings are the database and the secret that signs links.
type storeSettings struct {
	DatabaseURL string `env:"DATABASE_URL"`
	Secret      string `env:"RAPPORT_SECRET"`
}

// providerSettings are the providers' keys, endpoints and webhook keys:
// no key, no messages on that channel.
type providerSettings struct {
	SendGridAPIKey     string `env:"SENDGRID_API_KEY"`
	SendGridBaseURL    string `env:"SENDGRID_BASE_URL"`
	SendGridWebhookKey string `env:"SENDGRID_WEBHOOK_PUBLIC_KEY"`
	TwilioAccountSID   string `env:"TWILIO_ACCOUNT_SID"`
	TwilioAuthToken    string `env:"TWILIO_AUTH_TOKEN"`
	TwilioFrom         string `env:"TWILIO_FROM"`
	TwilioMessagingSID string `env:"TWILIO_MESSAGING_SERVICE_SID"`
	TwilioBaseURL      string `env:"TWILIO_BASE_URL"`
	LobAPIKey          string `env:"LOB_API_KEY"`
	LobBaseURL         string `env:"LOB_BASE_URL"`
	LobWebhookSecret   string `env:"LOB_WEBHOOK_SECRET"`
}

// webhookSettings are the networks the webhook channel's endpoints may
// reach although not public; the endpoints themselves are read by
// WebhookEndpointsFromEnv (a variable or a file, not both).
type webhookSettings struct {
	WebhookAllowNetworks []netip.Prefix `env:"RAPPORT_WEBHOOK_ALLOW_NETWORKS"`
}

// identitySettings are the shop messages speak for, who they come from
// and where customers reach Rapport. The demo's defaults are refused once
// a provider key is set (demoDefaults, CheckNoDemoDefaults).
type identitySettings struct {
	PublicURL    string `env:"RAPPORT_PUBLIC_URL" envDefault:"http://127.0.0.1:8080"`
	ShopName     string `env:"RAPPORT_SHOP_NAME" envDefault:"The Shop"`
	ShopURL      string `env:"RAPPORT_SHOP_URL" envDefault:"https://shop.example"`
	SupportEmail string `env:"RAPPORT_SUPPORT_EMAIL" envDefault:"help@shop.example"`
	EmailFrom    string `env:"RAPPORT_EMAIL_FROM" envDefault:"hello@shop.example"`
	// EmailFromName defaults to the shop's name.
	EmailFromName     string `env:"RAPPORT_EMAIL_FROM_NAME"`
	ReplyTo           string `env:"RAPPORT_EMAIL_REPLY_TO"`
	UnsubscribeMailto string `env:"RAPPORT_UNSUBSCRIBE_MAILTO"`
	DefaultCurrency   string `env:"RAPPORT_DEFAULT_CURRENCY" envDefault:"USD"`
	TopicsFile        string `env:"RAPPORT_TOPICS_FILE"`
}

// returnAddressSettings are where letters come from.
type returnAddressSettings struct {
	// MailFromName defaults to the shop's name.
	MailFromName       string `env:"RAPPORT_MAIL_FROM_NAME"`
	MailFromLine1      string `env:"RAPPORT_MAIL_FROM_LINE1"`
	MailFromLine2      string `env:"RAPPORT_MAIL_FROM_LINE2"`
	MailFromCity       string `env:"RAPPORT_MAIL_FROM_CITY"`
	MailFromState      string `env:"RAPPORT_MAIL_FROM_STATE"`
	MailFromPostalCode string `env:"RAPPORT_MAIL_FROM_POSTAL_CODE"`
	MailFromCountry    string `env:"RAPPORT_MAIL_FROM_COUNTRY" envDefault:"US"`
}

// ruleSettings are the default contact rules. The defaults are
// policy.DefaultRules() written out (TestConfigDefaults holds them equal);
// "none" says none, as an empty value counts as unset.
type ruleSettings struct {
	DefaultZone  timeZone                         `env:"RAPPORT_DEFAULT_TIME_ZONE" envDefault:"UTC"`
	Quiet        map[policy.Channel]policy.Window `env:"RAPPORT_QUIET_HOURS" envDefault:"sms=21:00-08:00,phone=21:00-08:00"`
	Caps         []policy.Cap                     `env:"RAPPORT_FREQUENCY_CAPS" envDefault:"3/7d,1/1d"`
	RequireOptIn map[policy.Channel]bool          `env:"RAPPORT_REQUIRE_OPT_IN" envDefault:"sms,phone"`
}

// retentionSettings are how long message content and event data are
// kept; unset, forever.
type retentionSettings struct {
	RetainMessages retention `env:"RAPPORT_RETENTION_MESSAGES"`
	RetainEvents   retention `env:"RAPPORT_RETENTION_EVENTS"`
}

// inDoubtSettings are how messages whose send is in doubt are settled;
// unset, activities.DefaultInDoubtDeadline and at most once.
type inDoubtSettings struct {
	InDoubtDeadline    atLeastAMinute    `env:"RAPPORT_IN_DOUBT_DEADLINE"`
	InDoubtAtLeastOnce []journey.Channel `env:"RAPPORT_IN_DOUBT_AT_LEAST_ONCE"`
}

// inboundSettings are the secrets of the sources that call Rapport:
// Shopify's webhooks and Segment's Webhooks destinations (two of each,
// comma-separated, while one is rotated).
type inboundSettings struct {
	ShopifySecrets []string `env:"SHOPIFY_WEBHOOK_SECRET"`
	ShopifyShops   []string `env:"SHOPIFY_SHOP_DOMAINS"`
	SegmentSecrets []string `env:"SEGMENT_SHARED_SECRET"`
}

// opsSettings are the log and the load balancers in front of the API.
type opsSettings struct {
	LogLevel       slog.Level     `env:"RAPPORT_LOG_LEVEL" envDefault:"info"`
	LogFormat      logFormat      `env:"RAPPORT_LOG_FORMAT" envDefault:"text"`
	TrustedProxies []netip.Prefix `env:"RAPPORT_TRUSTED_PROXIES"`
}

// parseSettings reads the settings from env, an empty variable counting
// as unset. It also returns the variables that were set, and fails with
// every bad value, each error naming its variable.
func parseSettings(env Env) (settings, map[string]string, error) {
	vars := declaredVariables()
	environ := make(map[string]string, len(vars)) // never nil: nil means os.Environ to the library
	for _, v := range vars {
		if val, ok := env.Lookup(v.key); ok && val != "" {
			environ[v.key] = val
		}
	}
	var s settings
	err := envparse.ParseWithOptions(&s, envparse.Options{Environment: environ, FuncMap: parsers()})
	if err != nil {
		return s, environ, explain(err, vars)
	}
	return s, environ, nil
}

// config maps the settings onto Config, deriving the defaults that
// follow other settings (the sender's names follow the shop's).
func (s settings) config() Config {
	return Config{
		DatabaseURL:        s.Store.DatabaseURL,
		Secret:             s.Store.Secret,
		SendGridAPIKey:     s.Providers.SendGridAPIKey,
		SendGridBaseURL:    s.Providers.SendGridBaseURL,
		SendGridWebhookKey: s.Providers.SendGridWebhookKey,
		Twilio: twilio.Config{
			AccountSID:          s.Providers.TwilioAccountSID,
			AuthToken:           s.Providers.TwilioAuthToken,
			From:                s.Providers.TwilioFrom,
			MessagingServiceSID: s.Providers.TwilioMessagingSID,
			BaseURL:             s.Providers.TwilioBaseURL,
		},
		LobAPIKey:            s.Providers.LobAPIKey,
		LobBaseURL:           s.Providers.LobBaseURL,
		LobWebhookSecret:     s.Providers.LobWebhookSecret,
		WebhookAllowNetworks: s.Webhooks.WebhookAllowNetworks,
		Sender: activities.Sender{
			EmailFrom:     s.Identity.EmailFrom,
			EmailFromName: cmp.Or(s.Identity.EmailFromName, s.Identity.ShopName),
			ReplyTo:       s.Identity.ReplyTo,
			Shop:          templates.Shop{Name: s.Identity.ShopName, URL: s.Identity.ShopURL, SupportEmail: s.Identity.SupportEmail},
		},
		PublicURL:         s.Identity.PublicURL,
		UnsubscribeMailto: s.Identity.UnsubscribeMailto,
		DefaultCurrency:   s.Identity.DefaultCurrency,
		ReturnAddress: channels.PostalAddress{
			Name:       cmp.Or(s.Mail.MailFromName, s.Identity.ShopName),
			Line1:      s.Mail.MailFromLine1,
			Line2:      s.Mail.MailFromLine2,
			City:       s.Mail.MailFromCity,
			State:      s.Mail.MailFromState,
			PostalCode: s.Mail.MailFromPostalCode,
			Country:    s.Mail.MailFromCountry,
		},
		Rules: policy.Rules{
			Quiet: s.Rules.Quiet, Caps: s.Rules.Caps, RequireOptIn: s.Rules.RequireOptIn,
			DefaultZone: string(s.Rules.DefaultZone),
		},
		Retention:             workflows.RetentionInput{Messages: string(s.Retention.RetainMessages), Events: string(s.Retention.RetainEvents)},
		InDoubt:               activities.InDoubtPolicy{Deadline: time.Duration(s.InDoubt.InDoubtDeadline), AtLeastOnce: s.InDoubt.InDoubtAtLeastOnce},
		ShopifyWebhookSecrets: s.Inbound.ShopifySecrets,
		ShopifyShopDomains:    lower(s.Inbound.ShopifyShops),
		SegmentSharedSecrets:  s.Inbound.SegmentSecrets,
		LogLevel:              s.Ops.LogLevel,
		LogFormat:             string(s.Ops.LogFormat),
		TrustedProxies:        s.Ops.TrustedProxies,
	}
}

// declaredVariable is a variable a settings field declares.
type declaredVariable struct {
	field  string // the Go field's name
	key    string // the variable's name
	def    string // its default, when hasDef
	hasDef bool
}

// declaredVariables walks settings for the variables its fields declare,
// in the order the library reads them.
func declaredVariables() []declaredVariable {
	var out []declaredVariable
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for f := range t.Fields() {
			key, _, _ := strings.Cut(f.Tag.Get("env"), ",")
			if key == "" && f.Type.Kind() == reflect.Struct {
				walk(f.Type)
				continue
			}
			if key != "" {
				def, has := f.Tag.Lookup("envDefault")
				out = append(out, declaredVariable{field: f.Name, key: key, def: def, hasDef: has})
			}
		}
	}
	walk(reflect.TypeFor[settings]())
	return out
}

// declaredDefault is the default the settings declare for the variable
// key ("" when none).
func declaredDefault(key string) string {
	for _, v := range declaredVariables() {
		if v.key == key {
			return v.def
		}
	}
	return ""
}

// explain turns the library's errors into one an operator can act on:
// each bad value as "VARIABLE: what is wrong", one per line.
func explain(err error, vars []declaredVariable) error {
	var agg envparse.AggregateError
	if !errors.As(err, &agg) {
		return fmt.Errorf("reading the configuration: %w", err)
	}
	var out []error
	for _, e := range agg.Errors {
		var pe envparse.ParseError
		i := -1
		if errors.As(e, &pe) {
			i = slices.IndexFunc(vars, func(v declaredVariable) bool { return v.field == pe.Name })
		}
		if i < 0 {
			out = append(out, fmt.Errorf("reading the configuration: %w", e))
			continue
		}
		out = append(out, fmt.Errorf("%s: %w", vars[i].key, pe.Err))
	}
	return errors.Join(out...)
}

// parsers are the library's parsers for the settings' types that are not
// text unmarshalers of their own.
func parsers() map[reflect.Type]envparse.ParserFunc {
	return map[reflect.Type]envparse.ParserFunc{
		reflect.TypeFor[map[policy.Channel]policy.Window](): func(v string) (any, error) { return policy.ParseQuiet(v) },
		reflect.TypeFor[[]policy.Cap]():                     parseCaps,
		reflect.TypeFor[map[policy.Channel]bool]():          parseOptIn,
		reflect.TypeFor[[]journey.Channel]():                parseAtLeastOnce,
		reflect.TypeFor[[]netip.Prefix]():                   parsePrefixes,
		reflect.TypeFor[[]string]():                         func(v string) (any, error) { return commaList(v), nil },
	}
}

// parseCaps reads frequency caps, such as 3/7d,sms:2/7d; none for none.
func parseCaps(v string) (any, error) {
	if strings.TrimSpace(v) == "none" {
		return []policy.Cap(nil), nil
	}
	return policy.ParseCaps(v)
}

// parseOptIn reads the channels on which marketing needs the customer's
// opt-in, such as sms,phone; none for none.
func parseOptIn(v string) (any, error) {
	out := map[policy.Channel]bool{}
	for _, ch := range commaList(v) {
		if ch == "none" {
			continue
		}
		if !slices.Contains(policy.Channels, policy.Channel(ch)) {
			return nil, fmt.Errorf("%q is not a channel (email, sms, mail, phone)", ch)
		}
		out[policy.Channel(ch)] = true
	}
	return out, nil
}

// parseAtLeastOnce reads the channels whose messages still in doubt at the
// deadline are sent again: email, sms or none. Mail is accepted and left
// out: Lob deduplicates by Idempotency-Key, so mail is never in doubt.
func parseAtLeastOnce(v string) (any, error) {
	var out []journey.Channel
	for _, ch := range commaList(v) {
		switch ch {
		case "none", string(journey.Mail):
		case string(journey.Email), string(journey.SMS):
			if !slices.Contains(out, journey.Channel(ch)) {
				out = append(out, journey.Channel(ch))
			}
		default:
			return nil, fmt.Errorf("%q is not email, sms or none", ch)
		}
	}
	return out, nil
}

// parsePrefixes reads addresses and CIDRs, comma-separated: an address is
// a prefix of its own.
func parsePrefixes(v string) (any, error) {
	var out []netip.Prefix
	for _, p := range commaList(v) {
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			a, aerr := netip.ParseAddr(p)
			if aerr != nil {
				return nil, fmt.Errorf("%q is not an address or CIDR such as 10.0.0.0/8", p)
			}
			prefix = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, prefix.Masked())
	}
	return out, nil
}

// timeZone is an IANA time zone's name, such as Europe/Paris.
type timeZone string

// UnmarshalText accepts a zone the time package knows.
func (z *timeZone) UnmarshalText(b []byte) error {
	if _, err := time.LoadLocation(string(b)); err != nil {
		return fmt.Errorf("%q is not an IANA time zone", b)
	}
	*z = timeZone(b)
	return nil
}

// retention is how long data is kept, such as 400d (workflows.ParseRetention).
type retention string

// UnmarshalText accepts a retention period of at least a day.
func (r *retention) UnmarshalText(b []byte) error {
	v := strings.TrimSpace(string(b))
	if _, err := workflows.ParseRetention(v); err != nil {
		return err
	}
	*r = retention(v)
	return nil
}

// atLeastAMinute is a duration of a minute or more, such as 6h.
type atLeastAMinute time.Duration

// UnmarshalText accepts a Go duration of at least a minute.
func (d *atLeastAMinute) UnmarshalText(b []byte) error {
	v := strings.TrimSpace(string(b))
	parsed, err := time.ParseDuration(v)
	if err != nil || parsed < time.Minute {
		return fmt.Errorf("%q is not a duration of at least 1m, such as 6h", v)
	}
	*d = atLeastAMinute(parsed)
	return nil
}

// logFormat is the log's format: text or json.
type logFormat string

// UnmarshalText accepts text or json.
func (f *logFormat) UnmarshalText(b []byte) error {
	if v := string(b); v != "text" && v != "json" {
		return fmt.Errorf("%q is not text or json", v)
	}
	*f = logFormat(b)
	return nil
}

// commaList splits a comma-separated setting into its trimmed, non-empty
// parts; nil when there are none.
func commaList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// lower is the list in lower case (domains, as Shopify's header gives
// them).
func lower(list []string) []string {
	var out []string
	for _, s := range list {
		out = append(out, strings.ToLower(s))
	}
	return out
}
