package api

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/rapporthq/rapport/internal/api/wire"
	"github.com/rapporthq/rapport/internal/apikey"
	"github.com/rapporthq/rapport/internal/store"
)

// authenticate lets a request through to next only with a valid key in
// "Authorization: Bearer" that holds scope (an empty scope: any valid
// key). No key, an unknown key and a revoked key answer 401; a key without
// the scope answers 403 naming it.
func (s *Server) authenticate(scope apikey.Scope, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := bearer(r)
		if !ok && scope == apikey.SegmentWrite {
			// Segment's and RudderStack's senders put a write key in Basic
			// auth: the key is the user name (see segment.go).
			token, ok = basicKey(r)
		}
		if !ok {
			unauthorized(w, "invalid_request", "send an API key as Authorization: Bearer <key>; create one with `rapport keys create`")
			return
		}
		p, err := s.Store.Authenticate(r.Context(), token)
		switch {
		case errors.Is(err, store.ErrKeyRevoked):
			unauthorized(w, "invalid_token", "the API key has been revoked; ask for a new one")
			return
		case errors.Is(err, store.ErrKeyUnknown):
			unauthorized(w, "invalid_token", "the API key is not valid")
			return
		case err != nil:
			s.fail(w, r, err)
			return
		}
		if scope != "" && !apikey.Allows(p.Scopes, scope) {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer error="insufficient_scope", scope=%q`, scope))
			writeJSON(w, http.StatusForbidden, wire.Error{Message: fmt.Sprintf("the key %s lacks the scope %s that this request needs", p.Name, scope), Scope: string(scope)})
			return
		}
		next.ServeHTTP(w, r.WithContext(apikey.WithPrincipal(r.Context(), p)))
	})
}

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// basicKey returns the API key of an "Authorization: Basic" header whose
// user name is the key, as Segment's HTTP Tracking API carries a write key
// (base64 of "<key>:"); the password is not read.
func basicKey(r *http.Request) (string, bool) {
	scheme, enc, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return "", false
	}
	dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
	if err != nil {
		return "", false
	}
	user, _, _ := strings.Cut(string(dec), ":")
	user = strings.TrimSpace(user)
	return user, user != ""
}

func unauthorized(w http.ResponseWriter, code, message string) {
	w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="rapport", error=%q`, code))
	if code == "invalid_request" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="rapport"`)
	}
	writeJSON(w, http.StatusUnauthorized, wire.Error{Message: message})
}

// actor names who did a staff action: the person the request names, and
// the key it was made with ("sam (key support-desk)"), or the key alone.
func actor(r *http.Request, person string) string {
	p, ok := apikey.FromContext(r.Context())
	switch {
	case !ok:
		return person
	case strings.TrimSpace(person) == "":
		return p.Who()
	default:
		return strings.TrimSpace(person) + " (" + p.Who() + ")"
	}
}

// keyName is the name of the key a request was made with ("" if none).
func keyName(r *http.Request) string {
	p, _ := apikey.FromContext(r.Context())
	return p.Name
}
