package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/apikey"
	"github.com/rapporthq/rapport/internal/links"
	"github.com/rapporthq/rapport/internal/money"
	"github.com/rapporthq/rapport/internal/report"
	"github.com/rapporthq/rapport/internal/store"
)

// nudge has a goal, a control group, a branch and a split: every part
// of a report.
const nudge = `
journey: nudge
description: Nudge after delivery <b>with</b> an offer.
purpose: marketing
topic: offers
trigger: {event: order.delivered}
goal: {when: event.type == "order.placed", within: 14d}
holdout: 20%
steps:
  - id: hello
    send: {channel: email, template: nudge}
  - branch:
      - when: customer.orders_count > 1
        steps:
          - id: regular
            wait: 1d
      - otherwise:
          - id: pick
            split:
              - path: a
                weight: 50
                steps: [{id: offer_a, send: {channel: email, template: offer-a}}]
              - path: b
                weight: 50
                steps: [{id: offer_b, send: {channel: email, template: offer-b}}]
`

// reportShop is a shop with the nudge journey and runs of it: 12 entered
// (each arm as the real control-group assignment put them), the treated
// ones sent hello (a third of them skipped on a reason built to break a
// page), half through path a; 4 converted with revenue.
func reportShop(t *testing.T) *shop {
	t.Helper()
	s := newShopWith(t, nudge)
	ctx := context.Background()
	plan, ok := s.router.Catalog.Get("nudge")
	require.True(t, ok)
	conn, err := pgx.Connect(ctx, s.dbURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	for i := range 12 {
		id := fmt.Sprintf("c_%d", i)
		_, err := s.st.UpsertCustomer(ctx, store.Customer{ID: id})
		require.NoError(t, err)
		wf := "nudge-" + id
		got, err := s.st.EnterRun(ctx, store.Entry{Run: store.Run{WorkflowID: wf, Journey: "nudge", CustomerID: id, PlanHash: plan.Hash, EntryKey: id, Goal: plan.Goal}, Holdout: plan.Holdout})
		require.NoError(t, err)
		if !got.HeldOut {
			status, reason := "sent", ""
			if i%3 == 0 {
				status, reason = "skipped", "not sent: <script>alert(1)</script>"
			}
			_, err = conn.Exec(ctx, `INSERT INTO messages (idempotency_key, workflow_id, journey, step_id, customer_id, channel, template, purpose, status, reason, sent_at)
				VALUES ($1, $2, 'nudge', 'hello', $3, 'email', 'nudge', 'marketing', $4, $5, CASE WHEN $4 = 'sent' THEN now() END)`,
				"k-"+id, wf, id, status, reason)
			require.NoError(t, err)
			steps := []store.StepReached{{Step: "hello", At: time.Now()}, {Step: "pick", At: time.Now()}}
			path := []string{"a", "b"}[i%2]
			steps = append(steps, store.StepReached{Step: "offer_" + path, At: time.Now()})
			require.NoError(t, s.st.RecordSteps(ctx, wf, steps))
			require.NoError(t, s.st.RecordSplit(ctx, store.SplitAssignment{WorkflowID: wf, StepID: "pick", Journey: "nudge", CustomerID: id, Path: path}))
			require.NoError(t, s.st.FinishRun(ctx, wf, store.RunCompleted, ""))
		}
		if i < 4 {
			a := money.MustParse("12.50")
			require.NoError(t, s.st.RecordConversion(ctx, store.Conversion{WorkflowID: wf, Journey: "nudge", CustomerID: id,
				EventID: "evt-" + id, EventType: "order.placed", ConvertedAt: time.Now(), OrderID: "o-" + id, Revenue: &a, Currency: "GBP"}))
		}
	}
	return s
}

// keyWith makes a key holding scopes.
func (s *shop) keyWith(name string, scopes ...apikey.Scope) string {
	s.t.Helper()
	_, k, err := s.st.CreateAPIKey(context.Background(), name, scopes)
	require.NoError(s.t, err)
	return k
}

// get sends a GET with key ("" for none).
func (s *shop) get(path, key string) answer {
	s.t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	return s.serve(req)
}

// The report's JSON is report.Report's, counted from the store, behind
// reports:read; a bad since or plan is refused naming it, an unknown
// journey named.
func TestJourneyReportIsAnsweredAsJSON(t *testing.T) {
	t.Parallel()
	s := reportShop(t)
	reader := s.keyWith("analyst", apikey.ReportsRead)
	other := s.keyWith("support", apikey.CustomersRead, apikey.AudiencesRun)

	a := s.get("/v1/journeys/nudge/report", "")
	assert.Equal(t, http.StatusUnauthorized, a.Code)
	a = s.get("/v1/journeys/nudge/report", other)
	assert.Equal(t, http.StatusForbidden, a.Code)
	assert.Equal(t, "reports:read", a.JSON["scope"])

	a = s.get("/v1/journeys/nudge/report", reader)
	require.Equal(t, http.StatusOK, a.Code, a.Body)
	var got report.Report
	require.NoError(t, json.Unmarshal([]byte(a.Body), &got))
	assert.Equal(t, "nudge", got.Journey)
	assert.Equal(t, 12, got.Funnel.Entered)
	assert.Equal(t, 4, got.Funnel.Converted)
	treated := 12 - got.Funnel.HeldOut
	assert.Equal(t, treated, got.Funnel.Completed)
	require.Len(t, got.Arms, 2)
	assert.Equal(t, report.ArmTreatment, got.Arms[0].Name)
	assert.Equal(t, treated, got.Arms[0].Entrants)
	assert.Equal(t, 4, got.Arms[0].Conversions+got.Arms[1].Conversions)
	require.NotNil(t, got.Lift)
	require.Len(t, got.Splits, 1)
	steps := map[string]report.Step{}
	for _, st := range got.Funnel.Steps {
		steps[st.ID] = st
	}
	assert.Equal(t, treated, steps["hello"].Reached)
	assert.Equal(t, treated, steps["hello"].Sent+steps["hello"].Skipped[0].N)
	assert.Equal(t, "path a", steps["offer_a"].Under)

	// Exactly what report.Build says (rapport report --json prints it).
	plan, _ := s.router.Catalog.Get("nudge")
	want, err := report.Build(context.Background(), s.st, plan, report.Options{Until: got.Until, Now: got.Until})
	require.NoError(t, err)
	wantJSON, err := json.Marshal(want)
	require.NoError(t, err)
	assert.JSONEq(t, string(wantJSON), a.Body)

	a = s.get("/v1/journeys/nudge/report?since=30d&plan="+plan.Hash[:7], reader)
	require.Equal(t, http.StatusOK, a.Code, a.Body)
	assert.EqualValues(t, 12, a.JSON["funnel"].(map[string]any)["entered"])
	assert.Equal(t, plan.Hash[:7], a.JSON["plan"])
	a = s.get("/v1/journeys/nudge/report?plan=0000000", reader)
	assert.EqualValues(t, 0, a.JSON["funnel"].(map[string]any)["entered"], "another plan's runs: none")

	for _, tc := range []struct {
		query, field string
	}{
		{"since=yesterday", "since"},
		{"since=2999-01-01", "since"},
		{"since=" + strings.Repeat("1", 41), "since"},
		{"plan=45FC", "plan"},
		{"plan=4%25", "plan"},
	} {
		a := s.get("/v1/journeys/nudge/report?"+tc.query, reader)
		assert.Equal(t, http.StatusBadRequest, a.Code, tc.query)
		assert.Equal(t, tc.field, a.JSON["field"], tc.query)
	}
	a = s.get("/v1/journeys/nope/report", reader)
	assert.Equal(t, http.StatusNotFound, a.Code)
	assert.Equal(t, "no journey nope", a.JSON["error"])
}

// reportPage fetches a report page with a cookie ("" for none).
func (s *shop) reportPage(path, cookie string) *httptest.ResponseRecorder {
	s.t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.RemoteAddr = "192.0.2.10:5555"
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, req)
	return rec
}

// signIn posts a key to the report page's form.
func (s *shop) signIn(journey, key string) *httptest.ResponseRecorder {
	s.t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/reports/"+journey, strings.NewReader(url.Values{"key": {key}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.RemoteAddr = "192.0.2.10:5555"
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, req)
	return rec
}

// The report page shows nothing without a signed link the API made for a
// key with reports:read, or a session its sign-in form set for one; a
// forged, expired or misdirected link is refused, and so is one whose key
// was revoked since.
func TestReportPageAnswersOnlyToASignedLinkOrSession(t *testing.T) {
	t.Parallel()
	s := reportShop(t)
	reader := s.keyWith("analyst", apikey.ReportsRead)
	other := s.keyWith("support", apikey.CustomersRead)

	noData := func(rec *httptest.ResponseRecorder, why string) {
		t.Helper()
		assert.Equal(t, http.StatusUnauthorized, rec.Code, why)
		assert.Contains(t, rec.Body.String(), `name="key"`, "%s: the sign-in form", why)
		assert.NotContains(t, rec.Body.String(), "funnel-entered", "%s: no data", why)
	}
	rec := s.reportPage("/reports/nudge", "")
	noData(rec, "no link, no session")
	assert.Equal(t, "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'", rec.Header().Get("Content-Security-Policy"))
	noData(s.reportPage("/reports/nope", ""), "an unknown journey is not told apart without a key")

	// A link from the API opens the page.
	a := s.call("POST", "/v1/journeys/nudge/report-links?since=30d", "")
	require.Equal(t, http.StatusCreated, a.Code, a.Body)
	link := a.JSON["path"].(string)
	assert.True(t, strings.HasPrefix(link, "/reports/nudge?link="), link)
	assert.Contains(t, link, "since=30d", "the period carries over")
	assert.Equal(t, publicURL+link, a.JSON["url"])
	expires, err := time.Parse(time.RFC3339, a.JSON["expires_at"].(string))
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now().Add(time.Hour), expires, time.Minute)
	assert.NotContains(t, link, s.key, "the link does not hold the key")

	readerLink := s.mustPOST(reader, "/v1/journeys/nudge/report-links")
	rec = s.reportPage(readerLink, "")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	body := rec.Body.String()
	assert.Contains(t, body, `<dd id="funnel-entered">12</dd>`)
	assert.Contains(t, body, `<dd id="funnel-converted">4</dd>`)
	assert.Contains(t, body, "Opened with the key analyst.")
	assert.Contains(t, body, `<svg role="img" aria-labelledby="chart-title chart-desc"`)
	assert.Contains(t, body, "not sent: &lt;script&gt;alert&lt;/script&gt;", "what the data says is escaped")
	assert.NotContains(t, body, "<script>")
	assert.Contains(t, body, "Nudge after delivery &lt;b&gt;with&lt;/b&gt; an offer.")
	assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
	assert.Equal(t, "no-referrer", rec.Header().Get("Referrer-Policy"))
	assert.Equal(t, "DENY", rec.Header().Get("X-Frame-Options"))
	assert.Contains(t, rec.Header().Get("Content-Security-Policy"), "default-src 'none'")

	a = s.call("POST", "/v1/journeys/nudge/report-links?plan=XYZ", "")
	assert.Equal(t, http.StatusBadRequest, a.Code)
	assert.Equal(t, "plan", a.JSON["field"])
	a = s.call("POST", "/v1/journeys/nope/report-links", "")
	assert.Equal(t, http.StatusNotFound, a.Code)
	a = s.serve(authed(httptest.NewRequest(http.MethodPost, "/v1/journeys/nudge/report-links", nil), other))
	assert.Equal(t, http.StatusForbidden, a.Code)

	// Links that are not the API's, are out of date or name another
	// journey are refused.
	stranger, err := links.NewSigner([]byte(strings.Repeat("x", 32)))
	require.NoError(t, err)
	_, readerID := keyID(t, s, "analyst")
	forged, err := stranger.Sign(links.ReportPurpose, links.Report{Journey: "nudge", KeyID: readerID}, time.Now().Add(time.Hour))
	require.NoError(t, err)
	rec = s.reportPage("/reports/nudge?link="+forged, "")
	noData(rec, "a forged link")
	assert.Contains(t, rec.Body.String(), "This link is not valid.")
	expired, err := s.links.Sign(links.ReportPurpose, links.Report{Journey: "nudge", KeyID: readerID}, time.Now().Add(-time.Second))
	require.NoError(t, err)
	rec = s.reportPage("/reports/nudge?link="+expired, "")
	noData(rec, "an expired link")
	assert.Contains(t, rec.Body.String(), "This link has expired.")
	elsewhere, err := s.links.Sign(links.ReportPurpose, links.Report{Journey: "thanks", KeyID: readerID}, time.Now().Add(time.Hour))
	require.NoError(t, err)
	noData(s.reportPage("/reports/nudge?link="+elsewhere, ""), "a link to another journey's report")
	otherPurpose, err := s.links.Sign(links.PreferencesPurpose, links.Report{Journey: "nudge", KeyID: readerID}, time.Now().Add(time.Hour))
	require.NoError(t, err)
	noData(s.reportPage("/reports/nudge?link="+otherPurpose, ""), "a link signed for another purpose")
	_, otherID := keyID(t, s, "support")
	noScope, err := s.links.Sign(links.ReportPurpose, links.Report{Journey: "nudge", KeyID: otherID}, time.Now().Add(time.Hour))
	require.NoError(t, err)
	noData(s.reportPage("/reports/nudge?link="+noScope, ""), "a link for a key without reports:read")

	// Signing in: a key without the scope, or not a key, is refused.
	rec = s.signIn("nudge", other)
	assert.Equal(t, http.StatusForbidden, rec.Code)
	assert.Contains(t, rec.Body.String(), "lacks the scope reports:read")
	assert.Empty(t, rec.Result().Cookies())
	rec = s.signIn("nudge", "rk_nothing")
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
	assert.Empty(t, rec.Result().Cookies())

	rec = s.signIn("nudge", reader)
	require.Equal(t, http.StatusSeeOther, rec.Code, rec.Body.String())
	assert.Equal(t, "/reports/nudge", rec.Header().Get("Location"))
	cookies := rec.Result().Cookies()
	require.Len(t, cookies, 1)
	c := cookies[0]
	assert.Equal(t, "rapport_report", c.Name)
	assert.True(t, c.HttpOnly)
	assert.True(t, c.Secure, "the API's public address is https")
	assert.Equal(t, http.SameSiteStrictMode, c.SameSite)
	assert.Equal(t, "/reports/", c.Path)
	assert.Equal(t, 3600, c.MaxAge)
	assert.NotContains(t, c.Value, strings.Split(reader, "_")[2], "the cookie does not hold the key")
	session := c.Name + "=" + c.Value
	rec = s.reportPage("/reports/nudge", session)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Contains(t, rec.Body.String(), `<dd id="funnel-entered">12</dd>`)

	rec = s.reportPage("/reports/nudge", c.Name+"="+c.Value[:len(c.Value)-2]+"xx")
	noData(rec, "a tampered session")
	rec = s.reportPage("/reports/nudge?link="+forged, session)
	noData(rec, "a link, when given, decides")

	rec = s.reportPage("/reports/nope", session)
	assert.Equal(t, http.StatusNotFound, rec.Code)
	assert.Contains(t, rec.Body.String(), "There is no journey nope.")
	rec = s.reportPage("/reports/nudge?since=soon", session)
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Contains(t, rec.Body.String(), "since: must be a duration")

	// Revoking the key closes its links and sessions at once.
	_, err = s.st.RevokeAPIKey(context.Background(), "analyst")
	require.NoError(t, err)
	noData(s.reportPage(readerLink, ""), "the key's link after it was revoked")
	noData(s.reportPage("/reports/nudge", session), "the key's session after it was revoked")
}

// mustPOST posts to a /v1 path with key and returns the report link's
// path.
func (s *shop) mustPOST(key, path string) string {
	s.t.Helper()
	a := s.serve(authed(httptest.NewRequest(http.MethodPost, path, nil), key))
	require.Equal(s.t, http.StatusCreated, a.Code, a.Body)
	return a.JSON["path"].(string)
}

func authed(req *http.Request, key string) *http.Request {
	req.Header.Set("Authorization", "Bearer "+key)
	return req
}

// keyID finds a key's public id by its name.
func keyID(t *testing.T, s *shop, name string) (store.APIKey, string) {
	t.Helper()
	keys, err := s.st.ListAPIKeys(context.Background())
	require.NoError(t, err)
	for _, k := range keys {
		if k.Name == name {
			return k, k.ID
		}
	}
	t.Fatalf("no key %s", name)
	return store.APIKey{}, ""
}
