//go:build !production

package main

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/links"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

// The preference center in a real browser: headless Chromium, with
// JavaScript switched off, as the page must work without it.

// chromium finds the browser: RAPPORT_CHROMIUM, else the usual names. It
// fails the test when there is none, as a skipped test would hide it.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("RAPPORT_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("the browser tests need Chromium: apt-get install chromium (or set RAPPORT_CHROMIUM to a Chrome binary)")
	return ""
}

// browser starts a headless Chromium with JavaScript disabled and returns
// a context for driving its tab.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	require.NoError(t, chromedp.Do(ctx, func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return chromedp.Void{}, err
	}))
	return ctx
}

// inBrowser runs a browser action, failing the test when it has not
// finished after patience.
func inBrowser[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, patience)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	require.NoError(t, err)
	return v
}

// TestPreferenceCenterInBrowser: a customer with a satisfaction survey
// coming by text message opens their preference center, chooses No for
// text messages and saves; the survey then comes by email instead, and no text
// is sent.
func TestPreferenceCenterInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium; skipped with -short (.ci/test runs it on its own)")
	}
	ctx := browser(t)
	// A slow day: the run must still wait for the delivery after the
	// browser's part, however busy the machine; the test then skips the
	// two days.
	s := startStack(t, "../../journeys", withDay(slowDay))
	c := customer("c_1", "ada@example.com")
	c["phone"] = "07911 123456"
	c["address"] = map[string]any{"country": "GB"}
	s.post("/v1/customers", c)
	_, err := s.store.RecordConsent(context.Background(), "c_1", "sms", "opted_in", "checkout", store.Evidence{Shown: "text me about my order"})
	require.NoError(t, err)
	s.post("/v1/events", orderPlaced("evt-1", "c_1", false))
	wid := "rapport/satisfaction-check/c_1/evt-1"
	s.waitFor("the survey journey to wait for delivery", func() bool {
		run, err := s.store.GetRun(context.Background(), wid)
		return err == nil && run.Status == store.RunRunning
	})

	signer, err := s.Signer()
	require.NoError(t, err)
	tok, err := signer.Sign(links.PreferencesPurpose, links.PreferenceCenter{CustomerID: "c_1"}, time.Now().Add(time.Hour))
	require.NoError(t, err)
	page := s.APIURL + "/preferences/" + tok

	inBrowser(t, ctx, chromedp.Navigate(page))
	assert.Equal(t, "Your preferences", inBrowser(t, ctx, chromedp.Title()))
	assert.Equal(t, "en", inBrowser(t, ctx, chromedp.AttributeValue(chromedp.CSS("html"), "lang")).Value)
	assert.Contains(t, inBrowser(t, ctx, chromedp.Text(chromedp.CSS("main > p"))), "Hello Ada.")
	checked := func(id string) bool {
		return inBrowser(t, ctx, chromedp.AttributeValue(chromedp.ID(id), "checked")).Exists
	}
	assert.True(t, checked("channel_sms_yes"), "the page shows the consent given at checkout")
	assert.False(t, checked("channel_email_yes"), "email consent was never given: neither Yes")
	assert.False(t, checked("channel_email_no"), "nor No")
	assert.Contains(t, inBrowser(t, ctx, chromedp.Text(chromedp.ID("unknown_email"))), "You have not told us yet")

	// Choose No for text messages, by its label as a person would, and save.
	inBrowser(t, ctx, chromedp.Steps(
		chromedp.Click(chromedp.Search(`//div[@aria-labelledby="label_sms"]//label[normalize-space(.)="No"]`)),
		chromedp.Click(chromedp.ID("save")),
		chromedp.WaitVisible(chromedp.CSS(".saved")),
	))
	assert.Equal(t, "Saved. Thank you: we will stick to this.", inBrowser(t, ctx, chromedp.Text(chromedp.CSS(".saved"))))
	location := inBrowser(t, ctx, chromedp.Location())
	assert.True(t, strings.HasSuffix(location, "?saved=1"), location)
	assert.True(t, checked("channel_sms_no"), "the saved page shows the new choice")
	assert.False(t, checked("channel_sms_yes"))
	assert.False(t, checked("channel_email_yes"), "email left unchosen stays so")

	history, err := s.store.ConsentHistory(context.Background(), "c_1")
	require.NoError(t, err)
	require.Len(t, history, 2, "only what changed is recorded: %+v", history)
	last := history[1]
	assert.Equal(t, "sms", last.Channel)
	assert.Equal(t, "opted_out", last.State)
	assert.Equal(t, "preference_center", last.Source)
	assert.Equal(t, "127.0.0.1", last.Evidence.IP)
	assert.Contains(t, last.Evidence.UserAgent, "Chrome", "the browser is the evidence")
	prefs, err := s.store.GetPreferences(context.Background(), "c_1")
	require.NoError(t, err)
	assert.Empty(t, prefs.Topics, "untouched topics stay as they were")
	_, own := prefs.QuietHours["sms"]
	assert.False(t, own, "untouched quiet hours keep following the defaults")

	// The order arrives; two days later the survey goes by email.
	s.post("/v1/events", map[string]any{"id": "evt-2", "type": "order.delivered", "customer_id": "c_1", "data": map[string]any{"order_id": "o-evt-1"}})
	s.skipWait(wid, "wait_2")
	s.waitFor("the survey email", func() bool {
		for _, m := range s.messagesTo("c_1") {
			if m.Journey == "satisfaction-check" {
				return true
			}
		}
		return false
	})
	for _, m := range s.messagesTo("c_1") {
		assert.NotEqual(t, "sms", m.Channel, "no text after opting out: %s", m.Text)
		if m.Journey == "satisfaction-check" {
			assert.Equal(t, "email", m.Channel)
			assert.Equal(t, "ask", m.Step)
		}
	}
	// The provider has the email; the outbox records so a moment later.
	var rows []store.Message
	s.waitFor("the email recorded as sent", func() bool {
		var err error
		rows, err = s.store.MessagesOfWorkflow(context.Background(), wid)
		require.NoError(t, err)
		return len(rows) == 2 && rows[1].Status != store.MessageSending
	})
	require.Len(t, rows, 2, "the text refused, then the email")
	assert.Equal(t, "sms", rows[0].Channel)
	assert.Equal(t, store.MessageSkipped, rows[0].Status)
	assert.Contains(t, rows[0].Reason, "opted out")
	assert.Equal(t, "email", rows[1].Channel)
	assert.Equal(t, store.MessageSent, rows[1].Status)

	// A forged link shows the refusal page and changes nothing.
	other, _ := links.NewSigner([]byte(strings.Repeat("f", 32)))
	forged, _ := other.Sign(links.PreferencesPurpose, links.PreferenceCenter{CustomerID: "c_1"}, time.Now().Add(time.Hour))
	inBrowser(t, ctx, chromedp.Navigate(s.APIURL+"/preferences/"+forged))
	assert.Equal(t, "This link is not valid. Please use the link from one of our messages as it is.",
		inBrowser(t, ctx, chromedp.Text(chromedp.CSS(`[role="alert"]`))))
	forms := inBrowser(t, ctx, chromedp.Nodes(chromedp.CSSAll("form"), chromedp.AtLeast(0)))
	assert.Empty(t, forms, "no form to change anything")
	resp, err := s.http.Post(s.APIURL+"/preferences/"+forged, "application/x-www-form-urlencoded", strings.NewReader("channel_sms=yes"))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	history, _ = s.store.ConsentHistory(context.Background(), "c_1")
	assert.Len(t, history, 2)

	s.post("/v1/events", map[string]any{"id": "evt-3", "type": "order.cancelled", "customer_id": "c_1", "data": map[string]any{"order_id": "o-evt-1"}})
	assert.Equal(t, workflows.Exited, s.waitForRun(wid).Outcome)
}
