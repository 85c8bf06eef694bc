// Package sendgrid sends email through SendGrid's v3 Mail Send API with the
// official sendgrid-go library, pointed at a configurable base URL so dev
// mode and tests talk to the fake in internal/fakes.
package sendgrid

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sendgrid/rest"
	sg "github.com/sendgrid/sendgrid-go"
	"github.com/sendgrid/sendgrid-go/helpers/mail"

	"github.com/rapporthq/rapport/internal/channels"
)

// DefaultBaseURL is SendGrid's API.
const DefaultBaseURL = "https://api.sendgrid.com"

// Provider is the name recorded in the outbox.
const Provider = "sendgrid"

// Config configures the client.
type Config struct {
	APIKey  string
	BaseURL string // default DefaultBaseURL
	// HTTPClient defaults to a client with channels.DefaultTimeout.
	HTTPClient *http.Client
}

// Client sends email through SendGrid.
type Client struct {
	key     string
	baseURL string
	rest    *rest.Client
}

// New returns a client.
func New(cfg Config) *Client {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: channels.DefaultTimeout}
	}
	return &Client{key: cfg.APIKey, baseURL: strings.TrimRight(cfg.BaseURL, "/"), rest: &rest.Client{HTTPClient: cfg.HTTPClient}}
}

var _ channels.EmailSender = (*Client)(nil)

// SendEmail sends one email. Failures are *channels.Error values classified
// by what SendGrid said (channels.KindOfStatus): 429 not taken (with the
// rate limit's reset time), 5xx in doubt, other 4xx permanent; transport
// failures not taken only when the request cannot have reached SendGrid.
func (c *Client) SendEmail(ctx context.Context, e channels.Email) (channels.Receipt, error) {
	m := mail.NewV3Mail()
	// Names, the subject and header values go into headers: one line
	// each (channels.OneLine), whatever the data held.
	m.SetFrom(mail.NewEmail(channels.OneLine(e.FromName), e.From))
	m.Subject = channels.OneLine(e.Subject)
	if e.ReplyTo != "" {
		m.SetReplyTo(mail.NewEmail("", e.ReplyTo))
	}
	p := mail.NewPersonalization()
	p.AddTos(mail.NewEmail(channels.OneLine(e.ToName), e.To))
	for k, v := range e.CustomArgs {
		p.SetCustomArg(k, v)
	}
	m.AddPersonalizations(p)
	if e.Text != "" { // SendGrid wants text/plain before text/html
		m.AddContent(mail.NewContent("text/plain", e.Text))
	}
	if e.HTML != "" {
		m.AddContent(mail.NewContent("text/html", e.HTML))
	}
	for k, v := range e.Headers {
		m.SetHeader(k, channels.OneLine(v))
	}
	m.AddCategories(e.Categories...)

	req := sg.GetRequest(c.key, "/v3/mail/send", c.baseURL)
	req.Method = rest.Post
	req.Body = mail.GetRequestBody(m)
	resp, err := c.rest.SendWithContext(ctx, req)
	if err != nil {
		return channels.Receipt{}, fmt.Errorf("send email: %w", channels.TransportError(Provider, err))
	}
	if resp.StatusCode == http.StatusAccepted || resp.StatusCode == http.StatusOK {
		return channels.Receipt{Provider: Provider, MessageID: header(resp.Headers, "X-Message-Id")}, nil
	}
	return channels.Receipt{}, responseError(resp)
}

func header(h map[string][]string, name string) string {
	return http.Header(h).Get(name)
}

func responseError(resp *rest.Response) error {
	e := &channels.Error{Provider: Provider, Status: resp.StatusCode, Message: errorMessage(resp.Body)}
	e.Kind = channels.KindOfStatus(resp.StatusCode)
	if resp.StatusCode == http.StatusTooManyRequests {
		if reset, err := strconv.ParseInt(header(resp.Headers, "X-RateLimit-Reset"), 10, 64); err == nil {
			if d := time.Until(time.Unix(reset, 0)); d > 0 {
				e.RetryAfter = d
			}
		}
	}
	return e
}

// errorMessage joins SendGrid's {"errors":[{"message","field"}]}.
func errorMessage(body string) string {
	var parsed struct {
		Errors []struct {
			Message string  `json:"message"`
			Field   *string `json:"field"`
		} `json:"errors"`
	}
	if json.Unmarshal([]byte(body), &parsed) != nil || len(parsed.Errors) == 0 {
		if len(body) > 200 {
			body = body[:200]
		}
		return strings.TrimSpace(body)
	}
	msgs := make([]string, len(parsed.Errors))
	for i, pe := range parsed.Errors {
		msgs[i] = pe.Message
		if pe.Field != nil && *pe.Field != "" && *pe.Field != "null" {
			msgs[i] += " (" + *pe.Field + ")"
		}
	}
	return strings.Join(msgs, "; ")
}
