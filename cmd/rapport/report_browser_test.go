//go:build !production

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/apikey"
	"github.com/rapporthq/rapport/internal/report"
)

// TestReportPageInBrowser: customers go through a journey with a goal, a
// control group and a split, some of them buy; staff open the journey's
// report page in headless Chromium (JavaScript off) by the link rapport
// report --open prints, and by signing in with a key, and the page shows
// the numbers the report's JSON has. Without a link or a sign-in, or
// with a forged link, it shows no data.
func TestReportPageInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium; skipped with -short (.ci/test runs it on its own)")
	}
	ctx := browser(t)
	s := startStack(t, "testdata/report")
	const journey, n, buyers = "welcome-offer", 6, 3
	for i := range n {
		id := fmt.Sprintf("c_%d", i)
		status, body := s.post("/v1/customers", customer(id, id+"@example.com"))
		require.Equal(t, http.StatusCreated, status, body)
		status, body = s.post("/v1/events", map[string]any{"id": "join-" + id, "type": "newsletter.joined", "customer_id": id})
		require.Equal(t, http.StatusAccepted, status, body)
	}

	// The report over the API, as the page must show it.
	get := func() report.Report {
		resp, err := s.http.Get(s.APIURL + "/v1/journeys/" + journey + "/report")
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		var r report.Report
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&r))
		return r
	}
	settled := func(r report.Report) bool {
		if r.Funnel.Entered != n || r.Funnel.Running != 0 {
			return false
		}
		for _, st := range r.Funnel.Steps {
			if st.Pending > 0 || st.Unknown > 0 {
				return false
			}
		}
		return true
	}
	require.Eventually(t, func() bool { return settled(get()) }, patience, 100*time.Millisecond, "every run entered and ended, every message settled")
	for i := range buyers {
		id := fmt.Sprintf("c_%d", i)
		status, body := s.post("/v1/events", orderPlaced("buy-"+id, id, false))
		require.Equal(t, http.StatusAccepted, status, body)
	}
	require.Eventually(t, func() bool { return get().Funnel.Converted == buyers }, patience, 100*time.Millisecond, "the purchases count as conversions")
	want := get()
	require.Len(t, want.Arms, 2)
	step := func(id string) report.Step {
		for _, st := range want.Funnel.Steps {
			if st.ID == id {
				return st
			}
		}
		t.Fatalf("no step %s in %+v", id, want.Funnel.Steps)
		return report.Step{}
	}
	require.Equal(t, n-want.Funnel.HeldOut, step("hello").Reached)

	// A key that may read reports and nothing else.
	_, key, err := s.store.CreateAPIKey(context.Background(), "analyst", []apikey.Scope{apikey.ReportsRead})
	require.NoError(t, err)
	text := func(sel string) string {
		return strings.TrimSpace(inBrowser(t, ctx, chromedp.Text(chromedp.CSS(sel))))
	}
	showsTheReport := func(how string) {
		t.Helper()
		assert.Equal(t, "Report of "+journey, inBrowser(t, ctx, chromedp.Title()), how)
		assert.Equal(t, fmt.Sprint(want.Funnel.Entered), text("#funnel-entered"), "%s: entered", how)
		assert.Equal(t, fmt.Sprint(want.Funnel.Converted), text("#funnel-converted"), "%s: converted", how)
		assert.Equal(t, fmt.Sprint(step("hello").Reached), text("#step-hello .reached"), "%s: hello reached", how)
		assert.Equal(t, fmt.Sprint(step("hello").Sent), text("#step-hello .sent"), "%s: hello sent", how)
		assert.Equal(t, fmt.Sprint(step("pick").Reached), text("#step-pick .reached"), "%s: the split reached", how)
		assert.Equal(t, fmt.Sprint(step("a_done").Reached), text("#step-pick #step-a_done .reached"), "%s: path a, inside the split's box", how)
		for _, a := range want.Arms {
			row := `tr[data-arm="` + a.Name + `"] `
			assert.Equal(t, fmt.Sprint(a.Entrants), text(row+".entrants"), "%s: %s entrants", how, a.Name)
			assert.Equal(t, fmt.Sprint(a.Conversions), text(row+".conversions"), "%s: %s conversions", how, a.Name)
			assert.Equal(t, fmt.Sprintf("%.1f%% (%.1f%% to %.1f%%)", 100*a.Rate.Value, 100*a.Rate.Low, 100*a.Rate.High), text(row+".rate"), "%s: %s rate", how, a.Name)
		}
		treated := `tr[data-arm="` + report.ArmTreatment + `"] `
		assert.Equal(t, fmt.Sprintf("%.1f%%", 100*want.Lift.ProbabilityBetter), text(treated+".probability"), how)
		assert.Equal(t, want.Lift.Verdict, text(treated+".verdict"), how)
		assert.Contains(t, inBrowser(t, ctx, chromedp.TextContent(chromedp.CSS("svg desc"))), "Conversions per day of entry", "%s: the chart's text alternative", how)
	}

	// The link rapport report --open prints, made by the API for the key.
	out, errOut, err := run("report", journey, "--open", "--api="+s.APIURL, "--api-key="+key)
	require.NoError(t, err, errOut)
	link := strings.TrimSpace(out)
	require.True(t, strings.HasPrefix(link, s.APIURL+"/reports/"+journey+"?link="), link)
	assert.NotContains(t, link, key, "the key is not in the link")
	inBrowser(t, ctx, chromedp.Navigate(link))
	showsTheReport("by the link")

	// Without the link: the sign-in form, and no data.
	page := s.APIURL + "/reports/" + journey
	inBrowser(t, ctx, chromedp.Navigate(page))
	assert.Equal(t, "Sign in: report of "+journey, inBrowser(t, ctx, chromedp.Title()))
	nodes := inBrowser(t, ctx, chromedp.Nodes(chromedp.CSSAll("#funnel-entered"), chromedp.AtLeast(0)))
	assert.Empty(t, nodes, "no data before signing in")
	inBrowser(t, ctx, chromedp.Navigate(page+"?link="+strings.Replace(link[strings.Index(link, "link=")+5:], ".", ".x", 1)))
	assert.Contains(t, text(`[role="alert"]`), "This link is not valid.")
	nodes = inBrowser(t, ctx, chromedp.Nodes(chromedp.CSSAll("#funnel-entered"), chromedp.AtLeast(0)))
	assert.Empty(t, nodes, "no data for a forged link")

	// Signing in with the key, as a person would, opens the page.
	inBrowser(t, ctx, chromedp.Navigate(page))
	inBrowser(t, ctx, chromedp.Steps(
		chromedp.SendKeys(chromedp.ID("key"), key),
		chromedp.Click(chromedp.ID("sign-in")),
		chromedp.WaitVisible(chromedp.ID("funnel-entered")),
	))
	assert.Equal(t, page, inBrowser(t, ctx, chromedp.Location()), "the key is not in the address")
	showsTheReport("signed in")
}
