// Package printmail sends letters and postcards through Lob's print & mail
// API (or any Lob-compatible one) with a small net/http client.
package printmail

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/rapporthq/rapport/internal/channels"
)

// Provider is the name recorded in the outbox.
const Provider = "lob"

// DefaultBaseURL is Lob's API.
const DefaultBaseURL = "https://api.lob.com"

// Config configures the client.
type Config struct {
	APIKey  string
	BaseURL string // LOB_BASE_URL; default DefaultBaseURL
	// HTTPClient defaults to a client with a 20 second timeout (Lob renders
	// the artwork while it answers), below the send activity's 30 s
	// StartToClose; a slower answer is in doubt and, thanks to the
	// Idempotency-Key, safely asked again.
	HTTPClient *http.Client
}

// Timeout is the default bound of one Lob request.
const Timeout = 20 * time.Second

// Client sends printed mail.
type Client struct {
	key     string
	baseURL string
	http    *http.Client
}

// New returns a client.
func New(cfg Config) (*Client, error) {
	if cfg.APIKey == "" {
		return nil, errors.New("printmail: LOB_API_KEY is required")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: Timeout}
	}
	return &Client{key: cfg.APIKey, baseURL: strings.TrimRight(cfg.BaseURL, "/"), http: cfg.HTTPClient}, nil
}

var _ channels.MailSender = (*Client)(nil)

type address struct {
	Name           string `json:"name"`
	AddressLine1   string `json:"address_line1"`
	AddressLine2   string `json:"address_line2,omitempty"`
	AddressCity    string `json:"address_city,omitempty"`
	AddressState   string `json:"address_state,omitempty"`
	AddressZip     string `json:"address_zip,omitempty"`
	AddressCountry string `json:"address_country"`
}

// lobAddress is an address as Lob takes it: each field one line
// (channels.OneLine: the API refuses line breaks in addresses and names,
// this holds for any stored before), the name cut to Lob's 40
// characters.
func lobAddress(a channels.PostalAddress) *address {
	name := channels.OneLine(a.Name)
	if len([]rune(name)) > 40 {
		name = strings.TrimSpace(string([]rune(name)[:40]))
	}
	one := channels.OneLine
	return &address{Name: name, AddressLine1: one(a.Line1), AddressLine2: one(a.Line2), AddressCity: one(a.City),
		AddressState: one(a.State), AddressZip: one(a.PostalCode), AddressCountry: one(a.Country)}
}

type request struct {
	Description    string            `json:"description,omitempty"`
	To             *address          `json:"to"`
	From           *address          `json:"from,omitempty"`
	File           string            `json:"file,omitempty"`
	Color          *bool             `json:"color,omitempty"`
	Front          string            `json:"front,omitempty"`
	Back           string            `json:"back,omitempty"`
	Size           string            `json:"size,omitempty"`
	UseType        string            `json:"use_type"`
	MergeVariables map[string]any    `json:"merge_variables,omitempty"`
	Metadata       map[string]string `json:"metadata,omitempty"`
}

// SendMail creates a letter or a postcard. The outbox key goes in the
// Idempotency-Key header, so a retried request returns the piece created
// the first time instead of printing a second one.
func (c *Client) SendMail(ctx context.Context, m channels.Mail) (channels.Receipt, error) {
	req := request{
		Description:    m.Description,
		To:             lobAddress(m.To),
		UseType:        "operational",
		MergeVariables: m.MergeVariables,
		Metadata:       m.Metadata,
	}
	if m.Marketing {
		req.UseType = "marketing"
	}
	if m.From.Line1 != "" {
		req.From = lobAddress(m.From)
	}
	var path string
	switch m.Kind {
	case channels.Letter:
		path = "/v1/letters"
		color := true
		req.File, req.Color = m.HTML, &color
	case channels.Postcard:
		path = "/v1/postcards"
		req.Front, req.Back, req.Size = m.Front, m.Back, "4x6"
	default:
		return channels.Receipt{}, &channels.Error{Provider: Provider, Kind: channels.Permanent, Message: fmt.Sprintf("unknown mail kind %q", m.Kind)}
	}
	body, err := json.Marshal(req)
	if err != nil {
		return channels.Receipt{}, err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.baseURL+path, bytes.NewReader(body))
	if err != nil {
		return channels.Receipt{}, err
	}
	hr.SetBasicAuth(c.key, "")
	hr.Header.Set("Content-Type", "application/json")
	if m.IdempotencyKey != "" {
		hr.Header.Set("Idempotency-Key", m.IdempotencyKey)
	}
	resp, err := c.http.Do(hr)
	if err != nil {
		return channels.Receipt{}, fmt.Errorf("send %s: %w", m.Kind, channels.TransportError(Provider, err))
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		var out struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(raw, &out); err != nil || out.ID == "" {
			// Created, but the answer is unreadable: in doubt, never resend.
			return channels.Receipt{}, &channels.Error{Provider: Provider, Kind: channels.InDoubt, Status: resp.StatusCode, Message: "unreadable answer"}
		}
		return channels.Receipt{Provider: Provider, MessageID: out.ID}, nil
	}
	return channels.Receipt{}, fmt.Errorf("send %s: %w", m.Kind, responseError(resp.StatusCode, raw))
}

func responseError(status int, raw []byte) error {
	e := &channels.Error{Provider: Provider, Status: status, Kind: channels.KindOfStatus(status)}
	var body struct {
		Error struct {
			Message    string `json:"message"`
			StatusCode int    `json:"status_code"`
			Code       string `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(raw, &body) == nil && body.Error.Message != "" {
		e.Message, e.Code = body.Error.Message, body.Error.Code
	} else {
		e.Message = strings.TrimSpace(string(raw[:min(len(raw), 200)]))
	}
	return e
}
