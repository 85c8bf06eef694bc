package api

// Segment-spec ingestion: the track, identify, page (and screen) calls of
// Segment's HTTP Tracking API, and its batch, as Segment's webhook
// destinations and RudderStack's send them. Each call is translated at
// the edge into Rapport's own model, an event (and for identify, a change
// to the customer), and stored and routed as POST /v1/events stores and
// routes events: the same checks, the same idempotency, the same answers
// per line of a batch. docs/api.md, "Segment and RudderStack", is the
// contract.

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/rapporthq/rapport/internal/api/wire"
	"github.com/rapporthq/rapport/internal/metrics"
	"github.com/rapporthq/rapport/internal/money"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

// Limits of Segment-spec calls: Segment's own (32 KB a call, 500 KB a
// batch), and of the fields Rapport reads.
const (
	maxSegmentCall  = 32 << 10
	maxSegmentBatch = 500 << 10
	// maxMessageID leaves room for the "segment:" prefix of the event id
	// within an id's 128 characters.
	maxMessageID   = 120
	maxAnonymousID = 200
	maxSegmentName = 200 // a track call's event, a page's name or category
	maxNamePart    = 100 // traits.firstName, traits.lastName
)

// segmentEventPrefix starts the id of an event a Segment call is stored
// as ("segment:" and the messageId), and the type of a track call's event
// outside the e-commerce spec ("segment." and the event's name in lower
// snake case).
const (
	segmentIDPrefix   = "segment:"
	segmentTypePrefix = "segment."
)

// segmentEvents maps the e-commerce spec's events onto Rapport's, by name
// in lower case (the spec writes them in title case).
var segmentEvents = map[string]string{
	"order completed":  "order.placed",
	"order cancelled":  store.EventOrderCancelled,
	"order refunded":   store.EventOrderRefunded,
	"product viewed":   "product.viewed",
	"product added":    "cart.product_added",
	"cart viewed":      "cart.viewed",
	"checkout started": "checkout.started",
}

// Event types of the other calls.
const (
	segmentIdentified = "customer.identified"
	segmentPageViewed = "page.viewed"
	segmentScreen     = "screen.viewed"
)

// segmentCall is one Segment-spec call, read and checked.
type segmentCall struct {
	Type      string
	MessageID string
	UserID    string
	// Anonymous: an anonymousId and no userId.
	Anonymous bool
	Event     string // track
	Name      string // page, screen
	Category  string // page
	// Properties (track, page, screen) and Traits (identify) are objects,
	// kept as sent.
	Properties map[string]json.RawMessage
	Traits     map[string]json.RawMessage
	TraitsRaw  json.RawMessage
	Locale     string // context.locale
	TimeZone   string // context.timezone
	Timestamp  *time.Time
}

// ignoredReason says why a call is taken and not stored, or "".
func (c segmentCall) ignoredReason() string {
	switch {
	case c.Type == "alias" || c.Type == "group":
		return c.Type + " calls are not used: Rapport keeps customers by userId"
	case c.Anonymous:
		return "an anonymous call (anonymousId without userId): Rapport keeps only known customers' events; it is counted and not stored"
	}
	return ""
}

// segmentFields reads a call's members, naming each by its path.
type segmentFields struct {
	m      map[string]json.RawMessage
	prefix string
}

func (f segmentFields) path(key string) string { return join(f.prefix, key) }

// raw returns a member, nil when absent or null.
func (f segmentFields) raw(key string) json.RawMessage {
	v, ok := f.m[key]
	if !ok || string(v) == "null" {
		return nil
	}
	return v
}

// str reads a string member: "" when absent or null.
func (f segmentFields) str(key string, max int) (string, error) {
	raw := f.raw(key)
	if raw == nil {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", badField(f.path(key), "must be a string, not %s", jsonKind(raw))
	}
	return s, text(f.path(key), s, max, true)
}

// object reads an object member: nil when absent or null.
func (f segmentFields) object(key string) (map[string]json.RawMessage, error) {
	raw := f.raw(key)
	if raw == nil {
		return nil, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, badField(f.path(key), "must be an object, not %s", jsonKind(raw))
	}
	return m, nil
}

// parseSegmentCall reads one call; route is the type its route names
// ("" for POST /v1/segment and the batch, where the call names it).
func parseSegmentCall(raw []byte, route string) (segmentCall, error) {
	var c segmentCall
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return c, &apiError{Status: http.StatusBadRequest, Message: fmt.Sprintf("a Segment call is a JSON object, not %s", jsonKind(raw))}
	}
	f := segmentFields{m: m}
	var err error
	if c.Type, err = f.str("type", maxSegmentName); err != nil {
		return c, err
	}
	switch {
	case c.Type == "" && route != "":
		c.Type = route
	case c.Type == "":
		return c, badField("type", "is required: track, identify, page or screen (alias and group are taken and ignored)")
	case route != "" && c.Type != route:
		return c, badField("type", "is %q, but this is the %s route; post it to /v1/segment/%s or /v1/segment", short(c.Type), route, short(c.Type))
	case !slices.Contains([]string{"track", "identify", "page", "screen", "alias", "group"}, c.Type):
		return c, badField("type", "%q is not a Segment call type: track, identify, page, screen, alias or group", short(c.Type))
	}
	if c.MessageID, err = f.str("messageId", maxMessageID); err != nil {
		return c, err
	}
	if c.MessageID == "" {
		return c, badField("messageId", "is required: it names the call, so sending it again is harmless")
	}
	if !workflows.ValidIDPart(segmentIDPrefix + c.MessageID) {
		return c, badField("messageId", "must be 1-%d letters, digits, _ . : or -", maxMessageID)
	}
	// userId: a string, or a number (some sources send numeric ids) read
	// as its text.
	if raw := f.raw("userId"); raw != nil && isNumber(raw) {
		c.UserID = string(raw)
	} else if c.UserID, err = f.str("userId", 128); err != nil {
		return c, err
	}
	var anon string
	if raw := f.raw("anonymousId"); raw != nil && isNumber(raw) {
		anon = string(raw)
	} else if anon, err = f.str("anonymousId", maxAnonymousID); err != nil {
		return c, err
	}
	switch {
	case c.UserID == "" && anon == "":
		return c, badField("userId", "is required (a call with only an anonymousId is taken and ignored)")
	case c.UserID == "":
		c.Anonymous = true
	case !workflows.ValidIDPart(c.UserID):
		return c, badField("userId", "must be 1-128 letters, digits, _ . : or -: the shop's opaque id for the customer, not an email address (ids appear in workflow ids)")
	}
	if raw := f.raw("timestamp"); raw != nil {
		var ts time.Time
		if err := json.Unmarshal(raw, &ts); err != nil {
			return c, badField("timestamp", "must be an ISO 8601 date and time such as 2026-05-01T10:00:00.000Z")
		}
		c.Timestamp = &ts
	}
	switch c.Type {
	case "track":
		if c.Event, err = f.str("event", maxSegmentName); err != nil {
			return c, err
		}
		if c.Event == "" && !c.Anonymous {
			return c, badField("event", "is required: the name of what happened, such as Order Completed")
		}
	case "page", "screen":
		if c.Name, err = f.str("name", maxSegmentName); err != nil {
			return c, err
		}
		if c.Category, err = f.str("category", maxSegmentName); err != nil {
			return c, err
		}
	case "identify":
		if c.Traits, err = f.object("traits"); err != nil {
			return c, err
		}
		c.TraitsRaw = f.raw("traits")
		ctx, err := f.object("context")
		if err != nil {
			return c, err
		}
		cf := segmentFields{m: ctx, prefix: "context"}
		if c.Locale, err = cf.str("locale", maxLocale); err != nil {
			return c, err
		}
		if c.TimeZone, err = cf.str("timezone", maxZone); err != nil {
			return c, err
		}
	}
	if c.Type != "identify" {
		if c.Properties, err = f.object("properties"); err != nil {
			return c, err
		}
	}
	return c, nil
}

// readSegmentCall holds a call's text to checkStorable, then reads it as
// parseSegmentCall does.
func readSegmentCall(raw []byte, route string) (segmentCall, error) {
	if err := checkStorable(raw, ""); err != nil {
		return segmentCall{}, err
	}
	return parseSegmentCall(raw, route)
}

// segmentEventType is the Rapport event type of a track call's event: the
// e-commerce spec's mapped (Order Completed is order.placed), any other
// named "segment." and its name in lower snake case (Signed Up is
// segment.signed_up).
func segmentEventType(name string) (string, error) {
	if t, ok := segmentEvents[strings.ToLower(strings.TrimSpace(name))]; ok {
		return t, nil
	}
	var b strings.Builder
	gap := false
	for _, r := range strings.ToLower(name) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			if gap && b.Len() > 0 {
				b.WriteByte('_')
			}
			gap = false
			b.WriteRune(r)
			continue
		}
		gap = true
	}
	snake := b.String()
	switch {
	case snake == "" || !unicode.IsLetter(rune(snake[0])):
		return "", badField("event", "%q cannot be named as an event type: it needs a letter a-z before any digit (see docs/api.md, Segment and RudderStack)", short(name))
	case len(segmentTypePrefix+snake) > maxEventType:
		return "", badField("event", "%q is too long for an event type: %s%s is more than %d characters", short(name), segmentTypePrefix, short(snake), maxEventType)
	}
	return segmentTypePrefix + snake, nil
}

// toEvent translates a call (not ignored) into the event it is stored as,
// checked as POST /v1/events checks an event; its errors name the call's
// fields.
func (c segmentCall) toEvent(now time.Time) (store.NewEvent, error) {
	req := wire.EventRequest{ID: segmentIDPrefix + c.MessageID, CustomerID: c.UserID, OccurredAt: c.Timestamp}
	data := map[string]json.RawMessage{}
	for k, v := range c.Properties {
		data[k] = v
	}
	var err error
	switch c.Type {
	case "identify":
		req.Type = segmentIdentified
		data = map[string]json.RawMessage{}
		if c.TraitsRaw != nil {
			data["traits"] = c.TraitsRaw
		}
	case "page", "screen":
		req.Type = segmentPageViewed
		if c.Type == "screen" {
			req.Type = segmentScreen
		}
		for k, v := range map[string]string{"name": c.Name, "category": c.Category} {
			if _, given := data[k]; !given && v != "" {
				data[k], _ = json.Marshal(v)
			}
		}
	case "track":
		if req.Type, err = segmentEventType(c.Event); err != nil {
			return store.NewEvent{}, err
		}
		switch req.Type {
		case "order.placed":
			order, err := segmentOrder(c.Properties)
			if err != nil {
				return store.NewEvent{}, err
			}
			if data["order"], err = json.Marshal(order); err != nil {
				return store.NewEvent{}, err
			}
		case store.EventOrderRefunded:
			// The spec's total of a refund is the amount refunded; left
			// out, the whole order is.
			delete(data, "amount")
			if total, ok := c.Properties["total"]; ok && string(total) != "null" {
				data["amount"] = total
			}
		}
	}
	req.Data = data
	ne, err := validateEvent(&req, now)
	return ne, segmentError(err)
}

// segmentOrder reads the order of an Order Completed call's properties
// (order_id, total or else revenue, currency, products), naming the
// properties at fault. Amounts are read exactly, from the JSON number's
// text (or a decimal string), never through a float.
func segmentOrder(props map[string]json.RawMessage) (wire.Order, error) {
	var o wire.Order
	f := segmentFields{m: props, prefix: "properties"}
	var err error
	if raw := f.raw("order_id"); raw != nil && isNumber(raw) {
		o.ID = string(raw)
	} else if o.ID, err = f.str("order_id", maxRef); err != nil {
		return o, err
	}
	if o.ID == "" {
		return o, badField("properties.order_id", "is required for Order Completed: the order's id")
	}
	if o.Currency, err = f.str("currency", 3); err != nil {
		return o, err
	}
	o.Currency = strings.ToUpper(o.Currency)
	if !currencyRe.MatchString(o.Currency) {
		return o, badField("properties.currency", "is required for Order Completed: a three-letter currency code such as USD")
	}
	totalField := "properties.total"
	raw := f.raw("total")
	if raw == nil {
		totalField, raw = "properties.revenue", f.raw("revenue")
	}
	if raw == nil {
		return o, badField("properties.total", "is required for Order Completed (or properties.revenue): the order's total")
	}
	total, err := segmentAmount(totalField, raw, o.Currency)
	if err != nil {
		return o, err
	}
	o.Total = &total
	var products []json.RawMessage
	if raw := f.raw("products"); raw != nil {
		if json.Unmarshal(raw, &products) != nil {
			return o, badField("properties.products", "must be a list of products, not %s", jsonKind(raw))
		}
	}
	switch {
	case len(products) == 0:
		return o, badField("properties.products", "must list at least one product for Order Completed")
	case len(products) > maxItems:
		return o, badField("properties.products", "lists %d products; an order has at most %s", len(products), count(maxItems))
	}
	for i, raw := range products {
		field := fmt.Sprintf("properties.products[%d]", i)
		var pm map[string]json.RawMessage
		if json.Unmarshal(raw, &pm) != nil || pm == nil {
			return o, badField(field, "must be an object, not %s", jsonKind(raw))
		}
		pf := segmentFields{m: pm, prefix: field}
		var it wire.Item
		if raw := pf.raw("product_id"); raw != nil && isNumber(raw) {
			it.ProductID = string(raw)
		} else if it.ProductID, err = pf.str("product_id", maxRef); err != nil {
			return o, err
		}
		sku, err := pf.str("sku", maxRef)
		if err != nil {
			return o, err
		}
		if it.ProductID == "" {
			it.ProductID = sku
		}
		if it.ProductID == "" {
			return o, badField(field+".product_id", "is required (or sku): the product's id")
		}
		if it.Name, err = pf.str("name", maxName); err != nil {
			return o, err
		}
		if it.Name == "" {
			return o, badField(field+".name", "is required: the product's name, for messages about the order")
		}
		if _, err := pf.str("category", maxName); err != nil {
			return o, err
		}
		raw := pf.raw("price")
		if raw == nil {
			return o, badField(field+".price", "is required: the product's unit price")
		}
		price, err := segmentAmount(field+".price", raw, o.Currency)
		if err != nil {
			return o, err
		}
		it.Price = &price
		qty := 1.0 // the spec's quantity may be left out: one
		if raw := pf.raw("quantity"); raw != nil {
			if json.Unmarshal(raw, &qty) != nil {
				return o, badField(field+".quantity", "must be a whole number of 1 or more, not %s", jsonKind(raw))
			}
			if qty < 1 || qty != float64(int64(qty)) || qty > 1e6 {
				return o, badField(field+".quantity", "must be a whole number of 1 or more")
			}
		}
		it.Quantity = &qty
		o.Items = append(o.Items, it)
	}
	return o, nil
}

// segmentAmount reads an amount exactly and holds it to its currency.
func segmentAmount(field string, raw json.RawMessage, currency string) (money.Amount, error) {
	var a money.Amount
	if err := a.UnmarshalJSON(raw); err != nil {
		return a, badField(field, "%v", err)
	}
	return checkAmount(field, a, currency)
}

// segmentFieldNames maps the fields of the event a call is stored as (and
// of the customer an identify call changes) onto the call's own.
var segmentFieldNames = map[string]string{
	"id":                  "messageId",
	"customer_id":         "userId",
	"occurred_at":         "timestamp",
	"type":                "event",
	"data":                "properties",
	"data.amount":         "properties.total",
	"data.traits":         "traits",
	"email":               "traits.email",
	"phone":               "traits.phone",
	"name":                "traits.name",
	"attributes":          "traits",
	"locale":              "context.locale",
	"time_zone":           "context.timezone",
	"address":             "traits.address",
	"address.line1":       "traits.address.street",
	"address.line2":       "traits.address.street",
	"address.city":        "traits.address.city",
	"address.state":       "traits.address.state",
	"address.postal_code": "traits.address.postalCode",
	"address.country":     "traits.address.country",
}

// segmentError renames the field an error of the event (or customer) API
// names to the call's (data.order_id is properties.order_id).
func segmentError(err error) error {
	var ae *apiError
	if !errors.As(err, &ae) || ae.Field == "" {
		return err
	}
	field, ok := segmentFieldNames[ae.Field]
	if !ok {
		if rest, found := strings.CutPrefix(ae.Field, "data.traits"); found {
			field, ok = "traits"+rest, true
		} else if rest, found := strings.CutPrefix(ae.Field, "data."); found {
			field, ok = "properties."+rest, true
		}
	}
	if !ok {
		return err
	}
	out := *ae
	out.Field = field
	if rest, found := strings.CutPrefix(ae.Message, ae.Field+":"); found {
		out.Message = field + ":" + rest
	}
	return &out
}

// identifyChange returns how an identify call changes the customer: the
// traits Rapport keeps as fields (email, phone, name or firstName and
// lastName, address, locale) replace them, context.locale and
// context.timezone too, and the other traits are set as attributes (a
// trait of null removes it). The customer is checked as POST
// /v1/customers checks one.
func (c segmentCall) identifyChange() (func(store.Customer, bool) (store.Customer, error), error) {
	f := segmentFields{m: c.Traits, prefix: "traits"}
	if err := checkNumbers(c.TraitsRaw, "traits"); err != nil {
		return nil, err
	}
	set := map[string]*string{}
	for _, k := range []struct {
		key string
		max int
	}{{"email", maxEmail}, {"phone", maxPhone}, {"name", maxName}, {"firstName", maxNamePart}, {"lastName", maxNamePart}, {"locale", maxLocale}} {
		if _, given := c.Traits[k.key]; !given {
			continue
		}
		v, err := f.str(k.key, k.max)
		if err != nil {
			return nil, err
		}
		set[k.key] = &v
	}
	addr, err := f.object("address")
	if err != nil {
		return nil, err
	}
	af := segmentFields{m: addr, prefix: "traits.address"}
	addrSet := map[string]string{}
	for _, k := range []struct {
		key string
		max int
	}{{"street", maxParam}, {"city", maxParam}, {"state", maxParam}, {"postalCode", maxParam}, {"country", maxParam}} {
		if _, given := addr[k.key]; !given {
			continue
		}
		v, err := af.str(k.key, k.max)
		if err != nil {
			return nil, err
		}
		addrSet[k.key] = strings.TrimSpace(v)
	}
	attrs := map[string]any{}
	for k, raw := range c.Traits {
		if slices.Contains([]string{"email", "phone", "name", "firstName", "lastName", "locale", "address"}, k) {
			continue
		}
		var v any
		if string(raw) != "null" {
			if err := json.Unmarshal(raw, &v); err != nil {
				return nil, badField(f.path(k), "is not a JSON value")
			}
		}
		attrs[k] = v
	}
	locale := c.Locale
	if l, ok := set["locale"]; ok && *l != "" {
		locale = *l
	}
	return func(cust store.Customer, _ bool) (store.Customer, error) {
		req := wire.CustomerRequest{ID: c.UserID, Email: cust.Email, Phone: cust.Phone, Name: cust.Name,
			Locale: cust.Locale, TimeZone: cust.TimeZone, Attributes: cust.Attributes}
		if v, ok := set["email"]; ok {
			req.Email = *v
		}
		if v, ok := set["phone"]; ok {
			req.Phone = *v
		}
		if v, ok := set["name"]; ok {
			req.Name = *v
		} else if first, last := set["firstName"], set["lastName"]; first != nil || last != nil {
			var parts []string
			for _, p := range []*string{first, last} {
				if p != nil && strings.TrimSpace(*p) != "" {
					parts = append(parts, strings.TrimSpace(*p))
				}
			}
			req.Name = strings.Join(parts, " ")
		}
		if locale != "" {
			req.Locale = locale
		}
		if c.TimeZone != "" {
			req.TimeZone = c.TimeZone
		}
		a := cust.Address
		for k, v := range addrSet {
			switch k {
			case "street":
				a.Line1 = v
			case "city":
				a.City = v
			case "state":
				a.State = v
			case "postalCode":
				a.PostalCode = v
			case "country":
				if len(v) == 2 {
					v = strings.ToUpper(v)
				}
				a.Country = v
			}
		}
		if a != (store.Address{}) {
			req.Address = &wire.AddressRequest{Line1: a.Line1, Line2: a.Line2, City: a.City, State: a.State, PostalCode: a.PostalCode, Country: a.Country}
		}
		if len(attrs) > 0 {
			merged := make(map[string]any, len(req.Attributes)+len(attrs))
			for k, v := range req.Attributes {
				merged[k] = v
			}
			for k, v := range attrs {
				if v == nil {
					delete(merged, k)
				} else {
					merged[k] = v
				}
			}
			req.Attributes = merged
		}
		out, err := validateCustomer(&req)
		var ae *apiError
		if errors.As(err, &ae) && ae.Field == "locale" && set["locale"] != nil && *set["locale"] != "" {
			// The locale came from traits.locale, not context.locale.
			return out, badField("traits.locale", "%q is not a language tag such as en-GB", req.Locale)
		}
		if err != nil {
			return out, segmentError(err)
		}
		if out.Attributes == nil {
			out.Attributes = map[string]any{}
		}
		return out, nil
	}, nil
}

// readSegmentBody reads a Segment-spec body of at most limit bytes,
// holds it to verify (the signature), then checks it is JSON, nested at
// most depth levels. Its text is held to checkStorable call by call
// (segmentOne, segmentBatch), so that in a batch a bad call is refused
// alone.
func readSegmentBody(r *http.Request, limit, depth int, verify func([]byte) error) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") && !strings.HasPrefix(ct, "text/plain") {
		// analytics.js sends batches as text/plain, to skip CORS preflights.
		return nil, &apiError{Status: http.StatusUnsupportedMediaType, Message: "send JSON with Content-Type: application/json"}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(limit)+1))
	if err != nil {
		return nil, &apiError{Status: http.StatusBadRequest, Message: "could not read the body: " + err.Error()}
	}
	if len(body) > limit {
		return nil, &apiError{Status: http.StatusRequestEntityTooLarge,
			Message: fmt.Sprintf("the body is larger than %s, the most Segment allows (32 KiB a call, 500 KiB a batch)", size(limit))}
	}
	if err := verify(body); err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, &apiError{Status: http.StatusBadRequest, Message: "the body is empty; send a JSON object"}
	}
	if err := checkDepth(body, depth); err != nil {
		return nil, err
	}
	if !json.Valid(body) {
		return nil, &apiError{Status: http.StatusBadRequest, Message: "the body is not valid JSON"}
	}
	return body, nil
}

// segmentRoute serves one call: the route's type, or "" for POST
// /v1/segment (the call names its type; a batch is passed on).
func (s *Server) segmentRoute(route string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		limit, depth := maxSegmentCall, maxDepth
		if route == "" || route == "batch" {
			limit, depth = maxSegmentBatch, maxDepth+2
		}
		body, err := readSegmentBody(r, limit, depth, func(body []byte) error { return s.verifySegment(r, body) })
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if route == "batch" || (route == "" && (looksLikeSegmentBatch(body) || isJSONList(body))) {
			s.segmentBatch(w, r, body)
			return
		}
		if len(body) > maxSegmentCall {
			s.fail(w, r, &apiError{Status: http.StatusRequestEntityTooLarge,
				Message: fmt.Sprintf("the body is larger than %s, the most one Segment call may carry (a batch may carry %s)", size(maxSegmentCall), size(maxSegmentBatch))})
			return
		}
		if checkDepth(body, maxDepth) != nil {
			s.fail(w, r, checkDepth(body, maxDepth))
			return
		}
		s.segmentOne(w, r, body, route)
	}
}

// verifySegment holds a call to its X-Signature when Segment shared
// secrets are configured (WebhookKeys.SegmentSecrets): the hex HMAC-SHA1
// of the raw body keyed by the secret, as Segment's Webhooks
// destinations sign, under one of them. A call unsigned, or signed
// otherwise, is refused with 401 and counted as refused.
func (s *Server) verifySegment(r *http.Request, body []byte) error {
	if len(s.Webhooks.SegmentSecrets) == 0 {
		return nil
	}
	sig := strings.TrimSpace(r.Header.Get("X-Signature"))
	why := ""
	switch {
	case sig == "":
		why = "X-Signature is missing: this Rapport takes only Segment calls signed with its shared secret (SEGMENT_SHARED_SECRET); set the same shared secret on the Segment destination"
	case !verifySegmentSignature(s.Webhooks.SegmentSecrets, body, sig):
		why = "X-Signature does not verify: it is not the HMAC-SHA1 of the body under the shared secret (SEGMENT_SHARED_SECRET); check the destination's shared secret"
		if isJSONList(body) {
			why += ", and turn batching off: Segment signs only the first event of a batch it posts as a list"
		}
	default:
		return nil
	}
	s.Metrics.SegmentCall("", metrics.SegmentRefused)
	s.log().Warn("Segment call refused", "reason", why)
	return &apiError{Status: http.StatusUnauthorized, Message: why}
}

// verifySegmentSignature reports whether sig is the hex HMAC-SHA1 of body
// under one of the secrets, comparing in constant time (every secret is
// tried, so the time does not say which matched).
func verifySegmentSignature(secrets []string, body []byte, sig string) bool {
	got, err := hex.DecodeString(sig)
	if err != nil || len(got) != sha1.Size {
		return false
	}
	ok := false
	for _, secret := range secrets {
		m := hmac.New(sha1.New, []byte(secret))
		m.Write(body)
		if hmac.Equal(m.Sum(nil), got) {
			ok = true
		}
	}
	return ok
}

// isJSONList reports whether a body is a JSON list: a batch as Segment's
// Webhooks (Actions) destination posts one with batching on.
func isJSONList(body []byte) bool {
	b := bytes.TrimSpace(body)
	return len(b) > 0 && b[0] == '['
}

// looksLikeSegmentBatch reports whether a body is an object with a
// "batch" member.
func looksLikeSegmentBatch(body []byte) bool {
	var probe map[string]json.RawMessage
	if json.Unmarshal(body, &probe) != nil {
		return false
	}
	_, ok := probe["batch"]
	return ok
}

// segmentOne stores one call and routes its event before the answer.
func (s *Server) segmentOne(w http.ResponseWriter, r *http.Request, body []byte, route string) {
	c, err := readSegmentCall(body, route)
	if err != nil {
		s.Metrics.SegmentCall(c.Type, metrics.EventInvalid)
		s.fail(w, r, err)
		return
	}
	resp := wire.SegmentResponse{MessageID: c.MessageID, Type: c.Type}
	if why := c.ignoredReason(); why != "" {
		s.Metrics.SegmentCall(c.Type, metrics.SegmentIgnored)
		resp.Status, resp.Reason = wire.StatusIgnored, why
		writeJSON(w, http.StatusOK, resp)
		return
	}
	ne, created, err := s.segmentEvent(r, c)
	if err != nil {
		s.Metrics.SegmentCall(c.Type, metrics.EventInvalid)
		s.Metrics.EventAccepted(ne.Event.Type, metrics.EventInvalid)
		s.fail(w, r, segmentError(err))
		return
	}
	er, err := s.recordAndRoute(r.Context(), ne)
	if err != nil {
		var refused *apiError
		if errors.As(err, &refused) {
			s.Metrics.SegmentCall(c.Type, metrics.EventInvalid)
			s.Metrics.EventAccepted(ne.Event.Type, metrics.EventInvalid)
		}
		s.fail(w, r, segmentError(err))
		return
	}
	s.Metrics.SegmentCall(c.Type, er.Status)
	s.Metrics.EventAccepted(ne.Event.Type, er.Status)
	resp.Status, resp.ID, resp.Event, resp.Routing = er.Status, er.ID, ne.Event.Type, er.Routing
	resp.RoutingResult, resp.Order, resp.Note = &er.RoutingResult, er.Order, er.Note
	if created != "" && er.Status == wire.StatusAccepted {
		resp.Customer = created
	}
	status := http.StatusAccepted
	if er.Status == wire.StatusDuplicate {
		status = http.StatusOK
	}
	writeJSON(w, status, resp)
}

// segmentEvent checks one call and returns its event, ready to record;
// an identify call's change to the customer is made first (unless the
// call was taken before), and customer says what it did: created or
// updated. A track, page or screen call for a customer Rapport does not
// know registers them by their id alone (created), so a call that races
// ahead of its identify is kept; a call for an erased customer is
// refused.
func (s *Server) segmentEvent(r *http.Request, c segmentCall) (ne store.NewEvent, customer string, err error) {
	ne, err = c.toEvent(time.Now().UTC())
	if err != nil {
		return ne, "", err
	}
	ctx := r.Context()
	if err := s.refuseErased(ctx, c.UserID); err != nil {
		return ne, "", err
	}
	if c.Type == "identify" {
		change, err := c.identifyChange()
		if err != nil {
			return ne, "", err
		}
		if _, err := s.Store.GetEvent(ctx, ne.Event.ID); err == nil {
			return ne, "", nil // taken before: recording it answers duplicate (or refuses a reused messageId)
		} else if !errors.Is(err, store.ErrNotFound) {
			return ne, "", err
		}
		created, err := s.Store.MergeCustomer(ctx, c.UserID, change)
		if err != nil {
			return ne, "", err
		}
		if created {
			return ne, "created", nil
		}
		return ne, "updated", nil
	}
	created, err := s.Store.EnsureCustomer(ctx, c.UserID)
	switch {
	case errors.Is(err, store.ErrErased):
		return ne, "", erasedCustomer(c.UserID)
	case err != nil:
		return ne, "", err
	case created:
		return ne, "created", nil
	}
	return ne, "", nil
}

// ensureSegmentUsers registers, by their id alone, the customers of the
// batch's events (other than identify calls, applied before) whom Rapport
// does not know, so that a call that raced ahead of its identify is kept.
// An erased customer is left out: storing the batch rejects their calls.
func (s *Server) ensureSegmentUsers(ctx context.Context, batch []store.NewEvent, where []int, calls []segmentCall, results []wire.SegmentResult) error {
	var ids []string
	for j, ne := range batch {
		if results[where[j]].Status == "" && calls[where[j]].Type != "identify" {
			ids = append(ids, ne.Event.CustomerID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	known, err := s.Store.KnownCustomers(ctx, ids)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if known[id] {
			continue
		}
		if _, err := s.Store.EnsureCustomer(ctx, id); err != nil && !errors.Is(err, store.ErrErased) {
			return err
		}
		known[id] = true
	}
	return nil
}

// segmentBatch stores a batch ({"batch": [...]}, or a bare list of calls): each call is checked
// on its own (a bad one is rejected with the field at fault, the others
// go on), the identify calls change their customers first, in order, and
// then the events are stored as a batch of POST /v1/events is, in one
// transaction, before the answer, a line per call.
func (s *Server) segmentBatch(w http.ResponseWriter, r *http.Request, body []byte) {
	var items []json.RawMessage
	if isJSONList(body) {
		if json.Unmarshal(body, &items) != nil {
			s.fail(w, r, badField("batch", "must be a list of calls"))
			return
		}
	} else {
		var top map[string]json.RawMessage
		if err := json.Unmarshal(body, &top); err != nil || top == nil {
			s.fail(w, r, &apiError{Status: http.StatusBadRequest, Message: "a Segment batch is {\"batch\": [...]}, or a list of calls"})
			return
		}
		if raw, ok := top["batch"]; !ok || json.Unmarshal(raw, &items) != nil {
			s.fail(w, r, badField("batch", "must be a list of calls"))
			return
		}
	}
	switch {
	case len(items) == 0:
		s.fail(w, r, badField("batch", "is empty; send between 1 and %d calls", MaxBatch))
		return
	case len(items) > MaxBatch:
		s.fail(w, r, badField("batch", "holds %d calls; send at most %d at a time", len(items), MaxBatch))
		return
	}
	ctx := r.Context()
	now := time.Now().UTC()
	resp := wire.SegmentBatchResponse{Results: make([]wire.SegmentResult, len(items))}
	inner := wire.BatchResponse{Results: make([]wire.BatchResult, len(items))}
	rejectCall := func(i int, err error) {
		err = segmentError(err)
		res := &resp.Results[i]
		res.Status = wire.StatusRejected
		var ae *apiError
		if errors.As(err, &ae) {
			res.Error, res.Field = ae.Message, ae.Field
		} else {
			res.Error = err.Error()
		}
	}
	type identify struct {
		index  int
		call   segmentCall
		change func(store.Customer, bool) (store.Customer, error)
	}
	type first struct {
		index int
		event store.Event
	}
	var (
		batch      []store.NewEvent
		where      []int
		identifies []identify
		seen       = map[string]first{}
		calls      = make([]segmentCall, len(items))
	)
	for i, item := range items {
		res := &resp.Results[i]
		res.Index = i
		c, err := readSegmentCall(item, "")
		if err == nil && len(item) > maxSegmentCall {
			err = &apiError{Status: http.StatusRequestEntityTooLarge,
				Message: fmt.Sprintf("the call is larger than %s, the most one Segment call may carry", size(maxSegmentCall))}
		}
		calls[i] = c
		res.MessageID, res.Type = c.MessageID, c.Type
		if err != nil {
			rejectCall(i, err)
			continue
		}
		if why := c.ignoredReason(); why != "" {
			res.Status, res.Reason = wire.StatusIgnored, why
			continue
		}
		ne, err := c.toEvent(now)
		if err != nil {
			rejectCall(i, err)
			continue
		}
		res.ID, res.Event = ne.Event.ID, ne.Event.Type
		if f, ok := seen[ne.Event.ID]; ok {
			if why := differs(ne.Event, f.event, true); why != "" {
				rejectCall(i, reusedID(ne.Event, f.event, why, fmt.Sprintf("is also at index %d of this batch", f.index)))
			} else {
				res.Status = wire.StatusDuplicate
			}
			continue
		}
		if c.Type == "identify" {
			change, err := c.identifyChange()
			if err != nil {
				rejectCall(i, err)
				continue
			}
			identifies = append(identifies, identify{index: i, call: c, change: change})
		}
		seen[ne.Event.ID] = first{index: i, event: ne.Event}
		batch = append(batch, ne)
		where = append(where, i)
	}
	// The identify calls first, in the batch's order: a track call after
	// the identify of a new customer finds them.
	if len(identifies) > 0 {
		ids := make([]string, len(identifies))
		for j, id := range identifies {
			ids[j] = id.call.UserID
		}
		erased, err := s.Store.ErasedAmong(ctx, ids)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		for _, id := range identifies {
			if erased[id.call.UserID] {
				continue // rejected by storeBatch
			}
			if _, err := s.Store.GetEvent(ctx, segmentIDPrefix+id.call.MessageID); err == nil {
				continue // taken before: storeBatch answers duplicate
			} else if !errors.Is(err, store.ErrNotFound) {
				s.fail(w, r, err)
				return
			}
			_, err := s.Store.MergeCustomer(ctx, id.call.UserID, id.change)
			var refused *apiError
			if errors.As(err, &refused) {
				rejectCall(id.index, err)
				continue
			}
			if err != nil {
				s.fail(w, r, err)
				return
			}
		}
	}
	if err := s.ensureSegmentUsers(ctx, batch, where, calls, resp.Results); err != nil {
		s.fail(w, r, err)
		return
	}
	kept, keptWhere := batch[:0], where[:0]
	for j, ne := range batch {
		if resp.Results[where[j]].Status == "" {
			kept = append(kept, ne)
			keptWhere = append(keptWhere, where[j])
		}
	}
	if err := s.storeBatch(ctx, kept, keptWhere, &inner); err != nil {
		s.fail(w, r, err)
		return
	}
	for i, in := range inner.Results {
		if in.Status == "" {
			continue // not stored in the batch: answered above
		}
		res := &resp.Results[i]
		res.Status = in.Status
		if in.Status == wire.StatusRejected {
			rejectCall(i, &apiError{Field: in.Field, Message: in.Error})
			continue
		}
		res.Order = in.Order
		if in.Note != "" {
			res.Note = in.Note
		}
	}
	for i, res := range resp.Results {
		result := res.Status
		switch res.Status {
		case wire.StatusAccepted:
			resp.Accepted++
		case wire.StatusDuplicate:
			resp.Duplicates++
		case wire.StatusRejected:
			resp.Rejected++
			result = metrics.EventInvalid
		case wire.StatusIgnored:
			resp.Ignored++
		}
		s.Metrics.SegmentCall(calls[i].Type, result)
		if res.Event != "" && res.Status != wire.StatusIgnored {
			s.Metrics.EventAccepted(res.Event, result)
		}
	}
	writeJSON(w, http.StatusOK, resp)
}
