// Package api serves Rapport's HTTP API: customers and events from the
// shop. Requests are validated field by field; an answer of 400 names the
// field at fault, and nothing is half-written.
package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/rapporthq/rapport/docs"
	"github.com/rapporthq/rapport/internal/api/wire"
	"github.com/rapporthq/rapport/internal/apikey"
	"github.com/rapporthq/rapport/internal/links"
	"github.com/rapporthq/rapport/internal/metrics"
	"github.com/rapporthq/rapport/internal/policy"
	"github.com/rapporthq/rapport/internal/router"
	"github.com/rapporthq/rapport/internal/store"
)

// Server is the HTTP API.
type Server struct {
	Store    *store.Store
	Router   *router.Router
	Temporal client.Client
	// Links checks the signed links in messages (surveys, the preference
	// center, unsubscribe).
	Links *links.Signer
	// Rules are the contact rules where customers have not chosen.
	Rules policy.Rules
	// Topics are the marketing topics the journeys use, offered in the
	// preference center.
	Topics []string
	// TopicLabels name topics to customers, by topic then locale
	// (reviews: {en: Reviews, fr: Avis}), from RAPPORT_TOPICS_FILE; a
	// topic or language without one gets Rapport's own words, else the
	// topic's key.
	TopicLabels map[string]map[string]string
	// ShopName is how the shop calls itself on its pages.
	ShopName string
	// Webhooks verifies provider callbacks.
	Webhooks WebhookKeys
	// PublicLimit bounds how fast one client may call the public pages
	// and webhooks (DefaultPublicLimit when zero).
	PublicLimit PublicLimit
	// RouteTimeout bounds how long the answer to one event (and to a
	// survey answer) waits for its routing; DefaultRouteTimeout when
	// zero. Routing gives up sooner, at once, when Temporal cannot be
	// reached (internal/failfast, on a client dialled with its
	// interceptor). Either way the event stays stored, answered
	// "pending", and the sweeper routes it.
	RouteTimeout time.Duration
	// RunRecordTimeout bounds how long the answer to a claim, an
	// assignment, an unclaim or a note of a task waits for the task's
	// journey run to record it (DefaultRunRecordTimeout when zero); the
	// task row has changed either way, and the answer says whether the
	// run recorded it.
	RunRecordTimeout time.Duration
	// Metrics counts the events received; nil records nothing.
	Metrics *metrics.Metrics
	Log     *slog.Logger

	// sendgridFailed is when the API last failed to take a verified post
	// of SendGrid's webhook and could not record it yet (the database
	// was down): it is recorded with the next post taken.
	sendgridFailed atomic.Pointer[time.Time]
}

// DefaultRouteTimeout is how long the answer to one event waits for its
// routing unless Server.RouteTimeout says otherwise: long enough for a
// Temporal that answers, however busy; a Temporal that does not answer at
// all (a network that drops packets) is given up on then.
const DefaultRouteTimeout = 5 * time.Second

// maxBody bounds request bodies.
const maxBody = 1 << 20

// route is one of the API's routes: its pattern, the scope a key needs to
// call it (empty: a public route, reached without a key), and its handler.
type route struct {
	pattern string
	scope   apikey.Scope
	handle  http.HandlerFunc
}

// public marks the routes customers and providers reach without a key:
// signed pages and signed webhooks. They are rate-limited per client.
const public apikey.Scope = ""

// routes lists every route the API serves. A /v1 route must name the scope
// it needs (TestEveryV1RouteNeedsAScope holds this table to that).
func (s *Server) routes() []route {
	return []route{
		{"POST /v1/customers", apikey.CustomersWrite, s.upsertCustomer},
		{"GET /v1/customers/{id}", apikey.CustomersRead, s.getCustomer},
		{"DELETE /v1/customers/{id}", apikey.Erase, s.eraseCustomer},
		{"GET /v1/customers/{id}/erasure", apikey.Erase, s.getErasure},
		{"POST /v1/events", apikey.EventsWrite, s.postEvent},
		{"GET /v1/events/{id}", apikey.CustomersRead, s.getEvent},
		{"GET /v1/fanouts", apikey.CustomersRead, s.listFanouts},
		{"POST /v1/fanouts/{event_id}/{journey}/retry", apikey.EventsWrite, s.retryFanout},
		{"POST /v1/orders", apikey.EventsWrite, s.postOrder},
		{"POST /v1/orders/{id}/status", apikey.EventsWrite, s.postOrderStatus},
		{"POST /v1/products", apikey.CatalogWrite, s.postProducts},
		{"GET /v1/tasks", apikey.TasksRead, s.listTasks},
		{"GET /v1/tasks/{id}", apikey.TasksRead, s.getTask},
		{"POST /v1/tasks/{id}/claim", apikey.TasksWrite, s.claimTask},
		{"POST /v1/tasks/{id}/complete", apikey.TasksWrite, s.completeTask},
		{"POST /v1/tasks/{id}/assign", apikey.TasksWrite, s.assignTask},
		{"POST /v1/tasks/{id}/unclaim", apikey.TasksWrite, s.unclaimTask},
		{"POST /v1/tasks/{id}/notes", apikey.TasksWrite, s.noteTask},
		{"GET /v1/vouchers/{code}", apikey.VouchersWrite, s.getVoucher},
		{"POST /v1/vouchers/{code}/redeem", apikey.VouchersWrite, s.redeemVoucher},
		{"POST /v1/journeys/{name}/audience-runs", apikey.AudiencesRun, s.runAudience},
		{"GET /v1/journeys/{name}/audience", apikey.AudiencesRun, s.previewAudience},
		{"GET /v1/journeys/{name}/report", apikey.ReportsRead, s.getReport},
		{"POST /v1/journeys/{name}/report-links", apikey.ReportsRead, s.postReportLink},
		{"GET /v1/customers/{id}/export", apikey.CustomersRead, s.exportCustomer},
		{"GET /v1/customers/{id}/preferences", apikey.CustomersRead, s.getPreferences},
		{"PUT /v1/customers/{id}/preferences", apikey.PreferencesWrite, s.putPreferences},
		{"POST /v1/suppressions", apikey.SuppressionsWrite, s.postSuppression},
		{"GET /v1/suppressions/{channel}/{address}", apikey.CustomersRead, s.getSuppression},
		{"DELETE /v1/suppressions/{channel}/{address}", apikey.SuppressionsWrite, s.deleteSuppression},
		{"POST /v1/segment", apikey.SegmentWrite, s.segmentRoute("")},
		{"POST /v1/segment/track", apikey.SegmentWrite, s.segmentRoute("track")},
		{"POST /v1/segment/identify", apikey.SegmentWrite, s.segmentRoute("identify")},
		{"POST /v1/segment/page", apikey.SegmentWrite, s.segmentRoute("page")},
		{"POST /v1/segment/batch", apikey.SegmentWrite, s.segmentRoute("batch")},
		{"GET /preferences/{token}", public, s.preferenceCenter},
		{"POST /preferences/{token}", public, s.savePreferenceCenter},
		{"GET /unsubscribe/{token}", public, s.unsubscribePage},
		{oneClickUnsubscribe, public, s.unsubscribe},
		{"POST /webhooks/sendgrid", public, s.sendgridWebhook},
		{"POST /webhooks/twilio/inbound", public, s.twilioInbound},
		{"POST /webhooks/twilio/status", public, s.twilioStatus},
		{"POST /webhooks/lob", public, s.lobWebhook},
		{"POST /webhooks/shopify", public, s.shopifyWebhook},
		{"GET /survey/{token}", public, s.surveyPage},
		{"POST /survey/{token}", public, s.answerSurvey},
		{"GET /reports/{name}", public, s.reportPage},
		{"POST /reports/{name}", public, s.signInToReport},
		{contractRoute, public, s.contract()},
	}
}

// oneClickUnsubscribe is the route mailbox providers post RFC 8058
// one-click unsubscribes to.
const oneClickUnsubscribe = "POST /unsubscribe/{token}"

// contractRoute serves the API's OpenAPI document. It is the one /v1
// route reached without a key: a contract holds no data, and a shop's
// developer needs it before they have a key.
const contractRoute = "GET /v1/openapi.json"

// contract answers the API's OpenAPI document (docs/openapi.yaml) as JSON.
func (s *Server) contract() http.HandlerFunc {
	body, err := docs.OpenAPIJSON()
	return func(w http.ResponseWriter, r *http.Request) {
		if err != nil {
			s.fail(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(body)
	}
}

// Handler returns the API's routes: /v1 behind API keys, the signed pages
// and webhooks public but rate-limited.
func (s *Server) Handler() http.Handler {
	return s.mount(s.routes())
}

// mount serves routes, each behind its door.
func (s *Server) mount(routes []route) http.Handler {
	mux := http.NewServeMux()
	pages, webhooks := newClientLimiters(s.PublicLimit)
	for _, rt := range routes {
		var h http.Handler = rt.handle
		switch {
		case rt.scope == public && (strings.Contains(rt.pattern, " /webhooks/") || rt.pattern == oneClickUnsubscribe):
			// Providers' servers call these for thousands of people from a
			// few addresses (RFC 8058 one-click unsubscribes come from the
			// mailbox provider, not the customer).
			h = webhooks.wrap(h)
		case rt.scope == public:
			h = pages.wrap(h)
		default:
			h = s.authenticate(rt.scope, s.checkParams(rt.pattern, h))
		}
		mux.Handle(rt.pattern, h)
	}
	// Anything else under /v1 still needs a key: an unknown path answers
	// 401 to a caller without one, so the API's shape is not probed freely.
	mux.Handle("/v1/", s.authenticate("", http.NotFoundHandler()))
	return s.logRequests(mux)
}

// checkParams refuses a /v1 request whose path values or query
// parameters are not one line of text (invalid UTF-8, NUL, a line break
// or another control character) or are longer than maxParam characters,
// naming the parameter; the handler never sees them.
func (s *Server) checkParams(pattern string, next http.Handler) http.Handler {
	var names []string
	for rest := pattern; ; {
		i := strings.IndexByte(rest, '{')
		j := strings.IndexByte(rest, '}')
		if i < 0 || j < i {
			break
		}
		names = append(names, strings.TrimSuffix(rest[i+1:j], "..."))
		rest = rest[j+1:]
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, name := range names {
			if err := param(name, r.PathValue(name)); err != nil {
				s.fail(w, r, err)
				return
			}
		}
		for _, name := range sortedKeys(r.URL.Query()) {
			if err := param("query parameter", name); err != nil {
				s.fail(w, r, err)
				return
			}
			for _, v := range r.URL.Query()[name] {
				if err := param(name, v); err != nil {
					s.fail(w, r, err)
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// param checks a path value or query parameter: UTF-8 text of one line,
// at most maxParam characters.
func param(name, v string) error {
	if !utf8.ValidString(v) {
		return badField(name, "is not valid UTF-8; send text encoded as UTF-8 (percent-encoded in the URL)")
	}
	return text(name, v, maxParam, true)
}

// apiError is an error to answer with its status; its body is a
// wire.Error: {"error": "...", "field": "..."}.
type apiError struct {
	Status  int
	Message string
	Field   string
	// Scope is the scope a key lacks, on a 403.
	Scope string
}

func (e *apiError) Error() string { return e.Message }

// body is the error's answer.
func (e *apiError) body() wire.Error {
	return wire.Error{Message: e.Message, Field: e.Field, Scope: e.Scope}
}

func badField(field, format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Field: field, Message: field + ": " + fmt.Sprintf(format, args...)}
}

// writeJSON answers v as compact JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// fail answers an error: an *apiError as it says; the database out of
// reach as 503 with Retry-After (the request may be repeated); anything
// else as 500, logged.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if errors.As(err, &ae) {
		writeJSON(w, ae.Status, ae.body())
		return
	}
	if errors.Is(err, store.ErrErased) {
		// An erasure began between the API's check and the write.
		writeJSON(w, http.StatusGone, wire.Error{Message: "the customer was erased; nothing of theirs is taken. If they sign up again, create them with POST /v1/customers first"})
		return
	}
	// The route pattern, not the path: paths hold addresses and tokens.
	if pe, ok := dataError(err); ok {
		// A value checkStorable and the handler's checks should have
		// refused, naming its field: refused all the same, as the
		// request's fault, and logged to be caught earlier next time.
		s.log().Error("the database refused a value of a request the API took", "method", r.Method, "route", r.Pattern, "sqlstate", pe.Code, "error", err)
		writeJSON(w, http.StatusBadRequest, refusedValue(pe))
		return
	}
	if temporalBusy(err) {
		s.log().Warn("temporal unavailable or busy", "method", r.Method, "route", r.Pattern, "error", err)
		w.Header().Set("Retry-After", retryAfter)
		writeJSON(w, http.StatusServiceUnavailable, wire.Error{Message: "Temporal cannot take this just now (unavailable or busy); try again in a few seconds (repeating the request is safe)"})
		return
	}
	if unavailable(err) {
		s.log().Warn("database unavailable", "method", r.Method, "route", r.Pattern, "error", err)
		w.Header().Set("Retry-After", retryAfter)
		writeJSON(w, http.StatusServiceUnavailable, wire.Error{Message: "the database cannot be reached just now; try again in a few seconds (repeating the request is safe)"})
		return
	}
	s.log().Error("request failed", "method", r.Method, "route", r.Pattern, "error", err)
	writeJSON(w, http.StatusInternalServerError, wire.Error{Message: "internal error; the request was not applied, try again"})
}

// temporalBusy reports whether err is Temporal saying it cannot take a
// request for now: unreachable, overloaded, or too slow to answer (an
// update a busy workflow has not taken in time). The request was not
// applied, or applying it again is refused as done: repeating is safe.
func temporalBusy(err error) bool {
	var (
		unavailable *serviceerror.Unavailable
		deadline    *serviceerror.DeadlineExceeded
		exhausted   *serviceerror.ResourceExhausted
		notReady    *serviceerror.WorkflowNotReady
		canceled    *serviceerror.Canceled
		aborted     *serviceerror.Aborted
	)
	return errors.As(err, &unavailable) || errors.As(err, &deadline) || errors.As(err, &exhausted) ||
		errors.As(err, &notReady) || errors.As(err, &canceled) || errors.As(err, &aborted)
}

// dataError returns the database's error when err is one of its data
// exceptions (SQLSTATE class 22: a value it cannot store, such as text
// with NUL or a number out of range).
func dataError(err error) (*pgconn.PgError, bool) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && strings.HasPrefix(pe.Code, "22") {
		return pe, true
	}
	return nil, false
}

// refusedValue is the answer to a value the database refused.
func refusedValue(pe *pgconn.PgError) wire.Error {
	return wire.Error{Message: fmt.Sprintf("a value of the request cannot be stored (%s); check its text (no NUL characters, UTF-8 only) and numbers", pe.Message)}
}

// decode reads a JSON body strictly: at most maxBody bytes (413 past
// that), nested at most maxDepth deep, unknown fields are errors (they
// are usually typos), and type errors name the field by its full path.
func decode(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return &apiError{Status: http.StatusUnsupportedMediaType, Message: "send JSON with Content-Type: application/json"}
	}
	return decodeJSON(r.Body, v)
}

// decodeJSON reads one JSON value strictly, as decode does.
func decodeJSON(rd io.Reader, v any) error {
	body, err := readBody(rd, maxBody)
	if err != nil {
		return err
	}
	return decodeBytes(body, v, "")
}

// decodeBytes decodes body into v strictly, as decode does, holding it to
// checkStorable; prefix is the path of body in the request
// ("data.order"), for error messages.
func decodeBytes(body []byte, v any, prefix string) error {
	if err := checkDepth(body, maxDepth); err != nil {
		if prefix != "" {
			return badField(prefix, "nests objects and lists more than %d levels deep, the most accepted", maxDepth)
		}
		return err
	}
	if err := checkStorable(body, prefix); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case err == nil:
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return &apiError{Status: http.StatusBadRequest, Message: "the body holds more than one JSON value, or something after it"}
		}
		return nil
	case errors.Is(err, io.EOF):
		return &apiError{Status: http.StatusBadRequest, Message: "the body is empty; send a JSON object"}
	case errors.As(err, &syntax):
		return &apiError{Status: http.StatusBadRequest, Message: fmt.Sprintf("the body is not valid JSON at byte %d: %v", syntax.Offset, err)}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &apiError{Status: http.StatusBadRequest, Message: "the body ends in the middle of a JSON value"}
	}
	// A type error, an unknown field or a value a custom decoder refused:
	// find where, by its full path.
	if t := reflect.TypeOf(v); t != nil && t.Kind() == reflect.Pointer {
		if ae := locate(body, t.Elem(), prefix); ae != nil {
			return ae
		}
	}
	switch {
	case errors.As(err, &typ):
		field := join(prefix, typ.Field)
		if field == "" {
			field = "body"
		}
		return badField(field, "must be %s, not %s", describeKind(typ.Type.Kind().String()), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := join(prefix, strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`))
		return &apiError{Status: http.StatusBadRequest, Field: name, Message: fmt.Sprintf("%s: unknown field; check its spelling against the API reference (docs/api.md, or /v1/openapi.json)", name)}
	default:
		return &apiError{Status: http.StatusBadRequest, Message: "could not read the body: " + err.Error()}
	}
}

func describeKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "float64", "float32":
		return "a number"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "a whole number"
	case "bool":
		return "true or false"
	case "map", "struct":
		return "an object"
	case "slice", "array":
		return "a list"
	}
	return k
}

// notFound answers 404 with a sentence.
func notFound(w http.ResponseWriter, what, id string) {
	writeJSON(w, http.StatusNotFound, wire.Error{Message: fmt.Sprintf("no %s %s", what, id)})
}

func (s *Server) log() *slog.Logger {
	if s.Log == nil {
		return slog.Default()
	}
	return s.Log
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// logRequests logs each request's method, path and status (no bodies:
// they hold personal data).
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		s.log().Debug("request", "method", r.Method, "path", r.URL.Path, "status", rec.status)
	})
}
