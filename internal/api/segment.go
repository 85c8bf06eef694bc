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
	"strings"
	"time"

	"github.com/rapporthq/rapport/internal/api/wire"
	"github.com/rapporthq/rapport/internal/metrics"
	"github.com/rapporthq/rapport/internal/store"
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
