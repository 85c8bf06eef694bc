package app

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/rapporthq/rapport/internal/channels"
	"github.com/rapporthq/rapport/internal/channels/printmail"
	"github.com/rapporthq/rapport/internal/channels/sendgrid"
	"github.com/rapporthq/rapport/internal/channels/twilio"
	"github.com/rapporthq/rapport/internal/channels/webhook"
	"github.com/rapporthq/rapport/internal/journey"
)

// Senders are the provider clients a worker sends through. A channel
// without configuration is nil: its messages are skipped with that
// reason.
type Senders struct {
	Email channels.EmailSender // SendGrid
	SMS   channels.SMSSender   // Twilio
	Mail  channels.MailSender  // Lob: letters and postcards
	// Webhook posts to the configured endpoints (RAPPORT_WEBHOOK_ENDPOINTS).
	Webhook channels.WebhookSender
}

// Senders builds the provider clients that are configured (SendGrid,
// Twilio, Lob), warning on log of each channel that is not.
// NoEmailWebhook is what a worker and the API say when SendGrid's event
// webhook is not configured (SENDGRID_WEBHOOK_PUBLIC_KEY).
const NoEmailWebhook = "SendGrid's event webhook is not configured (SENDGRID_WEBHOOK_PUBLIC_KEY): an email whose send is in doubt (SendGrid answered 5xx, or not at all) cannot be proven sent or unsent, so it stays unknown until RAPPORT_IN_DOUBT_DEADLINE passes, then is left unsent (or sent again, if RAPPORT_IN_DOUBT_AT_LEAST_ONCE names email); configure the webhook with its Processed, Deferred, Delivered, Dropped and Bounce events (docs/operating.md, \"SendGrid's event webhook\")"

func (c Config) Senders(log *slog.Logger) (Senders, error) {
	var s Senders
	if c.SendGridAPIKey != "" {
		s.Email = sendgrid.New(sendgrid.Config{APIKey: c.SendGridAPIKey, BaseURL: c.SendGridBaseURL})
		if c.SendGridWebhookKey == "" {
			log.Warn(NoEmailWebhook)
		}
	} else {
		log.Warn("email is not configured (SENDGRID_API_KEY); email messages will be skipped")
	}
	if c.Twilio.AccountSID != "" {
		t, err := twilio.New(c.Twilio)
		if err != nil {
			return Senders{}, err
		}
		s.SMS = t
	} else {
		log.Warn("SMS is not configured (TWILIO_ACCOUNT_SID); text messages will be skipped")
	}
	if c.LobAPIKey != "" {
		if c.ReturnAddress.Line1 == "" || c.ReturnAddress.City == "" {
			return Senders{}, errors.New("LOB_API_KEY is set but the return address is not: set RAPPORT_MAIL_FROM_LINE1, _CITY, _STATE, _POSTAL_CODE (a US address)")
		}
		p, err := printmail.New(printmail.Config{APIKey: c.LobAPIKey, BaseURL: c.LobBaseURL})
		if err != nil {
			return Senders{}, err
		}
		s.Mail = p
	} else {
		log.Warn("print mail is not configured (LOB_API_KEY); letters and postcards will be skipped")
	}
	if len(c.WebhookEndpoints) > 0 {
		w, err := webhook.New(webhook.Config{Endpoints: c.WebhookEndpoints, AllowNetworks: c.WebhookAllowNetworks})
		if err != nil {
			return Senders{}, err
		}
		s.Webhook = w
		for _, e := range c.WebhookEndpoints {
			if strings.HasPrefix(e.URL, "http:") {
				log.Warn("webhook endpoint posts without TLS: its messages can be read on the way; use https", "endpoint", e.Name)
			}
		}
	}
	return s, nil
}

// CheckWebhookEndpoints refuses journeys whose webhook sends name an
// endpoint that is not configured: a worker checks them when it starts,
// so a typo or a missing configuration is found then, not when the first
// customer reaches the step. (The compiler accepts any well-formed name
// unless it is given the configured ones: rapport validate gives them
// when the environment has them, and may run without the secrets.)
func CheckWebhookEndpoints(js *Journeys, configured []string) error {
	var bad []string
	for _, p := range js.Catalog.Plans() {
		p.Walk(func(s *journey.Step) {
			if s.Send != nil && slices.Contains(s.Send.Channels, journey.Webhook) && !slices.Contains(configured, s.Send.Endpoint) {
				bad = append(bad, fmt.Sprintf("journey %s, step %s (line %d): webhook endpoint %q", p.Journey, s.ID, s.Line, s.Send.Endpoint))
			}
		})
	}
	if len(bad) == 0 {
		return nil
	}
	have := "none is configured"
	if len(configured) > 0 {
		have = "configured: " + strings.Join(configured, ", ")
	}
	return fmt.Errorf("%s: not configured (RAPPORT_WEBHOOK_ENDPOINTS; %s)", strings.Join(bad, "; "), have)
}
