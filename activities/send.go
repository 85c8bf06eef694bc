package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rapporthq/rapport/internal/channels"
	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/templates"
	"github.com/rapporthq/rapport/workflows"
)

// SendMessage delivers one message on one channel, effectively once.
//
// It reads the customer as they are now, renders the template, records the
// intent in the outbox and only then calls the provider, recording the
// outcome after. A retry finds the recorded outcome and does not send
// again. Permanent refusals come back as a failed result (so the workflow
// can fall back to another channel); temporary ones as an error, so
// Temporal retries with backoff.
func (a *Activities) SendMessage(ctx context.Context, req workflows.SendRequest) (workflows.SendResult, error) {
	msg := store.Message{
		IdempotencyKey: req.IdempotencyKey(),
		WorkflowID:     req.WorkflowID,
		Journey:        req.Journey,
		StepID:         req.StepID,
		CustomerID:     req.CustomerID,
		Channel:        string(req.Channel),
		Template:       req.Template,
		Purpose:        string(req.Purpose),
		Topic:          req.Topic,
	}
	customer, err := a.Store.GetCustomer(ctx, req.CustomerID)
	if errors.Is(err, store.ErrNotFound) {
		return a.skip(ctx, msg, "the customer no longer exists")
	}
	if err != nil {
		return workflows.SendResult{}, err
	}
	switch req.Channel {
	case journey.Email:
		return a.sendEmail(ctx, req, msg, customer)
	default:
		return a.skip(ctx, msg, fmt.Sprintf("channel %s is not available yet", req.Channel))
	}
}

func (a *Activities) sendEmail(ctx context.Context, req workflows.SendRequest, msg store.Message, c store.Customer) (workflows.SendResult, error) {
	if c.Email == "" {
		return a.skip(ctx, msg, "no email address")
	}
	data := templates.Data{
		Customer: templates.Customer{ID: c.ID, Name: c.Name, FirstName: c.FirstName(), Email: c.Email, Locale: c.Locale},
		Journey:  req.Journey,
		Step:     req.StepID,
		Shop:     a.Sender.Shop,
	}
	if req.OrderID != "" {
		o, err := a.Store.GetOrder(ctx, req.OrderID)
		switch {
		case err == nil:
			data.Order = templateOrder(o)
		case !errors.Is(err, store.ErrNotFound):
			return workflows.SendResult{}, err
		}
	}
	rendered, err := a.Templates.RenderEmail(req.Template, data)
	if err != nil {
		return a.fail(ctx, msg, "template "+req.Template+": "+err.Error())
	}
	msg.Recipient, msg.Subject = c.Email, rendered.Subject

	claim, err := a.Store.BeginSend(ctx, msg)
	if err != nil {
		return workflows.SendResult{}, err
	}
	if !claim.Send {
		a.logger(ctx).Info("message already handled", "message_id", claim.Message.ID, "status", claim.Message.Status)
		return result(claim.Message), nil
	}

	receipt, err := a.Email.SendEmail(ctx, channels.Email{
		To: c.Email, ToName: c.Name,
		From: a.Sender.EmailFrom, FromName: a.Sender.EmailFromName, ReplyTo: a.Sender.ReplyTo,
		Subject: rendered.Subject, Text: rendered.Text, HTML: rendered.HTML,
		Categories: []string{"rapport", "journey:" + req.Journey, "template:" + req.Template},
		CustomArgs: map[string]string{
			"message_id":  claim.Message.ID,
			"journey":     req.Journey,
			"step":        req.StepID,
			"customer_id": req.CustomerID,
			"workflow_id": req.WorkflowID,
		},
	})
	return a.finish(ctx, msg.IdempotencyKey, receipt, err)
}

// finish records the provider's answer and turns it into the activity's
// result: sent and permanent failures are results; retryable failures are
// errors (the row goes back to pending); failures in doubt are recorded as
// unknown and not retried, since the provider may have the message.
func (a *Activities) finish(ctx context.Context, key string, receipt channels.Receipt, sendErr error) (workflows.SendResult, error) {
	var outcome store.Outcome
	var pe *channels.Error
	errors.As(sendErr, &pe)
	switch {
	case sendErr == nil:
		outcome = store.Outcome{Status: store.MessageSent, Provider: receipt.Provider, ProviderMessageID: receipt.MessageID}
	case channels.KindOf(sendErr) == channels.Permanent:
		outcome = store.Outcome{Status: store.MessageFailed, Reason: sendErr.Error(), Provider: providerOf(pe)}
	case channels.KindOf(sendErr) == channels.Retryable:
		outcome = store.Outcome{Status: store.MessagePending, Reason: sendErr.Error(), Provider: providerOf(pe)}
	default:
		outcome = store.Outcome{Status: store.MessageUnknown, Reason: "may or may not have been accepted, so not sent again: " + sendErr.Error(), Provider: providerOf(pe)}
	}
	m, err := a.recordOutcome(ctx, key, outcome)
	if err != nil {
		return workflows.SendResult{}, err
	}
	log := a.logger(ctx).With("message_id", m.ID, "channel", m.Channel, "status", m.Status)
	if outcome.Status == store.MessagePending {
		log.Warn("provider unavailable; will retry", "reason", outcome.Reason)
		var after time.Duration
		if pe != nil {
			after = pe.RetryAfter
		}
		return workflows.SendResult{}, retryable(sendErr, after)
	}
	log.Info("message handled", "provider", m.Provider)
	return result(m), nil
}

// recordOutcome writes the outcome, retrying briefly: once a provider has
// accepted a message, losing that fact would leave the row in doubt.
func (a *Activities) recordOutcome(ctx context.Context, key string, o store.Outcome) (store.Message, error) {
	var lastErr error
	for attempt, wait := 0, 100*time.Millisecond; attempt < 6; attempt, wait = attempt+1, wait*2 {
		m, err := a.Store.FinishSend(ctx, key, o)
		if err == nil {
			return m, nil
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return store.Message{}, errors.Join(lastErr, ctx.Err())
		case <-time.After(wait):
		}
	}
	return store.Message{}, lastErr
}

func (a *Activities) skip(ctx context.Context, msg store.Message, reason string) (workflows.SendResult, error) {
	m, err := a.Store.SkipSend(ctx, msg, reason)
	if err != nil {
		return workflows.SendResult{}, err
	}
	a.logger(ctx).Info("message skipped", "message_id", m.ID, "channel", m.Channel, "reason", reason)
	return result(m), nil
}

// fail records a message that cannot be sent on this channel at all (its
// template does not render, say).
func (a *Activities) fail(ctx context.Context, msg store.Message, reason string) (workflows.SendResult, error) {
	claim, err := a.Store.BeginSend(ctx, msg)
	if err != nil {
		return workflows.SendResult{}, err
	}
	if !claim.Send {
		return result(claim.Message), nil
	}
	m, err := a.recordOutcome(ctx, msg.IdempotencyKey, store.Outcome{Status: store.MessageFailed, Reason: reason})
	if err != nil {
		return workflows.SendResult{}, err
	}
	return result(m), nil
}

func providerOf(pe *channels.Error) string {
	if pe == nil {
		return ""
	}
	return pe.Provider
}

func result(m store.Message) workflows.SendResult {
	return workflows.SendResult{
		Channel:           journey.Channel(m.Channel),
		Status:            workflows.SendStatus(m.Status),
		Reason:            m.Reason,
		MessageID:         m.ID,
		Provider:          m.Provider,
		ProviderMessageID: m.ProviderMessageID,
	}
}

func templateOrder(o store.Order) *templates.Order {
	t := &templates.Order{ID: o.ID, Total: o.Total, Currency: o.Currency, Gift: o.Gift, PlacedAt: o.PlacedAt}
	for _, it := range o.Items {
		t.Items = append(t.Items, templates.Item{ProductID: it.ProductID, Name: it.Name, Quantity: it.Quantity, Price: it.Price})
	}
	return t
}
