// Package api serves Rapport's HTTP API: customers and events from the
// shop. Requests are validated field by field; an answer of 400 names the
// field at fault, and nothing is half-written.
package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"go.temporal.io/sdk/client"

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
	// ShopName is how the shop calls itself on its pages.
	ShopName string
	// Webhooks verifies provider callbacks.
	Webhooks WebhookKeys
	// Metrics counts the events received; nil records nothing.
	Metrics *metrics.Metrics
	Log     *slog.Logger
}

// maxBody bounds request bodies.
const maxBody = 1 << 20

// Handler returns the API's routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/customers", s.upsertCustomer)
	mux.HandleFunc("GET /v1/customers/{id}", s.getCustomer)
	mux.HandleFunc("POST /v1/events", s.postEvent)
	mux.HandleFunc("GET /v1/events/{id}", s.getEvent)
	mux.HandleFunc("POST /v1/orders", s.postOrder)
	mux.HandleFunc("POST /v1/products", s.postProducts)
	mux.HandleFunc("GET /v1/tasks", s.listTasks)
	mux.HandleFunc("GET /v1/tasks/{id}", s.getTask)
	mux.HandleFunc("POST /v1/tasks/{id}/claim", s.claimTask)
	mux.HandleFunc("POST /v1/tasks/{id}/complete", s.completeTask)
	mux.HandleFunc("GET /v1/vouchers/{code}", s.getVoucher)
	mux.HandleFunc("POST /v1/vouchers/{code}/redeem", s.redeemVoucher)
	mux.HandleFunc("POST /v1/journeys/{name}/audience-runs", s.runAudience)
	mux.HandleFunc("GET /v1/journeys/{name}/audience", s.previewAudience)
	mux.HandleFunc("GET /v1/customers/{id}/preferences", s.getPreferences)
	mux.HandleFunc("PUT /v1/customers/{id}/preferences", s.putPreferences)
	mux.HandleFunc("POST /v1/suppressions", s.postSuppression)
	mux.HandleFunc("GET /v1/suppressions/{channel}/{address}", s.getSuppression)
	mux.HandleFunc("DELETE /v1/suppressions/{channel}/{address}", s.deleteSuppression)
	mux.HandleFunc("GET /preferences/{token}", s.preferenceCenter)
	mux.HandleFunc("POST /preferences/{token}", s.savePreferenceCenter)
	mux.HandleFunc("GET /unsubscribe/{token}", s.unsubscribePage)
	mux.HandleFunc("POST /unsubscribe/{token}", s.unsubscribe)
	mux.HandleFunc("POST /webhooks/sendgrid", s.sendgridWebhook)
	mux.HandleFunc("POST /webhooks/twilio/inbound", s.twilioInbound)
	mux.HandleFunc("POST /webhooks/twilio/status", s.twilioStatus)
	mux.HandleFunc("POST /webhooks/lob", s.lobWebhook)
	mux.HandleFunc("GET /survey/{token}", s.surveyPage)
	mux.HandleFunc("POST /survey/{token}", s.answerSurvey)
	return s.logRequests(mux)
}

// apiError is an error answer: {"error": "...", "field": "..."}.
type apiError struct {
	Status  int    `json:"-"`
	Message string `json:"error"`
	Field   string `json:"field,omitempty"`
}

func (e *apiError) Error() string { return e.Message }

func badField(field, format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Field: field, Message: field + ": " + fmt.Sprintf(format, args...)}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if errors.As(err, &ae) {
		writeJSON(w, ae.Status, ae)
		return
	}
	// The route pattern, not the path: paths hold addresses and tokens.
	s.log().Error("request failed", "method", r.Method, "route", r.Pattern, "error", err)
	writeJSON(w, http.StatusInternalServerError, &apiError{Message: "internal error; the request was not applied, try again"})
}

// decode reads a JSON body strictly: unknown fields are errors (they are
// usually typos), and type errors name the field.
func decode(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return &apiError{Status: http.StatusUnsupportedMediaType, Message: "send JSON with Content-Type: application/json"}
	}
	return decodeJSON(io.LimitReader(r.Body, maxBody+1), v)
}

// decodeJSON reads one JSON value strictly, as decode does.
func decodeJSON(rd io.Reader, v any) error {
	dec := json.NewDecoder(rd)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case err == nil:
		if dec.More() {
			return &apiError{Status: http.StatusBadRequest, Message: "the body holds more than one JSON value"}
		}
		return nil
	case errors.Is(err, io.EOF):
		return &apiError{Status: http.StatusBadRequest, Message: "the body is empty; send a JSON object"}
	case errors.As(err, &syntax):
		return &apiError{Status: http.StatusBadRequest, Message: fmt.Sprintf("the body is not valid JSON at byte %d: %v", syntax.Offset, err)}
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "body"
		}
		return badField(field, "must be %s, not %s", describeKind(typ.Type.Kind().String()), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &apiError{Status: http.StatusBadRequest, Field: name, Message: fmt.Sprintf("unknown field %q; check its spelling against the API reference in README.md", name)}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &apiError{Status: http.StatusBadRequest, Message: "the body ends in the middle of a JSON value"}
	default:
		return &apiError{Status: http.StatusBadRequest, Message: "could not read the body: " + err.Error()}
	}
}

func describeKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "float64", "int", "int64":
		return "a number"
	case "bool":
		return "true or false"
	case "map", "struct":
		return "an object"
	case "slice":
		return "a list"
	}
	return k
}

// notFound answers 404 with a sentence.
func notFound(w http.ResponseWriter, what, id string) {
	writeJSON(w, http.StatusNotFound, &apiError{Message: fmt.Sprintf("no %s %s", what, id)})
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
