package codec

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"go.temporal.io/sdk/converter"
)

// DefaultMaxBodyBytes is the largest request body the codec server reads
// unless ServerOptions.MaxBodyBytes says otherwise: 4 MiB, twice Temporal's
// default 2 MiB payload size limit.
const DefaultMaxBodyBytes = 4 << 20

// MinTokenLength is the shortest token NewServer accepts.
const MinTokenLength = 16

// tokenPrefix starts paths that carry the token: /t/<token>/decode.
const tokenPrefix = "/t/"

// CORS answers.
const (
	corsAllowMethods = "POST, OPTIONS"
	corsAllowHeaders = "Content-Type, Authorization, Authorization-Extras, X-Namespace"
	corsMaxAge       = "600"
)

// ServerOptions configures NewServer.
type ServerOptions struct {
	// Ring holds the keys; required.
	Ring *KeyRing
	// Token is the shared secret every /encode and /decode request must
	// present, as "Authorization: Bearer <token>" or as a path prefix
	// (/t/<token>/decode). Required: at least 16 characters of letters,
	// digits and - . _ ~ + = (`openssl rand -hex 32` makes a good one).
	Token string
	// Origins are the web origins allowed to call from a browser, such as
	// the Temporal UI at "https://temporal.example.com". Requests from
	// other origins get no CORS headers, so browsers refuse them.
	Origins []string
	// Log receives one record per request (never a token or a payload).
	// Nil discards.
	Log *slog.Logger
	// MaxBodyBytes bounds request bodies; larger ones get 413. Zero means
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
}

// NewServer returns an http.Handler speaking Temporal's codec-server
// protocol, for the Temporal UI ("Data Encoder" settings, or the UI
// server's codec.endpoint) and `temporal --codec-endpoint`:
//
//   - POST /encode and POST /decode take and return {"payloads": [...]}
//     (commonpb.Payloads in protobuf JSON), served by the SDK's
//     converter.NewPayloadCodecHTTPHandler over a Codec on opts.Ring;
//   - GET /healthz answers 200 without authentication.
//
// /encode and /decode need the token, either as "Authorization: Bearer
// <token>" or in the path: an endpoint of https://codec.example/t/<token>
// makes requests arrive at /t/<token>/decode, for UIs without single
// sign-on, where the Authorization header cannot be set (a path token is
// checked even when an Authorization header is present, as the UI may send
// its own access token there). Prefer the header where possible: paths end
// up in proxy logs. Tokens are compared in constant time; a missing or
// wrong token gets 401 with a JSON error.
//
// Browsers calling from one of opts.Origins get CORS headers (with
// credentials allowed) and their preflight requests 204; preflights from
// other origins get 403. NewServer refuses an empty or weak token, a ring
// without keys and malformed origins: the codec is never served open.
func NewServer(opts ServerOptions) (http.Handler, error) {
	c, err := NewCodec(opts.Ring)
	if err != nil {
		return nil, fmt.Errorf("codec server: %w", err)
	}
	if err := checkToken(opts.Token); err != nil {
		return nil, fmt.Errorf("codec server: %w", err)
	}
	origins := make(map[string]bool, len(opts.Origins))
	for _, o := range opts.Origins {
		norm, err := normalizeOrigin(o)
		if err != nil {
			return nil, fmt.Errorf("codec server: %w", err)
		}
		origins[norm] = true
	}
	maxBody := opts.MaxBodyBytes
	if maxBody <= 0 {
		maxBody = DefaultMaxBodyBytes
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &server{
		codec:     converter.NewPayloadCodecHTTPHandler(c),
		tokenHash: sha256.Sum256([]byte(opts.Token)),
		origins:   origins,
		maxBody:   maxBody,
		log:       log,
	}, nil
}

// checkToken refuses tokens that would leave the codec open or could not
// travel in a path segment.
func checkToken(tok string) error {
	if tok == "" {
		return errors.New("no token: the codec server must not be open; set one with `openssl rand -hex 32`")
	}
	if len(tok) < MinTokenLength {
		return fmt.Errorf("the token is %d characters; use at least %d, e.g. `openssl rand -hex 32`", len(tok), MinTokenLength)
	}
	for _, c := range []byte(tok) {
		if !validIDByte(c) && c != '~' && c != '+' && c != '=' {
			return errors.New("the token has a character other than letters, digits and - . _ ~ + = (it must fit in a URL path); use `openssl rand -hex 32`")
		}
	}
	return nil
}

// normalizeOrigin checks an allowed origin ("https://host[:port]") and
// returns it in the form browsers send.
func normalizeOrigin(o string) (string, error) {
	raw := strings.TrimSpace(o)
	if raw == "*" {
		return "", errors.New(`origin "*" is not allowed: credentials are allowed, so each origin must be named, such as https://temporal.example.com`)
	}
	u, err := url.Parse(strings.TrimSuffix(raw, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("origin %q is not of the form https://host[:port]", o)
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}

// server is the handler NewServer returns.
type server struct {
	codec     http.Handler
	tokenHash [sha256.Size]byte
	origins   map[string]bool
	maxBody   int64
	log       *slog.Logger
}

// ServeHTTP implements http.Handler.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}

	// Split off a path token; from here on only the rest of the path is
	// used or logged.
	p := r.URL.Path
	var pathToken string
	var hasPathToken bool
	if rest, ok := strings.CutPrefix(p, tokenPrefix); ok {
		pathToken, p, _ = strings.Cut(rest, "/")
		hasPathToken = true
		p = "/" + p
	}
	p = path.Clean(p)

	origin := r.Header.Get("Origin")
	allowed := origin != "" && s.origins[strings.ToLower(origin)]
	w.Header().Add("Vary", "Origin")
	if allowed {
		w.Header().Set("Access-Control-Allow-Origin", origin)
		w.Header().Set("Access-Control-Allow-Credentials", "true")
	}

	attrs := []any{"method", r.Method, "path", p, "namespace", r.Header.Get("X-Namespace")}
	if origin != "" {
		attrs = append(attrs, "origin", origin)
	}
	defer func() {
		level := slog.LevelDebug
		if rec.status >= 400 {
			level = slog.LevelWarn
		}
		s.log.Log(r.Context(), level, "codec request", append(attrs, "status", rec.status, "duration", time.Since(start))...)
	}()

	if r.Method == http.MethodOptions {
		s.preflight(rec, r, allowed)
		return
	}
	if p == "/healthz" && !hasPathToken {
		s.healthz(rec, r)
		return
	}
	if reason := s.authorize(r, pathToken, hasPathToken); reason != "" {
		attrs = append(attrs, "auth", reason)
		rec.Header().Set("WWW-Authenticate", `Bearer realm="rapport-codec"`)
		writeError(rec, http.StatusUnauthorized, "unauthorized: "+reason)
		return
	}
	switch p {
	case "/healthz":
		s.healthz(rec, r)
		return
	case "/encode", "/decode":
	default:
		writeError(rec, http.StatusNotFound, "not found: the codec serves POST /encode and POST /decode")
		return
	}
	if r.Method != http.MethodPost {
		rec.Header().Set("Allow", corsAllowMethods)
		writeError(rec, http.StatusMethodNotAllowed, "method not allowed: use POST")
		return
	}
	if r.ContentLength > s.maxBody {
		writeError(rec, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is %d bytes; the limit is %d", r.ContentLength, s.maxBody))
		return
	}
	var body []byte
	if r.Body != nil {
		var err error
		body, err = io.ReadAll(http.MaxBytesReader(rec, r.Body, s.maxBody))
		if err != nil {
			if _, tooBig := errors.AsType[*http.MaxBytesError](err); tooBig {
				writeError(rec, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is over the limit of %d bytes", s.maxBody))
				return
			}
			writeError(rec, http.StatusBadRequest, "read request body: "+err.Error())
			return
		}
	}
	attrs = append(attrs, "bytes", len(body))

	// Hand the SDK's handler a request without the token in its path.
	r2 := r.Clone(r.Context())
	r2.URL.Path = p
	r2.URL.RawPath = ""
	r2.Body = io.NopCloser(bytes.NewReader(body))
	r2.ContentLength = int64(len(body))
	s.codec.ServeHTTP(rec, r2)
}

// preflight answers a CORS preflight request.
func (s *server) preflight(w http.ResponseWriter, r *http.Request, allowed bool) {
	if !allowed {
		writeError(w, http.StatusForbidden, "origin not allowed")
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", corsAllowMethods)
	h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
	h.Set("Access-Control-Max-Age", corsMaxAge)
	if r.Header.Get("Access-Control-Request-Private-Network") == "true" {
		h.Set("Access-Control-Allow-Private-Network", "true")
	}
	w.WriteHeader(http.StatusNoContent)
}

// healthz answers liveness probes.
func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "method not allowed: use GET")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = io.WriteString(w, `{"status":"ok"}`+"\n")
	}
}

// authorize checks the path token if there is one, else the bearer token.
// It returns "" when the request may proceed, or why not (without the
// token).
func (s *server) authorize(r *http.Request, pathToken string, hasPathToken bool) string {
	tok := pathToken
	if !hasPathToken {
		auth := r.Header.Get("Authorization")
		if auth == "" {
			return "no token: send Authorization: Bearer <token>, or use the endpoint /t/<token>"
		}
		scheme, rest, ok := strings.Cut(auth, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return "the Authorization header is not of the form Bearer <token>"
		}
		tok = strings.TrimSpace(rest)
	}
	// Hashing first makes the comparison constant-time in the length too.
	got := sha256.Sum256([]byte(tok))
	if subtle.ConstantTimeCompare(got[:], s.tokenHash[:]) != 1 {
		return "wrong token"
	}
	return ""
}

// writeError writes {"error": msg} with status.
func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// statusRecorder remembers the status written, for the request log.
type statusRecorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

// WriteHeader records the status and passes it on.
func (r *statusRecorder) WriteHeader(status int) {
	if !r.wroteHeader {
		r.status = status
		r.wroteHeader = true
	}
	r.ResponseWriter.WriteHeader(status)
}

// Write passes the bytes on, recording an implicit 200.
func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wroteHeader = true
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
