package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/rapporthq/rapport/internal/api/wire"
	"github.com/rapporthq/rapport/internal/metrics"
	"github.com/rapporthq/rapport/internal/money"
	"github.com/rapporthq/rapport/internal/policy"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

// The payloads, as Shopify's REST webhook payloads document them: only the
// fields Rapport reads. Money is a decimal string ("24.50"), read exactly.

type shopifyCustomer struct {
	ID             shopifyID       `json:"id"`
	Email          string          `json:"email"`
	Phone          string          `json:"phone"`
	FirstName      string          `json:"first_name"`
	LastName       string          `json:"last_name"`
	Locale         string          `json:"locale"`
	DefaultAddress *shopifyAddress `json:"default_address"`
	EmailConsent   *shopifyConsent `json:"email_marketing_consent"`
	SMSConsent     *shopifyConsent `json:"sms_marketing_consent"`
}

type shopifyAddress struct {
	FirstName    string `json:"first_name"`
	LastName     string `json:"last_name"`
	Address1     string `json:"address1"`
	Address2     string `json:"address2"`
	City         string `json:"city"`
	ProvinceCode string `json:"province_code"`
	Zip          string `json:"zip"`
	CountryCode  string `json:"country_code"`
}

type shopifyConsent struct {
	State                string     `json:"state"`
	OptInLevel           string     `json:"opt_in_level"`
	ConsentUpdatedAt     *time.Time `json:"consent_updated_at"`
	ConsentCollectedFrom string     `json:"consent_collected_from"`
}

type shopifyLineItem struct {
	ID        shopifyID     `json:"id"`
	ProductID shopifyID     `json:"product_id"`
	Title     string        `json:"title"`
	Name      string        `json:"name"`
	Quantity  int64         `json:"quantity"`
	Price     shopifyAmount `json:"price"`
}

type shopifyOrder struct {
	ID             shopifyID         `json:"id"`
	Name           string            `json:"name"` // "#1001"
	Email          string            `json:"email"`
	Phone          string            `json:"phone"`
	CreatedAt      *time.Time        `json:"created_at"`
	UpdatedAt      *time.Time        `json:"updated_at"`
	CancelledAt    *time.Time        `json:"cancelled_at"`
	CancelReason   string            `json:"cancel_reason"`
	Currency       string            `json:"currency"`
	TotalPrice     shopifyAmount     `json:"total_price"`
	CustomerLocale string            `json:"customer_locale"`
	Customer       *shopifyCustomer  `json:"customer"`
	LineItems      []shopifyLineItem `json:"line_items"`
	BillingAddress *shopifyAddress   `json:"billing_address"`
}

type shopifyCheckout struct {
	ID                   shopifyID         `json:"id"`
	Token                string            `json:"token"`
	Email                string            `json:"email"`
	AbandonedCheckoutURL string            `json:"abandoned_checkout_url"`
	Currency             string            `json:"currency"`
	TotalPrice           shopifyAmount     `json:"total_price"`
	CompletedAt          *time.Time        `json:"completed_at"`
	CreatedAt            *time.Time        `json:"created_at"`
	UpdatedAt            *time.Time        `json:"updated_at"`
	CustomerLocale       string            `json:"customer_locale"`
	Customer             *shopifyCustomer  `json:"customer"`
	LineItems            []shopifyLineItem `json:"line_items"`
}

type shopifyRefund struct {
	ID           shopifyID  `json:"id"`
	OrderID      shopifyID  `json:"order_id"`
	CreatedAt    *time.Time `json:"created_at"`
	Transactions []struct {
		Amount   shopifyAmount `json:"amount"`
		Currency string        `json:"currency"`
		Kind     string        `json:"kind"`
		Status   string        `json:"status"`
	} `json:"transactions"`
}

type shopifyFulfillmentEvent struct {
	ID         shopifyID  `json:"id"`
	OrderID    shopifyID  `json:"order_id"`
	Status     string     `json:"status"`
	HappenedAt *time.Time `json:"happened_at"`
}

type shopifyPrivacy struct {
	ShopID     shopifyID `json:"shop_id"`
	ShopDomain string    `json:"shop_domain"`
	Customer   struct {
		ID shopifyID `json:"id"`
	} `json:"customer"`
	OrdersRequested []shopifyID `json:"orders_requested"`
	DataRequest     struct {
		ID shopifyID `json:"id"`
	} `json:"data_request"`
}

// shopifyOrderCreated maps orders/create to order.placed: the customer
// created (or their details filled in) first, their consent as the order
// gives it, then the order with its line items as the order's items.
func (s *Server) shopifyOrderCreated(ctx context.Context, d shopifyDelivery) (ShopifyAnswer, error) {
	o, customerID, note, err := s.readShopifyOrder(ctx, d)
	if err != nil || note != "" {
		return ignored("%s", note), err
	}
	now := time.Now().UTC()
	order := wire.Order{ID: o.ID.rapport(), Total: o.TotalPrice.amount(), Currency: o.Currency}
	var where []int // index in line_items of each item
	for i, li := range o.LineItems {
		if li.Quantity < 1 { // removed by an edit
			continue
		}
		q := float64(li.Quantity)
		product := li.ProductID.rapport()
		if li.ProductID == 0 { // a custom line, of no product
			product = li.ID.ref("line")
		}
		order.Items = append(order.Items, wire.Item{ProductID: product, Name: lineName(li), Quantity: &q, Price: li.Price.amount()})
		where = append(where, i)
	}
	if len(order.Items) == 0 {
		return ignored("order %s has no line items left", o.ID.rapport()), nil
	}
	placed := notAfter(o.CreatedAt, now)
	stored, err := checkOrder(order, "", customerID, placed)
	if err != nil {
		return ShopifyAnswer{}, shopifyOrderField(err, where)
	}
	data := map[string]any{"order": canonicalOrder(stored), "source": shopifySource, "shop": d.Shop}
	if name := clip(cleanText(o.Name, false), maxRef); name != "" {
		data["order_name"] = name
	}
	return s.shopifyEvents(ctx, shopifyEvent{id: o.ID.rapport() + ":placed", typ: "order.placed", customer: customerID, at: placed, data: data})
}

// readShopifyOrder reads the payload of an order topic, refusing one
// without an id, and makes sure the customer it names exists in Rapport
// (shopifyOrderCustomer): it returns the order and their id, or a note
// saying why there is no customer to use.
func (s *Server) readShopifyOrder(ctx context.Context, d shopifyDelivery) (o shopifyOrder, customerID, note string, err error) {
	if err := decodeShopify(d.Body, &o); err != nil {
		return o, "", "", err
	}
	if o.ID == 0 {
		return o, "", "", badField("id", "is required: the order's id")
	}
	customerID, note, err = s.shopifyOrderCustomer(ctx, d, o.Customer, o.Email, o.Phone, o.CustomerLocale, o.BillingAddress)
	return o, customerID, note, err
}

// lineName is a line item's name: "Teapot - Blue", else its title, on one
// line of at most maxName characters.
func lineName(li shopifyLineItem) string {
	name := li.Name
	if strings.TrimSpace(name) == "" {
		name = li.Title
	}
	name = clip(strings.TrimSpace(cleanText(name, false)), maxName)
	if name == "" {
		return "item"
	}
	return name
}

// clip shortens s to at most n characters.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// shopifyOrderField names a field of an order refused by checkOrder as
// Shopify's payload names it: items[1].price is line_items[k].price, k
// the line's index in the payload.
func shopifyOrderField(err error, where []int) error {
	var ae *apiError
	if !errors.As(err, &ae) {
		return err
	}
	field := ae.Field
	switch {
	case field == "total":
		field = "total_price"
	case strings.HasPrefix(field, "items["):
		field = "line_items"
		if end := strings.IndexByte(ae.Field, ']'); end > 0 {
			if i, err := strconv.Atoi(ae.Field[len("items["):end]); err == nil && i >= 0 && i < len(where) {
				field = fmt.Sprintf("line_items[%d]%s", where[i], ae.Field[end+1:])
			}
		}
	case field == "items":
		field = "line_items"
	}
	renamed := *ae
	renamed.Field, renamed.Message = field, field+strings.TrimPrefix(ae.Message, ae.Field)
	return &renamed
}

// shopifyOrderChanged maps orders/paid (order.paid), orders/cancelled
// (order.cancelled) and orders/fulfilled (order.fulfilled): events naming
// the order by its Rapport id, which move it through its lifecycle.
func (s *Server) shopifyOrderChanged(ctx context.Context, d shopifyDelivery) (ShopifyAnswer, error) {
	o, customerID, note, err := s.readShopifyOrder(ctx, d)
	if err != nil || note != "" {
		return ignored("%s", note), err
	}
	now := time.Now().UTC()
	data := map[string]any{"order_id": o.ID.rapport(), "source": shopifySource, "shop": d.Shop}
	var typ, suffix string
	at := notAfter(o.UpdatedAt, now)
	switch d.Topic {
	case "orders/paid":
		typ, suffix = "order.paid", ":paid"
		if o.TotalPrice != nil && currencyRe.MatchString(o.Currency) {
			total, err := checkAmount("total_price", o.TotalPrice.Amount, o.Currency)
			if err != nil {
				return ShopifyAnswer{}, err
			}
			data["total"], data["currency"] = total, o.Currency
		}
	case "orders/cancelled":
		typ, suffix = store.EventOrderCancelled, ":cancelled"
		at = notAfter(o.CancelledAt, now)
		if r := clip(cleanText(o.CancelReason, false), maxReason); r != "" {
			data["reason"] = r
		}
	default: // orders/fulfilled
		typ, suffix = store.EventOrderFulfilled, ":fulfilled"
	}
	return s.shopifyEvents(ctx, shopifyEvent{id: o.ID.rapport() + suffix, typ: typ, customer: customerID, at: at, data: data})
}

// shopifyRefund maps refunds/create to order.refunded with the amount its
// successful refund transactions add up to: the order becomes
// partly_refunded, or refunded once the refunds reach its total.
func (s *Server) shopifyRefund(ctx context.Context, d shopifyDelivery) (ShopifyAnswer, error) {
	var rf shopifyRefund
	if err := decodeShopify(d.Body, &rf); err != nil {
		return ShopifyAnswer{}, err
	}
	switch {
	case rf.ID == 0:
		return ShopifyAnswer{}, badField("id", "is required: the refund's id")
	case rf.OrderID == 0:
		return ShopifyAnswer{}, badField("order_id", "is required: the refunded order's id")
	case len(rf.Transactions) > maxItems:
		return ShopifyAnswer{}, badField("transactions", "lists %d transactions; at most %s are read", len(rf.Transactions), count(maxItems))
	}
	order, note, err := s.shopifyKnownOrder(ctx, rf.OrderID)
	if err != nil || note != "" {
		return ignored("%s", note), err
	}
	amount := money.MustParse("0")
	currency := ""
	for i, t := range rf.Transactions {
		if t.Kind != "refund" || t.Status != "success" || t.Amount == nil {
			continue
		}
		field := fmt.Sprintf("transactions[%d]", i)
		if currency != "" && t.Currency != currency {
			return ShopifyAnswer{}, badField(field+".currency", "is %s, but an earlier transaction's is %s", short(t.Currency), currency)
		}
		currency = t.Currency
		a, err := checkAmount(field+".amount", t.Amount.Amount, "")
		if err != nil {
			return ShopifyAnswer{}, err
		}
		amount = amount.Add(a)
	}
	if amount.Sign() == 0 {
		return ignored("refund %s returns no money (a restock, say); the order is unchanged", rf.ID.rapport()), nil
	}
	data := map[string]any{"order_id": order.ID, "amount": amount, "source": shopifySource, "shop": d.Shop}
	if currency != "" {
		if !currencyRe.MatchString(currency) {
			return ShopifyAnswer{}, badField("transactions[].currency", "must be a three-letter currency code such as EUR")
		}
		data["currency"] = currency
	}
	return s.shopifyEvents(ctx, shopifyEvent{id: rf.ID.ref("refund"), typ: store.EventOrderRefunded,
		customer: order.CustomerID, at: notAfter(rf.CreatedAt, time.Now().UTC()), data: data})
}

// shopifyFulfillmentEvent maps fulfillment_events/create with status
// delivered to order.delivered; other statuses (in transit, out for
// delivery...) are ignored.
func (s *Server) shopifyFulfillmentEvent(ctx context.Context, d shopifyDelivery) (ShopifyAnswer, error) {
	var fe shopifyFulfillmentEvent
	if err := decodeShopify(d.Body, &fe); err != nil {
		return ShopifyAnswer{}, err
	}
	switch {
	case fe.ID == 0:
		return ShopifyAnswer{}, badField("id", "is required: the fulfillment event's id")
	case fe.OrderID == 0:
		return ShopifyAnswer{}, badField("order_id", "is required: the order's id")
	case fe.Status != "delivered":
		return ignored("fulfillment status %s is not delivered", short(fe.Status)), nil
	}
	order, note, err := s.shopifyKnownOrder(ctx, fe.OrderID)
	if err != nil || note != "" {
		return ignored("%s", note), err
	}
	return s.shopifyEvents(ctx, shopifyEvent{id: fe.ID.ref("fulfillment_event"), typ: store.EventOrderDelivered,
		customer: order.CustomerID, at: notAfter(fe.HappenedAt, time.Now().UTC()),
		data: map[string]any{"order_id": order.ID, "source": shopifySource, "shop": d.Shop}})
}

// shopifyKnownOrder finds the Rapport order of a Shopify order id, and its
// customer; note says why there is none to change.
func (s *Server) shopifyKnownOrder(ctx context.Context, id shopifyID) (store.Order, string, error) {
	o, err := s.Store.GetOrder(ctx, id.rapport())
	if errors.Is(err, store.ErrNotFound) {
		return o, fmt.Sprintf("order %s is not known to Rapport (its orders/create was not received, or it was erased)", id.rapport()), nil
	}
	if err != nil {
		return o, "", err
	}
	if erased, err := s.Store.Erased(ctx, o.CustomerID); err != nil || erased {
		return o, "the order's customer was erased", err
	}
	return o, "", nil
}

// shopifyCheckout maps checkouts/create and checkouts/update to
// cart.abandoned, the event abandoned-cart journeys start on (they wait,
// and an order.placed ends them): the checkout's items, total and
// recovery link (data.recovery_url, Shopify's abandoned_checkout_url).
// The event's id is the checkout's, so a checkout starts one journey
// however often it is updated; the first delivery that names a customer
// is the one stored. A completed checkout is ignored (its order follows).
func (s *Server) shopifyCheckout(ctx context.Context, d shopifyDelivery) (ShopifyAnswer, error) {
	var c shopifyCheckout
	if err := decodeShopify(d.Body, &c); err != nil {
		return ShopifyAnswer{}, err
	}
	switch {
	case c.Token == "":
		return ShopifyAnswer{}, badField("token", "is required: the checkout's token")
	case !workflows.ValidIDPart(c.Token):
		return ShopifyAnswer{}, badField("token", "must be 1-128 letters, digits, _ . : or -")
	case c.CompletedAt != nil:
		return ignored("checkout %s is completed; its order follows", c.Token), nil
	case len(c.LineItems) > maxItems:
		return ShopifyAnswer{}, badField("line_items", "lists %d items; a checkout has at most %s", len(c.LineItems), count(maxItems))
	}
	var customerID string
	if c.Customer != nil && c.Customer.ID != 0 {
		id, note, err := s.shopifyOrderCustomer(ctx, d, c.Customer, c.Email, "", c.CustomerLocale, nil)
		if err != nil || note != "" {
			return ignored("%s", note), err
		}
		customerID = id
	} else if c.Email != "" {
		// A guest checkout: the customer Rapport knows by that address,
		// when exactly one has it.
		found, err := s.Store.CustomersWithEmail(ctx, c.Email)
		if err != nil {
			return ShopifyAnswer{}, err
		}
		if len(found) != 1 {
			return ignored("checkout %s names no customer, and its email address is not exactly one customer's", c.Token), nil
		}
		customerID = found[0].ID
		if erased, err := s.Store.Erased(ctx, customerID); err != nil || erased {
			return ignored("the checkout's customer was erased"), err
		}
	} else {
		return ignored("checkout %s names no customer yet", c.Token), nil
	}
	if !currencyRe.MatchString(c.Currency) {
		return ShopifyAnswer{}, badField("currency", "must be a three-letter currency code such as EUR, not %q", short(c.Currency))
	}
	items := []map[string]any{}
	for i, li := range c.LineItems {
		if li.Quantity < 1 {
			continue
		}
		item := map[string]any{"product_id": li.ProductID.rapport(), "name": lineName(li), "quantity": li.Quantity}
		if li.ProductID == 0 {
			item["product_id"] = li.ID.ref("line")
		}
		if li.Price != nil {
			p, err := checkAmount(fmt.Sprintf("line_items[%d].price", i), li.Price.Amount, c.Currency)
			if err != nil {
				return ShopifyAnswer{}, err
			}
			item["price"] = p
		}
		items = append(items, item)
	}
	if len(items) == 0 {
		return ignored("checkout %s has no items", c.Token), nil
	}
	data := map[string]any{"checkout_id": c.Token, "items": items, "currency": c.Currency, "source": shopifySource, "shop": d.Shop}
	if c.TotalPrice != nil {
		total, err := checkAmount("total_price", c.TotalPrice.Amount, c.Currency)
		if err != nil {
			return ShopifyAnswer{}, err
		}
		data["total"] = total
	}
	if u := recoveryURL(c.AbandonedCheckoutURL); u != "" {
		data["recovery_url"] = u
	}
	return s.shopifyEvents(ctx, shopifyEvent{id: ShopifyPrefix + "checkout:" + c.Token, typ: "cart.abandoned", customer: customerID,
		at: notAfter(c.CreatedAt, time.Now().UTC()), data: data})
}

// recoveryURL is an abandoned checkout's link when it is an https URL of
// at most maxURL characters, else "".
func recoveryURL(raw string) string {
	if raw == "" || len(raw) > maxURL || strings.IndexFunc(raw, isControl) >= 0 {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return ""
	}
	return raw
}

// shopifyCustomerChanged maps customers/create and customers/update: the
// customer created or their details updated (what Shopify leaves empty is
// kept), and their email and SMS marketing consent recorded with
// Shopify's evidence.
func (s *Server) shopifyCustomerChanged(ctx context.Context, d shopifyDelivery) (ShopifyAnswer, error) {
	var c shopifyCustomer
	if err := decodeShopify(d.Body, &c); err != nil {
		return ShopifyAnswer{}, err
	}
	if c.ID == 0 {
		return ShopifyAnswer{}, badField("id", "is required: the customer's id")
	}
	id, note, err := s.shopifyOrderCustomer(ctx, d, &c, "", "", c.Locale, nil)
	if err != nil || note != "" {
		return ignored("%s", note), err
	}
	return ShopifyAnswer{Status: metrics.ShopifyApplied, Note: "customer " + id}, nil
}

// shopifyOrderCustomer makes sure the customer a payload names exists in
// Rapport, with the details it gives, records the shop they came from
// (the first shop to name them keeps them: shop/redact erases by it) and
// their consent; it
// returns their id, or a note saying why there is none to use (no
// customer, or one erased: an erased customer is not registered again by
// a webhook, which may be a late retry; POST /v1/customers does that).
func (s *Server) shopifyOrderCustomer(ctx context.Context, d shopifyDelivery, c *shopifyCustomer, email, phone, locale string, addr *shopifyAddress) (string, string, error) {
	if c == nil || c.ID == 0 {
		return "", "the payload names no customer", nil
	}
	id := c.ID.rapport()
	erased, err := s.Store.Erased(ctx, id)
	if err != nil || erased {
		return "", "customer " + id + " was erased; a webhook does not register them again", err
	}
	req := wire.CustomerRequest{ID: id, Email: strings.TrimSpace(c.Email), Phone: strings.TrimSpace(c.Phone),
		Name:   clip(strings.TrimSpace(cleanText(strings.TrimSpace(c.FirstName)+" "+strings.TrimSpace(c.LastName), false)), maxName),
		Locale: strings.TrimSpace(locale)}
	if req.Email == "" {
		req.Email = strings.TrimSpace(email)
	}
	if req.Phone == "" {
		req.Phone = strings.TrimSpace(phone)
	}
	if a := c.DefaultAddress; a != nil {
		addr = a
	}
	if addr != nil && addr.Address1 != "" {
		req.Address = &wire.AddressRequest{Line1: cleanText(addr.Address1, false), Line2: cleanText(addr.Address2, false), City: cleanText(addr.City, false),
			State: cleanText(addr.ProvinceCode, false), PostalCode: cleanText(addr.Zip, false), Country: strings.ToUpper(addr.CountryCode)}
		if req.Name == "" {
			req.Name = clip(strings.TrimSpace(cleanText(addr.FirstName+" "+addr.LastName, false)), maxName)
		}
	}
	if err := s.saveShopifyCustomer(ctx, req); err != nil {
		return "", "", err
	}
	if err := s.Store.SetShopifyShop(ctx, id, d.Shop); err != nil {
		return "", "", err
	}
	note := fmt.Sprintf("Shopify %s webhook %s from %s", d.Topic, d.ID, d.Shop)
	for _, ch := range []struct {
		channel string
		consent *shopifyConsent
	}{{string(policy.Email), c.EmailConsent}, {string(policy.SMS), c.SMSConsent}} {
		if err := s.shopifyConsent(ctx, id, ch.channel, ch.consent, note); err != nil {
			return "", "", err
		}
	}
	return id, "", nil
}

// saveShopifyCustomer creates the customer, or updates the details
// Shopify gives of one Rapport knows (keeping what it leaves empty, and
// their attributes). A detail Rapport would refuse (an address Lob would
// not take, a phone number that is not one) is left out rather than
// losing the whole webhook.
func (s *Server) saveShopifyCustomer(ctx context.Context, req wire.CustomerRequest) error {
	var c store.Customer
	for range 8 {
		var err error
		if c, err = validateCustomer(&req); err == nil {
			break
		}
		var ae *apiError
		if !errors.As(err, &ae) {
			return err
		}
		switch f := ae.Field; {
		case f == "email":
			req.Email = ""
		case f == "phone":
			req.Phone = ""
		case f == "locale":
			req.Locale = ""
		case f == "name":
			req.Name, req.Address = "", nil
		case strings.HasPrefix(f, "address"):
			req.Address = nil
		default:
			return err
		}
	}
	old, err := s.Store.GetCustomer(ctx, c.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		_, err = s.Store.UpsertCustomer(ctx, c)
		return err
	case err != nil:
		return err
	}
	merged := old
	if c.Email != "" {
		merged.Email = c.Email
	}
	if c.Phone != "" {
		merged.Phone, merged.PhoneE164 = c.Phone, c.PhoneE164
	}
	if c.Name != "" {
		merged.Name = c.Name
	}
	if c.Locale != "" {
		merged.Locale = c.Locale
	}
	if c.Address.Line1 != "" {
		merged.Address = c.Address
	}
	if merged.Email == old.Email && merged.Phone == old.Phone && merged.Name == old.Name && merged.Locale == old.Locale && merged.Address == old.Address {
		return nil
	}
	_, err = s.Store.UpsertCustomer(ctx, merged)
	return err
}

// shopifyStates maps Shopify's marketing consent states to Rapport's:
// subscribed is an opt-in; unsubscribed (and redacted) an opt-out;
// not_subscribed, pending (a double opt-in not confirmed yet) and invalid
// leave it unknown.
var shopifyStates = map[string]policy.Consent{
	"subscribed":     policy.OptedIn,
	"unsubscribed":   policy.OptedOut,
	"redacted":       policy.OptedOut,
	"not_subscribed": policy.Unknown,
	"pending":        policy.Unknown,
	"invalid":        policy.Unknown,
}

// shopifyConsent records a customer's marketing consent on a channel as
// Shopify reports it, with its evidence (Shopify's state, opt-in level,
// when and where it was collected), unless what Rapport holds is newer:
// a change recorded in Rapport (the preference center, an unsubscribe)
// after Shopify's consent_updated_at, or a Shopify consent updated later
// (webhooks may arrive out of order). A consent without
// consent_updated_at is recorded only where Rapport holds none.
func (s *Server) shopifyConsent(ctx context.Context, customerID, channel string, c *shopifyConsent, note string) error {
	if c == nil {
		return nil
	}
	state, ok := shopifyStates[strings.ToLower(c.State)]
	if !ok {
		return nil
	}
	prefs, err := s.Store.GetPreferences(ctx, customerID)
	if err != nil {
		return err
	}
	if cur, ok := prefs.Consent[channel]; ok {
		if c.ConsentUpdatedAt == nil {
			return nil
		}
		last := cur.RecordedAt
		if cur.Source == shopifySource && cur.Evidence.ChangedAt != nil {
			last = *cur.Evidence.ChangedAt
		}
		if !c.ConsentUpdatedAt.After(last) {
			return nil
		}
	}
	ev := store.Evidence{Note: clip(note, maxShown), ExternalState: clip(cleanText(c.State, false), maxSource),
		OptInLevel: clip(cleanText(c.OptInLevel, false), maxSource), CollectedFrom: clip(cleanText(c.ConsentCollectedFrom, false), maxSource)}
	if c.ConsentUpdatedAt != nil {
		at := c.ConsentUpdatedAt.UTC()
		ev.ChangedAt = &at
	}
	_, err = s.Store.RecordConsent(ctx, customerID, channel, string(state), shopifySource, ev)
	return err
}

// shopifyRedact maps customers/redact (the shop owner asked, for a
// customer, that their data be deleted) to Rapport's erasure, as DELETE
// /v1/customers/{id} does: recorded (their events refused from then on),
// then the erasure workflow started. When Temporal cannot take it, the
// answer is 503 and Shopify's retry resumes it.
func (s *Server) shopifyRedact(ctx context.Context, d shopifyDelivery) (ShopifyAnswer, error) {
	var p shopifyPrivacy
	if err := decodeShopify(d.Body, &p); err != nil {
		return ShopifyAnswer{}, err
	}
	if p.Customer.ID == 0 {
		return ShopifyAnswer{}, badField("customer.id", "is required: the customer to redact")
	}
	id := p.Customer.ID.rapport()
	switch _, err := s.Store.GetCustomer(ctx, id); {
	case errors.Is(err, store.ErrNotFound):
		return ignored("Rapport holds no customer %s (never received, or erased already)", id), nil
	case err != nil:
		return ShopifyAnswer{}, err
	}
	if !s.Store.CanErase() {
		return ShopifyAnswer{}, &apiError{Status: http.StatusServiceUnavailable, Message: store.ErrNoHashKey.Error()}
	}
	if s.Temporal == nil {
		return ShopifyAnswer{}, &apiError{Status: http.StatusServiceUnavailable, Message: "erasure needs Temporal, and this API has no connection to it"}
	}
	hash, err := s.Store.CustomerHash(id)
	if err != nil {
		return ShopifyAnswer{}, err
	}
	er, _, err := s.Store.BeginErasure(ctx, id, workflows.EraseWorkflowID(hash), "shopify "+d.Shop,
		fmt.Sprintf("Shopify customers/redact webhook %s from %s", d.ID, d.Shop))
	if err != nil {
		return ShopifyAnswer{}, err
	}
	if err := s.startErasure(ctx, id, er); err != nil {
		s.log().Warn("erasure recorded, its workflow not started; Shopify will retry", "erasure_id", er.ID, "error", err)
		return ShopifyAnswer{}, &apiError{Status: http.StatusServiceUnavailable, Message: "the erasure is recorded but could not start: Temporal did not answer; Shopify's retry resumes it"}
	}
	s.log().Info("Shopify customers/redact: erasure begun", "customer_id", id, "erasure_id", er.ID, "shop", d.Shop)
	return ShopifyAnswer{Status: metrics.ShopifyApplied, Note: fmt.Sprintf("erasure %d of customer %s begun", er.ID, id)}, nil
}

// shopifyDataRequest maps customers/data_request (a customer asked the
// shop owner for their data): recorded as the event
// privacy.data_requested on the customer, which a journey may turn into a
// staff task, and logged; the export itself is GET
// /v1/customers/{id}/export (rapport customers export), for the shop
// owner to give the customer. Rapport sends nothing to Shopify.
func (s *Server) shopifyDataRequest(ctx context.Context, d shopifyDelivery) (ShopifyAnswer, error) {
	var p shopifyPrivacy
	if err := decodeShopify(d.Body, &p); err != nil {
		return ShopifyAnswer{}, err
	}
	switch {
	case p.Customer.ID == 0:
		return ShopifyAnswer{}, badField("customer.id", "is required: the customer whose data is requested")
	case p.DataRequest.ID == 0:
		return ShopifyAnswer{}, badField("data_request.id", "is required: the request's id")
	}
	id := p.Customer.ID.rapport()
	switch _, err := s.Store.GetCustomer(ctx, id); {
	case errors.Is(err, store.ErrNotFound):
		s.log().Info("Shopify customers/data_request for a customer Rapport does not hold: nothing to export", "customer_id", id, "data_request", int64(p.DataRequest.ID), "shop", d.Shop)
		return ignored("Rapport holds no customer %s: nothing to export", id), nil
	case err != nil:
		return ShopifyAnswer{}, err
	}
	orders := []string{}
	for _, o := range p.OrdersRequested[:min(len(p.OrdersRequested), maxRequestedOrders)] {
		orders = append(orders, o.rapport())
	}
	s.log().Info("Shopify customers/data_request: export the customer's data for the shop owner (rapport customers export)", "customer_id", id, "data_request", int64(p.DataRequest.ID), "shop", d.Shop)
	return s.shopifyEvents(ctx, shopifyEvent{id: p.DataRequest.ID.ref("data_request"), typ: "privacy.data_requested",
		customer: id, at: time.Now().UTC(), data: map[string]any{"source": shopifySource, "shop": d.Shop,
			"data_request_id": p.DataRequest.ID.rapport(), "orders_requested": orders}})
}

// shopifyShopRedact maps shop/redact (sent 48 hours after the shop
// uninstalled the app) to the erasure of the customers that came from
// that shop: recorded (store.BeginShopRedaction, once per delivery), then
// the redaction workflow started, which begins each customer's erasure
// as DELETE /v1/customers/{id} does. The shop is the body's shop_domain,
// which the signature covers, and must be the delivery's. The customers
// are those recorded as coming from the shop (store.SetShopifyShop) and,
// when SHOPIFY_SHOP_DOMAINS names this shop alone, the Shopify customers
// of no recorded shop; never another shop's, nor a customer that did not
// come from Shopify. When Temporal cannot take it the answer is 503 and
// Shopify's retry resumes it.
func (s *Server) shopifyShopRedact(ctx context.Context, d shopifyDelivery) (ShopifyAnswer, error) {
	p, shop, err := readShopRedact(d)
	if err != nil {
		return ShopifyAnswer{}, err
	}
	if !s.Store.CanErase() {
		return ShopifyAnswer{}, &apiError{Status: http.StatusServiceUnavailable, Message: store.ErrNoHashKey.Error()}
	}
	if s.Temporal == nil {
		return ShopifyAnswer{}, &apiError{Status: http.StatusServiceUnavailable, Message: "erasure needs Temporal, and this API has no connection to it"}
	}
	only := s.Webhooks.ShopifyShops
	red, err := s.Store.BeginShopRedaction(ctx, store.ShopRedaction{Shop: shop, ShopID: int64(p.ShopID), WebhookID: d.ID,
		WorkflowID: workflows.ShopRedactWorkflowID(d.ID), AllUnattributed: len(only) == 1 && only[0] == shop})
	if err != nil {
		return ShopifyAnswer{}, err
	}
	if err := s.startShopRedaction(ctx, red); err != nil {
		s.log().Warn("Shopify shop/redact recorded, its workflow not started; Shopify will retry", "redaction_id", red.ID, "shop", shop, "error", err)
		return ShopifyAnswer{}, &apiError{Status: http.StatusServiceUnavailable, Message: "the shop's redaction is recorded but could not start: Temporal did not answer; Shopify's retry resumes it"}
	}
	whose := "the customers that came from " + shop
	if red.AllUnattributed {
		whose += ", and every Shopify customer of no recorded shop (SHOPIFY_SHOP_DOMAINS names this shop alone)"
	}
	s.log().Warn("Shopify shop/redact: the shop uninstalled the app 48 hours ago; erasing its customers", "shop", shop, "redaction_id", red.ID,
		"workflow_id", red.WorkflowID, "all_unattributed", red.AllUnattributed, "webhook_id", d.ID)
	return ShopifyAnswer{Status: metrics.ShopifyApplied, Note: fmt.Sprintf("shop redaction %d begun (workflow %s): erasing %s", red.ID, red.WorkflowID, whose)}, nil
}

// readShopRedact reads a shop/redact payload and the shop it names,
// which must be the shop the delivery comes from: the header is not
// signed, the body is.
func readShopRedact(d shopifyDelivery) (p shopifyPrivacy, shop string, err error) {
	if err := decodeShopify(d.Body, &p); err != nil {
		return p, "", err
	}
	shop = strings.ToLower(strings.TrimSpace(p.ShopDomain))
	switch {
	case shop == "":
		return p, "", badField("shop_domain", "is required: the shop whose data is to be erased")
	case shop != d.Shop:
		return p, "", badField("shop_domain", "is %s, but the delivery is from %s (X-Shopify-Shop-Domain): the signed body must name the shop it comes from", short(shop), d.Shop)
	}
	return p, shop, nil
}

// startShopRedaction starts a shop redaction's workflow, or finds it
// running: its id is the delivery's, so Shopify's retries start one.
func (s *Server) startShopRedaction(ctx context.Context, red store.ShopRedaction) error {
	_, err := s.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       red.WorkflowID,
		TaskQueue:                workflows.TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		StaticSummary:            "erase the customers of Shopify shop " + red.Shop,
	}, workflows.ShopRedactWorkflowName, workflows.ShopRedactInput{RedactionID: red.ID, Shop: red.Shop, WebhookID: red.WebhookID,
		AllUnattributed: red.AllUnattributed})
	return err
}

// shopifyEvent is an event a delivery maps to.
type shopifyEvent struct {
	id, typ, customer string
	at                time.Time
	data              map[string]any
}

// shopifyEvents checks and stores an event as POST /v1/events would, and
// queues it for routing: stored before the answer, routed after it. One
// stored before under the id (the same delivery, or the same order, again)
// is left as it was. An order change the order cannot take (a refund over
// its total) is not stored and says so.
func (s *Server) shopifyEvents(ctx context.Context, se shopifyEvent) (ShopifyAnswer, error) {
	raw := map[string]json.RawMessage{}
	for k, v := range se.data {
		b, err := json.Marshal(v)
		if err != nil {
			return ShopifyAnswer{}, err
		}
		raw[k] = b
	}
	at := se.at
	req := wire.EventRequest{ID: se.id, Type: se.typ, CustomerID: se.customer, OccurredAt: &at, Data: raw}
	ne, err := validateEvent(&req, time.Now().UTC())
	if err != nil {
		return ShopifyAnswer{}, err
	}
	recorded, refused, err := s.recordBatch(ctx, []store.NewEvent{ne})
	if err != nil {
		return ShopifyAnswer{}, err
	}
	if pe := refused[0]; pe != nil {
		return ShopifyAnswer{}, &apiError{Status: http.StatusBadRequest, Message: refusedValue(pe).Message}
	}
	rec := recorded[0]
	if rec.Refused != nil {
		s.log().Warn("Shopify webhook's order change refused", "event_id", se.id, "reason", rec.Refused.Message)
		return ignored("%s", rec.Refused.Message), nil
	}
	result := metrics.EventAccepted
	if !rec.Inserted {
		result = metrics.EventDuplicate
	}
	s.Metrics.EventAccepted(se.typ, result)
	if rec.Event.RoutedAt == nil {
		s.Router.Enqueue(rec.Event)
	}
	ans := ShopifyAnswer{Status: metrics.ShopifyApplied, Events: []string{rec.Event.ID}}
	if _, note := orderOutcomeBody(rec.Order); note != "" {
		ans.Note = note
	}
	return ans, nil
}
