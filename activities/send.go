package activities

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"strconv"
	"strings"
	"time"

	"github.com/rapporthq/rapport/internal/channels"
	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/links"
	"github.com/rapporthq/rapport/internal/locale"
	"github.com/rapporthq/rapport/internal/metrics"
	"github.com/rapporthq/rapport/internal/money"
	"github.com/rapporthq/rapport/internal/phone"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/templates"
	"github.com/rapporthq/rapport/workflows"
	"go.temporal.io/sdk/temporal"
)

// SendMessage delivers one message on one channel, effectively once.
//
// It reads the customer as they are now, finds their address on the
// channel (skipping when there is none or it is suppressed), issues the
// step's voucher and picks its products, renders the template in the
// customer's locale, records the intent in the outbox and only then calls
// the provider, recording the outcome after. A retry finds the recorded
// outcome and does not send again. Permanent refusals come back as a failed
// result (so the workflow can fall back to another channel); temporary ones
// as an error, so Temporal retries with backoff.
//
// A request of revision 7 also carries what the run would otherwise
// record with local activities of its own (req.Record): the steps it
// reached, recorded first, and its end, recorded once the message is
// sent. The result says what was recorded.
func (a *Activities) SendMessage(ctx context.Context, req workflows.SendRequest) (workflows.SendResult, error) {
	steps, err := a.recordSteps(ctx, req.WorkflowID, req.Record)
	if err != nil {
		return workflows.SendResult{}, err
	}
	res, err := a.send(ctx, req)
	if err != nil {
		return res, err
	}
	res.Recorded.Steps = steps
	if res.Status == workflows.SendSent {
		if res.Recorded.End, err = a.recordEnd(ctx, req.Record); err != nil {
			return workflows.SendResult{}, err
		}
	}
	return res, nil
}

// send is SendMessage's delivery.
func (a *Activities) send(ctx context.Context, req workflows.SendRequest) (workflows.SendResult, error) {
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
		Details:        map[string]any{},
		Priority:       req.Priority.Rank(),
	}
	began := time.Now()
	c, err := a.Store.GetCustomer(ctx, req.CustomerID)
	a.Metrics.ObservePhase(metrics.PhaseCustomer, time.Since(began))
	if errors.Is(err, store.ErrNotFound) {
		res, err := a.skip(ctx, msg, metrics.ReasonNoCustomer, "the customer no longer exists")
		res.CustomerGone = err == nil
		return res, err
	}
	if err != nil {
		return workflows.SendResult{}, err
	}

	// Where the message goes on this channel, if anywhere.
	var address string
	switch req.Channel {
	case journey.Email:
		if a.Email == nil {
			return a.skip(ctx, msg, metrics.ReasonNotConfigured, "email is not configured (SENDGRID_API_KEY)")
		}
		if address = c.Email; address == "" {
			return a.skip(ctx, msg, metrics.ReasonNoAddress, "no email address")
		}
	case journey.SMS:
		if a.SMS == nil {
			return a.skip(ctx, msg, metrics.ReasonNotConfigured, "SMS is not configured (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)")
		}
		if c.Phone == "" {
			return a.skip(ctx, msg, metrics.ReasonNoAddress, "no phone number")
		}
		if address, err = phone.Normalize(c.Phone, c.Address.Country); err != nil {
			msg.Recipient = c.Phone
			// The reason goes to logs and the Temporal UI: not the number.
			return a.fail(ctx, msg, "invalid phone number (not a number in the customer's country or in international form)")
		}
	case journey.Mail:
		if a.Mail == nil {
			return a.skip(ctx, msg, metrics.ReasonNotConfigured, "print mail is not configured (LOB_API_KEY)")
		}
		if !c.Address.Complete() {
			return a.skip(ctx, msg, metrics.ReasonNoAddress, "no complete postal address (it needs a street, city, postal code and country, and a state in the US)")
		}
		address = formatAddress(c)
	case journey.Webhook:
		if a.Webhook == nil {
			return a.skip(ctx, msg, metrics.ReasonNotConfigured, "webhooks are not configured (RAPPORT_WEBHOOK_ENDPOINTS)")
		}
		contacts, ok := a.Webhook.WebhookEndpoint(req.Endpoint)
		if !ok {
			return a.skip(ctx, msg, metrics.ReasonNotConfigured, fmt.Sprintf("webhook endpoint %q is not configured (RAPPORT_WEBHOOK_ENDPOINTS)", req.Endpoint))
		}
		// The endpoint's name: no personal data, and what support sees.
		address, msg.NoContact = req.Endpoint, !contacts
	default:
		return a.skip(ctx, msg, metrics.Other, fmt.Sprintf("unknown channel %s", req.Channel))
	}
	msg.Recipient = address

	rendering := time.Now() // templateData and the channel's render
	data, reason, err := a.templateData(ctx, req, c, msg.Details)
	if err != nil {
		return workflows.SendResult{}, err
	}
	if reason != "" {
		return a.skip(ctx, msg, metrics.ReasonNothingToRecommend, reason)
	}
	set, err := a.templatesFor(ctx, req)
	if err != nil {
		return workflows.SendResult{}, err
	}

	switch req.Channel {
	case journey.Email:
		return a.sendEmail(ctx, req, msg, c, set, data, rendering)
	case journey.SMS:
		return a.sendSMS(ctx, req, msg, c, set, data, rendering)
	case journey.Webhook:
		return a.sendWebhook(ctx, req, msg, c, set, data, rendering)
	default:
		return a.sendMail(ctx, req, msg, c, set, data, rendering)
	}
}

// templatesFor returns the templates a send renders: the version its plan
// pinned (the current files when they still hash the same, else the
// stored version, loaded once per worker), or the current files for a
// plan that pinned none. A pinned version no store holds falls back to
// the current files, as before pinning, and says so in the log.
func (a *Activities) templatesFor(ctx context.Context, req workflows.SendRequest) (*templates.Set, error) {
	hash := req.TemplateVersion
	if hash == "" {
		return a.Templates, nil
	}
	if current, ok := a.Templates.Version(req.Template); ok && current == hash {
		return a.Templates, nil
	}
	// By name and hash: two templates with the same files share a stored
	// version, saved under the first one's name.
	cacheKey := req.Template + "@" + hash
	if set, ok := a.pinned.Load(cacheKey); ok {
		return set.(*templates.Set), nil
	}
	v, err := a.Store.GetTemplateVersion(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		a.logger(ctx).Warn("pinned template version not stored; rendering the current files", "template", req.Template, "version", hash)
		return a.Templates, nil
	}
	if err != nil {
		return nil, err
	}
	set, err := templates.LoadVersion(templates.Version{Name: req.Template, Hash: v.Hash, Files: v.Files}, "pinned "+v.Hash)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), "BadTemplateVersion", err)
	}
	cached, _ := a.pinned.LoadOrStore(cacheKey, set)
	return cached.(*templates.Set), nil
}

// triggerEvent reads the event that started the run from the event store
// (or, for a fan-out journey's run, from its fan-out), for templates. An event no longer stored (removed by retention) is shown
// with its id and type and no data, rather than failing the message.
func (a *Activities) triggerEvent(ctx context.Context, req workflows.SendRequest) (*templates.Event, error) {
	ev, err := a.Store.GetEvent(ctx, req.TriggerEventID)
	if errors.Is(err, store.ErrNotFound) {
		// An event posted without a customer, for a journey that fans out
		// on it: stored with the fan-out, for every customer it entered.
		ev, err = a.Store.FanoutEvent(ctx, req.TriggerEventID, req.Journey)
		ev.CustomerID = req.CustomerID
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &templates.Event{ID: req.TriggerEventID, Data: map[string]any{}}, nil
	case err != nil:
		return nil, err
	case ev.CustomerID != req.CustomerID:
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("event %s is not customer %s's", ev.ID, req.CustomerID), "BadTrigger", nil)
	}
	out := &templates.Event{ID: ev.ID, Type: ev.Type, OccurredAt: ev.OccurredAt, Data: map[string]any{}}
	if len(ev.Data) > 0 {
		dec := json.NewDecoder(bytes.NewReader(ev.Data))
		dec.UseNumber() // "48.00" stays 48.00
		if err := dec.Decode(&out.Data); err != nil {
			return nil, fmt.Errorf("event %s data: %w", ev.ID, err)
		}
	}
	return out, nil
}

// templateData gathers what the template may use, issuing the voucher and
// picking products as the step asks. A non-empty reason means there is
// nothing worth sending (no products to recommend).
func (a *Activities) templateData(ctx context.Context, req workflows.SendRequest, c store.Customer, details map[string]any) (templates.Data, string, error) {
	data := templates.Data{
		Customer: templates.Customer{ID: c.ID, Name: c.Name, FirstName: c.FirstName(), Email: c.Email, Locale: c.Locale,
			Country: c.Address.Country, Attributes: c.Attributes},
		Journey: req.Journey,
		Step:    req.StepID,
		Shop:    a.Sender.Shop,
	}
	if f := req.Fallback; f != nil {
		data.Fallback = &templates.Fallback{From: string(f.From), Reason: f.Reason}
	}
	if data.Customer.Attributes == nil {
		data.Customer.Attributes = map[string]any{}
	}
	data.Trigger = &templates.Event{Data: map[string]any{}} // an audience journey's: no event
	switch {
	case req.Trigger != nil: // a date trigger's, not stored
		data.Trigger = &templates.Event{ID: req.Trigger.ID, Type: req.Trigger.Type, OccurredAt: req.Trigger.OccurredAt, Data: req.Trigger.Data}
		if data.Trigger.Data == nil {
			data.Trigger.Data = map[string]any{}
		}
	case req.TriggerEventID != "":
		ev, err := a.triggerEvent(ctx, req)
		if err != nil {
			return data, "", err
		}
		data.Trigger = ev
	}
	if req.OrderID != "" {
		o, err := a.Store.GetOrder(ctx, req.OrderID)
		switch {
		case err == nil:
			data.Order = templateOrder(o)
		case !errors.Is(err, store.ErrNotFound):
			return data, "", err
		}
	}
	if spec := req.Voucher; spec != nil {
		v, err := a.issueVoucher(ctx, req, data.Order, spec)
		if err != nil {
			return data, "", err
		}
		data.Voucher = &templates.Voucher{Code: v.Code, Currency: v.Currency, ExpiresAt: v.ExpiresAt}
		if v.Kind == "percent" {
			// A percentage, not money: 15 or 12.5, shown as "15% off".
			data.Voucher.Percent, _ = strconv.ParseFloat(v.Value.String(), 64)
		} else {
			data.Voucher.Amount = v.Value
		}
		details["voucher"] = v.Code
	}
	if spec := req.Recommend; spec != nil {
		basis, err := a.Store.TasteBasis(ctx, c.ID, req.OrderID)
		if err != nil {
			return data, "", err
		}
		products, err := a.Store.Recommend(ctx, c.ID, basis, spec.Limit)
		if err != nil {
			return data, "", err
		}
		if len(products) == 0 {
			return data, "nothing to recommend: no complements of what they like that they have not bought", nil
		}
		ids := make([]string, len(products))
		for i, p := range products {
			ids[i] = p.ID
			data.Products = append(data.Products, templates.Product{ID: p.ID, Name: p.Name, Price: p.Price, Currency: p.Currency, URL: p.URL, ImageURL: p.ImageURL})
		}
		details["products"] = ids
	}
	if a.Links != nil {
		var err error
		if data.Links.Survey, err = a.link(links.SurveyPurpose, links.Survey{SurveyID: links.SurveyID(req.WorkflowID, req.StepID),
			CustomerID: req.CustomerID, WorkflowID: req.WorkflowID, StepID: req.StepID, OrderID: req.OrderID}, surveyLinkLifetime, "/survey/"); err != nil {
			return data, "", err
		}
		data.Links.Preferences = strings.TrimRight(a.PublicURL, "/") + "/preferences/" +
			a.Links.SignSubject(links.PreferencesPurpose, req.CustomerID, time.Now().Add(preferenceLinkLifetime))
		if req.Topic != "" {
			if data.Links.Unsubscribe, err = a.link(links.UnsubscribePurpose, links.Unsubscribe{CustomerID: req.CustomerID, Topic: req.Topic,
				Channel: string(req.Channel), WorkflowID: req.WorkflowID}, preferenceLinkLifetime, "/unsubscribe/"); err != nil {
				return data, "", err
			}
		}
	}
	return data, "", nil
}

// voucherAlphabet leaves out 0, 1, I and O, which people misread.
const voucherAlphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

// newVoucherCode returns 16 characters (80 random bits) in groups of four.
func newVoucherCode() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	var code strings.Builder
	for i, x := range b {
		if i > 0 && i%4 == 0 {
			code.WriteByte('-')
		}
		code.WriteByte(voucherAlphabet[int(x)%len(voucherAlphabet)])
	}
	return code.String(), nil
}

// issueVoucher issues the step's voucher, once per run and step: a retry or
// a fallback to another channel gets the same code.
func (a *Activities) issueVoucher(ctx context.Context, req workflows.SendRequest, order *templates.Order, spec *journey.VoucherSpec) (store.Voucher, error) {
	code, err := newVoucherCode()
	if err != nil {
		return store.Voucher{}, err
	}
	v := store.Voucher{Code: code, CustomerID: req.CustomerID, WorkflowID: req.WorkflowID, StepID: req.StepID,
		ExpiresAt: time.Now().Add(spec.ValidFor.D).UTC()}
	if spec.Percent > 0 {
		// The percentage (checked to be above 0 and at most 100 when the
		// journey was compiled) goes in the value column as its shortest
		// decimal text: 12.5, not 12.4999...
		pct, err := money.Parse(strconv.FormatFloat(spec.Percent, 'f', -1, 64))
		if err != nil {
			return store.Voucher{}, fmt.Errorf("voucher percent %v: %w", spec.Percent, err)
		}
		v.Kind, v.Value = "percent", pct
	} else {
		v.Kind, v.Value, v.Currency = "amount", spec.Amount, spec.Currency
		if v.Currency == "" && order != nil {
			v.Currency = order.Currency
		}
		if v.Currency == "" {
			v.Currency = a.DefaultCurrency
		}
	}
	return a.Store.IssueVoucher(ctx, v)
}

// How long the links in messages work.
const (
	surveyLinkLifetime     = 30 * 24 * time.Hour
	preferenceLinkLifetime = 90 * 24 * time.Hour
)

// link makes a signed link to one of the API's pages.
func (a *Activities) link(purpose string, claims any, lifetime time.Duration, path string) (string, error) {
	tok, err := a.Links.Sign(purpose, claims, time.Now().Add(lifetime))
	if err != nil {
		return "", err
	}
	return strings.TrimRight(a.PublicURL, "/") + path + tok, nil
}

func (a *Activities) sendEmail(ctx context.Context, req workflows.SendRequest, msg store.Message, c store.Customer, set *templates.Set, data templates.Data, rendering time.Time) (workflows.SendResult, error) {
	rendered, err := set.RenderEmail(req.Template, data)
	if err != nil {
		return a.fail(ctx, msg, "template "+req.Template+": "+err.Error())
	}
	msg.Subject = rendered.Subject
	a.Metrics.ObservePhase(metrics.PhaseRender, time.Since(rendering))
	claiming := time.Now()
	claim, done, err := a.claim(ctx, req, msg, c, false)
	a.Metrics.ObservePhase(metrics.PhaseClaim, time.Since(claiming))
	if err != nil || done != nil {
		return deref(done), err
	}
	headers := map[string]string{}
	if marketing(req) && data.Links.Preferences != "" {
		rendered.Text, rendered.HTML = withPreferencesFooter(rendered.Text, rendered.HTML, data.Links, c.Locale)
		if data.Links.Unsubscribe != "" {
			unsubscribe := "<" + data.Links.Unsubscribe + ">"
			if a.UnsubscribeMailto != "" {
				unsubscribe += ", <mailto:" + a.UnsubscribeMailto + "?subject=unsubscribe%20" + claim.Message.ID + ">"
			}
			headers["List-Unsubscribe"] = unsubscribe
			headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
		}
	}
	start := time.Now()
	receipt, err := a.Email.SendEmail(ctx, channels.Email{
		To: c.Email, ToName: c.Name,
		From: a.Sender.EmailFrom, FromName: a.Sender.EmailFromName, ReplyTo: a.Sender.ReplyTo,
		Subject: rendered.Subject, Text: rendered.Text, HTML: rendered.HTML,
		Headers:    headers,
		Categories: []string{"rapport", "journey:" + req.Journey, "template:" + req.Template},
		CustomArgs: map[string]string{
			"message_id":  claim.Message.ID,
			"journey":     req.Journey,
			"step":        req.StepID,
			"customer_id": req.CustomerID,
			"workflow_id": req.WorkflowID,
		},
	})
	a.observeProvider(metrics.ProviderSendGrid, start, receipt, err)
	defer a.phaseSince(metrics.PhaseRecord, time.Now())
	return a.finish(ctx, msg, receipt, err, false)
}

func (a *Activities) sendSMS(ctx context.Context, req workflows.SendRequest, msg store.Message, c store.Customer, set *templates.Set, data templates.Data, rendering time.Time) (workflows.SendResult, error) {
	body, err := set.RenderSMS(req.Template, data)
	if err != nil {
		return a.fail(ctx, msg, "template "+req.Template+": "+err.Error())
	}
	if marketing(req) {
		// Every marketing text says how to choose what comes and how to
		// stop, unless the template already does.
		// In the customer's language: STOP is the keyword Twilio
		// honours in every language.
		if data.Links.Preferences != "" && !strings.Contains(body, data.Links.Preferences) {
			body += " " + locale.T(c.Locale, "sms.preferences", data.Links.Preferences)
		}
		if !strings.Contains(strings.ToUpper(body), "STOP") {
			body += " " + locale.T(c.Locale, "sms.stop")
		}
	}
	msg.Subject = firstLine(body, 60)
	msg.BodyDigest = channels.Digest(body) // to find it in Twilio's records if it ends in doubt
	a.Metrics.ObservePhase(metrics.PhaseRender, time.Since(rendering))
	claiming := time.Now()
	claim, done, err := a.claim(ctx, req, msg, c, false)
	a.Metrics.ObservePhase(metrics.PhaseClaim, time.Since(claiming))
	if err != nil || done != nil {
		return deref(done), err
	}
	sms := channels.SMS{To: msg.Recipient, Body: body}
	if a.PublicURL != "" {
		sms.StatusCallback = strings.TrimRight(a.PublicURL, "/") + "/webhooks/twilio/status?message_id=" + claim.Message.ID
	}
	start := time.Now()
	receipt, err := a.SMS.SendSMS(ctx, sms)
	a.observeProvider(metrics.ProviderTwilio, start, receipt, err)
	defer a.phaseSince(metrics.PhaseRecord, time.Now())
	return a.finish(ctx, msg, receipt, err, false)
}

func (a *Activities) sendMail(ctx context.Context, req workflows.SendRequest, msg store.Message, c store.Customer, set *templates.Set, data templates.Data, rendering time.Time) (workflows.SendResult, error) {
	rendered, err := set.RenderMail(req.Template, data)
	if err != nil {
		return a.fail(ctx, msg, "template "+req.Template+": "+err.Error())
	}
	msg.Subject = rendered.Kind + ": " + req.Template
	if marketing(req) && data.Links.Preferences != "" {
		// Printed marketing says where to choose what comes, unless the
		// template places the link itself.
		if rendered.Kind == "postcard" {
			rendered.Back = withMailFooter(rendered.Back, data.Links.Preferences, c.Locale)
		} else {
			rendered.HTML = withMailFooter(rendered.HTML, data.Links.Preferences, c.Locale)
		}
	}
	// Lob deduplicates by idempotency key, so an attempt interrupted
	// mid-call may safely be made again: it returns the first piece.
	a.Metrics.ObservePhase(metrics.PhaseRender, time.Since(rendering))
	claiming := time.Now()
	claim, done, err := a.claim(ctx, req, msg, c, true)
	a.Metrics.ObservePhase(metrics.PhaseClaim, time.Since(claiming))
	if err != nil || done != nil {
		return deref(done), err
	}
	merge := map[string]any{"first_name": c.FirstName()}
	if data.Voucher != nil {
		merge["voucher_code"] = data.Voucher.Code
	}
	start := time.Now()
	receipt, err := a.Mail.SendMail(ctx, channels.Mail{
		Kind:        channels.MailKind(rendered.Kind),
		To:          postalAddress(c),
		From:        a.ReturnAddress,
		Description: fmt.Sprintf("%s %s for %s", req.Journey, req.StepID, req.CustomerID),
		HTML:        rendered.HTML, Front: rendered.Front, Back: rendered.Back,
		Marketing:      req.Purpose == journey.Marketing,
		MergeVariables: merge,
		Metadata: map[string]string{
			"message_id":  claim.Message.ID,
			"journey":     req.Journey,
			"step":        req.StepID,
			"customer_id": req.CustomerID,
		},
		IdempotencyKey: mailIdempotencyKey(msg.IdempotencyKey),
	})
	a.observeProvider(metrics.ProviderLob, start, receipt, err)
	defer a.phaseSince(metrics.PhaseRecord, time.Now())
	return a.finish(ctx, msg, receipt, err, true)
}

// sendWebhook posts the step's JSON body to its endpoint, signed, with
// the outbox message's id as webhook-id. The receiver deduplicates by that
// id (Standard Webhooks asks it to), so a post that may have been taken
// (a 5xx, a timeout, a worker that died mid-call) is made again with the
// same id: at least once, which the receiver turns into once. A template
// that does not render one JSON value fails the message with the reason.
func (a *Activities) sendWebhook(ctx context.Context, req workflows.SendRequest, msg store.Message, c store.Customer, set *templates.Set, data templates.Data, rendering time.Time) (workflows.SendResult, error) {
	body, err := set.RenderWebhook(req.Template, data)
	if err != nil {
		return a.fail(ctx, msg, "template "+req.Template+": "+err.Error())
	}
	msg.Subject = "webhook " + req.Template
	msg.BodyDigest = channels.Digest(string(body))
	a.Metrics.ObservePhase(metrics.PhaseRender, time.Since(rendering))
	claiming := time.Now()
	claim, done, err := a.claim(ctx, req, msg, c, true)
	a.Metrics.ObservePhase(metrics.PhaseClaim, time.Since(claiming))
	if err != nil || done != nil {
		return deref(done), err
	}
	start := time.Now()
	receipt, err := a.Webhook.SendWebhook(ctx, channels.Webhook{Endpoint: req.Endpoint, ID: claim.Message.ID, Body: body})
	a.observeProvider(metrics.ProviderWebhook, start, receipt, err)
	defer a.phaseSince(metrics.PhaseRecord, time.Now())
	return a.finish(ctx, msg, receipt, err, true)
}

// mailIdempotencyKey is the outbox key, or its digest when it is longer than
// the 256 characters Lob accepts.
func mailIdempotencyKey(key string) string {
	if len(key) <= 256 {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return "rapport-" + hex.EncodeToString(sum[:])
}

func deref(r *workflows.SendResult) workflows.SendResult {
	if r == nil {
		return workflows.SendResult{}
	}
	return *r
}

// withMailFooter adds the preference center's address to a letter or a
// postcard's back, in small print at the bottom left, in the customer's
// language, unless it is there.
func withMailFooter(html, link, loc string) string {
	if strings.Contains(html, link) {
		return html
	}
	footer := `<p style="position:absolute;left:0.3in;bottom:0.2in;width:2.8in;margin:0;font-size:7pt;font-family:sans-serif">` +
		template.HTMLEscapeString(locale.T(loc, "footer.mail", link)) + `</p>`
	if i := strings.LastIndex(strings.ToLower(html), "</body>"); i >= 0 {
		return html[:i] + footer + html[i:]
	}
	return html + footer
}

// withPreferencesFooter ends a marketing email with the links to the
// preference center and to unsubscribe, in the customer's language
// (loc), unless the template already has them.
func withPreferencesFooter(text, html string, l templates.Links, loc string) (string, string) {
	if !strings.Contains(text, l.Preferences) {
		text = strings.TrimRight(text, "\n") + "\n\n--\n" + locale.T(loc, "footer.text", l.Preferences) + "\n"
		if l.Unsubscribe != "" {
			text += locale.T(loc, "footer.text_unsubscribe", l.Unsubscribe) + "\n"
		}
	}
	if html != "" && !strings.Contains(html, template.HTMLEscapeString(l.Preferences)) {
		// The catalog's words are ours (HTML allowed); the links are
		// escaped.
		footer := `<p style="color:#666;font-size:small">` + locale.T(loc, "footer.html", template.HTMLEscapeString(l.Preferences))
		if l.Unsubscribe != "" {
			footer += locale.T(loc, "footer.html_unsubscribe", template.HTMLEscapeString(l.Unsubscribe))
		}
		footer += ".</p>"
		if i := strings.LastIndex(strings.ToLower(html), "</body>"); i >= 0 {
			html = html[:i] + footer + html[i:]
		} else {
			html += footer
		}
	}
	return text, html
}

// finish records the provider's answer and turns it into the activity's
// result: sent and permanent failures are results; retryable failures are
// errors (the row goes back to pending); failures in doubt are recorded as
// unknown and not retried, since the provider may have the message, unless
// the provider deduplicates (resumable), when they are retried too. An
// answer saying the address must not be contacted again suppresses it.
func (a *Activities) finish(ctx context.Context, msg store.Message, receipt channels.Receipt, sendErr error, resumable bool) (workflows.SendResult, error) {
	var outcome store.Outcome
	var pe *channels.Error
	errors.As(sendErr, &pe)
	kind := channels.KindOf(sendErr)
	if kind == channels.InDoubt && resumable {
		kind = channels.Retryable
	}
	switch {
	case sendErr == nil:
		outcome = store.Outcome{Status: store.MessageSent, Provider: receipt.Provider, ProviderMessageID: receipt.MessageID}
	case kind == channels.Permanent:
		outcome = store.Outcome{Status: store.MessageFailed, Reason: sendErr.Error(), Provider: providerOf(pe)}
	case kind == channels.Retryable:
		outcome = store.Outcome{Status: store.MessagePending, Reason: sendErr.Error(), Provider: providerOf(pe)}
	default:
		outcome = store.Outcome{Status: store.MessageUnknown, Reason: "in doubt (may or may not have been accepted), so not sent again until settled: " + sendErr.Error(), Provider: providerOf(pe)}
	}
	// The provider has answered (or not): what it said is written even when
	// the activity's own deadline is about to pass, so it is not lost.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), outcomeTimeout)
	defer cancel()
	if pe != nil && pe.Suppress {
		err := a.Store.Suppress(ctx, store.Suppression{Channel: msg.Channel, Address: msg.Recipient, Reason: pe.Message, Source: pe.Provider + " " + pe.Code})
		if err != nil {
			return workflows.SendResult{}, err
		}
	}
	m, err := a.recordOutcome(ctx, msg.IdempotencyKey, outcome)
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
	a.countSettled(m)
	if outcome.Status == store.MessageUnknown {
		a.Metrics.InDoubt(m.Channel)
		if m.Status == store.MessageSent { // the provider's webhook came before its answer
			a.Metrics.SettledInDoubt(m.Channel, metrics.SettledByWebhook, metrics.SettledSent)
		}
	}
	return result(m), nil
}

// outcomeTimeout bounds writing a provider's answer, which is done on a
// context detached from the activity's (see finish).
const outcomeTimeout = 10 * time.Second

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

// skip records a message that is not attempted, for reason; why names the
// reason for the metrics (one of their Reason values).
func (a *Activities) skip(ctx context.Context, msg store.Message, why, reason string) (workflows.SendResult, error) {
	m, err := a.Store.SkipSend(ctx, msg, reason)
	if err != nil {
		return workflows.SendResult{}, err
	}
	a.logger(ctx).Info("message skipped", "message_id", m.ID, "channel", m.Channel, "reason", reason)
	if m.Status == store.MessageSkipped && m.Reason == reason { // not an outcome recorded before
		a.countSettled(m)
		a.Metrics.Held(m.Channel, why)
	}
	return result(m), nil
}

// fail records a message that cannot be sent on this channel at all (an
// invalid number, a template that does not render).
func (a *Activities) fail(ctx context.Context, msg store.Message, reason string) (workflows.SendResult, error) {
	m, err := a.Store.FailUnsent(ctx, msg, reason)
	if err != nil {
		return workflows.SendResult{}, err
	}
	a.logger(ctx).Info("message failed", "message_id", m.ID, "channel", m.Channel, "reason", reason)
	if m.Status == store.MessageFailed && m.Reason == reason { // not an outcome recorded before
		a.countSettled(m)
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

func postalAddress(c store.Customer) channels.PostalAddress {
	a := c.Address
	return channels.PostalAddress{Name: c.Name, Line1: a.Line1, Line2: a.Line2, City: a.City, State: a.State, PostalCode: a.PostalCode, Country: a.Country}
}

func formatAddress(c store.Customer) string {
	a := c.Address
	var parts []string
	for _, p := range []string{a.Line1, a.Line2, a.City, a.State, a.PostalCode, a.Country} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, ", ")
}

func firstLine(s string, n int) string {
	s, _, _ = strings.Cut(s, "\n")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
