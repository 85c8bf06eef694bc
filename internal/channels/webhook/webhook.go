// Package webhook posts a journey's JSON message to an endpoint the
// operator configured, signed as the Standard Webhooks specification says
// (https://www.standardwebhooks.com): the headers webhook-id,
// webhook-timestamp and webhook-signature, the signature being
// "v1,<base64 of HMAC-SHA256 over id.timestamp.body>" with each of the
// endpoint's secrets (whsec_<base64>), space-separated while a secret is
// being rotated.
//
// The webhook-id is the outbox message's id, the same on every attempt,
// so a receiver that deduplicates by it sees each message once however
// often it is delivered. Endpoints on private, loopback, link-local and
// other non-public addresses are refused at dial time (after the name is
// resolved, so a name that later resolves elsewhere cannot reach them)
// unless their network is allowed.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/rapporthq/rapport/internal/channels"
)

// Provider is the name recorded in the outbox.
const Provider = "webhook"

// Limits of a configuration and of a message.
const (
	// DefaultTimeout bounds one request when the endpoint names none.
	DefaultTimeout = 10 * time.Second
	// MaxTimeout is the longest an endpoint may ask for: below the send
	// activity's 30 s StartToClose, so the attempt that made the request
	// records its answer or its timeout.
	MaxTimeout = 25 * time.Second
	// MaxBody is the largest body sent.
	MaxBody = 256 << 10
	// MaxEndpoints bounds the configuration.
	MaxEndpoints = 100
	// snippet is how much of a refusal's body the reason keeps.
	snippet = 200
)

// Endpoint is one configured receiver.
type Endpoint struct {
	// Name is what journeys call it (send: {channel: webhook, endpoint: NAME}).
	Name string `json:"name"`
	// URL is where messages are posted (https, or http for a receiver
	// on an allowed network).
	URL string `json:"url"`
	// Secret is one or more whsec_<base64> secrets, space-separated: each
	// signs every message (rotation: add the new one, then remove the old
	// once the receiver knows it).
	Secret string `json:"secret"`
	// Timeout bounds one request ("10s"; default DefaultTimeout, at most
	// MaxTimeout).
	Timeout string `json:"timeout,omitempty"`
	// ContactsCustomer says whether a message to this endpoint reaches the
	// customer (a CRM that texts them, a partner that mails them): then
	// the contact rules (consent, topics, quiet hours, caps) apply to it
	// as to any channel. When false (a data feed, an internal system) they
	// do not, and it counts towards no cap.
	ContactsCustomer bool `json:"contacts_customer"`

	keys    [][]byte
	timeout time.Duration
	url     *url.URL
}

var nameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ParseEndpoints reads the configuration: a JSON array of endpoints. The
// error names the endpoint and field at fault, never a secret.
func ParseEndpoints(data []byte) ([]Endpoint, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var eps []Endpoint
	if err := dec.Decode(&eps); err != nil {
		return nil, fmt.Errorf("not a JSON array of endpoints ({\"name\", \"url\", \"secret\", \"timeout\", \"contacts_customer\"}): %w", err)
	}
	if dec.More() {
		return nil, errors.New("more than one JSON value; give one array of endpoints")
	}
	if len(eps) > MaxEndpoints {
		return nil, fmt.Errorf("%d endpoints; at most %d", len(eps), MaxEndpoints)
	}
	seen := map[string]bool{}
	for i := range eps {
		e := &eps[i]
		where := fmt.Sprintf("endpoint %d", i+1)
		if !nameRe.MatchString(e.Name) {
			return nil, fmt.Errorf("%s: name %q is not allowed; use lowercase letters, digits, dashes or underscores (at most 63)", where, e.Name)
		}
		where = fmt.Sprintf("endpoint %q", e.Name)
		if seen[e.Name] {
			return nil, fmt.Errorf("%s is named twice", where)
		}
		seen[e.Name] = true
		u, err := url.Parse(e.URL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(e.URL) > 2048 {
			return nil, fmt.Errorf("%s: url must be an absolute http or https URL of at most 2048 characters", where)
		}
		if u.User != nil {
			return nil, fmt.Errorf("%s: url must not hold a user name or password; the signature authenticates the message", where)
		}
		e.url = u
		if e.keys, err = parseSecrets(e.Secret); err != nil {
			return nil, fmt.Errorf("%s: secret: %w", where, err)
		}
		e.timeout = DefaultTimeout
		if e.Timeout != "" {
			d, err := time.ParseDuration(e.Timeout)
			if err != nil || d < time.Second || d > MaxTimeout {
				return nil, fmt.Errorf("%s: timeout %q is not a duration from 1s to %s, such as 10s", where, e.Timeout, MaxTimeout)
			}
			e.timeout = d
		}
	}
	return eps, nil
}

// parseSecrets reads space-separated whsec_<base64> secrets of 24 to 64
// bytes each, as Standard Webhooks asks.
func parseSecrets(s string) ([][]byte, error) {
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return nil, errors.New("missing; give whsec_ and the base64 of 24 to 64 random bytes, such as whsec_$(openssl rand -base64 32)")
	}
	if len(fields) > 5 {
		return nil, fmt.Errorf("%d secrets; at most 5 while rotating", len(fields))
	}
	var keys [][]byte
	for i, f := range fields {
		key, err := ParseSecret(f)
		if err != nil {
			return nil, fmt.Errorf("secret %d: %w", i+1, err)
		}
		keys = append(keys, key)
	}
	return keys, nil
}

// ParseSecret decodes one whsec_<base64> secret.
func ParseSecret(s string) ([]byte, error) {
	b64, ok := strings.CutPrefix(s, "whsec_")
	if !ok {
		return nil, errors.New("does not start with whsec_")
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, errors.New("is not whsec_ followed by standard base64")
	}
	if len(key) < 24 || len(key) > 64 {
		return nil, fmt.Errorf("decodes to %d bytes; use 24 to 64", len(key))
	}
	return key, nil
}

// Signature is the webhook-signature header for a message: "v1,<sig>"
// per key, space-separated.
func Signature(keys [][]byte, id string, timestamp int64, body []byte) string {
	sigs := make([]string, len(keys))
	for i, key := range keys {
		sigs[i] = "v1," + base64.StdEncoding.EncodeToString(mac(key, id, timestamp, body))
	}
	return strings.Join(sigs, " ")
}

func mac(key []byte, id string, timestamp int64, body []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(id))
	h.Write([]byte{'.'})
	h.Write([]byte(strconv.FormatInt(timestamp, 10)))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Tolerance is how far a message's timestamp may be from the receiver's
// clock, as Standard Webhooks recommends.
const Tolerance = 5 * time.Minute

// Verify checks a received message as a receiver should: the timestamp
// within Tolerance of now, and one of the signatures of the header the
// HMAC of the body with the secret (whsec_<base64>), compared in constant
// time. It is what docs/api.md describes, for Go receivers and tests.
func Verify(secret string, h http.Header, body []byte, now time.Time) error {
	key, err := ParseSecret(secret)
	if err != nil {
		return fmt.Errorf("secret: %w", err)
	}
	id, ts, sig := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sig == "" {
		return errors.New("missing webhook-id, webhook-timestamp or webhook-signature")
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("webhook-timestamp is not a number of seconds")
	}
	if d := now.Sub(time.Unix(t, 0)); d > Tolerance || d < -Tolerance {
		return errors.New("webhook-timestamp is too far from now")
	}
	want := mac(key, id, t, body)
	for _, s := range strings.Fields(sig) {
		v, b64, ok := strings.Cut(s, ",")
		if !ok || v != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return errors.New("no signature matches")
}

// ErrForbiddenAddress is a dial refused because the address is not public
// and its network is not allowed.
var ErrForbiddenAddress = errors.New("address is private, loopback, link-local or otherwise not public")

// nonPublic are networks no endpoint reaches unless allowed, beyond what
// netip.Addr's own predicates say.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),     // "this network"
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),  // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"), // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),   // reserved, and broadcast
	netip.MustParsePrefix("64:ff9b::/96"),  // NAT64: may embed any IPv4 address
	netip.MustParsePrefix("2002::/16"),     // 6to4: likewise
}

// Public reports whether ip is a public unicast address.
func Public(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	return !slices.ContainsFunc(nonPublic, func(p netip.Prefix) bool { return p.Contains(ip) })
}

// control refuses connections to addresses that are not public, unless
// allowed: it runs after resolution, on the address actually dialled.
func control(allow []netip.Prefix) func(network, address string, _ syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return err
		}
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return fmt.Errorf("%w: %q", ErrForbiddenAddress, host)
		}
		ip = ip.Unmap()
		if Public(ip) || slices.ContainsFunc(allow, func(p netip.Prefix) bool { return p.Contains(ip) }) {
			return nil
		}
		return fmt.Errorf("%w: %s (allow its network with RAPPORT_WEBHOOK_ALLOW_NETWORKS if it is meant)", ErrForbiddenAddress, ip)
	}
}

// Client posts signed messages to the configured endpoints.
type Client struct {
	endpoints map[string]*Endpoint
	http      *http.Client
	now       func() time.Time
}

// Config configures a Client.
type Config struct {
	Endpoints []Endpoint
	// AllowNetworks are networks endpoints may reach although they are not
	// public (dev mode allows loopback).
	AllowNetworks []netip.Prefix
	// Transport, when set, wraps the guarded transport (tests use it to
	// stage faults).
	Transport func(http.RoundTripper) http.RoundTripper
}

// New returns a client for the endpoints (as ParseEndpoints returned them).
func New(cfg Config) (*Client, error) {
	c := &Client{endpoints: map[string]*Endpoint{}, now: time.Now}
	for i := range cfg.Endpoints {
		e := cfg.Endpoints[i]
		if e.url == nil || len(e.keys) == 0 {
			return nil, fmt.Errorf("webhook endpoint %q was not parsed (ParseEndpoints)", e.Name)
		}
		c.endpoints[e.Name] = &e
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: control(slices.Clone(cfg.AllowNetworks))}
	var rt http.RoundTripper = &http.Transport{
		Proxy:                 nil, // a proxy would dial for us, past the address check
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   10,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: MaxTimeout,
	}
	if cfg.Transport != nil {
		rt = cfg.Transport(rt)
	}
	c.http = &http.Client{
		Transport: rt,
		// A redirect is answered as a refusal: following it would post the
		// message somewhere not configured.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c, nil
}

var _ channels.WebhookSender = (*Client)(nil)

// WebhookEndpoint says whether an endpoint is configured, and whether it
// contacts the customer.
func (c *Client) WebhookEndpoint(name string) (contactsCustomer, ok bool) {
	e, ok := c.endpoints[name]
	if !ok {
		return false, false
	}
	return e.ContactsCustomer, true
}

// Names lists the configured endpoints, sorted.
func (c *Client) Names() []string {
	out := make([]string, 0, len(c.endpoints))
	for n := range c.endpoints {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// SendWebhook posts the message. A 2xx answer is a receipt (the message id as
// the provider's); otherwise a *channels.Error: 408 and 429 not taken,
// other 4xx (and 3xx: redirects are not followed) permanent with the
// status and the start of the answer, 5xx and timeouts in doubt, a
// refused address permanent.
func (c *Client) SendWebhook(ctx context.Context, m channels.Webhook) (channels.Receipt, error) {
	e, ok := c.endpoints[m.Endpoint]
	if !ok {
		return channels.Receipt{}, &channels.Error{Provider: Provider, Kind: channels.Permanent, Message: fmt.Sprintf("endpoint %q is not configured", m.Endpoint)}
	}
	if len(m.Body) > MaxBody {
		return channels.Receipt{}, &channels.Error{Provider: Provider, Kind: channels.Permanent, Message: fmt.Sprintf("the body is %d bytes; at most %d", len(m.Body), MaxBody)}
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url.String(), bytes.NewReader(m.Body))
	if err != nil {
		return channels.Receipt{}, &channels.Error{Provider: Provider, Kind: channels.Permanent, Message: err.Error()}
	}
	ts := c.now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Rapport-Webhooks/1")
	req.Header.Set("webhook-id", m.ID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", Signature(e.keys, m.ID, ts, m.Body))
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, ErrForbiddenAddress) {
			return channels.Receipt{}, &channels.Error{Provider: Provider, Kind: channels.Permanent, Message: redact(err, e)}
		}
		return channels.Receipt{}, channels.TransportError(Provider, redactedError{msg: redact(err, e), err: err})
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // so the connection can be reused
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return channels.Receipt{Provider: Provider, MessageID: m.ID}, nil
	}
	pe := &channels.Error{Provider: Provider, Kind: channels.KindOfStatus(resp.StatusCode), Status: resp.StatusCode, Message: bodySnippet(head)}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		pe.Message = "redirects are not followed; configure the final URL"
	}
	if s := resp.Header.Get("Retry-After"); s != "" {
		if secs, err := strconv.Atoi(s); err == nil && secs > 0 && secs <= 3600 {
			pe.RetryAfter = time.Duration(secs) * time.Second
		}
	}
	return channels.Receipt{}, pe
}

// redactedError is an error whose text is redacted, still classified by
// what it wraps (a refused connection is not taken, a timeout in doubt).
type redactedError struct {
	msg string
	err error
}

func (r redactedError) Error() string { return r.msg }
func (r redactedError) Unwrap() error { return r.err }

// redact is an error's text without the endpoint's URL query (it may hold
// a token): Go's client errors quote the URL.
func redact(err error, e *Endpoint) string {
	s := err.Error()
	if e.url.RawQuery != "" {
		s = strings.ReplaceAll(s, e.url.String(), e.url.Scheme+"://"+e.url.Host+e.url.Path)
	}
	return s
}

// bodySnippet is the start of an answer, one line, at most snippet
// characters, for the outbox's reason.
func bodySnippet(b []byte) string {
	s := strings.ToValidUTF8(string(b), "?")
	s = channels.OneLine(s)
	if utf8.RuneCountInString(s) > snippet {
		s = string([]rune(s)[:snippet-1]) + "…"
	}
	return s
}
