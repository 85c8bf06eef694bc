// Package twilio sends SMS through Twilio's Messages API with the official
// twilio-go library. twilio-go always calls api.twilio.com; a RoundTripper
// rewrites requests to a configurable base URL so dev mode and tests talk
// to the fake in internal/fakes.
package twilio

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"time"

	twiliogo "github.com/twilio/twilio-go"
	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/rapporthq/rapport/internal/channels"
)

// Provider is the name recorded in the outbox.
const Provider = "twilio"

// DefaultBaseURL is Twilio's API.
const DefaultBaseURL = "https://api.twilio.com"

// Config configures the client.
type Config struct {
	AccountSID string
	AuthToken  string
	// BaseURL replaces https://api.twilio.com (TWILIO_BASE_URL).
	BaseURL string
	// MessagingServiceSID is used when set; else From.
	MessagingServiceSID string
	From                string
	// Timeout bounds each request; twilio-go takes no context. Default
	// channels.DefaultTimeout.
	Timeout time.Duration
}

// Client sends SMS through Twilio.
type Client struct {
	rest *twiliogo.RestClient
	cfg  Config
}

// New returns a client, or an error naming what the configuration lacks.
func New(cfg Config) (*Client, error) {
	switch {
	case cfg.AccountSID == "" || cfg.AuthToken == "":
		return nil, errors.New("twilio: TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are required")
	case cfg.MessagingServiceSID == "" && cfg.From == "":
		return nil, errors.New("twilio: set TWILIO_MESSAGING_SERVICE_SID or TWILIO_FROM to say where messages come from")
	case !alphanumeric.MatchString(cfg.AccountSID) || !alphanumeric.MatchString(cfg.AuthToken):
		return nil, errors.New("twilio: TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN may hold only letters and digits; check for stray quotes or spaces")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	base, err := url.Parse(cfg.BaseURL)
	if err != nil || base.Scheme == "" || base.Host == "" {
		return nil, fmt.Errorf("twilio: base URL %q is not a URL like https://api.twilio.com", cfg.BaseURL)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = channels.DefaultTimeout
	}
	c := &client.Client{
		Credentials: client.NewCredentials(cfg.AccountSID, cfg.AuthToken),
		HTTPClient:  &http.Client{Timeout: cfg.Timeout, Transport: rewriteHost{base: base, next: http.DefaultTransport}},
	}
	c.SetAccountSid(cfg.AccountSID)
	return &Client{rest: twiliogo.NewRestClientWithParams(twiliogo.ClientParams{Client: c}), cfg: cfg}, nil
}

// rewriteHost sends every request to the configured base URL's scheme and
// host, keeping path and query.
type rewriteHost struct {
	base *url.URL
	next http.RoundTripper
}

func (t rewriteHost) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.URL.Scheme, r.URL.Host, r.Host = t.base.Scheme, t.base.Host, t.base.Host
	return t.next.RoundTrip(r)
}

var (
	_ channels.SMSSender = (*Client)(nil)
	_ channels.SMSFinder = (*Client)(nil)
)

// SendSMS sends one text message. The number must already be in E.164
// form (see Normalize). Failures are *channels.Error values classified from
// Twilio's error codes.
func (c *Client) SendSMS(_ context.Context, m channels.SMS) (channels.Receipt, error) {
	params := &openapi.CreateMessageParams{}
	params.SetTo(m.To)
	params.SetBody(m.Body)
	if c.cfg.MessagingServiceSID != "" {
		params.SetMessagingServiceSid(c.cfg.MessagingServiceSID)
	} else {
		params.SetFrom(c.cfg.From)
	}
	if m.StatusCallback != "" {
		params.SetStatusCallback(m.StatusCallback)
	}
	msg, err := c.rest.Api.CreateMessage(params)
	if err != nil {
		return channels.Receipt{}, fmt.Errorf("send sms: %w", classify(err))
	}
	r := channels.Receipt{Provider: Provider}
	if msg.Sid != nil {
		r.MessageID = *msg.Sid
	}
	return r, nil
}

// Twilio error codes Rapport treats specially.
const (
	codeUnsubscribed    = 21610 // the recipient replied STOP
	codeInvalidTo       = 21211
	codeNotMobile       = 21614
	codeRegionDisabled  = 21408
	codeTooManyRequests = 20429
)

var alphanumeric = regexp.MustCompile(`^[a-zA-Z0-9]+$`)

var statusInDecodeError = regexp.MustCompile(`HTTP error code: (\d{3})`)

func classify(err error) error {
	var te *client.TwilioRestError
	if errors.As(err, &te) {
		e := &channels.Error{Provider: Provider, Status: te.Status, Code: strconv.Itoa(te.Code), Message: te.Message}
		switch te.Code {
		case codeUnsubscribed:
			e.Kind, e.Suppress = channels.Permanent, true
			e.Message = "the recipient replied STOP: " + te.Message
		case codeInvalidTo:
			e.Kind, e.Message = channels.Permanent, "invalid phone number: "+te.Message
		case codeNotMobile:
			e.Kind, e.Message = channels.Permanent, "not a mobile number: "+te.Message
		case codeRegionDisabled:
			e.Kind, e.Message = channels.Permanent, "sending to this region is not enabled in the Twilio account (configuration): "+te.Message
		case codeTooManyRequests:
			e.Kind = channels.Retryable
		default:
			e.Kind = channels.KindOfStatus(te.Status)
		}
		return e
	}
	// An error answer that was not Twilio's JSON (a proxy's 502 page).
	if m := statusInDecodeError.FindStringSubmatch(err.Error()); m != nil {
		status, _ := strconv.Atoi(m[1])
		return &channels.Error{Provider: Provider, Status: status, Kind: channels.KindOfStatus(status), Message: err.Error()}
	}
	return channels.TransportError(Provider, err)
}

// FindSent asks Twilio whether a message went to this number at or after
// since (a message in doubt): it lists the number's Messages by To and
// DateSent (from since's UTC day on) and matches the body, by its digest
// (channels.Digest), and the time. It returns the message's SID when found. Not
// found means Twilio has no such message: the in-doubt request was not
// taken. Failures are *channels.Error values.
func (c *Client) FindSent(_ context.Context, to, bodyDigest string, since time.Time) (sid string, found bool, err error) {
	params := &openapi.ListMessageParams{}
	params.SetTo(to)
	params.SetDateSentAfter(since.UTC().Truncate(24 * time.Hour))
	params.SetPageSize(100)
	params.SetLimit(1000)
	msgs, err := c.rest.Api.ListMessage(params)
	if err != nil {
		return "", false, fmt.Errorf("look up sms: %w", classify(err))
	}
	for _, m := range msgs {
		if m.Body == nil || channels.Digest(*m.Body) != bodyDigest || m.Sid == nil {
			continue
		}
		if at := messageTime(m); !at.IsZero() && at.Before(since.Add(-time.Minute)) {
			continue
		}
		return *m.Sid, true, nil
	}
	return "", false, nil
}

// messageTime is when Twilio sent (else created) a message, zero when it
// says neither.
func messageTime(m openapi.ApiV2010Message) time.Time {
	for _, s := range []*string{m.DateSent, m.DateCreated} {
		if s == nil {
			continue
		}
		if t, err := time.Parse(time.RFC1123Z, *s); err == nil {
			return t
		}
	}
	return time.Time{}
}
