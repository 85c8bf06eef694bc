// Package channels defines what Rapport asks of a provider (send this email,
// this SMS, this letter) and how provider failures are classified. The
// adapters in its subpackages speak each provider's API.
package channels

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"time"
	"unicode"
)

// Email is one email to one recipient, fully rendered.
type Email struct {
	To       string
	ToName   string
	From     string
	FromName string
	ReplyTo  string
	Subject  string
	Text     string
	HTML     string
	// Headers are extra headers such as List-Unsubscribe.
	Headers map[string]string
	// Categories group messages in the provider's statistics (journey name,
	// template).
	Categories []string
	// CustomArgs travel with the message and come back on webhooks: the
	// journey, step and outbox message ids.
	CustomArgs map[string]string
}

// OneLine makes s fit a header or a printed line: each run of spaces,
// line breaks (CR, LF, NEL, U+2028, U+2029), tabs and other control
// characters becomes one space, and the ends are trimmed. The adapters
// pass names, subjects, header values and address lines through it, so a
// value stored before the API refused line breaks (or from anywhere
// else) cannot add a header or a line.
func OneLine(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		if r == ' ' || unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}

// Receipt is a provider's acceptance of a message.
type Receipt struct {
	Provider  string
	MessageID string
}

// EmailSender sends email.
type EmailSender interface {
	SendEmail(ctx context.Context, e Email) (Receipt, error)
}

// SMS is one text message to one phone number.
type SMS struct {
	// To is the number in E.164 form (+447700900123).
	To   string
	Body string
	// StatusCallback is where the provider reports delivery, if set.
	StatusCallback string
}

// SMSSender sends text messages.
type SMSSender interface {
	SendSMS(ctx context.Context, m SMS) (Receipt, error)
}

// SMSFinder is an SMS provider that can say whether it took a message
// whose outcome is in doubt: found, with the provider's id, or not.
// Failures are *Error values.
type SMSFinder interface {
	FindSent(ctx context.Context, to, bodyDigest string, since time.Time) (providerID string, found bool, err error)
}

// Digest is the SHA-256 (hex) of a message's content, what the outbox
// keeps to find a message in a provider's records without its text.
func Digest(content string) string {
	sum := sha256.Sum256([]byte(content))
	return hex.EncodeToString(sum[:])
}

// MailKind is the kind of printed mail.
type MailKind string

// Kinds of printed mail.
const (
	Letter   MailKind = "letter"
	Postcard MailKind = "postcard"
)

// PostalAddress is where printed mail goes, or comes from.
type PostalAddress struct {
	Name       string
	Line1      string
	Line2      string
	City       string
	State      string
	PostalCode string
	Country    string // two-letter code
}

// Mail is one letter or postcard, with its artwork as HTML.
type Mail struct {
	Kind        MailKind
	To          PostalAddress
	From        PostalAddress
	Description string
	// HTML is a letter's content; Front and Back a postcard's sides.
	HTML, Front, Back string
	// Marketing selects the provider's marketing use type (else operational).
	Marketing      bool
	MergeVariables map[string]any
	// Metadata travels with the piece and comes back on webhooks.
	Metadata map[string]string
	// IdempotencyKey makes a repeated request return the first piece.
	IdempotencyKey string
}

// MailSender sends printed mail.
type MailSender interface {
	SendMail(ctx context.Context, m Mail) (Receipt, error)
}

// Webhook is one JSON message to a configured endpoint.
type Webhook struct {
	// Endpoint names the configured endpoint.
	Endpoint string
	// ID is the webhook-id: the outbox message's id, the same on every
	// attempt, so the receiver can deduplicate.
	ID string
	// Body is the JSON body.
	Body []byte
}

// WebhookSender posts signed JSON messages to configured endpoints.
type WebhookSender interface {
	SendWebhook(ctx context.Context, m Webhook) (Receipt, error)
	// WebhookEndpoint says whether an endpoint is configured and whether
	// its messages reach the customer (contacts_customer).
	WebhookEndpoint(name string) (contactsCustomer, ok bool)
}

// Kind classifies a provider failure by what the caller should do.
type Kind int

const (
	// Retryable (not taken): the provider provably did not take the
	// message (429, connection refused, a failed dial); the same request
	// may succeed later and cannot duplicate.
	Retryable Kind = iota
	// Permanent: the provider refused the message for good (bad address,
	// bad request, bad credentials); do not retry, try another channel.
	Permanent
	// InDoubt: the request may have reached the provider (a timeout after
	// sending, a dropped connection, a 5xx: none of the three providers
	// documents a 5xx as "not processed", and a gateway's 502/504 often
	// comes after it forwarded the request); sending again risks a
	// duplicate, so the message waits to be settled by evidence.
	InDoubt
)

// NotTaken is Retryable by the name the classification uses: safe to retry.
const NotTaken = Retryable

// DefaultTimeout bounds one provider request. It is well below the send
// activity's StartToClose (30 s), so a slow provider's answer, or its
// timeout, is still recorded by the attempt that made the request.
const DefaultTimeout = 15 * time.Second

func (k Kind) String() string {
	switch k {
	case Retryable:
		return "not taken"
	case Permanent:
		return "permanent"
	default:
		return "in doubt"
	}
}

// Error is a classified provider failure.
type Error struct {
	Provider string
	Kind     Kind
	// Status is the HTTP status, 0 when there was no response.
	Status int
	// Code is the provider's own error code, when it has one.
	Code string
	// Message is the provider's explanation.
	Message string
	// RetryAfter is when the provider asked to be called again, if it did.
	RetryAfter time.Duration
	// Suppress is set when the provider says the address must never be
	// contacted again on this channel (an SMS recipient who replied STOP).
	Suppress bool
}

func (e *Error) Error() string {
	s := e.Provider
	if e.Status != 0 {
		s += fmt.Sprintf(" answered %d", e.Status)
	}
	if e.Code != "" {
		s += " (code " + e.Code + ")"
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// KindOf classifies any error: provider errors by their kind, anything else
// (a context deadline, say) as in doubt.
func KindOf(err error) Kind {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Kind
	}
	return InDoubt
}

// TransportError classifies a failure without a response: a refused or
// unresolvable connection, and a TLS handshake that failed (the request
// is sent only once the handshake is done), prove the provider never saw
// the request; anything else (a timeout, a dropped connection) is in
// doubt.
func TransportError(provider string, err error) error {
	e := &Error{Provider: provider, Kind: InDoubt, Message: err.Error()}
	var dnsErr *net.DNSError
	var opErr *net.OpError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED), errors.As(err, &dnsErr):
		e.Kind = Retryable
	case errors.As(err, &opErr) && opErr.Op == "dial":
		e.Kind = Retryable
	case handshakeFailed(err):
		e.Kind = Retryable
	}
	return e
}

// handshakeFailed reports whether err is a TLS handshake that failed: the
// server's certificate refused, an alert, or an answer that is not TLS.
func handshakeFailed(err error) bool {
	var verify *tls.CertificateVerificationError
	var alert tls.AlertError
	var header tls.RecordHeaderError
	var unknownAuthority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	return errors.As(err, &verify) || errors.As(err, &alert) || errors.As(err, &header) ||
		errors.As(err, &unknownAuthority) || errors.As(err, &hostname) || errors.As(err, &invalid)
}

// KindOfStatus classifies an HTTP error status. 429 (rate limited) and 408
// (the server gave up reading the request) say the request was not taken.
// Every 5xx is in doubt: SendGrid, Twilio and Lob document no 5xx as "not
// processed" (Lob's 500/503 only say "try again"), and a gateway's 502 or
// 504 may come after the provider took the request. Other statuses are
// permanent refusals.
func KindOfStatus(status int) Kind {
	switch {
	case status == 429 || status == 408:
		return NotTaken
	case status >= 500:
		return InDoubt
	}
	return Permanent
}
