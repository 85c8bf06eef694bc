package api

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rapporthq/rapport/internal/metrics"
	"github.com/rapporthq/rapport/internal/money"
	"github.com/rapporthq/rapport/workflows"
)

// Shopify's webhooks (POST /webhooks/shopify) come in as Shopify sends
// them and are translated at the edge into Rapport's customers, consent,
// events and erasures (docs/api.md, "Shopify"). Shopify cannot send an API
// key: the HMAC of the raw body under the app's client secret is the
// authentication. A delivery is applied once per X-Shopify-Webhook-Id,
// noted in webhook_events (provider "shopify") after its effects, which
// are each idempotent, so a failure in between is applied again when
// Shopify retries. Events are stored before the answer and routed after
// it (Shopify waits 5 seconds).

const (
	// shopifyProvider names Shopify's deliveries in webhook_events.
	shopifyProvider = "shopify"
	// ShopifyPrefix begins the Rapport id of everything that comes from
	// Shopify: customer 207119551 is shopify:207119551, order 450789469
	// shopify:450789469, product 632910392 shopify:632910392.
	ShopifyPrefix = "shopify:"
	// shopifySource is the source of the consent Shopify reports.
	shopifySource = "shopify"
	// maxShopifyTopic and maxShopDomain bound the topic and shop headers.
	maxShopifyTopic = 100
	maxShopDomain   = 255
	// maxRequestedOrders bounds the order ids a data request's event
	// lists.
	maxRequestedOrders = 100
)

var (
	shopifyTopicRe = regexp.MustCompile(`^[a-z_]+/[a-z_]+$`)
	shopDomainRe   = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$`)
)

// shopifyDelivery is one webhook delivery: its headers and raw body.
type shopifyDelivery struct {
	ID    string // X-Shopify-Webhook-Id
	Topic string // X-Shopify-Topic
	Shop  string // X-Shopify-Shop-Domain
	Body  []byte
}

// ShopifyAnswer is the answer to a Shopify webhook delivery (200).
type ShopifyAnswer struct {
	// Status is applied, duplicate (the webhook id was applied before)
	// or ignored (nothing to apply; Note says why).
	Status string `json:"status"`
	Topic  string `json:"topic"`
	// Events are the ids of the events the delivery stored (or found
	// stored).
	Events []string `json:"events,omitempty"`
	Note   string   `json:"note,omitempty"`
}

// verifyShopify reports whether sig (X-Shopify-Hmac-Sha256) is the base64
// HMAC-SHA256 of body under one of the secrets, comparing in constant
// time (every secret is tried, so the time does not say which matched).
func verifyShopify(secrets []string, body []byte, sig string) bool {
	got, err := base64.StdEncoding.DecodeString(strings.TrimSpace(sig))
	if err != nil || len(got) != sha256.Size {
		return false
	}
	ok := false
	for _, secret := range secrets {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write(body)
		if hmac.Equal(m.Sum(nil), got) {
			ok = true
		}
	}
	return ok
}

// shopifyWebhook takes Shopify's webhooks: verified, deduplicated by
// webhook id, then applied by topic. Topics Rapport does not map answer
// 200 and are counted (Shopify retries what is not 2xx for 48 hours, then
// removes the subscription).
func (s *Server) shopifyWebhook(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r.Body, maxWebhookBody)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	topic := r.Header.Get("X-Shopify-Topic")
	if len(s.Webhooks.ShopifySecrets) == 0 {
		s.Metrics.ShopifyWebhook(topic, metrics.ShopifyRefused)
		s.refuse(w, shopifyProvider, "no SHOPIFY_WEBHOOK_SECRET configured")
		return
	}
	if !verifyShopify(s.Webhooks.ShopifySecrets, body, r.Header.Get("X-Shopify-Hmac-Sha256")) {
		s.Metrics.ShopifyWebhook(topic, metrics.ShopifyRefused)
		s.refuse(w, shopifyProvider, "bad signature")
		return
	}
	d, err := shopifyHeaders(r, body)
	if err != nil {
		s.Metrics.ShopifyWebhook(topic, metrics.ShopifyInvalid)
		s.fail(w, r, err)
		return
	}
	ctx := r.Context()
	if len(s.Webhooks.ShopifyShops) > 0 && !slices.Contains(s.Webhooks.ShopifyShops, d.Shop) {
		// Another shop of the same app: not ours to apply, and answered
		// 200 so Shopify does not retry it for two days.
		s.log().Warn("Shopify webhook from a shop not in SHOPIFY_SHOP_DOMAINS ignored", "shop", d.Shop, "topic", d.Topic, "webhook_id", d.ID)
		s.Metrics.ShopifyWebhook(d.Topic, metrics.ShopifyIgnored)
		writeJSON(w, http.StatusOK, ShopifyAnswer{Status: metrics.ShopifyIgnored, Topic: d.Topic, Note: "shop " + d.Shop + " is not in SHOPIFY_SHOP_DOMAINS"})
		return
	}
	seen, err := s.Store.WebhookSeen(ctx, shopifyProvider, d.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if seen {
		s.Metrics.ShopifyWebhook(d.Topic, metrics.ShopifyDuplicate)
		writeJSON(w, http.StatusOK, ShopifyAnswer{Status: metrics.ShopifyDuplicate, Topic: d.Topic, Note: "webhook " + d.ID + " was applied before"})
		return
	}
	if err := checkDepth(body, maxDepth); err != nil {
		s.Metrics.ShopifyWebhook(d.Topic, metrics.ShopifyInvalid)
		s.fail(w, r, err)
		return
	}
	ans, err := s.applyShopify(ctx, d)
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.Status < 500 {
			s.Metrics.ShopifyWebhook(d.Topic, metrics.ShopifyInvalid)
			s.log().Warn("Shopify webhook refused", "topic", d.Topic, "webhook_id", d.ID, "field", ae.Field)
		}
		s.fail(w, r, err)
		return
	}
	if err := s.Store.RecordWebhook(ctx, shopifyProvider, d.ID); err != nil {
		s.fail(w, r, err)
		return
	}
	ans.Topic = d.Topic
	s.Metrics.ShopifyWebhook(d.Topic, ans.Status)
	writeJSON(w, http.StatusOK, ans)
}

// shopifyHeaders reads a delivery's headers, refusing one missing or
// malformed with 400 naming it.
func shopifyHeaders(r *http.Request, body []byte) (shopifyDelivery, error) {
	d := shopifyDelivery{ID: r.Header.Get("X-Shopify-Webhook-Id"), Topic: r.Header.Get("X-Shopify-Topic"),
		Shop: strings.ToLower(r.Header.Get("X-Shopify-Shop-Domain")), Body: body}
	switch {
	case d.ID == "":
		return d, badField("X-Shopify-Webhook-Id", "is required: the delivery's id, so a delivery repeated is applied once")
	case !workflows.ValidIDPart(d.ID):
		return d, badField("X-Shopify-Webhook-Id", "must be 1-128 letters, digits, _ . : or -")
	case d.Topic == "":
		return d, badField("X-Shopify-Topic", "is required, such as orders/create")
	case len(d.Topic) > maxShopifyTopic || !shopifyTopicRe.MatchString(d.Topic):
		return d, badField("X-Shopify-Topic", "must be a topic such as orders/create")
	case d.Shop == "":
		return d, badField("X-Shopify-Shop-Domain", "is required, such as tea-shop.myshopify.com")
	case len(d.Shop) > maxShopDomain || !shopDomainRe.MatchString(d.Shop):
		return d, badField("X-Shopify-Shop-Domain", "must be a domain such as tea-shop.myshopify.com")
	}
	return d, nil
}

// shopifyTopics apply each topic Rapport maps.
var shopifyTopics = map[string]func(*Server, context.Context, shopifyDelivery) (ShopifyAnswer, error){
	"orders/create":             (*Server).shopifyOrderCreated,
	"orders/paid":               (*Server).shopifyOrderChanged,
	"orders/cancelled":          (*Server).shopifyOrderChanged,
	"orders/fulfilled":          (*Server).shopifyOrderChanged,
	"refunds/create":            (*Server).shopifyRefund,
	"fulfillment_events/create": (*Server).shopifyFulfillmentEvent,
	"checkouts/create":          (*Server).shopifyCheckout,
	"checkouts/update":          (*Server).shopifyCheckout,
	"customers/create":          (*Server).shopifyCustomerChanged,
	"customers/update":          (*Server).shopifyCustomerChanged,
	"customers/redact":          (*Server).shopifyRedact,
	"customers/data_request":    (*Server).shopifyDataRequest,
	"shop/redact":               (*Server).shopifyShopRedact,
}

// applyShopify applies a delivery by its topic.
func (s *Server) applyShopify(ctx context.Context, d shopifyDelivery) (ShopifyAnswer, error) {
	apply, ok := shopifyTopics[d.Topic]
	if !ok {
		// orders/updated is among them: every edit of an order sends it,
		// and the lifecycle topics say what journeys need.
		return ignored("topic %s is not one Rapport maps; see docs/api.md, \"Shopify\"", d.Topic), nil
	}
	return apply(s, ctx, d)
}

func ignored(format string, args ...any) ShopifyAnswer {
	return ShopifyAnswer{Status: metrics.ShopifyIgnored, Note: fmt.Sprintf(format, args...)}
}

// decodeShopify reads a payload leniently (Shopify's payloads carry many
// fields Rapport does not read), refusing one whose fields are of the
// wrong type with 400 naming the field.
func decodeShopify(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	err := dec.Decode(v)
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return &apiError{Status: http.StatusBadRequest, Message: "the body is empty or ends in the middle of a JSON value; Shopify sends a JSON object"}
	case errors.As(err, &syntax):
		return &apiError{Status: http.StatusBadRequest, Message: fmt.Sprintf("the body is not valid JSON at byte %d: %v", syntax.Offset, err)}
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "body"
		}
		if v, ok := strings.CutPrefix(typ.Value, notAmount); ok {
			return badField(field, "must be an amount as a decimal string such as \"24.50\", not %s", v)
		}
		return badField(field, "must be %s, not %s", describeKind(typ.Type.Kind().String()), typ.Value)
	}
	return &apiError{Status: http.StatusBadRequest, Message: "could not read the body: " + err.Error()}
}

// shopifyID is one of Shopify's numeric ids, sent as a JSON number (or, in
// places, a string of digits); 0 when absent.
type shopifyID int64

func (id *shopifyID) UnmarshalJSON(b []byte) error {
	s := string(bytes.Trim(b, `"`))
	if s == "null" || s == "" {
		*id = 0
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return &json.UnmarshalTypeError{Value: "not a whole number " + short(s), Type: reflect.TypeOf(int64(0))}
	}
	*id = shopifyID(n)
	return nil
}

// shopifyAmount is an amount of money as Shopify sends it, a decimal
// string ("24.50"), read exactly.
type shopifyAmount = *shopifyMoney

type shopifyMoney struct{ money.Amount }

// notAmount begins the Value of the type error for what is not an amount.
const notAmount = "amount: "

func (a *shopifyMoney) UnmarshalJSON(b []byte) error {
	if err := a.Amount.UnmarshalJSON(b); err != nil {
		return &json.UnmarshalTypeError{Value: notAmount + short(string(b)), Type: reflect.TypeOf("")}
	}
	return nil
}

// amount is the amount, or nil when it was not given.
func (a *shopifyMoney) amount() *money.Amount {
	if a == nil {
		return nil
	}
	return &a.Amount
}

// rapport is the Rapport id of a Shopify id: shopify:207119551.
func (id shopifyID) rapport() string { return ShopifyPrefix + strconv.FormatInt(int64(id), 10) }

// ref is the Rapport id of a Shopify thing of a kind without one of its
// own in Rapport: shopify:refund:1234.
func (id shopifyID) ref(kind string) string {
	return ShopifyPrefix + kind + ":" + strconv.FormatInt(int64(id), 10)
}

// notAfter is t, or now when t is unset or after now (a clock ahead).
func notAfter(t *time.Time, now time.Time) time.Time {
	if t == nil || t.IsZero() || t.After(now) {
		return now
	}
	return t.UTC()
}
