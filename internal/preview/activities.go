package preview

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/templates"
	"github.com/rapporthq/rapport/workflows"
)

// register puts the preview's activities on the test environment: reads
// from the database, decisions of the contact rules, rendering; no send,
// no write.
func (p *previewer) register() {
	reg := func(fn any, name string) {
		p.test.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
	}
	reg(func(ctx context.Context, id string) (journey.Customer, error) {
		facts, err := p.store.CustomerFacts(ctx, id, p.test.Now())
		facts.Zone = p.loc.String()
		return facts, err
	}, workflows.CustomerFactsActivity)
	reg(p.send, workflows.SendMessageActivity)
	reg(func(context.Context, workflows.FinishRunRequest) error { return nil }, workflows.FinishRunActivity)
	reg(func(_ context.Context, req workflows.CreateTaskRequest) (workflows.CreateTaskResult, error) {
		p.say("task %s for the %s queue, due %s%s", req.Kind, req.Queue, req.DueAt.Sub(p.test.Now()).Round(time.Minute), parenthesised(req.Brief))
		return workflows.CreateTaskResult{Created: true}, nil
	}, workflows.CreateTaskActivity)
	reg(func(_ context.Context, req workflows.UpdateTaskRequest) error {
		p.say("task %s: %s", req.TaskID, cmp.Or(req.Status, "updated"))
		return nil
	}, workflows.UpdateTaskActivity)
	reg(func(_ context.Context, req workflows.RecordSplitRequest) error { return nil }, workflows.RecordSplitActivity)
	reg(p.acts.NextLocalTime, workflows.NextLocalTimeActivity)
	reg(func(_ context.Context, req workflows.SettleRequest) (workflows.SettleResult, error) {
		return workflows.SettleResult{Settlement: workflows.Settled, Send: workflows.SendResult{Channel: req.Channel, Status: workflows.SendSent}}, nil
	}, workflows.SettleSendActivity)
	reg(func(_ context.Context, req workflows.RecordAnswerRequest) error {
		p.say("records a %s answer: %d%s", req.Survey, req.Score, parenthesised(req.Comment))
		return nil
	}, workflows.RecordAnswerActivity)
	reg(func(_ context.Context, req workflows.EmitEventRequest) error {
		p.say("emits %s for the customer's journeys", req.Event.Type)
		return nil
	}, workflows.EmitEventActivity)
}

// send decides and renders a message as the send activity would, and
// notes it in the timeline instead of sending it.
func (p *previewer) send(ctx context.Context, req workflows.SendRequest) (workflows.SendResult, error) {
	c := p.customer
	res := workflows.SendResult{Channel: req.Channel}
	what := fmt.Sprintf("%s %s", req.Channel, req.Template)
	noContact := false
	if req.Channel == journey.Webhook {
		var note string
		noContact, note = p.webhookEndpoint(req.Endpoint)
		what = fmt.Sprintf("%s to %s (%s)", what, req.Endpoint, note)
	}
	var missing string
	switch req.Channel {
	case journey.Email:
		if c.Email == "" {
			missing = "no email address"
		}
	case journey.SMS:
		if c.Phone == "" {
			missing = "no phone number"
		}
	case journey.Mail:
		if !c.Address.Complete() {
			missing = "no complete postal address"
		}
	}
	if missing != "" {
		p.say("%s not sent: %s", what, missing)
		res.Status, res.Reason = workflows.SendSkipped, missing
		return res, nil
	}
	at := req.PolicyAt
	if at.IsZero() {
		at = p.test.Now()
	}
	gate := store.Gate{Allow: true} // an endpoint that does not reach the customer: no contact rules
	if !noContact {
		gate = p.acts.Decide(req, c, store.GateInput{At: at, Preferences: p.prefs, Recent: p.recent, Suppression: p.suppressed[req.Channel]})
	}
	switch {
	case gate.Hold:
		p.say("%s held: %s", what, gate.Reason)
		res.Status, res.Reason, res.HeldUntil = workflows.SendHeld, gate.Reason, gate.Until
		return res, nil
	case !gate.Allow:
		p.say("%s not sent: %s", what, gate.Reason)
		res.Status, res.Reason = workflows.SendSkipped, gate.Reason
		return res, nil
	}
	data, err := p.data(ctx, req)
	if err != nil {
		return res, err
	}
	if req.Recommend != nil && len(data.Products) == 0 {
		p.say("%s not sent: nothing to recommend", what)
		res.Status, res.Reason = workflows.SendSkipped, "nothing to recommend"
		return res, nil
	}
	var line string
	switch req.Channel {
	case journey.Email:
		e, err := p.templates.RenderEmail(req.Template, data)
		if err != nil {
			return p.failed(res, what, err)
		}
		line = fmt.Sprintf("%q: %s", e.Subject, firstLine(e.Text))
	case journey.SMS:
		body, err := p.templates.RenderSMS(req.Template, data)
		if err != nil {
			return p.failed(res, what, err)
		}
		line = firstLine(body)
	case journey.Webhook:
		body, err := p.templates.RenderWebhook(req.Template, data)
		if err != nil {
			return p.failed(res, what, err)
		}
		line = firstLine(string(body))
	default:
		m, err := p.templates.RenderMail(req.Template, data)
		if err != nil {
			return p.failed(res, what, err)
		}
		line = "a " + m.Kind
	}
	if req.Purpose == journey.Marketing && !noContact { // as the outbox counts towards caps
		p.recent = append(p.recent, store.RecentSend{Channel: string(req.Channel), At: at})
	}
	p.say("%s: %s", what, line)
	res.Status = workflows.SendSent
	return res, nil
}

// webhookEndpoint says whether a webhook to the endpoint passes the
// contact rules by (its endpoint declares contacts_customer false, as a
// send does), and the words that say so in the timeline: what the
// endpoint declares, or, when it is not configured here, the assumption
// the preview makes (it contacts the customer: the rules apply).
func (p *previewer) webhookEndpoint(name string) (noContact bool, note string) {
	names := make([]string, 0, len(p.cfg.WebhookEndpoints))
	for _, e := range p.cfg.WebhookEndpoints {
		if e.Name == name && e.ContactsCustomer {
			return false, "contacts_customer: the contact rules apply"
		}
		if e.Name == name {
			return true, "contacts_customer false: no contact rules, counts towards no cap"
		}
		names = append(names, e.Name)
	}
	const assumed = "taken to contact the customer, so the contact rules apply"
	if len(names) == 0 {
		return false, "RAPPORT_WEBHOOK_ENDPOINTS configures none here: " + assumed
	}
	slices.Sort(names)
	return false, fmt.Sprintf("RAPPORT_WEBHOOK_ENDPOINTS here has only %s, so a worker would not start: %s", strings.Join(names, ", "), assumed)
}

// failed notes a message that could not be rendered.
func (p *previewer) failed(res workflows.SendResult, what string, err error) (workflows.SendResult, error) {
	p.say("%s fails: %v", what, err)
	res.Status, res.Reason = workflows.SendFailed, err.Error()
	return res, nil
}

// data is what the template sees, as the send activity gathers it, with a
// sample voucher code and links (a preview issues nothing).
func (p *previewer) data(ctx context.Context, req workflows.SendRequest) (templates.Data, error) {
	c := p.customer
	attrs := c.Attributes
	if attrs == nil {
		attrs = map[string]any{}
	}
	d := templates.Data{
		Customer: templates.Customer{ID: c.ID, Name: c.Name, FirstName: c.FirstName(), Email: c.Email, Locale: c.Locale, Country: c.Address.Country, Attributes: attrs},
		Trigger:  &templates.Event{ID: p.trigger.ID, Type: p.trigger.Type, OccurredAt: p.trigger.OccurredAt, Data: p.trigger.Data},
		Journey:  req.Journey, Step: req.StepID, Shop: p.cfg.Sender.Shop,
		Links: templates.Links{Survey: "https://preview.invalid/survey", Preferences: "https://preview.invalid/preferences",
			Unsubscribe: "https://preview.invalid/unsubscribe"},
	}
	if req.Fallback != nil {
		d.Fallback = &templates.Fallback{From: string(req.Fallback.From), Reason: req.Fallback.Reason}
	}
	if req.OrderID != "" {
		o, err := p.store.GetOrder(ctx, req.OrderID)
		if err == nil {
			d.Order = &templates.Order{ID: o.ID, Total: o.Total, Currency: o.Currency, Gift: o.Gift, PlacedAt: o.PlacedAt}
			for _, it := range o.Items {
				d.Order.Items = append(d.Order.Items, templates.Item{ProductID: it.ProductID, Name: it.Name, Quantity: it.Quantity, Price: it.Price})
			}
		} else if !errors.Is(err, store.ErrNotFound) {
			return d, err
		}
	}
	if v := req.Voucher; v != nil {
		d.Voucher = &templates.Voucher{Code: "PREVIEW-CODE", Percent: v.Percent, Amount: v.Amount, Currency: cmp.Or(v.Currency, p.cfg.DefaultCurrency),
			ExpiresAt: p.test.Now().Add(v.ValidFor.D)}
	}
	if r := req.Recommend; r != nil {
		basis, err := p.store.TasteBasis(ctx, c.ID, req.OrderID)
		if err != nil {
			return d, err
		}
		products, err := p.store.Recommend(ctx, c.ID, basis, r.Limit)
		if err != nil {
			return d, err
		}
		for _, pr := range products {
			d.Products = append(d.Products, templates.Product{ID: pr.ID, Name: pr.Name, Price: pr.Price, Currency: pr.Currency, URL: pr.URL, ImageURL: pr.ImageURL})
		}
	}
	return d, nil
}

// firstLine is a message's first non-empty line, shortened.
func firstLine(text string) string {
	for _, l := range strings.Split(text, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			if r := []rune(l); len(r) > 90 {
				return string(r[:89]) + "…"
			}
			return l
		}
	}
	return ""
}
