package api

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/rapporthq/rapport/internal/api/wire"
	"github.com/rapporthq/rapport/internal/apikey"
	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/links"
	"github.com/rapporthq/rapport/internal/report"
	"github.com/rapporthq/rapport/internal/store"
)

// A journey's report, as JSON for tools (GET /v1/journeys/{name}/report,
// the answer `rapport report --json` prints) and as a page for staff
// (/reports/{name}). The page is outside /v1, so a browser can open it:
// it answers only to a signed link the API made for a key holding
// reports:read (rapport report NAME --open), or to a signed session
// cookie its sign-in form sets once such a key is posted to it. Neither
// the link nor the cookie holds the key: they name it by its public id,
// and the key is looked up at every view, so revoking it (or taking
// reports:read away) closes the page at once.

const (
	// reportLinkTTL is how long a report link opens its page.
	reportLinkTTL = time.Hour
	// reportSessionTTL is how long a sign-in on the report page lasts.
	reportSessionTTL = time.Hour
	// reportCookie is the name of the report page's session cookie.
	reportCookie = "rapport_report"
	// maxSince bounds ?since= (a duration, a date or an RFC 3339 time).
	maxSince = 40
)

// planPrefix is what ?plan= accepts: a plan's hash or its first digits.
var planPrefix = regexp.MustCompile(`^[0-9a-f]{1,64}$`)

// reportOptions reads a report's ?since= and ?plan=, naming the one at
// fault.
func reportOptions(q url.Values, now time.Time) (report.Options, error) {
	var o report.Options
	if v := q.Get("since"); v != "" {
		if err := text("since", v, maxSince, true); err != nil {
			return o, err
		}
		t, err := report.ParseSince(v, now)
		if err != nil {
			return o, badField("since", "must be a duration back from now (30d, 12h) or a date (2026-11-01), not %q", v)
		}
		if t.After(now) {
			return o, badField("since", "%q is in the future; give a date up to today", v)
		}
		o.Since = t
	}
	if v := q.Get("plan"); v != "" {
		if !planPrefix.MatchString(v) {
			return o, badField("plan", "must be a plan's hash or its first digits (lower-case hexadecimal, at most 64), as rapport runs list shows")
		}
		o.Plan = v
	}
	return o, nil
}

// reportPlan finds the journey named in the path; otherwise it answers
// 404 naming it and returns false.
func (s *Server) reportPlan(w http.ResponseWriter, r *http.Request) (*journey.Plan, bool) {
	plan, ok := s.Router.Catalog.Get(r.PathValue("name"))
	if !ok {
		notFound(w, "journey", r.PathValue("name"))
		return nil, false
	}
	return plan, true
}

// getReport answers a journey's report: its funnel, arms, lift, splits
// and days, as report.Report's JSON.
func (s *Server) getReport(w http.ResponseWriter, r *http.Request) {
	plan, ok := s.reportPlan(w, r)
	if !ok {
		return
	}
	opts, err := reportOptions(r.URL.Query(), time.Now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rep, err := report.Build(r.Context(), s.Store, plan, opts)
	if err != nil {
		s.fail(w, r, fmt.Errorf("report %s: %w", plan.Journey, err))
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// postReportLink makes a signed link to a journey's report page, valid
// for reportLinkTTL, for the key that asks (its ?since= and ?plan= carry
// over to the page).
func (s *Server) postReportLink(w http.ResponseWriter, r *http.Request) {
	plan, ok := s.reportPlan(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	if _, err := reportOptions(q, time.Now()); err != nil {
		s.fail(w, r, err)
		return
	}
	if s.Links == nil {
		s.fail(w, r, errors.New("report links: the API has no link signer (RAPPORT_SECRET)"))
		return
	}
	p, _ := apikey.FromContext(r.Context())
	expires := time.Now().Add(reportLinkTTL).Truncate(time.Second).UTC()
	tok, err := s.Links.Sign(links.ReportPurpose, links.Report{Journey: plan.Journey, KeyID: p.KeyID}, expires)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page := url.Values{"link": {tok}}
	for _, name := range []string{"since", "plan"} {
		if v := q.Get(name); v != "" {
			page.Set(name, v)
		}
	}
	path := reportPath(plan.Journey) + "?" + page.Encode()
	resp := wire.ReportLink{Journey: plan.Journey, Path: path, ExpiresAt: expires}
	if base := strings.TrimRight(s.Webhooks.PublicURL, "/"); base != "" {
		resp.URL = base + path
	}
	writeJSON(w, http.StatusCreated, resp)
}

// reportPath is the path of a journey's report page.
func reportPath(journey string) string { return "/reports/" + url.PathEscape(journey) }

// signIn is why the report page asks to sign in, as the page says it
// ("" when nothing was presented).
type signIn string

func (e signIn) Error() string { return string(e) }

// Why the report page asks to sign in.
const (
	noCredentials signIn = ""
	linkInvalid   signIn = "This link is not valid. Make a new one with rapport report JOURNEY --open, or sign in with an API key."
	linkExpired   signIn = "This link has expired. Make a new one with rapport report JOURNEY --open, or sign in with an API key."
	sessionEnded  signIn = "Your sign-in has expired or is not valid. Sign in again."
	keyGone       signIn = "The API key this was opened with has been revoked or no longer holds reports:read. Sign in with another key."
)

// reportViewer says who may see journey's report page: the key named by a
// signed ?link= for this journey (a link, when given, decides alone), else
// by the signed session cookie. Any other request gets an error saying
// why, for the sign-in form.
func (s *Server) reportViewer(r *http.Request, journey string) (apikey.Principal, error) {
	if s.Links == nil {
		return apikey.Principal{}, noCredentials
	}
	now := time.Now()
	var claims links.Report
	if tok := r.URL.Query().Get("link"); tok != "" {
		err := s.Links.Verify(tok, links.ReportPurpose, now, &claims)
		switch {
		case errors.Is(err, links.ErrExpired):
			return apikey.Principal{}, linkExpired
		case err != nil, claims.Journey != journey, claims.KeyID == "":
			return apikey.Principal{}, linkInvalid
		}
		return s.reportKey(r.Context(), claims.KeyID)
	}
	c, err := r.Cookie(reportCookie)
	if err != nil || c.Value == "" {
		return apikey.Principal{}, noCredentials
	}
	if err := s.Links.Verify(c.Value, links.ReportSessionPurpose, now, &claims); err != nil || claims.KeyID == "" {
		return apikey.Principal{}, sessionEnded
	}
	return s.reportKey(r.Context(), claims.KeyID)
}

// reportKey finds a key by its id: it must not be revoked and must hold
// reports:read.
func (s *Server) reportKey(ctx context.Context, id string) (apikey.Principal, error) {
	keys, err := s.Store.ListAPIKeys(ctx)
	if err != nil {
		return apikey.Principal{}, err
	}
	for _, k := range keys {
		if k.ID != id {
			continue
		}
		if k.RevokedAt != nil || !apikey.Allows(k.Scopes, apikey.ReportsRead) {
			return apikey.Principal{}, keyGone
		}
		return apikey.Principal{KeyID: k.ID, Name: k.Name, Scopes: k.Scopes}, nil
	}
	return apikey.Principal{}, keyGone
}

// reportPage serves a journey's report as a page: 401 with the sign-in
// form unless a signed link or session lets the request in.
func (s *Server) reportPage(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	p, err := s.reportViewer(r, name)
	var why signIn
	switch {
	case errors.As(err, &why):
		s.reportRender(w, http.StatusUnauthorized, signInPage, signInView{Journey: name, Action: reportPath(name), Error: string(why)})
		return
	case err != nil:
		s.reportFailed(w, r, err)
		return
	}
	var plan *journey.Plan
	if s.Router != nil {
		plan, _ = s.Router.Catalog.Get(name)
	}
	if plan == nil {
		s.reportRender(w, http.StatusNotFound, reportErrorPage, errorView{Title: "No such journey", Message: fmt.Sprintf("There is no journey %s.", name)})
		return
	}
	q := r.URL.Query()
	opts, err := reportOptions(q, time.Now())
	if err != nil {
		s.reportRender(w, http.StatusBadRequest, reportErrorPage, errorView{Title: "Report of " + name, Message: err.Error(), Back: reportPath(name) + linkQuery(q)})
		return
	}
	rep, err := report.Build(r.Context(), s.Store, plan, opts)
	if err != nil {
		s.reportFailed(w, r, fmt.Errorf("report %s: %w", name, err))
		return
	}
	v := newReportView(rep, p.Name)
	v.Since, v.Plan, v.Link = q.Get("since"), q.Get("plan"), q.Get("link")
	s.reportRender(w, http.StatusOK, reportPageTmpl, v)
}

// linkQuery keeps a request's signed ?link= for a link back to the page.
func linkQuery(q url.Values) string {
	if l := q.Get("link"); l != "" {
		return "?" + url.Values{"link": {l}}.Encode()
	}
	return ""
}

// signInToReport takes an API key posted by the report page's form and,
// when it holds reports:read, sets a signed session cookie naming it (not
// holding it) for reportSessionTTL and sends the browser to the page.
func (s *Server) signInToReport(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !s.parseForm(w, r) {
		return
	}
	v := signInView{Journey: name, Action: reportPath(name)}
	key := strings.TrimSpace(r.PostForm.Get("key"))
	if key == "" {
		v.Error = "Enter an API key."
		s.reportRender(w, http.StatusUnauthorized, signInPage, v)
		return
	}
	p, err := s.Store.Authenticate(r.Context(), key)
	switch {
	case errors.Is(err, store.ErrKeyRevoked):
		v.Error = "That API key has been revoked."
		s.reportRender(w, http.StatusUnauthorized, signInPage, v)
		return
	case errors.Is(err, store.ErrKeyUnknown):
		v.Error = "That is not a valid API key."
		s.reportRender(w, http.StatusUnauthorized, signInPage, v)
		return
	case err != nil:
		s.reportFailed(w, r, err)
		return
	}
	if !apikey.Allows(p.Scopes, apikey.ReportsRead) {
		v.Error = fmt.Sprintf("The key %s lacks the scope %s that reports need.", p.Name, apikey.ReportsRead)
		s.reportRender(w, http.StatusForbidden, signInPage, v)
		return
	}
	if s.Links == nil {
		s.reportFailed(w, r, errors.New("report sign-in: the API has no link signer (RAPPORT_SECRET)"))
		return
	}
	expires := time.Now().Add(reportSessionTTL)
	tok, err := s.Links.Sign(links.ReportSessionPurpose, links.Report{KeyID: p.KeyID}, expires)
	if err != nil {
		s.reportFailed(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: reportCookie, Value: tok, Path: "/reports/",
		Expires: expires, MaxAge: int(reportSessionTTL / time.Second),
		HttpOnly: true, Secure: s.overHTTPS(r), SameSite: http.SameSiteStrictMode,
	})
	http.Redirect(w, r, reportPath(name), http.StatusSeeOther)
}

// overHTTPS reports whether the browser reaches the API over HTTPS: the
// request came over TLS, or the API's public address (RAPPORT_PUBLIC_URL)
// is https (TLS ends at a proxy in front of it).
func (s *Server) overHTTPS(r *http.Request) bool {
	return r.TLS != nil || strings.HasPrefix(s.Webhooks.PublicURL, "https://")
}

// reportFailed answers a report page that failed on our side.
func (s *Server) reportFailed(w http.ResponseWriter, r *http.Request, err error) {
	status := s.pageFailure(w, r, err)
	s.reportRender(w, status, reportErrorPage, errorView{Title: "Report unavailable", Message: "The report cannot be shown just now. Try again in a few minutes."})
}

// reportRender renders a report page with the preference center's
// security headers (CSP with no script, no-store, no referrer), and
// refuses to be framed or sniffed.
func (s *Server) reportRender(w http.ResponseWriter, status int, t *template.Template, v any) {
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	s.render(w, status, t, v)
}
