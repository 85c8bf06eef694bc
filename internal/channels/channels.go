// Package channels defines what Rapport asks of a provider (send this email,
// this SMS, this letter) and how provider failures are classified. The
// adapters in its subpackages speak each provider's API.
package channels

import (
	"context"
	"errors"
	"fmt"
	"time"
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

// Receipt is a provider's acceptance of a message.
type Receipt struct {
	Provider  string
	MessageID string
}

// EmailSender sends email.
type EmailSender interface {
	SendEmail(ctx context.Context, e Email) (Receipt, error)
}

// Kind classifies a provider failure by what the caller should do.
type Kind int

const (
	// Retryable: the provider did not take the message (rate limit, 5xx,
	// connection refused); the same request may succeed later.
	Retryable Kind = iota
	// Permanent: the provider refused the message for good (bad address,
	// bad request, bad credentials); do not retry, try another channel.
	Permanent
	// InDoubt: the request may have reached the provider (a timeout after
	// sending, a dropped connection); sending again risks a duplicate.
	InDoubt
)

func (k Kind) String() string {
	switch k {
	case Retryable:
		return "retryable"
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
