package app

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"io"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	envparse "github.com/caarlos0/env/v11"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/activities"
	"github.com/rapporthq/rapport/internal/channels"
	"github.com/rapporthq/rapport/internal/channels/twilio"
	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/policy"
	"github.com/rapporthq/rapport/internal/templates"
	"github.com/rapporthq/rapport/workflows"
)

// testEnv is an environment with nothing set but a temporal.toml that does
// not exist, so that no test reads the user's own, plus vars.
func testEnv(t *testing.T, vars map[string]string) MapEnv {
	t.Helper()
	env := MapEnv{"TEMPORAL_CONFIG_FILE": filepath.Join(t.TempDir(), "none.toml")}
	maps.Copy(env, vars)
	return env
}

const testSecret = "0123456789abcdef0123456789abcdef"

func TestConfigDefaults(t *testing.T) {
	cfg, err := ConfigFromEnv(testEnv(t, nil))
	require.NoError(t, err)
	assert.Empty(t, cfg.DatabaseURL)
	assert.Equal(t, "127.0.0.1:7233", cfg.Temporal.HostPort, "a local server by default")
	assert.Equal(t, "default", cfg.Temporal.Namespace)
	assert.Nil(t, cfg.Temporal.ConnectionOptions.TLS)
	assert.Nil(t, cfg.Temporal.HeadersProvider)
	assert.Equal(t, activities.Sender{
		EmailFrom: "hello@shop.example", EmailFromName: "The Shop",
		Shop: templates.Shop{Name: "The Shop", URL: "https://shop.example", SupportEmail: "help@shop.example"},
	}, cfg.Sender)
	assert.Equal(t, channels.PostalAddress{Name: "The Shop", Country: "US"}, cfg.ReturnAddress)
	assert.Equal(t, twilio.Config{}, cfg.Twilio)
	assert.Empty(t, cfg.SendGridAPIKey)
	assert.Empty(t, cfg.LobAPIKey)
	assert.Empty(t, cfg.Secret)
	assert.Equal(t, "http://127.0.0.1:8080", cfg.PublicURL)
	assert.Equal(t, policy.DefaultRules(), cfg.Rules)
	assert.Equal(t, "UTC", cfg.Rules.DefaultZone)
	assert.Empty(t, cfg.UnsubscribeMailto)
	assert.Equal(t, "USD", cfg.DefaultCurrency)
	assert.Equal(t, slog.LevelInfo, cfg.LogLevel)
	assert.Equal(t, "text", cfg.LogFormat)
	assert.Nil(t, cfg.Codec, "no encryption")
	assert.Empty(t, cfg.TrustedProxies)
	assert.Equal(t, workflows.RetentionInput{}, cfg.Retention, "kept forever")
	assert.Equal(t, activities.InDoubtPolicy{}, cfg.InDoubt)
	assert.Equal(t, []string{"RAPPORT_EMAIL_FROM", "RAPPORT_PUBLIC_URL", "RAPPORT_SHOP_NAME", "RAPPORT_SHOP_URL", "RAPPORT_SUPPORT_EMAIL"}, cfg.DemoDefaults)
	assert.NoError(t, cfg.CheckNoDemoDefaults(), "no provider key: nothing reaches real people")

	// The sender's names follow the shop's.
	cfg, err = ConfigFromEnv(testEnv(t, map[string]string{"RAPPORT_SHOP_NAME": "Teapot & Co"}))
	require.NoError(t, err)
	assert.Equal(t, "Teapot & Co", cfg.Sender.EmailFromName)
	assert.Equal(t, "Teapot & Co", cfg.ReturnAddress.Name)
}

// With a provider key set, a worker or an API refuses to start on the
// demo's public URL and sender identity, naming each variable missing; it
// starts once they are set. Which ones depends on the keys: the sending
// address only with SendGrid.
func TestConfigRefusesDemoDefaultsWithProviderKeys(t *testing.T) {
	identity := map[string]string{
		"RAPPORT_PUBLIC_URL":    "https://rapport.shop.test",
		"RAPPORT_EMAIL_FROM":    "news@shop.test",
		"RAPPORT_SHOP_NAME":     "Teapot & Co",
		"RAPPORT_SHOP_URL":      "https://shop.test",
		"RAPPORT_SUPPORT_EMAIL": "care@shop.test",
	}
	for _, tc := range []struct {
		name  string
		keys  map[string]string
		unset []string
		want  []string // variables named, in order; none: it starts
	}{
		{"SendGrid, nothing set", map[string]string{"SENDGRID_API_KEY": "SG.key"}, slices.Collect(maps.Keys(identity)),
			[]string{"SENDGRID_API_KEY is set", "RAPPORT_PUBLIC_URL (", "RAPPORT_SHOP_NAME (", "RAPPORT_SHOP_URL (", "RAPPORT_SUPPORT_EMAIL (", "RAPPORT_EMAIL_FROM ("}},
		{"SendGrid, no public URL", map[string]string{"SENDGRID_API_KEY": "SG.key"}, []string{"RAPPORT_PUBLIC_URL"},
			[]string{"SENDGRID_API_KEY is set", "but this variable is not set", "RAPPORT_PUBLIC_URL (where customers reach the unsubscribe, preference and survey links, and providers the webhooks; the demo's is http://127.0.0.1:8080)"}},
		{"SendGrid, no sender", map[string]string{"SENDGRID_API_KEY": "SG.key"}, []string{"RAPPORT_EMAIL_FROM"},
			[]string{"RAPPORT_EMAIL_FROM (the address email comes from, verified with SendGrid; the demo's is hello@shop.example)"}},
		{"Twilio needs no email sender", map[string]string{"TWILIO_ACCOUNT_SID": "ACsid", "TWILIO_AUTH_TOKEN": "t", "TWILIO_FROM": "+15005550006"}, []string{"RAPPORT_EMAIL_FROM"}, nil},
		{"Twilio and Lob, no shop", map[string]string{"TWILIO_ACCOUNT_SID": "ACsid", "LOB_API_KEY": "test_lob"}, []string{"RAPPORT_SHOP_NAME", "RAPPORT_SHOP_URL"},
			[]string{"TWILIO_ACCOUNT_SID and LOB_API_KEY are set", "RAPPORT_SHOP_NAME (", "RAPPORT_SHOP_URL ("}},
		{"empty counts as unset", map[string]string{"SENDGRID_API_KEY": "SG.key", "RAPPORT_PUBLIC_URL": ""}, nil, []string{"RAPPORT_PUBLIC_URL ("}},
		{"every one set", map[string]string{"SENDGRID_API_KEY": "SG.key", "TWILIO_ACCOUNT_SID": "ACsid", "LOB_API_KEY": "test_lob"}, nil, nil},
		{"no provider key", nil, slices.Collect(maps.Keys(identity)), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vars := maps.Clone(identity)
			for _, k := range tc.unset {
				delete(vars, k)
			}
			maps.Copy(vars, tc.keys)
			cfg, err := ConfigFromEnv(testEnv(t, vars))
			require.NoError(t, err, "reading the configuration is not refused: other commands use it")
			err = cfg.CheckNoDemoDefaults()
			if tc.want == nil {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			msg := err.Error()
			at := 0
			for _, w := range tc.want {
				i := strings.Index(msg[at:], w)
				require.GreaterOrEqual(t, i, 0, "%q after %q in %s", w, msg[:at], msg)
				at += i + len(w)
			}
			for k := range identity {
				if vars[k] != "" {
					assert.NotContains(t, msg, k+" (", "%s is set", k)
				}
			}
			assert.Contains(t, msg, "unset the provider keys to run without sending")
		})
	}
}

// Every variable set, each lands where it belongs.
func TestConfigFromEachVariable(t *testing.T) {
	sgKey, sgKeyB64 := sendGridKey(t)
	vars := map[string]string{
		"DATABASE_URL":                   "postgres://rapport@db:5432/rapport",
		"TEMPORAL_ADDRESS":               "temporal:7233",
		"TEMPORAL_NAMESPACE":             "shop",
		"TEMPORAL_GRPC_META_X_TENANT":    "shop",
		"SENDGRID_API_KEY":               "SG.key",
		"SENDGRID_BASE_URL":              "http://sendgrid.test",
		"TWILIO_ACCOUNT_SID":             "ACsid",
		"TWILIO_AUTH_TOKEN":              "token",
		"TWILIO_FROM":                    "+15005550006",
		"TWILIO_MESSAGING_SERVICE_SID":   "MGsid",
		"TWILIO_BASE_URL":                "http://twilio.test",
		"LOB_API_KEY":                    "test_lob",
		"LOB_BASE_URL":                   "http://lob.test",
		"RAPPORT_MAIL_FROM_NAME":         "Shop Inc.",
		"RAPPORT_MAIL_FROM_LINE1":        "185 Berry St",
		"RAPPORT_MAIL_FROM_LINE2":        "Suite 6100",
		"RAPPORT_MAIL_FROM_CITY":         "San Francisco",
		"RAPPORT_MAIL_FROM_STATE":        "CA",
		"RAPPORT_MAIL_FROM_POSTAL_CODE":  "94107",
		"RAPPORT_MAIL_FROM_COUNTRY":      "CA",
		"RAPPORT_EMAIL_FROM":             "news@shop.test",
		"RAPPORT_EMAIL_FROM_NAME":        "Shop News",
		"RAPPORT_EMAIL_REPLY_TO":         "help@shop.test",
		"RAPPORT_SHOP_NAME":              "Shop",
		"RAPPORT_SHOP_URL":               "https://shop.test",
		"RAPPORT_SUPPORT_EMAIL":          "support@shop.test",
		"RAPPORT_SECRET":                 testSecret,
		"RAPPORT_PUBLIC_URL":             "https://rapport.shop.test",
		"RAPPORT_UNSUBSCRIBE_MAILTO":     "unsubscribe@shop.test",
		"RAPPORT_DEFAULT_CURRENCY":       "EUR",
		"SENDGRID_WEBHOOK_PUBLIC_KEY":    sgKeyB64,
		"LOB_WEBHOOK_SECRET":             "lob-secret",
		"RAPPORT_LOG_LEVEL":              "debug",
		"RAPPORT_LOG_FORMAT":             "json",
		"RAPPORT_CODEC_KEYS":             "k1:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)),
		"RAPPORT_DEFAULT_TIME_ZONE":      "Europe/Paris",
		"RAPPORT_QUIET_HOURS":            "email=22:00-07:00",
		"RAPPORT_FREQUENCY_CAPS":         "sms:2/7d",
		"RAPPORT_REQUIRE_OPT_IN":         "email, mail",
		"RAPPORT_TRUSTED_PROXIES":        "10.0.0.0/8, 192.0.2.7 ,2001:db8::/32",
		"RAPPORT_RETENTION_MESSAGES":     "400d",
		"RAPPORT_RETENTION_EVENTS":       " 13w ",
		"RAPPORT_IN_DOUBT_DEADLINE":      "2h",
		"RAPPORT_IN_DOUBT_AT_LEAST_ONCE": "sms, email,sms,mail",
	}
	cfg, err := ConfigFromEnv(testEnv(t, vars))
	require.NoError(t, err)

	assert.Equal(t, "postgres://rapport@db:5432/rapport", cfg.DatabaseURL)
	assert.Equal(t, "temporal:7233", cfg.Temporal.HostPort)
	assert.Equal(t, "shop", cfg.Temporal.Namespace)
	require.NotNil(t, cfg.Temporal.HeadersProvider, "TEMPORAL_GRPC_META_* reach Temporal: MapEnv lists its variables")
	headers, err := cfg.Temporal.HeadersProvider.GetHeaders(t.Context())
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"x-tenant": "shop"}, headers)
	assert.Equal(t, "SG.key", cfg.SendGridAPIKey)
	assert.Equal(t, "http://sendgrid.test", cfg.SendGridBaseURL)
	assert.Equal(t, twilio.Config{AccountSID: "ACsid", AuthToken: "token", From: "+15005550006", MessagingServiceSID: "MGsid", BaseURL: "http://twilio.test"}, cfg.Twilio)
	assert.Equal(t, "test_lob", cfg.LobAPIKey)
	assert.Equal(t, "http://lob.test", cfg.LobBaseURL)
	assert.Equal(t, channels.PostalAddress{Name: "Shop Inc.", Line1: "185 Berry St", Line2: "Suite 6100", City: "San Francisco", State: "CA", PostalCode: "94107", Country: "CA"}, cfg.ReturnAddress)
	assert.Equal(t, activities.Sender{
		EmailFrom: "news@shop.test", EmailFromName: "Shop News", ReplyTo: "help@shop.test",
		Shop: templates.Shop{Name: "Shop", URL: "https://shop.test", SupportEmail: "support@shop.test"},
	}, cfg.Sender)
	assert.Equal(t, testSecret, cfg.Secret)
	assert.Equal(t, "https://rapport.shop.test", cfg.PublicURL)
	assert.Equal(t, "unsubscribe@shop.test", cfg.UnsubscribeMailto)
	assert.Equal(t, "EUR", cfg.DefaultCurrency)
	assert.Equal(t, sgKeyB64, cfg.SendGridWebhookKey)
	assert.Equal(t, "lob-secret", cfg.LobWebhookSecret)
	assert.Equal(t, slog.LevelDebug, cfg.LogLevel)
	assert.Equal(t, "json", cfg.LogFormat)
	require.NotNil(t, cfg.Codec)
	assert.Equal(t, []string{"k1"}, cfg.Codec.IDs())

	quiet, err := policy.ParseQuiet("email=22:00-07:00")
	require.NoError(t, err)
	caps, err := policy.ParseCaps("sms:2/7d")
	require.NoError(t, err)
	assert.Equal(t, policy.Rules{
		Quiet: quiet, Caps: caps,
		RequireOptIn: map[policy.Channel]bool{policy.Channel("email"): true, policy.Channel("mail"): true},
		DefaultZone:  "Europe/Paris",
	}, cfg.Rules)

	var proxies []string
	for _, p := range cfg.TrustedProxies {
		proxies = append(proxies, p.String())
	}
	assert.Equal(t, []string{"10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32"}, proxies)
	assert.Equal(t, workflows.RetentionInput{Messages: "400d", Events: "13w"}, cfg.Retention)
	assert.Equal(t, activities.InDoubtPolicy{Deadline: 2 * time.Hour, AtLeastOnce: []journey.Channel{journey.SMS, journey.Email}}, cfg.InDoubt,
		"each channel once, mail never (Lob deduplicates)")

	hooks, err := cfg.WebhookKeys()
	require.NoError(t, err)
	assert.True(t, sgKey.Equal(hooks.SendGrid))
	assert.Equal(t, "token", hooks.TwilioAuthToken)
	assert.Equal(t, "lob-secret", hooks.LobSecret)
	assert.Equal(t, "https://rapport.shop.test", hooks.PublicURL)
	signer, err := cfg.Signer()
	require.NoError(t, err)
	assert.NotNil(t, signer)
}

// An empty variable counts as unset, as compose files and Kubernetes
// Secrets pass "" for what is not configured: it never switches a
// protection off, and an empty TLS path does not turn TLS on.
func TestConfigEmptyIsUnset(t *testing.T) {
	vars := map[string]string{}
	for _, k := range []string{"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_TLS_CLIENT_CERT_PATH", "TEMPORAL_API_KEY",
		"RAPPORT_EMAIL_FROM", "RAPPORT_PUBLIC_URL", "RAPPORT_QUIET_HOURS", "RAPPORT_FREQUENCY_CAPS", "RAPPORT_REQUIRE_OPT_IN",
		"RAPPORT_DEFAULT_TIME_ZONE", "RAPPORT_LOG_LEVEL", "RAPPORT_LOG_FORMAT", "RAPPORT_CODEC_KEYS", "RAPPORT_MAIL_FROM_COUNTRY"} {
		vars[k] = ""
	}
	cfg, err := ConfigFromEnv(testEnv(t, vars))
	require.NoError(t, err)
	def, err := ConfigFromEnv(testEnv(t, nil))
	require.NoError(t, err)
	assert.Nil(t, cfg.Temporal.ConnectionOptions.TLS, "an empty variable is unset")
	assert.Equal(t, def.Temporal.HostPort, cfg.Temporal.HostPort)
	assert.Equal(t, def.Sender, cfg.Sender)
	assert.Equal(t, def.Rules, cfg.Rules, "the default contact rules stand")
	assert.Equal(t, def.ReturnAddress, cfg.ReturnAddress)
	assert.Equal(t, def.PublicURL, cfg.PublicURL)

	// "none" is how to say none.
	cfg, err = ConfigFromEnv(testEnv(t, map[string]string{"RAPPORT_FREQUENCY_CAPS": "none", "RAPPORT_REQUIRE_OPT_IN": "none", "RAPPORT_IN_DOUBT_AT_LEAST_ONCE": "none"}))
	require.NoError(t, err)
	assert.Empty(t, cfg.Rules.Caps)
	assert.Empty(t, cfg.Rules.RequireOptIn)
	assert.Empty(t, cfg.InDoubt.AtLeastOnce)
}

// A bad value fails with an error that names its variable.
func TestConfigBadValues(t *testing.T) {
	for _, tc := range []struct{ name, value, says string }{
		{"RAPPORT_DEFAULT_TIME_ZONE", "Mars/Olympus", `RAPPORT_DEFAULT_TIME_ZONE: "Mars/Olympus" is not an IANA time zone`},
		{"RAPPORT_QUIET_HOURS", "sms=late", "RAPPORT_QUIET_HOURS: "},
		{"RAPPORT_FREQUENCY_CAPS", "lots", "RAPPORT_FREQUENCY_CAPS: "},
		{"RAPPORT_REQUIRE_OPT_IN", "sms,pigeon", `RAPPORT_REQUIRE_OPT_IN: "pigeon" is not a channel (email, sms, mail, phone)`},
		{"RAPPORT_TRUSTED_PROXIES", "10.0.0.0/8,load-balancer", `RAPPORT_TRUSTED_PROXIES: "load-balancer" is not an address or CIDR such as 10.0.0.0/8`},
		{"RAPPORT_RETENTION_MESSAGES", "0d", "RAPPORT_RETENTION_MESSAGES: "},
		{"RAPPORT_RETENTION_EVENTS", "400 days", "RAPPORT_RETENTION_EVENTS: "},
		{"RAPPORT_RETENTION_EVENTS", "6h", "shorter than a day"},
		{"RAPPORT_RETENTION_EVENTS", "forever", "not a duration"},
		{"RAPPORT_IN_DOUBT_DEADLINE", "30s", `RAPPORT_IN_DOUBT_DEADLINE: "30s" is not a duration of at least 1m, such as 6h`},
		{"RAPPORT_IN_DOUBT_DEADLINE", "soon", `RAPPORT_IN_DOUBT_DEADLINE: "soon"`},
		{"RAPPORT_IN_DOUBT_AT_LEAST_ONCE", "email,phone", `RAPPORT_IN_DOUBT_AT_LEAST_ONCE: "phone" is not email, sms or none`},
		{"RAPPORT_LOG_LEVEL", "loud", "RAPPORT_LOG_LEVEL: "},
		{"RAPPORT_LOG_FORMAT", "xml", `RAPPORT_LOG_FORMAT: "xml" is not text or json`},
		{"RAPPORT_CODEC_KEYS", "k1:abc", "RAPPORT_CODEC_KEYS"},
		{"TEMPORAL_PROFILE", "nope", "the Temporal connection settings (TEMPORAL_* or temporal.toml): "},
	} {
		_, err := ConfigFromEnv(testEnv(t, map[string]string{tc.name: tc.value}))
		require.Error(t, err, "%s=%q", tc.name, tc.value)
		assert.Contains(t, err.Error(), tc.says, "%s=%q", tc.name, tc.value)
	}

	// Keys in the variable and in a file: which one?
	_, err := ConfigFromEnv(testEnv(t, map[string]string{"RAPPORT_CODEC_KEYS": "k1:" + base64.StdEncoding.EncodeToString(make([]byte, 32)), "RAPPORT_CODEC_KEYS_FILE": "keys"}))
	require.ErrorContains(t, err, "both RAPPORT_CODEC_KEYS and RAPPORT_CODEC_KEYS_FILE are set")

	cfg, err := ConfigFromEnv(testEnv(t, map[string]string{"SENDGRID_WEBHOOK_PUBLIC_KEY": "not a key"}))
	require.NoError(t, err, "checked where it is used: the API")
	_, err = cfg.WebhookKeys()
	require.ErrorContains(t, err, "SENDGRID_WEBHOOK_PUBLIC_KEY: ")
}

// TestTemporalConnectionFromEnvconfig: the connection comes from a
// temporal.toml profile, with TEMPORAL_* variables on top, as the Temporal
// CLI reads it.
func TestTemporalConnectionFromEnvconfig(t *testing.T) {
	file := filepath.Join(t.TempDir(), "temporal.toml")
	require.NoError(t, os.WriteFile(file, []byte(`
[profile.cloud]
address = "shop.a1b2c.tmprl.cloud:7233"
namespace = "shop.a1b2c"
api_key = "secret-key"
`), 0o600))
	env := MapEnv{"TEMPORAL_CONFIG_FILE": file, "TEMPORAL_PROFILE": "cloud"}
	cfg, err := ConfigFromEnv(env)
	require.NoError(t, err)
	assert.Equal(t, "shop.a1b2c.tmprl.cloud:7233", cfg.Temporal.HostPort)
	assert.Equal(t, "shop.a1b2c", cfg.Temporal.Namespace)
	assert.NotNil(t, cfg.Temporal.Credentials, "the API key")
	assert.NotNil(t, cfg.Temporal.ConnectionOptions.TLS, "an API key implies TLS")

	env["TEMPORAL_NAMESPACE"] = "shop-staging.a1b2c"
	cfg, err = ConfigFromEnv(env)
	require.NoError(t, err)
	assert.Equal(t, "shop-staging.a1b2c", cfg.Temporal.Namespace, "the environment overrides the profile")

	env["TEMPORAL_PROFILE"] = "nope"
	_, err = ConfigFromEnv(env)
	require.ErrorContains(t, err, "unable to find profile nope")
}

func TestSigner(t *testing.T) {
	_, err := Config{}.Signer()
	require.ErrorContains(t, err, "RAPPORT_SECRET is not set")
	_, err = Config{Secret: "short"}.Signer()
	require.ErrorContains(t, err, "use at least 32 (RAPPORT_SECRET)")
	s, err := Config{Secret: testSecret}.Signer()
	require.NoError(t, err)
	assert.NotNil(t, s)
}

func TestLogger(t *testing.T) {
	assert.IsType(t, &slog.TextHandler{}, Config{LogFormat: "text"}.Logger().Handler())
	l := Config{LogFormat: "json", LogLevel: slog.LevelWarn}.Logger()
	assert.IsType(t, &slog.JSONHandler{}, l.Handler())
	assert.False(t, l.Enabled(t.Context(), slog.LevelInfo))
	assert.True(t, l.Enabled(t.Context(), slog.LevelWarn))
}

// TestSenders: a channel is built only when configured; one that is not is
// nil, with a warning that names the variable.
func TestSenders(t *testing.T) {
	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logged, nil))
	cfg, err := ConfigFromEnv(testEnv(t, nil))
	require.NoError(t, err)
	s, err := cfg.Senders(log)
	require.NoError(t, err)
	assert.Equal(t, Senders{}, s, "nothing configured, nothing built")
	for _, want := range []string{"SENDGRID_API_KEY", "TWILIO_ACCOUNT_SID", "LOB_API_KEY"} {
		assert.Contains(t, logged.String(), want)
	}

	logged.Reset()
	cfg, err = ConfigFromEnv(testEnv(t, map[string]string{
		"SENDGRID_API_KEY":   "SG.key",
		"TWILIO_ACCOUNT_SID": "ACsid", "TWILIO_AUTH_TOKEN": "token", "TWILIO_FROM": "+15005550006",
		"LOB_API_KEY": "test_lob", "RAPPORT_MAIL_FROM_LINE1": "185 Berry St", "RAPPORT_MAIL_FROM_CITY": "San Francisco",
	}))
	require.NoError(t, err)
	s, err = cfg.Senders(log)
	require.NoError(t, err)
	assert.NotNil(t, s.Email)
	assert.NotNil(t, s.SMS)
	assert.NotNil(t, s.Mail)
	assert.Equal(t, NoEmailWebhook, logRecord(t, logged.String()), "only that SendGrid's event webhook is not configured")

	logged.Reset()
	cfg.SendGridWebhookKey = "a key"
	_, err = cfg.Senders(log)
	require.NoError(t, err)
	assert.Empty(t, logged.String(), "no warnings")

	cfg.ReturnAddress = channels.PostalAddress{Name: "The Shop", Country: "US"}
	_, err = cfg.Senders(log)
	require.ErrorContains(t, err, "LOB_API_KEY is set but the return address is not: set RAPPORT_MAIL_FROM_LINE1")

	cfg, err = ConfigFromEnv(testEnv(t, map[string]string{"TWILIO_ACCOUNT_SID": "ACsid"}))
	require.NoError(t, err)
	_, err = cfg.Senders(log)
	require.ErrorContains(t, err, "TWILIO_AUTH_TOKEN")
}

// MapEnv and OSEnv both list their variables, so that
// TEMPORAL_GRPC_META_* reach Temporal from either.
func TestEnvs(t *testing.T) {
	m := MapEnv{"A": "1", "B": ""}
	v, ok := m.Lookup("B")
	assert.True(t, ok)
	assert.Empty(t, v)
	_, ok = m.Lookup("C")
	assert.False(t, ok)
	assert.ElementsMatch(t, []string{"A=1", "B="}, m.Environ())
	assert.Equal(t, []string{"A=1"}, setEnv{m}.Environ(), "empty counts as unset")
	_, ok = setEnv{m}.LookupEnv("B")
	assert.False(t, ok)

	path, ok := OSEnv{}.Lookup("PATH")
	assert.Equal(t, os.Getenv("PATH"), path)
	assert.Equal(t, path != "", ok)
	assert.Equal(t, os.Environ(), OSEnv{}.Environ())
	assert.Nil(t, setEnv{lookupOnly{}}.Environ(), "an Env that cannot list lists nothing")
}

type lookupOnly struct{}

func (lookupOnly) Lookup(string) (string, bool) { return "", false }

func TestWorkerTuningOptions(t *testing.T) {
	o := WorkerTuning{}.Options(nil)
	assert.Equal(t, DefaultWorkerDrain, o.WorkerStopTimeout, "the default drain")
	assert.Zero(t, o.MaxConcurrentActivityExecutionSize, "the SDK's default")
	o = WorkerTuning{Activities: 200, WorkflowTasks: 50, Pollers: 4, ActivitiesPerSecond: 10, Drain: 45 * time.Second, PinRevision: 1}.Options(nil)
	assert.Equal(t, 200, o.MaxConcurrentActivityExecutionSize)
	assert.Equal(t, 50, o.MaxConcurrentWorkflowTaskExecutionSize)
	assert.Equal(t, 4, o.MaxConcurrentActivityTaskPollers)
	assert.Equal(t, 4, o.MaxConcurrentWorkflowTaskPollers)
	assert.Equal(t, 10.0, o.TaskQueueActivitiesPerSecond)
	assert.Equal(t, 45*time.Second, o.WorkerStopTimeout)
	assert.NotNil(t, o.PreferredVersionProvider, "the revision is pinned")
}

func TestMarketingTopics(t *testing.T) {
	js, err := LoadJourneys("../../journeys")
	require.NoError(t, err)
	topics := marketingTopics(js.Catalog)
	assert.NotEmpty(t, topics)
	assert.IsIncreasing(t, topics, "sorted, each once")
}

// sendGridKey makes a SendGrid webhook key and its base64 form, as
// SendGrid's settings show it.
func sendGridKey(t *testing.T) (*ecdsa.PublicKey, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	require.NoError(t, err)
	return &key.PublicKey, base64.StdEncoding.EncodeToString(der)
}

// logRecord is the message of the one text log record in out.
func logRecord(t *testing.T, out string) string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 1, out)
	_, msg, ok := strings.Cut(lines[0], `msg="`)
	require.True(t, ok, out)
	msg = strings.TrimSuffix(msg, `"`)
	return strings.ReplaceAll(msg, `\"`, `"`)
}

// TestWebhookEndpointsFromEnv: the endpoints come from the variable or a
// file, each checked (errors name the variable, never the secret), and
// whether any is configured is told apart from none configured; the
// senders include the webhook client; and journeys naming an endpoint
// that is not configured are refused with the journey, step and line.
func TestWebhookEndpointsFromEnv(t *testing.T) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	eps := `[{"name": "crm", "url": "https://crm.example/in", "secret": "` + secret + `", "contacts_customer": true}]`
	cfg, err := ConfigFromEnv(testEnv(t, map[string]string{"RAPPORT_WEBHOOK_ENDPOINTS": eps, "RAPPORT_WEBHOOK_ALLOW_NETWORKS": "10.20.0.0/16, 192.168.1.7"}))
	require.NoError(t, err)
	assert.Equal(t, []string{"crm"}, cfg.WebhookEndpointNames())
	assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16"), netip.MustParsePrefix("192.168.1.7/32")}, cfg.WebhookAllowNetworks)
	s, err := cfg.Senders(slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	require.NotNil(t, s.Webhook)
	contacts, ok := s.Webhook.WebhookEndpoint("crm")
	assert.True(t, ok)
	assert.True(t, contacts)

	file := filepath.Join(t.TempDir(), "endpoints.json")
	require.NoError(t, os.WriteFile(file, []byte(eps), 0o600))
	cfg, err = ConfigFromEnv(testEnv(t, map[string]string{"RAPPORT_WEBHOOK_ENDPOINTS_FILE": file}))
	require.NoError(t, err)
	assert.Equal(t, []string{"crm"}, cfg.WebhookEndpointNames())

	// Whether any is configured: rapport validate checks the names only
	// then; "[]" configures none, which a journey then cannot name.
	got, configured, err := WebhookEndpointsFromEnv(testEnv(t, map[string]string{"RAPPORT_WEBHOOK_ENDPOINTS_FILE": file}))
	require.NoError(t, err)
	assert.True(t, configured)
	require.Len(t, got, 1)
	assert.Equal(t, "crm", got[0].Name)
	got, configured, err = WebhookEndpointsFromEnv(testEnv(t, map[string]string{"RAPPORT_WEBHOOK_ENDPOINTS": "[]"}))
	require.NoError(t, err)
	assert.True(t, configured)
	assert.Empty(t, got)
	got, configured, err = WebhookEndpointsFromEnv(testEnv(t, map[string]string{"RAPPORT_WEBHOOK_ENDPOINTS": ""}))
	require.NoError(t, err)
	assert.False(t, configured, "empty is unset")
	assert.Empty(t, got)

	for _, tc := range []struct{ vars map[string]string }{
		{map[string]string{"RAPPORT_WEBHOOK_ENDPOINTS": `[{"name": "crm", "url": "https://crm.example/in", "secret": "whsec_c2hvcnQ="}]`}},
		{map[string]string{"RAPPORT_WEBHOOK_ENDPOINTS": eps, "RAPPORT_WEBHOOK_ENDPOINTS_FILE": file}},
		{map[string]string{"RAPPORT_WEBHOOK_ENDPOINTS_FILE": file + ".missing"}},
		{map[string]string{"RAPPORT_WEBHOOK_ALLOW_NETWORKS": "intranet"}},
	} {
		_, err := ConfigFromEnv(testEnv(t, tc.vars))
		require.Error(t, err, "%v", tc.vars)
		assert.Contains(t, err.Error(), "RAPPORT_WEBHOOK_")
		assert.NotContains(t, err.Error(), "MfKQ9r8G")
	}

	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "hook.yaml"), []byte("journey: hook\npurpose: transactional\ntrigger: {event: order.placed}\nsteps:\n  - id: tell\n    send: {channel: webhook, endpoint: crm, template: t}\n"), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "templates", "t"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "templates", "t", "webhook.json"), []byte(`{"id": {{json .Customer.ID}}}`), 0o644))
	js, err := LoadJourneys(dir)
	require.NoError(t, err)
	require.NoError(t, CheckWebhookEndpoints(js, []string{"crm"}))
	err = CheckWebhookEndpoints(js, []string{"crm-eu"})
	require.EqualError(t, err, `journey hook, step tell (line 5): webhook endpoint "crm": not configured (RAPPORT_WEBHOOK_ENDPOINTS; configured: crm-eu)`)
	err = CheckWebhookEndpoints(js, nil)
	require.ErrorContains(t, err, "none is configured")
}

func TestShopifySecretsAndShops(t *testing.T) {
	cfg, err := ConfigFromEnv(testEnv(t, map[string]string{
		"SHOPIFY_WEBHOOK_SECRET": " shpss_new , shpss_old ,",
		"SHOPIFY_SHOP_DOMAINS":   "Tea-Shop.myshopify.com",
	}))
	require.NoError(t, err)
	hooks, err := cfg.WebhookKeys()
	require.NoError(t, err)
	assert.Equal(t, []string{"shpss_new", "shpss_old"}, hooks.ShopifySecrets, "both secrets while one is rotated")
	assert.Equal(t, []string{"tea-shop.myshopify.com"}, hooks.ShopifyShops, "domains as Shopify's header gives them, lower case")

	cfg, err = ConfigFromEnv(testEnv(t, nil))
	require.NoError(t, err)
	hooks, err = cfg.WebhookKeys()
	require.NoError(t, err)
	assert.Empty(t, hooks.ShopifySecrets, "no secret: /webhooks/shopify refuses everything")
}

func TestSegmentSharedSecrets(t *testing.T) {
	cfg, err := ConfigFromEnv(testEnv(t, map[string]string{"SEGMENT_SHARED_SECRET": " seg-new ,seg-old,"}))
	require.NoError(t, err)
	hooks, err := cfg.WebhookKeys()
	require.NoError(t, err)
	assert.Equal(t, []string{"seg-new", "seg-old"}, hooks.SegmentSecrets, "both secrets while one is rotated")

	cfg, err = ConfigFromEnv(testEnv(t, nil))
	require.NoError(t, err)
	hooks, err = cfg.WebhookKeys()
	require.NoError(t, err)
	assert.Empty(t, hooks.SegmentSecrets, "no secret: calls are taken on the key alone")
}

// TestConfigDeclarations: the settings' declarations are what the library
// reads, their field names are unique (an error is mapped to its variable
// by the field), and every demo default is declared.
func TestConfigDeclarations(t *testing.T) {
	declared := declaredVariables()
	params, err := envparse.GetFieldParams(&settings{})
	require.NoError(t, err)
	require.Len(t, params, len(declared), "the walk finds every field the library reads")
	fields := map[string]bool{}
	keys := map[string]bool{}
	for i, v := range declared {
		assert.Equal(t, params[i].Key, v.key)
		assert.Equal(t, params[i].DefaultValue, v.def, v.key)
		assert.Equal(t, params[i].HasDefaultValue, v.hasDef, v.key)
		assert.False(t, fields[v.field], "field %s is declared twice", v.field)
		assert.False(t, keys[v.key], "%s is declared twice", v.key)
		fields[v.field], keys[v.key] = true, true
	}
	for _, d := range demoDefaults {
		assert.NotEmpty(t, declaredDefault(d.name), "%s has a demo default, declared", d.name)
	}
}

// Several bad values: the error names each variable, one per line, and
// an unknown value of one does not hide the others.
func TestConfigBadValuesTogether(t *testing.T) {
	_, err := ConfigFromEnv(testEnv(t, map[string]string{
		"RAPPORT_DEFAULT_TIME_ZONE": "Mars/Olympus",
		"RAPPORT_TRUSTED_PROXIES":   "load-balancer",
		"RAPPORT_LOG_FORMAT":        "xml",
	}))
	require.Error(t, err)
	assert.Equal(t, []string{
		`RAPPORT_DEFAULT_TIME_ZONE: "Mars/Olympus" is not an IANA time zone`,
		`RAPPORT_LOG_FORMAT: "xml" is not text or json`,
		`RAPPORT_TRUSTED_PROXIES: "load-balancer" is not an address or CIDR such as 10.0.0.0/8`,
	}, strings.Split(err.Error(), "\n"))
}

// The configuration comes from the Env given, never from the process's
// environment behind it.
func TestConfigReadsOnlyItsEnv(t *testing.T) {
	t.Setenv("RAPPORT_SHOP_NAME", "From the process")
	t.Setenv("RAPPORT_LOG_FORMAT", "xml")
	cfg, err := ConfigFromEnv(testEnv(t, nil))
	require.NoError(t, err)
	assert.Equal(t, "The Shop", cfg.Sender.Shop.Name)
	assert.Contains(t, cfg.DemoDefaults, "RAPPORT_SHOP_NAME")
}
