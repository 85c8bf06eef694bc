package api

import (
	"context"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sendgrid/sendgrid-go/helpers/eventwebhook"
	"github.com/twilio/twilio-go/client"

	"github.com/rapporthq/rapport/internal/api/wire"
	"github.com/rapporthq/rapport/internal/metrics"
	"github.com/rapporthq/rapport/internal/store"
)

// WebhookKeys verify the providers' callbacks. A provider without a key
// has its callbacks refused: nothing unverified changes anything.
type WebhookKeys struct {
	// SendGrid is the event webhook's verification key.
	SendGrid *ecdsa.PublicKey
	// TwilioAuthToken signs Twilio's requests.
	TwilioAuthToken string
	// LobSecret signs Lob's webhooks.
	LobSecret string
	// PublicURL is the API's address as the providers call it: Twilio
	// signs the full URL.
	PublicURL string
	// ShopifySecrets are the Shopify app's client secrets: a webhook
	// signed with any of them verifies (two while the secret is rotated).
	ShopifySecrets []string
	// ShopifyShops, when not empty, are the shop domains whose webhooks
	// are applied (tea-shop.myshopify.com); others are answered 200 and
	// ignored.
	ShopifyShops []string
	// SegmentSecrets, when not empty, are the shared secrets Segment's
	// Webhooks destinations sign their calls with: the Segment routes
	// then take a call only with an X-Signature that verifies under one
	// of them (two while the secret is rotated), besides the API key.
	SegmentSecrets []string
}

// ParseSendGridKey reads SendGrid's base64 verification key (a P-256
// public key in PKIX form).
func ParseSendGridKey(b64 string) (*ecdsa.PublicKey, error) {
	der, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil {
		return nil, fmt.Errorf("SendGrid webhook key: not base64: %w", err)
	}
	key, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("SendGrid webhook key: %w", err)
	}
	ec, ok := key.(*ecdsa.PublicKey)
	if !ok {
		return nil, errors.New("SendGrid webhook key: not an ECDSA key")
	}
	return ec, nil
}

// webhookMaxAge refuses signed requests older than this: a captured
// request replayed later is turned away.
const webhookMaxAge = 10 * time.Minute

const maxWebhookBody = 5 << 20

func (s *Server) refuse(w http.ResponseWriter, provider, why string) {
	s.log().Warn("webhook refused", "provider", provider, "reason", why)
	writeJSON(w, http.StatusUnauthorized, wire.Error{Message: "the request's signature does not verify"})
}

// sendgridWebhook takes SendGrid's event webhook: signed with ECDSA over
// the timestamp and the raw body. Bounces, drops and spam reports suppress
// the address; unsubscribes leave the message's topic; deliveries, opens
// and clicks are noted on the message; and what tells of the customer's
// engagement (processed, delivered, opens, clicks, hard bounces, spam
// reports) is added to it.
func (s *Server) sendgridWebhook(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r.Body, maxWebhookBody)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	sig, ts := r.Header.Get(eventwebhook.VerificationHTTPHeader), r.Header.Get(eventwebhook.TimestampHTTPHeader)
	if s.Webhooks.SendGrid == nil {
		s.refuse(w, "sendgrid", "no SENDGRID_WEBHOOK_PUBLIC_KEY configured")
		return
	}
	if ok, err := eventwebhook.VerifySignature(s.Webhooks.SendGrid, body, sig, ts); err != nil || !ok {
		s.refuse(w, "sendgrid", "bad signature")
		return
	}
	if !fresh(ts) {
		s.refuse(w, "sendgrid", "stale timestamp")
		return
	}
	var events []map[string]any
	if err := json.Unmarshal(body, &events); err != nil {
		s.fail(w, r, &apiError{Status: http.StatusBadRequest, Message: "the body is not a JSON array of events"})
		return
	}
	ctx := r.Context()
	if at := s.sendgridFailed.Swap(nil); at != nil {
		s.noteSendGridFailure(ctx, *at)
	}
	for i, e := range events {
		e = cleanJSON(e).(map[string]any) // what SendGrid relays may hold anything
		id, _ := e["sg_event_id"].(string)
		kind, _ := e["event"].(string)
		email, _ := e["email"].(string)
		messageID, _ := e["message_id"].(string)
		if id == "" {
			continue
		}
		err := s.once(ctx, "sendgrid", id, func() ([]store.Engaged, error) { return s.sendgridEvent(ctx, e, kind, email, messageID) })
		if pe, ok := dataError(err); ok {
			// One event the database refuses must not hold back the
			// others: SendGrid would send the whole batch again, for a day.
			s.log().Error("a SendGrid event could not be stored; skipped", "index", i, "event", kind, "sqlstate", pe.Code, "error", err)
			continue
		}
		if err != nil {
			s.noteSendGridFailure(ctx, time.Now())
			s.fail(w, r, err)
			return
		}
	}
	w.WriteHeader(http.StatusOK)
}

// noteSendGridFailure records that a verified post of SendGrid's webhook
// was not taken at at: SendGrid will post it again, perhaps after later
// batches, so until then the webhook's silence about an email proves
// nothing (store.EmailEvidence). A database that cannot take it now gets
// it with the next post taken.
func (s *Server) noteSendGridFailure(ctx context.Context, at time.Time) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := s.Store.RecordWebhookFailure(ctx, "sendgrid", at); err != nil {
		if prev := s.sendgridFailed.Load(); prev == nil || prev.Before(at) {
			s.sendgridFailed.Store(&at)
		}
		s.log().Warn("could not record a failed SendGrid webhook post yet; will with the next one", "error", err)
	}
}

// sendgridEvent applies one event of SendGrid's event webhook, and
// returns what it tells of the customer's engagement, for the message's
// customer (applied once, with the note of the event: see once).
func (s *Server) sendgridEvent(ctx context.Context, e map[string]any, kind, email, messageID string) ([]store.Engaged, error) {
	var err error
	at, when := time.Now(), time.Time{} // when: the event's own time, else the store's now
	if n, ok := e["timestamp"].(float64); ok {
		at = time.Unix(int64(n), 0)
		when = at
	}
	engaged := func(k store.EngagementKind) []store.Engaged {
		if err != nil || messageID == "" {
			return nil
		}
		return []store.Engaged{{Kind: k, MessageID: messageID, At: when}}
	}
	switch kind {
	case "bounce", "dropped", "spamreport":
		bounceType, _ := e["type"].(string)
		if kind == "bounce" && bounceType == "blocked" {
			err = s.noteDelivery(ctx, messageID, "blocked", at) // a soft bounce: the address is fine
			return nil, err
		}
		reason := map[string]string{"bounce": "hard bounce", "dropped": "dropped by SendGrid", "spamreport": "spam report"}[kind]
		if why, _ := e["reason"].(string); why != "" {
			reason += ": " + why
		}
		if email != "" {
			err = s.Store.Suppress(ctx, store.Suppression{Channel: "email", Address: email, Reason: reason, Source: "sendgrid " + kind})
		}
		if err == nil {
			err = s.noteDelivery(ctx, messageID, kind, at)
		}
		switch kind {
		case "bounce":
			return engaged(store.EmailBounced), err
		case "spamreport":
			return engaged(store.EmailSpamReport), err
		}
	case "unsubscribe", "group_unsubscribe":
		err = s.leaveFromEmail(ctx, messageID, email, "sendgrid_"+kind)
	case "processed", "deferred":
		// SendGrid took the email (and may still be trying to deliver
		// it): the evidence that settles an email in doubt, and what
		// proves the webhook alive for the emails after it.
		err = s.noteDelivery(ctx, messageID, kind, at)
		if kind == "processed" {
			return engaged(store.EmailSent), err
		}
	case "delivered":
		err = s.noteDelivery(ctx, messageID, "delivered", at)
		return engaged(store.EmailDelivered), err
	case "open":
		err = s.noteDelivery(ctx, messageID, "opened", at)
		if machineOpen(e["sg_machine_open"]) {
			// Apple Mail Privacy Protection (and the like) fetched the
			// images: nobody read it.
			return engaged(store.EmailMachineOpen), err
		}
		return engaged(store.EmailOpened), err
	case "click":
		err = s.noteDelivery(ctx, messageID, "clicked", at)
		return engaged(store.EmailClicked), err
	}
	return nil, err
}

// machineOpen reads SendGrid's sg_machine_open flag of an open event: a
// JSON boolean, or the text "true".
func machineOpen(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		return strings.EqualFold(strings.TrimSpace(x), "true")
	}
	return false
}

// once applies a webhook event's effects unless they were applied
// already, then notes that they were. Noting it after the effects means a
// failure in between leaves the event to the provider's retry (every
// effect is idempotent) rather than losing it. What effects returns of a
// customer's engagement (which counts, so is not idempotent) is applied
// in the transaction that notes the event, and only by the post that
// notes it, so it counts once however often the event is delivered.
func (s *Server) once(ctx context.Context, provider, id string, effects func() ([]store.Engaged, error)) error {
	seen, err := s.Store.WebhookSeen(ctx, provider, id)
	if err != nil || seen {
		return err
	}
	engaged, err := effects()
	if err != nil {
		return err
	}
	return s.Store.RecordWebhook(ctx, provider, id, engaged...)
}

// noteDelivery records a provider's report about a message. Any report
// proves the provider took the message, so a message in doubt (unknown)
// is settled as sent: it is never sent again.
func (s *Server) noteDelivery(ctx context.Context, messageID, status string, at time.Time) error {
	if messageID == "" {
		return nil
	}
	if err := s.Store.RecordDelivery(ctx, messageID, status, at); err != nil {
		return err
	}
	m, settled, err := s.Store.SettleInDoubt(ctx, messageID, "the provider's delivery webhook ("+status+")", "")
	if err != nil {
		return err
	}
	if settled {
		s.log().Info("message in doubt settled as sent by a webhook", "message_id", m.ID, "channel", m.Channel)
		s.Metrics.SettledInDoubt(m.Channel, metrics.SettledByWebhook, metrics.SettledSent)
	}
	return nil
}

// leaveFromEmail honours an unsubscribe from the provider: the message's
// topic when the message is known, else email marketing altogether.
func (s *Server) leaveFromEmail(ctx context.Context, messageID, email, source string) error {
	ev := store.Evidence{Note: "reported by SendGrid"}
	if messageID != "" {
		if m, err := s.Store.GetMessage(ctx, messageID); err == nil && m.Topic != "" {
			_, err := s.Store.RecordTopic(ctx, m.CustomerID, m.Topic, false, source, ev)
			return err
		}
	}
	customers, err := s.Store.CustomersWithEmail(ctx, email)
	if err != nil {
		return err
	}
	for _, c := range customers {
		if _, err := s.Store.RecordConsent(ctx, c.ID, "email", "opted_out", source, ev); err != nil {
			return err
		}
	}
	return nil
}

func fresh(ts string) bool {
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return false
	}
	age := time.Since(time.Unix(n, 0))
	return age < webhookMaxAge && age > -webhookMaxAge
}

// verifyTwilio checks X-Twilio-Signature over the URL Twilio called and
// the form parameters.
func (s *Server) verifyTwilio(r *http.Request) bool {
	if s.Webhooks.TwilioAuthToken == "" {
		return false
	}
	if err := r.ParseForm(); err != nil {
		return false
	}
	params := map[string]string{}
	for k, v := range r.PostForm {
		params[k] = v[0]
	}
	u := strings.TrimRight(s.Webhooks.PublicURL, "/") + r.URL.RequestURI()
	v := client.NewRequestValidator(s.Webhooks.TwilioAuthToken)
	return v.Validate(u, params, r.Header.Get("X-Twilio-Signature"))
}

var (
	stopWords  = []string{"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPT OUT", "OPTOUT"}
	startWords = []string{"START", "UNSTOP", "YES"}
)

// twilioInbound takes text messages customers send. STOP and its synonyms
// opt the number out of SMS (and suppress it); START, UNSTOP and YES opt it
// back in; anything else is an sms.replied event for the customer's
// journeys.
func (s *Server) twilioInbound(w http.ResponseWriter, r *http.Request) {
	if !s.verifyTwilio(r) {
		s.refuse(w, "twilio", "bad signature")
		return
	}
	ctx := r.Context()
	// A reply is kept as the customer wrote it, made storable.
	from, body, sid := cleanText(r.PostForm.Get("From"), false), strings.TrimSpace(cleanText(r.PostForm.Get("Body"), true)), cleanText(r.PostForm.Get("MessageSid"), false)
	if err := s.once(ctx, "twilio", "inbound:"+sid, func() ([]store.Engaged, error) { return s.inboundSMS(ctx, from, body, sid) }); err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Response></Response>`)
}

// inboundSMS applies a text from a customer, and returns the reply it is
// for the engagement of each customer with that number (STOP, START and
// their synonyms are not replies).
func (s *Server) inboundSMS(ctx context.Context, from, body, sid string) ([]store.Engaged, error) {
	word := strings.ToUpper(strings.Join(strings.Fields(body), " "))
	customers, err := s.Store.CustomersWithPhone(ctx, from)
	if err != nil {
		return nil, err
	}
	ev := store.Evidence{Shown: "SMS reply: " + body, Note: "Twilio message " + sid}
	switch {
	case slices.Contains(stopWords, word):
		if err := s.Store.Suppress(ctx, store.Suppression{Channel: "sms", Address: from, Reason: "replied " + word, Source: "twilio inbound"}); err != nil {
			return nil, err
		}
		for _, c := range customers {
			if _, err := s.Store.RecordConsent(ctx, c.ID, "sms", "opted_out", "sms_reply", ev); err != nil {
				return nil, err
			}
		}
	case slices.Contains(startWords, word):
		if err := s.Store.Unsuppress(ctx, "sms", from); err != nil {
			return nil, err
		}
		for _, c := range customers {
			if _, err := s.Store.RecordConsent(ctx, c.ID, "sms", "opted_in", "sms_reply", ev); err != nil {
				return nil, err
			}
		}
	default:
		var engaged []store.Engaged
		for _, c := range customers {
			// The reply carries its sender, and the message it most
			// likely answers: the latest text to that number whose
			// journey is still running.
			fields := map[string]any{"body": body, "message_sid": sid, "from": from}
			open, ok, err := s.Store.OpenSMS(ctx, c.ID, from)
			if err != nil {
				return nil, err
			}
			if ok {
				fields["in_reply_to"] = map[string]any{"message_id": open.ID, "journey": open.Journey, "step": open.StepID, "workflow_id": open.WorkflowID}
			}
			data, _ := json.Marshal(fields)
			e := store.Event{ID: "sms-" + sid + "-" + c.ID, Type: "sms.replied", CustomerID: c.ID, OccurredAt: time.Now().UTC(), Data: data}
			if _, err := s.recordAndRoute(ctx, store.NewEvent{Event: e}); err != nil {
				return nil, err
			}
			engaged = append(engaged, store.Engaged{Kind: store.SMSReplied, CustomerID: c.ID})
		}
		return engaged, nil
	}
	return nil, nil
}

// twilioStatus takes Twilio's delivery reports for the messages Rapport
// sent (the outbox id is in the callback URL); a delivery is added to the
// customer's engagement.
func (s *Server) twilioStatus(w http.ResponseWriter, r *http.Request) {
	if !s.verifyTwilio(r) {
		s.refuse(w, "twilio", "bad signature")
		return
	}
	status, sid := cleanText(r.PostForm.Get("MessageStatus"), false), cleanText(r.PostForm.Get("MessageSid"), false)
	err := s.once(r.Context(), "twilio", "status:"+sid+":"+status, func() ([]store.Engaged, error) {
		if status == "" {
			return nil, nil
		}
		messageID := r.URL.Query().Get("message_id")
		if err := s.noteDelivery(r.Context(), messageID, status, time.Now()); err != nil {
			return nil, err
		}
		if status == "delivered" && messageID != "" {
			return []store.Engaged{{Kind: store.SMSDelivered, MessageID: messageID}}, nil
		}
		return nil, nil
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// lobWebhook takes Lob's tracking events, signed with HMAC-SHA256 over
// "timestamp.body". A piece returned to sender suppresses the address.
// Deliveries and returns are added to the customer's engagement.
func (s *Server) lobWebhook(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r.Body, maxWebhookBody)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ts, sig := r.Header.Get("Lob-Signature-Timestamp"), r.Header.Get("Lob-Signature")
	if s.Webhooks.LobSecret == "" {
		s.refuse(w, "lob", "no LOB_WEBHOOK_SECRET configured")
		return
	}
	mac := hmac.New(sha256.New, []byte(s.Webhooks.LobSecret))
	mac.Write([]byte(ts + "." + string(body)))
	want := hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(sig)) {
		s.refuse(w, "lob", "bad signature")
		return
	}
	if !freshLob(ts) {
		s.refuse(w, "lob", "stale timestamp")
		return
	}
	var e struct {
		ID          string `json:"id"`
		DateCreated string `json:"date_created"`
		EventType   struct {
			ID string `json:"id"`
		} `json:"event_type"`
		Body struct {
			ID       string            `json:"id"`
			Metadata map[string]string `json:"metadata"`
		} `json:"body"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.ID == "" {
		s.fail(w, r, &apiError{Status: http.StatusBadRequest, Message: "the body is not a Lob event"})
		return
	}
	ctx := r.Context()
	err = s.once(ctx, "lob", cleanText(e.ID, false), func() ([]store.Engaged, error) {
		messageID := cleanText(e.Body.Metadata["message_id"], false)
		_, status, _ := strings.Cut(cleanText(e.EventType.ID, false), ".") // letter.delivered -> delivered
		if err := s.noteDelivery(ctx, messageID, status, time.Now()); err != nil {
			return nil, err
		}
		when, _ := time.Parse(time.RFC3339, e.DateCreated) // else the store's now
		switch {
		case messageID == "":
		case status == "delivered":
			return []store.Engaged{{Kind: store.MailDelivered, MessageID: messageID, At: when}}, nil
		case status == "returned_to_sender":
			if m, err := s.Store.GetMessage(ctx, messageID); err == nil && m.Recipient != "" {
				err := s.Store.Suppress(ctx, store.Suppression{Channel: "mail", Address: m.Recipient, Reason: "returned to sender", Source: "lob"})
				if err != nil {
					return nil, err
				}
			}
			return []store.Engaged{{Kind: store.MailReturned, MessageID: messageID, At: when}}, nil
		}
		return nil, nil
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// freshLob reads Lob's timestamp (milliseconds or seconds, or RFC 3339).
func freshLob(ts string) bool {
	if n, err := strconv.ParseInt(ts, 10, 64); err == nil {
		if n > 1e12 {
			n /= 1000
		}
		return fresh(strconv.FormatInt(n, 10))
	}
	t, err := time.Parse(time.RFC3339, ts)
	return err == nil && fresh(strconv.FormatInt(t.Unix(), 10))
}
