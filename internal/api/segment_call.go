package api

// One Segment-spec call, read and checked, and what it becomes in
// Rapport: an event (track, page, screen, identify) and, for identify, a
// change to the customer. segment.go takes the calls over HTTP.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/rapporthq/rapport/internal/api/wire"
	"github.com/rapporthq/rapport/internal/money"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
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
