package app

import (
	"errors"
	"log/slog"

	"github.com/rapporthq/rapport/internal/channels"
	"github.com/rapporthq/rapport/internal/channels/printmail"
	"github.com/rapporthq/rapport/internal/channels/sendgrid"
	"github.com/rapporthq/rapport/internal/channels/twilio"
)

// Senders are the provider clients a worker sends through. A channel
// without configuration is nil: its messages are skipped with that
// reason.
type Senders struct {
	Email channels.EmailSender // SendGrid
	SMS   channels.SMSSender   // Twilio
	Mail  channels.MailSender  // Lob: letters and postcards
}

// Senders builds the provider clients that are configured (SendGrid,
// Twilio, Lob), warning on log of each channel that is not.
func (c Config) Senders(log *slog.Logger) (Senders, error) {
	var s Senders
	if c.SendGridAPIKey != "" {
		s.Email = sendgrid.New(sendgrid.Config{APIKey: c.SendGridAPIKey, BaseURL: c.SendGridBaseURL})
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
	return s, nil
}
