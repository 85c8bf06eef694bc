package api

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/apikey"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/store/storetest"
)

// wantScopes is every route the API serves and the scope it needs (""
// for the public, signed routes). A route added to routes() without a
// line here fails TestEveryRouteHasItsDoor, so no /v1 route can be added
// without deciding who may call it.
var wantScopes = map[string]apikey.Scope{
	"POST /v1/customers":                          apikey.CustomersWrite,
	"GET /v1/customers/{id}":                      apikey.CustomersRead,
	"DELETE /v1/customers/{id}":                   apikey.Erase,
	"GET /v1/customers/{id}/export":               apikey.CustomersRead,
	"GET /v1/customers/{id}/erasure":              apikey.Erase,
	"POST /v1/events":                             apikey.EventsWrite,
	"POST /v1/segment":                            apikey.SegmentWrite,
	"POST /v1/segment/track":                      apikey.SegmentWrite,
	"POST /v1/segment/identify":                   apikey.SegmentWrite,
	"POST /v1/segment/page":                       apikey.SegmentWrite,
	"POST /v1/segment/batch":                      apikey.SegmentWrite,
	"GET /v1/events/{id}":                         apikey.CustomersRead,
	"GET /v1/fanouts":                             apikey.CustomersRead,
	"POST /v1/fanouts/{event_id}/{journey}/retry": apikey.EventsWrite,
	"POST /v1/orders":                             apikey.EventsWrite,
	"POST /v1/orders/{id}/status":                 apikey.EventsWrite,
	"POST /v1/products":                           apikey.CatalogWrite,
	"GET /v1/tasks":                               apikey.TasksRead,
	"GET /v1/tasks/{id}":                          apikey.TasksRead,
	"POST /v1/tasks/{id}/claim":                   apikey.TasksWrite,
	"POST /v1/tasks/{id}/assign":                  apikey.TasksWrite,
	"POST /v1/tasks/{id}/unclaim":                 apikey.TasksWrite,
	"POST /v1/tasks/{id}/notes":                   apikey.TasksWrite,
	"POST /v1/tasks/{id}/complete":                apikey.TasksWrite,
	"GET /v1/vouchers/{code}":                     apikey.VouchersWrite,
	"POST /v1/vouchers/{code}/redeem":             apikey.VouchersWrite,
	"POST /v1/journeys/{name}/audience-runs":      apikey.AudiencesRun,
	"GET /v1/journeys/{name}/audience":            apikey.AudiencesRun,
	"GET /v1/journeys/{name}/report":              apikey.ReportsRead,
	"POST /v1/journeys/{name}/report-links":       apikey.ReportsRead,
	"GET /v1/customers/{id}/preferences":          apikey.CustomersRead,
	"PUT /v1/customers/{id}/preferences":          apikey.PreferencesWrite,
	"POST /v1/suppressions":                       apikey.SuppressionsWrite,
	"GET /v1/suppressions/{channel}/{address}":    apikey.CustomersRead,
	"DELETE /v1/suppressions/{channel}/{address}": apikey.SuppressionsWrite,
	"GET /preferences/{token}":                    public,
	"POST /preferences/{token}":                   public,
	"GET /unsubscribe/{token}":                    public,
	"POST /unsubscribe/{token}":                   public,
	"POST /webhooks/sendgrid":                     public,
	"POST /webhooks/twilio/inbound":               public,
	"POST /webhooks/twilio/status":                public,
	"POST /webhooks/lob":                          public,
	"POST /webhooks/shopify":                      public,
	"GET /survey/{token}":                         public,
	"POST /survey/{token}":                        public,
	"GET /reports/{name}":                         public,
	"POST /reports/{name}":                        public,
	"GET /v1/openapi.json":                        public,
}

func TestEveryRouteHasItsDoor(t *testing.T) {
	s := &Server{}
	got := map[string]apikey.Scope{}
	for _, rt := range s.routes() {
		_, path, _ := strings.Cut(rt.pattern, " ")
		if rt.pattern == contractRoute {
			assert.Equal(t, public, rt.scope, "the contract is public")
		} else if strings.HasPrefix(path, "/v1/") {
			assert.NotEqual(t, public, rt.scope, "%s is under /v1 and must name a scope", rt.pattern)
		} else {
			assert.Equal(t, public, rt.scope, "%s is outside /v1: only signed pages and webhooks live there", rt.pattern)
			assert.Regexp(t, `^/(preferences|unsubscribe|survey|webhooks|reports)/`, path, "%s: a new public route needs a signature check and a place in README's Security section", rt.pattern)
		}
		got[rt.pattern] = rt.scope
	}
	assert.Equal(t, wantScopes, got, "routes() and wantScopes differ: add the route here with the scope it needs")
}

// authServer is an API over a real database whose handlers are stand-ins
// that answer 200 with the key's name, so every route's door is tested
// alone.
func authServer(t *testing.T) (*Server, http.Handler) {
	t.Helper()
	st, _ := storetest.New(t)
	s := &Server{Store: st, PublicLimit: PublicLimit{Rate: 1000, Burst: 1000, WebhookRate: 1000, WebhookBurst: 1000}}
	routes := s.routes()
	for i := range routes {
		routes[i].handle = func(w http.ResponseWriter, r *http.Request) {
			p, _ := apikey.FromContext(r.Context())
			fmt.Fprint(w, "ok "+p.Name)
		}
	}
	return s, s.mount(routes)
}

func call(h http.Handler, pattern, key string) *httptest.ResponseRecorder {
	method, path, _ := strings.Cut(pattern, " ")
	path = strings.NewReplacer("{id}", "x1", "{code}", "CODE", "{name}", "thank-you", "{channel}", "email", "{address}", "a@example.com", "{token}", "tok").Replace(path)
	req := httptest.NewRequest(method, path, nil)
	req.RemoteAddr = "192.0.2.10:5555"
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestEveryV1RouteAnswersOnlyToAKeyWithItsScope(t *testing.T) {
	s, h := authServer(t)
	ctx := context.Background()
	_, admin, err := s.Store.CreateAPIKey(ctx, "ops-admin", []apikey.Scope{apikey.Admin})
	require.NoError(t, err)
	_, revoked, err := s.Store.CreateAPIKey(ctx, "old-laptop", []apikey.Scope{apikey.Admin})
	require.NoError(t, err)
	_, err = s.Store.RevokeAPIKey(ctx, "old-laptop")
	require.NoError(t, err)

	for _, rt := range s.routes() {
		if rt.scope == public {
			rec := call(h, rt.pattern, "")
			assert.Equal(t, http.StatusOK, rec.Code, "%s is public", rt.pattern)
			continue
		}
		rec := call(h, rt.pattern, "")
		assert.Equal(t, http.StatusUnauthorized, rec.Code, "%s without a key", rt.pattern)
		assert.Equal(t, `Bearer realm="rapport"`, rec.Header().Get("WWW-Authenticate"), rt.pattern)

		rec = call(h, rt.pattern, "rk_not-a-key")
		assert.Equal(t, http.StatusUnauthorized, rec.Code, "%s with a made-up key", rt.pattern)
		assert.Contains(t, rec.Header().Get("WWW-Authenticate"), `error="invalid_token"`)

		rec = call(h, rt.pattern, revoked)
		assert.Equal(t, http.StatusUnauthorized, rec.Code, "%s with a revoked key", rt.pattern)
		assert.Contains(t, rec.Body.String(), "revoked")

		// A key with every scope but this one is refused, naming it.
		var others []apikey.Scope
		for _, sc := range apikey.Scopes {
			if sc != rt.scope && sc != apikey.Admin {
				others = append(others, sc)
			}
		}
		_, without, err := s.Store.CreateAPIKey(ctx, "without-"+strings.ReplaceAll(string(rt.scope), ":", "-")+fmt.Sprint(time.Now().UnixNano()%1e6), others)
		require.NoError(t, err)
		rec = call(h, rt.pattern, without)
		assert.Equal(t, http.StatusForbidden, rec.Code, "%s without %s", rt.pattern, rt.scope)
		assert.Contains(t, rec.Body.String(), string(rt.scope), "the 403 names the missing scope")

		// A key with just this scope gets through, and the handler knows
		// whose key it is.
		_, only, err := s.Store.CreateAPIKey(ctx, "only-"+strings.ReplaceAll(string(rt.scope), ":", "-")+fmt.Sprint(time.Now().UnixNano()%1e6), []apikey.Scope{rt.scope})
		require.NoError(t, err)
		rec = call(h, rt.pattern, only)
		assert.Equal(t, http.StatusOK, rec.Code, "%s with %s", rt.pattern, rt.scope)
		assert.Contains(t, rec.Body.String(), "ok only-")

		rec = call(h, rt.pattern, admin)
		assert.Equal(t, "ok ops-admin", rec.Body.String(), "%s with admin", rt.pattern)
	}

	// An unknown /v1 path does not tell a stranger it does not exist.
	rec := call(h, "GET /v1/nothing-here", "")
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
	rec = call(h, "GET /v1/nothing-here", admin)
	assert.Equal(t, http.StatusNotFound, rec.Code)
}

func TestPublicRoutesAreRateLimitedPerClient(t *testing.T) {
	st, _ := storetest.New(t)
	s := &Server{Store: st, PublicLimit: PublicLimit{Rate: 1, Burst: 3, WebhookRate: 1, WebhookBurst: 5}}
	ok := func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }
	h := s.mount([]route{{"GET /survey/{token}", public, ok}, {"POST /webhooks/lob", public, ok}, {oneClickUnsubscribe, public, ok}})
	get := func(remote string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/survey/tok", nil)
		req.RemoteAddr = remote
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for i := range 3 {
		assert.Equal(t, http.StatusOK, get("198.51.100.7:1000").Code, "request %d within the burst", i+1)
	}
	rec := get("198.51.100.7:1001")
	assert.Equal(t, http.StatusTooManyRequests, rec.Code)
	assert.Equal(t, "1", rec.Header().Get("Retry-After"))
	assert.Equal(t, http.StatusOK, get("198.51.100.8:1000").Code, "another client has its own allowance")

	// Webhooks have an allowance of their own, larger than a person's.
	for i := range 5 {
		req := httptest.NewRequest(http.MethodPost, "/webhooks/lob", nil)
		req.RemoteAddr = "198.51.100.7:1000"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		assert.Equal(t, http.StatusOK, rec.Code, "webhook %d", i+1)
	}
	req := httptest.NewRequest(http.MethodPost, "/webhooks/lob", nil)
	req.RemoteAddr = "198.51.100.7:1000"
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusTooManyRequests, rec.Code)

	// One-click unsubscribes come from mailbox providers for many people:
	// they count as provider traffic, not against a person's pages.
	for i := range 5 {
		req := httptest.NewRequest(http.MethodPost, "/unsubscribe/tok", nil)
		req.RemoteAddr = "198.51.100.9:1000"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		assert.Equal(t, http.StatusOK, rec.Code, "one-click %d", i+1)
	}
}

func TestLimiterFindsTheClientBehindTrustedProxies(t *testing.T) {
	c := newClientLimiter(PublicLimit{Rate: 1, Burst: 1, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	req := httptest.NewRequest(http.MethodGet, "/survey/x", nil)
	req.RemoteAddr = "10.1.2.3:443"
	req.Header.Set("X-Forwarded-For", "203.0.113.9, 198.51.100.20, 10.9.9.9")
	assert.Equal(t, netip.MustParseAddr("198.51.100.20"), c.client(req), "the last untrusted hop")

	req.RemoteAddr = "198.51.100.99:443"
	assert.Equal(t, netip.MustParseAddr("198.51.100.99"), c.client(req), "an untrusted peer cannot choose its address")

	req.RemoteAddr = "[2001:db8:1:2:3:4:5:6]:443"
	assert.Equal(t, netip.MustParseAddr("2001:db8:1:2::"), c.client(req), "IPv6 clients count per /64")

	now := time.Now()
	assert.Zero(t, c.reserve(netip.MustParseAddr("192.0.2.1"), now))
	assert.Positive(t, c.reserve(netip.MustParseAddr("192.0.2.1"), now))
	assert.Zero(t, c.reserve(netip.MustParseAddr("192.0.2.1"), now.Add(1100*time.Millisecond)), "the bucket refills")
	assert.Len(t, c.clients, 1)
	c.reserve(netip.MustParseAddr("192.0.2.2"), now.Add(time.Minute))
	assert.Len(t, c.clients, 1, "idle buckets are forgotten")
}

func TestAnythingAfterTheBodyIsRefused(t *testing.T) {
	var v struct {
		Reason string `json:"reason"`
	}
	for _, body := range []string{`{"reason":"x"}]]]} garbage`, `{"reason":"x"} {"reason":"y"}`, `{"reason":"x"}]`} {
		err := decodeJSON(strings.NewReader(body), &v)
		require.Error(t, err, body)
		assert.Contains(t, err.Error(), "more than one JSON value", body)
	}
	require.NoError(t, decodeJSON(strings.NewReader(`{"reason":"x"}`+"\n"), &v), "white space after the body is fine")
}

func TestAnErasureThatBeganMeanwhileAnswers410(t *testing.T) {
	s := &Server{}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/v1/events", nil)
	s.fail(rec, req, fmt.Errorf("record event: %w", store.ErrErased))
	assert.Equal(t, http.StatusGone, rec.Code)
}

func TestOversizedWebhookIsRefusedNotCut(t *testing.T) {
	st, _ := storetest.New(t)
	s := &Server{Store: st, Webhooks: WebhookKeys{LobSecret: "secret"}}
	req := httptest.NewRequest(http.MethodPost, "/webhooks/lob", strings.NewReader(strings.Repeat("x", maxWebhookBody+1)))
	req.RemoteAddr = "192.0.2.1:1"
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	assert.Equal(t, http.StatusRequestEntityTooLarge, rec.Code, rec.Body.String())
}
