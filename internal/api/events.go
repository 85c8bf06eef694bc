package api

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rapporthq/rapport/internal/api/wire"
	"github.com/rapporthq/rapport/internal/failfast"
	"github.com/rapporthq/rapport/internal/metrics"
	"github.com/rapporthq/rapport/internal/money"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

var (
	eventTypeRe = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$`)
	currencyRe  = regexp.MustCompile(`^[A-Z]{3}$`)
)

// validateEvent checks an event sent to POST /v1/events, and returns it
// as stored, with the order it carries (order.placed) or the change it
// asks of an order (order.cancelled, order.refunded...).
func validateEvent(req *wire.EventRequest, now time.Time) (store.NewEvent, error) {
	e, order, err := checkEventAndOrder(req, now)
	ne := store.NewEvent{Event: e, Order: order}
	if err != nil || !store.IsOrderEvent(e.Type) {
		return ne, err
	}
	ne.Change, err = validateOrderChange(e.Type, req.Data)
	return ne, err
}

// checkEventAndOrder checks an event's fields and data, and the order an
// order.placed event carries.
func checkEventAndOrder(req *wire.EventRequest, now time.Time) (store.Event, *store.Order, error) {
	return checkEvent(req, now, true)
}

// checkEvent checks an event; one without a customer (a fan-out event)
// when needCustomer is false.
func checkEvent(req *wire.EventRequest, now time.Time, needCustomer bool) (store.Event, *store.Order, error) {
	e := store.Event{ID: req.ID, Type: req.Type, CustomerID: req.CustomerID}
	switch {
	case req.ID == "":
		return e, nil, badField("id", "is required: a unique id for this event, so sending it twice is harmless")
	case !workflows.ValidIDPart(req.ID):
		return e, nil, badField("id", "must be 1-128 letters, digits, _ . : or -")
	case req.Type == "":
		return e, nil, badField("type", "is required, such as order.placed")
	case len(req.Type) > maxEventType:
		return e, nil, badField("type", "is longer than %d characters", maxEventType)
	case !eventTypeRe.MatchString(req.Type):
		return e, nil, badField("type", "%q is not an event type; use lowercase words joined by dots, such as order.placed", req.Type)
	case req.CustomerID == "" && needCustomer:
		return e, nil, badField("customer_id", "is required")
	case req.CustomerID == "":
	case !workflows.ValidIDPart(req.CustomerID):
		return e, nil, badField("customer_id", "must be 1-128 letters, digits, _ . : or -")
	}
	e.OccurredAt = now
	if req.OccurredAt != nil {
		if req.OccurredAt.After(now.Add(5 * time.Minute)) {
			return e, nil, badField("occurred_at", "is in the future (%s)", req.OccurredAt.Format(time.RFC3339))
		}
		e.OccurredAt = *req.OccurredAt
	}
	data := req.Data
	if data == nil {
		data = map[string]json.RawMessage{}
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return e, nil, badField("data", "must be a JSON object")
	}
	if err := checkObject("data", raw, len(data), maxDataBytes); err != nil {
		return e, nil, err
	}
	e.Data = raw

	var order *store.Order
	if req.Type == "order.placed" {
		o, err := validateOrder(data["order"], e)
		if err != nil {
			return e, nil, err
		}
		order = o
		// Store the order in its checked, canonical form.
		if data["order"], err = json.Marshal(canonicalOrder(o)); err != nil {
			return e, nil, err
		}
		if e.Data, err = json.Marshal(data); err != nil {
			return e, nil, err
		}
	}
	// The data is stored as sent: each number must be one PostgreSQL can
	// store and routing can read.
	if err := checkNumbers(e.Data, "data"); err != nil {
		return e, nil, err
	}
	return e, order, nil
}

func validateOrder(raw json.RawMessage, e store.Event) (*store.Order, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, badField("data.order", "is required for order.placed: {id, total, currency, gift, items[{product_id, name, quantity, price}]}")
	}
	var ob wire.Order
	if err := decodeBytes(raw, &ob, "data.order"); err != nil {
		return nil, err
	}
	return checkOrder(ob, "data.order.", e.CustomerID, e.OccurredAt)
}

// checkOrder validates an order's fields; prefix names them in errors.
func checkOrder(ob wire.Order, prefix, customerID string, placedAt time.Time) (*store.Order, error) {
	if err := text(prefix+"id", ob.ID, maxRef, true); err != nil {
		return nil, err
	}
	switch {
	case ob.ID == "":
		return nil, badField(prefix+"id", "is required")
	case len(ob.Items) > maxItems:
		return nil, badField(prefix+"items", "lists %d items; an order has at most %s", len(ob.Items), count(maxItems))
	case ob.Total == nil:
		return nil, badField(prefix+"total", "is required")
	case !currencyRe.MatchString(ob.Currency):
		return nil, badField(prefix+"currency", "must be a three-letter currency code such as EUR, not %q", ob.Currency)
	case len(ob.Items) == 0:
		return nil, badField(prefix+"items", "must list at least one item")
	}
	total, err := checkAmount(prefix+"total", *ob.Total, ob.Currency)
	if err != nil {
		return nil, err
	}
	o := &store.Order{ID: ob.ID, CustomerID: customerID, Total: total, Currency: ob.Currency, Gift: ob.Gift, PlacedAt: placedAt}
	for i, it := range ob.Items {
		field := fmt.Sprintf("%sitems[%d]", prefix, i)
		if err := text(field+".product_id", it.ProductID, maxRef, true); err != nil {
			return nil, err
		}
		if err := text(field+".name", it.Name, maxName, true); err != nil {
			return nil, err
		}
		switch {
		case it.ProductID == "":
			return nil, badField(field+".product_id", "is required")
		case it.Name == "":
			return nil, badField(field+".name", "is required")
		case it.Quantity == nil:
			return nil, badField(field+".quantity", "is required")
		case *it.Quantity < 1 || *it.Quantity != math.Trunc(*it.Quantity) || *it.Quantity > 1e6:
			return nil, badField(field+".quantity", "must be a whole number of 1 or more")
		case it.Price == nil:
			return nil, badField(field+".price", "is required")
		}
		price, err := checkAmount(field+".price", *it.Price, ob.Currency)
		if err != nil {
			return nil, err
		}
		o.Items = append(o.Items, store.Item{ProductID: it.ProductID, Name: it.Name, Quantity: int(*it.Quantity), Price: price})
	}
	return o, nil
}

// maxAmount is the largest amount accepted: a trillion less a cent.
var maxAmount = money.MustParse("999999999999.99")

// checkAmount holds an amount to what its currency allows: zero or more,
// at most maxAmount, and no more decimal places than the currency has
// (ISO 4217: 2 for EUR, 0 for JPY, 3 for KWD). It returns the amount at
// the currency's places, 48 EUR as 48.00. Without a currency it allows
// up to four places and keeps the amount as given.
func checkAmount(field string, a money.Amount, currency string) (money.Amount, error) {
	places := maxPlaces
	if currency != "" {
		places = money.Exponent(currency)
	}
	switch {
	case a.Sign() < 0:
		return a, badField(field, "must be an amount of zero or more, not %s", a)
	case a.Cmp(maxAmount) > 0:
		return a, badField(field, "%s is more than the most accepted, %s", a, maxAmount)
	case a.Scale() > places && currency != "":
		return a, badField(field, "%s has %d decimal places, but %s amounts have %d", a, a.Scale(), currency, places)
	case a.Scale() > places:
		return a, badField(field, "%s has %d decimal places; an amount has at most %d", a, a.Scale(), places)
	}
	if currency == "" {
		return a, nil
	}
	return a.WithScale(places), nil
}

// maxPlaces is the most decimal places of an amount without a currency:
// the most any ISO 4217 currency has.
const maxPlaces = 4

// canonicalOrder is data.order as stored: the API's field names, numbers
// as the types journeys see (amounts exactly, at the currency's places).
func canonicalOrder(o *store.Order) map[string]any {
	items := make([]map[string]any, len(o.Items))
	for i, it := range o.Items {
		items[i] = map[string]any{"product_id": it.ProductID, "name": it.Name, "quantity": it.Quantity, "price": it.Price}
	}
	return map[string]any{"id": o.ID, "total": o.Total, "currency": o.Currency, "gift": o.Gift, "items": items}
}

// MaxBatch is the most events one POST /v1/events may carry.
const MaxBatch = 1000

// maxBatchBody bounds the body of a batch of events.
const maxBatchBody = 16 << 20

// maxEventType bounds the length of an event's type.
const maxEventType = 100

// postEvent takes one event, or a batch of up to MaxBatch as
// {"events": [...]}. A single event is stored, then routed before the
// answer, which says what it started. A batch is stored in one
// transaction before the answer, which has a line per event; routing
// follows in the background, in order for each customer.
func (s *Server) postEvent(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		s.fail(w, r, &apiError{Status: http.StatusUnsupportedMediaType, Message: "send JSON with Content-Type: application/json"})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBatchBody+1))
	if err != nil {
		s.fail(w, r, &apiError{Status: http.StatusBadRequest, Message: "could not read the body: " + err.Error()})
		return
	}
	if len(body) > maxBatchBody {
		s.fail(w, r, &apiError{Status: http.StatusRequestEntityTooLarge, Message: fmt.Sprintf("the body is larger than %s, the most a batch may carry; send at most %d events at a time", size(maxBatchBody), MaxBatch)})
		return
	}
	// Only a batch ({"events": [...]}) may be larger than one event; it
	// nests two levels deeper than the events it carries, each held to
	// the depth limit of one.
	if looksLikeBatch(body) {
		if checkDepth(body, maxDepth+2) != nil {
			s.fail(w, r, &apiError{Status: http.StatusBadRequest,
				Message: fmt.Sprintf("an event of the batch nests objects and lists more than %d levels deep, the most accepted", maxDepth)})
			return
		}
		var probe map[string]json.RawMessage
		if json.Unmarshal(body, &probe) == nil {
			if raw, ok := probe["events"]; ok && len(probe) == 1 {
				s.postEvents(w, r, raw)
				return
			}
		}
	}
	if len(body) > maxBody {
		s.fail(w, r, &apiError{Status: http.StatusRequestEntityTooLarge,
			Message: fmt.Sprintf("the body is larger than %s, the most one event may carry (a batch of events, {\"events\": [...]}, may carry %s)", size(maxBody), size(maxBatchBody))})
		return
	}
	var req wire.EventRequest
	if err := decodeBytes(body, &req, ""); err != nil {
		s.Metrics.EventAccepted(req.Type, metrics.EventInvalid)
		s.fail(w, r, err)
		return
	}
	if req.CustomerID == "" && req.Type != "" && s.Router != nil && len(s.Router.Catalog.FansOut(req.Type)) > 0 && !store.IsOrderEvent(req.Type) {
		s.postFanout(w, r, &req)
		return
	}
	ne, err := validateEvent(&req, time.Now().UTC())
	e := ne.Event
	if err != nil {
		s.Metrics.EventAccepted(req.Type, metrics.EventInvalid)
		s.fail(w, r, err)
		return
	}
	if err := s.refuseErased(r.Context(), e.CustomerID); err != nil { // 410 Gone: see erase.go
		s.fail(w, r, err)
		return
	}
	if _, err := s.Store.GetCustomer(r.Context(), e.CustomerID); errors.Is(err, store.ErrNotFound) {
		s.Metrics.EventAccepted(e.Type, metrics.EventInvalid)
		s.fail(w, r, noCustomer(e.CustomerID))
		return
	} else if err != nil {
		s.fail(w, r, err)
		return
	}
	resp, err := s.recordAndRoute(r.Context(), ne)
	if err != nil {
		var refused *apiError // the id is another event's
		if errors.As(err, &refused) {
			s.Metrics.EventAccepted(e.Type, metrics.EventInvalid)
		}
		s.fail(w, r, err)
		return
	}
	s.Metrics.EventAccepted(e.Type, resp.Status)
	status := http.StatusAccepted
	if resp.Status == wire.StatusDuplicate {
		status = http.StatusOK
	}
	writeJSON(w, status, resp)
}

// postFanout stores an event posted without a customer for the journeys
// whose trigger fans out on its type, and answers at once: the router
// enters the customers each one's condition selects in the background
// (router.RunFanouts). Posting it again is a duplicate that enters nobody.
func (s *Server) postFanout(w http.ResponseWriter, r *http.Request, req *wire.EventRequest) {
	e, _, err := checkEvent(req, time.Now().UTC(), false)
	if err != nil {
		s.Metrics.EventAccepted(req.Type, metrics.EventInvalid)
		s.fail(w, r, err)
		return
	}
	plans := s.Router.Catalog.FansOut(e.Type)
	journeys := make([]string, len(plans))
	for i, p := range plans {
		journeys[i] = p.Journey
	}
	inserted, err := s.Store.RecordFanout(r.Context(), e, journeys)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	resp := wire.EventResponse{ID: e.ID, Status: wire.StatusAccepted, Routing: wire.RoutingFanOut,
		RoutingResult: wire.RoutingResult{Started: []string{}, Delivered: []string{}}, FanOut: journeys}
	status := http.StatusAccepted
	if !inserted {
		resp.Status, status = wire.StatusDuplicate, http.StatusOK
	}
	s.Router.NudgeFanouts()
	s.Metrics.EventAccepted(e.Type, resp.Status)
	writeJSON(w, status, resp)
}

// looksLikeBatch reports whether a body is an object whose first member is
// "events", reading no further than that.
func looksLikeBatch(body []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return false
	}
	tok, err := dec.Token()
	return err == nil && tok == "events"
}

func noCustomer(id string) *apiError {
	return &apiError{Status: http.StatusUnprocessableEntity, Field: "customer_id",
		Message: fmt.Sprintf("customer_id: no customer %s; create it with POST /v1/customers first", id)}
}

// postEvents stores a batch: each event is checked on its own (a bad one
// is rejected with the field at fault, the others go on), the good ones
// are stored in one transaction, and the answer comes once they are
// stored. Routing is queued; the sweeper catches what the queue drops.
func (s *Server) postEvents(w http.ResponseWriter, r *http.Request, raw json.RawMessage) {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		s.fail(w, r, badField("events", "must be a list of events"))
		return
	}
	switch {
	case len(items) == 0:
		s.fail(w, r, badField("events", "is empty; send between 1 and %d events", MaxBatch))
		return
	case len(items) > MaxBatch:
		s.fail(w, r, badField("events", "holds %d events; send at most %d at a time", len(items), MaxBatch))
		return
	}
	now := time.Now().UTC()
	resp := wire.BatchResponse{Results: make([]wire.BatchResult, len(items))}
	types := make([]string, len(items)) // for the metrics
	var batch []store.NewEvent
	var where []int // index in items of each batch entry
	// seen holds the index of each id's first event in the batch, and
	// the event.
	type first struct {
		index int
		event store.Event
	}
	seen := map[string]first{}
	for i, item := range items {
		res := &resp.Results[i]
		res.Index = i
		var req wire.EventRequest
		err := decodeBytes(item, &req, "")
		types[i] = req.Type
		var ne store.NewEvent
		if err == nil {
			res.ID = req.ID
			ne, err = validateEvent(&req, now)
		} else {
			res.ID = refusedID(item) // to say which event, when it can
		}
		e := ne.Event
		if err == nil {
			if f, ok := seen[e.ID]; ok {
				// The same event twice is a duplicate; another event under
				// the same id is refused, as it is when the first was
				// stored before.
				if why := differs(e, f.event, true); why != "" {
					err = reusedID(e, f.event, why, fmt.Sprintf("is also at index %d of this batch", f.index))
				} else {
					res.Status = wire.StatusDuplicate
					resp.Duplicates++
					continue
				}
			}
		}
		if err != nil {
			reject(res, err)
			resp.Rejected++
			continue
		}
		seen[e.ID] = first{index: i, event: e}
		batch = append(batch, ne)
		where = append(where, i)
	}
	if err := s.storeBatch(r.Context(), batch, where, &resp); err != nil {
		s.fail(w, r, err)
		return
	}
	for i, res := range resp.Results {
		result := res.Status
		if result == wire.StatusRejected {
			result = metrics.EventInvalid
		}
		s.Metrics.EventAccepted(types[i], result)
	}
	writeJSON(w, http.StatusOK, resp)
}

// storeBatch stores the checked events of a batch (batch[j] is the
// batch's event at index where[j]): each whose customer is unknown or
// erased is rejected, the others are stored in one transaction and their
// lines of resp say what became of them (accepted, duplicate, or rejected
// with why); the new ones are queued for routing. An error is one to
// answer the whole request with (the database out of reach).
func (s *Server) storeBatch(ctx context.Context, batch []store.NewEvent, where []int, resp *wire.BatchResponse) error {
	if err := s.checkCustomers(ctx, batch, where, resp); err != nil {
		return err
	}
	kept := batch[:0]
	keptWhere := where[:0]
	for j, ne := range batch {
		if resp.Results[where[j]].Status == "" {
			kept = append(kept, ne)
			keptWhere = append(keptWhere, where[j])
		}
	}
	recorded, refused, err := s.recordBatch(ctx, kept)
	if err != nil {
		return err
	}
	var toRoute, routed []store.Event
	for j, rec := range recorded {
		res := &resp.Results[keptWhere[j]]
		if pe := refused[j]; pe != nil {
			res.Status, res.Error = wire.StatusRejected, refusedValue(pe).Message
			resp.Rejected++
			continue
		}
		if rec.Refused != nil { // the order change it asks cannot be: not stored
			reject(res, orderRefusal(rec.Refused))
			resp.Rejected++
			continue
		}
		res.Order, res.Note = orderOutcomeBody(rec.Order)
		if !rec.Inserted {
			if err := s.checkReuse(ctx, kept[j].Event, rec.Event); err != nil {
				var refused *apiError
				if !errors.As(err, &refused) {
					return err
				}
				reject(res, err)
				resp.Rejected++
				continue
			}
		}
		if rec.Inserted {
			res.Status = wire.StatusAccepted
			resp.Accepted++
		} else {
			res.Status = wire.StatusDuplicate
			resp.Duplicates++
		}
		if rec.Event.RoutedAt == nil {
			toRoute = append(toRoute, rec.Event)
		} else if res.Status == wire.StatusDuplicate {
			routed = append(routed, rec.Event)
		}
	}
	for _, e := range toRoute {
		s.Router.Enqueue(e)
	}
	if err := s.restartFailedBatch(ctx, routed); err != nil {
		s.log().Warn("could not check a batch's duplicates for failed journeys", "error", err)
	}
	return nil
}

// recordBatch stores a batch's events in one transaction. Should the
// database refuse a value of one (something the checks let through), it
// stores them one by one instead, so the others are kept: refused holds
// the database's error for each event it refused, by index.
func (s *Server) recordBatch(ctx context.Context, batch []store.NewEvent) ([]store.Recorded, map[int]*pgconn.PgError, error) {
	if len(batch) == 0 {
		return nil, nil, nil
	}
	recorded, err := s.Store.RecordEvents(ctx, batch)
	if _, ok := dataError(err); !ok {
		return recorded, nil, err
	}
	s.log().Error("the database refused a value of a batch the API took; storing its events one by one", "events", len(batch), "error", err)
	recorded = make([]store.Recorded, len(batch))
	refused := map[int]*pgconn.PgError{}
	for j, ne := range batch {
		one, err := s.Store.RecordEvents(ctx, []store.NewEvent{ne})
		if pe, ok := dataError(err); ok {
			refused[j] = pe
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		recorded[j] = one[0]
	}
	return recorded, refused, nil
}

// refusedID is the id of an event of a batch that could not be decoded,
// when it has a valid one, else "".
func refusedID(item json.RawMessage) string {
	var probe struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(item, &probe) != nil || !workflows.ValidIDPart(probe.ID) {
		return ""
	}
	return probe.ID
}

// differs says how an event sent under an id already known (stored, or
// earlier in the same batch) differs from the known one: "" when it is the
// same event sent again, else "type", "customer" or "data". withData
// false leaves the data out of the comparison (the retention schedule
// removed the stored event's).
func differs(sent, known store.Event, withData bool) string {
	switch {
	case sent.Type != known.Type:
		return "type"
	case sent.CustomerID != known.CustomerID:
		return "customer"
	case withData && !sameJSON(sent.Data, known.Data):
		return "data"
	}
	return ""
}

// reusedID refuses an event sent under the id of another: where says
// where the other is ("was already received", "is also at index 2 of
// this batch"), why how the two differ (see differs).
func reusedID(sent, known store.Event, why, where string) *apiError {
	var how string
	switch why {
	case "type":
		how = fmt.Sprintf("with type %s, not %s", known.Type, sent.Type)
	case "customer":
		how = "for another customer"
	default:
		how = "with other data"
	}
	return &apiError{Status: http.StatusConflict, Field: "id",
		Message: fmt.Sprintf("id: event %s %s %s; %s", sent.ID, where, how, reuseAdvice)}
}

// reuseAdvice ends the refusal of an id used for another event.
const reuseAdvice = "an event id names one event, so give this one an id of its own (sending the same event again is harmless)"

// checkReuse refuses an event whose id was stored before for another
// event: another type, customer or data. The data is not compared when
// the retention schedule has removed the stored event's.
func (s *Server) checkReuse(ctx context.Context, sent, stored store.Event) error {
	why := differs(sent, stored, false)
	if why == "" && differs(sent, stored, true) != "" {
		removed, err := s.Store.EventDataRemoved(ctx, stored.ID)
		if err != nil {
			return err
		}
		if !removed {
			why = "data"
		}
	}
	if why == "" {
		return nil
	}
	return reusedID(sent, stored, why, "was already received")
}

// sameJSON reports whether two JSON documents hold the same value: the
// same members in any order, numbers equal as numbers (PostgreSQL keeps
// data as jsonb, which orders members its own way and writes 1e2 as
// 100). Empty is an empty object.
func sameJSON(a, b json.RawMessage) bool {
	va, errA := decodeValue(a)
	vb, errB := decodeValue(b)
	if errA != nil || errB != nil {
		return bytes.Equal(a, b)
	}
	return sameValue(va, vb)
}

func decodeValue(raw json.RawMessage) (any, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return map[string]any{}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

func sameValue(a, b any) bool {
	switch a := a.(type) {
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, va := range a {
			vb, ok := b[k]
			if !ok || !sameValue(va, vb) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !sameValue(a[i], b[i]) {
				return false
			}
		}
		return true
	case json.Number:
		b, ok := b.(json.Number)
		if !ok {
			return false
		}
		ra, okA := new(big.Rat).SetString(string(a))
		rb, okB := new(big.Rat).SetString(string(b))
		if !okA || !okB {
			return a == b
		}
		return ra.Cmp(rb) == 0
	default:
		return a == b // strings, booleans, null
	}
}

// restartFailedBatch restarts the failed journeys of a batch's duplicates
// already routed, as restartFailed does for one event.
func (s *Server) restartFailedBatch(ctx context.Context, events []store.Event) error {
	if len(events) == 0 {
		return nil
	}
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.ID
	}
	failed, err := s.Store.RestartableEvents(ctx, ids)
	if err != nil {
		return err
	}
	for _, e := range events {
		if failed[e.ID] {
			if _, err := s.Router.Restart(ctx, e); err != nil {
				s.log().Warn("could not restart an event's failed journeys", "event_id", e.ID, "error", err)
			}
		}
	}
	return nil
}

// checkCustomers rejects the events of a batch whose customer does not
// exist, with one query.
func (s *Server) checkCustomers(ctx context.Context, batch []store.NewEvent, where []int, resp *wire.BatchResponse) error {
	ids := make([]string, len(batch))
	for i, ne := range batch {
		ids[i] = ne.Event.CustomerID
	}
	known, err := s.Store.KnownCustomers(ctx, ids)
	if err != nil {
		return err
	}
	erased, err := s.Store.ErasedAmong(ctx, ids)
	if err != nil {
		return err
	}
	for j, ne := range batch {
		if erased[ne.Event.CustomerID] {
			reject(&resp.Results[where[j]], erasedCustomer(ne.Event.CustomerID))
			resp.Rejected++
		} else if !known[ne.Event.CustomerID] {
			reject(&resp.Results[where[j]], noCustomer(ne.Event.CustomerID))
			resp.Rejected++
		}
	}
	return nil
}

func reject(res *wire.BatchResult, err error) {
	res.Status = wire.StatusRejected
	var ae *apiError
	if errors.As(err, &ae) {
		res.Error, res.Field = ae.Message, ae.Field
		return
	}
	res.Error = err.Error()
}

// recordAndRoute stores an event (idempotently), then routes it unless it
// was already routed. A routing failure leaves the event for the sweeper.
// Routing does not hold the answer while Temporal cannot be reached: it
// runs under failfast (given up at the first call that finds no server)
// and RouteTimeout.
func (s *Server) recordAndRoute(ctx context.Context, ne store.NewEvent) (wire.EventResponse, error) {
	e := ne.Event
	resp := wire.EventResponse{ID: e.ID, Status: wire.StatusAccepted, Routing: wire.RoutingDone,
		RoutingResult: wire.RoutingResult{Started: []string{}, Delivered: []string{}}}
	rec, err := s.Store.RecordNewEvent(ctx, ne)
	if refused := (*store.OrderRefusal)(nil); errors.As(err, &refused) {
		return resp, orderRefusal(refused)
	}
	if err != nil {
		return resp, err
	}
	stored, inserted := rec.Event, rec.Inserted
	resp.Order, resp.Note = orderOutcomeBody(rec.Order)
	rctx, cancel := s.routeContext(ctx)
	defer cancel()
	if !inserted {
		resp.Status = wire.StatusDuplicate
		if err := s.checkReuse(ctx, e, stored); err != nil {
			return resp, err
		}
		if stored.RoutedAt != nil {
			return s.restartFailed(rctx, stored, resp)
		}
	}
	res, err := s.Router.Route(rctx, stored)
	resp.RoutingResult = routingBody(res)
	if err != nil {
		s.log().Warn("event stored, routing deferred", "event_id", e.ID, "error", err)
		resp.Routing = wire.RoutingPending
	}
	return resp, nil
}

// routeContext bounds the routing an answer waits for: RouteTimeout, and
// no waiting on a Temporal that cannot be reached (failfast).
func (s *Server) routeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancelFast := failfast.WithContext(ctx)
	ctx, cancelTimeout := context.WithTimeout(ctx, cmp.Or(s.RouteTimeout, DefaultRouteTimeout))
	return ctx, func() { cancelTimeout(); cancelFast() }
}

// restartFailed starts again the journeys an event already routed started
// whose run failed (an outage, say): posting the event again is how the
// shop retries it. It still answers duplicate, with the runs it started.
func (s *Server) restartFailed(ctx context.Context, e store.Event, resp wire.EventResponse) (wire.EventResponse, error) {
	failed, err := s.Store.RestartableEvents(ctx, []string{e.ID})
	if err != nil || !failed[e.ID] {
		return resp, err
	}
	res, err := s.Router.Restart(ctx, e)
	resp.RoutingResult = routingBody(res)
	if err != nil {
		s.log().Warn("event stored, restarting its failed journeys deferred", "event_id", e.ID, "error", err)
		resp.Routing = wire.RoutingPending
	}
	return resp, nil
}

// getEvent answers GET /v1/events/{id}: the stored event, compact. Data
// stored before the limits on data existed, and over them, is left out
// and said so, so the answer stays small.
func (s *Server) getEvent(w http.ResponseWriter, r *http.Request) {
	e, err := s.Store.GetEvent(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		writeJSON(w, http.StatusNotFound, wire.Error{Message: "no event " + r.PathValue("id")})
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := eventBody(e)
	var compact bytes.Buffer
	if len(e.Data) > 0 && (checkDepth(e.Data, maxDepth) != nil || json.Compact(&compact, e.Data) != nil || compact.Len() > maxDataBytes) {
		v.Data = nil
		v.DataOmitted = fmt.Sprintf("the data is over the limits (%s, %d levels deep) and is not shown", size(maxDataBytes), maxDepth)
	}
	writeJSON(w, http.StatusOK, v)
}
