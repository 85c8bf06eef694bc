//go:build !production

package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/money"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/store/storetest"
)

// TestPreview: rapport preview plays a journey for one customer from the
// database in a few seconds of real time, sending and storing nothing,
// and prints the timeline in the customer's local time.
func TestPreview(t *testing.T) {
	st, dbURL := storetest.New(t)
	ctx := context.Background()
	t.Setenv("DATABASE_URL", dbURL)
	t.Setenv("RAPPORT_SECRET", strings.Repeat("s", 32))
	_, err := st.UpsertCustomer(ctx, store.Customer{ID: "c_ada", Email: "ada@example.com", Name: "Ada Lovelace", Locale: "en-GB",
		Address: store.Address{Line1: "12 St James's Square", City: "London", PostalCode: "SW1Y 4LB", Country: "GB"}})
	require.NoError(t, err)
	placed := time.Now().Add(-120 * 24 * time.Hour)
	_, _, err = st.RecordEvent(ctx, store.Event{ID: "e1", Type: "order.placed", CustomerID: "c_ada", OccurredAt: placed},
		&store.Order{ID: "o1", CustomerID: "c_ada", Total: money.MustParse("8.50"), Currency: "GBP", PlacedAt: placed,
			Items: []store.Item{{ProductID: "tea", Name: "Earl Grey", Quantity: 2, Price: money.MustParse("4.25")}}})
	require.NoError(t, err)

	began := time.Now()
	out, errOut, err := run("preview", "thank-you", "--customer", "c_ada", "--journeys-dir", "../../journeys")
	require.NoError(t, err, errOut)
	assert.Contains(t, out, "thank-you for c_ada (Europe/London time)")
	assert.Contains(t, out, `email thank-you: "Thank you for your order, Ada"`)
	assert.Contains(t, out, "the journey ends: completed")

	out, errOut, err = run("preview", "lapse-winback", "--customer", "c_ada", "--journeys-dir", "../../journeys", "--days", "60")
	require.NoError(t, err, errOut)
	t.Logf("sixty days of lapse-winback:\n%s", out)
	assert.Regexp(t, `(?m)^  \w{3} \d+ \w{3}( \d{4})? \d\d:\d\d +the journey ends: exited \(no phone number to call\)$`, out, "35 days on, the call it cannot make")
	lines := strings.Split(out, "\n")
	require.GreaterOrEqual(t, len(lines), 4, out)
	assert.Contains(t, out, "email winback-offer:")
	assert.Contains(t, out, "mail winback-postcard: a postcard")
	assert.Regexp(t, `waits 14d, until \w{3} \d+ \w{3}`, out, "the wait, with when it ends")
	assert.Contains(t, out, "no phone number to call", "the branch without a phone, in what it decided")
	assert.Less(t, strings.Index(out, "email winback-offer"), strings.Index(out, "mail winback-postcard"), "in time order")

	// A what-if purchase ends the win-back at once.
	out, errOut, err = run("preview", "lapse-winback", "--customer", "c_ada", "--journeys-dir", "../../journeys", "--what-if", "event order.placed at day 3")
	require.NoError(t, err, errOut)
	assert.Contains(t, out, "event order.placed arrives (what if)")
	assert.NotContains(t, out, "winback-postcard", "it ended before the postcard")
	assert.Contains(t, out, "the journey ends: exited")
	t.Logf("three previews took %s:\n%s", time.Since(began), out)

	// A what-if event says which wait it ends, or that it ends none.
	dir := t.TempDir()
	require.NoError(t, os.CopyFS(dir, os.DirFS("../../journeys")))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "wait-for-review.yaml"), []byte(`journey: wait-for-review
purpose: transactional
trigger: {event: order.placed}
steps:
  - id: for_review
    wait: {until_event: event.type == "review.left", timeout: 7d}
  - id: thanks
    send: {channel: email, template: thank-you}
`), 0o600))
	out, errOut, err = run("preview", "wait-for-review", "--customer", "c_ada", "--journeys-dir", dir,
		"--what-if", "event page.viewed at day 1", "--what-if", "event review.left at day 2")
	require.NoError(t, err, errOut)
	t.Logf("what-if waits:\n%s", out)
	assert.Contains(t, out, "event page.viewed arrives (what if)\n")
	assert.Regexp(t, `the for_review wait \(.+\) goes on: the event does not end it`, out)
	assert.Regexp(t, `event review.left arrives \(what if\)\n.*it ends the for_review wait`, out)
	assert.Less(t, strings.Index(out, "it ends the for_review wait"), strings.Index(out, "email thank-you"))

	// Nothing was sent or stored.
	msgs, err := st.MessagesFor(ctx, "c_ada")
	require.NoError(t, err)
	assert.Empty(t, msgs)

	// An event from a file starts it.
	file := filepath.Join(t.TempDir(), "event.json")
	require.NoError(t, os.WriteFile(file, []byte(`{"type": "order.placed", "data": {"order_id": "o1"}, "order": {"id": "o1"}}`), 0o600))
	out, errOut, err = run("preview", "thank-you", "--customer", "c_ada", "--journeys-dir", "../../journeys", "--event", file)
	require.NoError(t, err, errOut)
	assert.Contains(t, out, "started by order.placed")

	// A suppressed address gets nothing, in a preview as in a send.
	require.NoError(t, st.Suppress(ctx, store.Suppression{Channel: "email", Address: "ada@example.com", Reason: "bounced", Source: "test"}))
	out, errOut, err = run("preview", "thank-you", "--customer", "c_ada", "--journeys-dir", "../../journeys")
	require.NoError(t, err, errOut)
	assert.Contains(t, out, "email thank-you not sent: the email address is suppressed: bounced")

	for _, bad := range [][]string{{"--what-if", "order at 3"}, {"--days", "0"}, {"--customer", ""}} {
		_, _, err := run(append([]string{"preview", "thank-you", "--customer", "c_ada", "--journeys-dir", "../../journeys"}, bad...)...)
		assert.Error(t, err, "%v", bad)
	}
	_, _, err = run("preview", "nope", "--customer", "c_ada", "--journeys-dir", "../../journeys")
	assert.ErrorContains(t, err, `no journey "nope"`)
}

// TestPreviewDateJourney: a yearly attribute-date journey previews from
// the customer's next date, at 09:00 their time, with the date in its
// templates and conditions.
func TestPreviewDateJourney(t *testing.T) {
	st, dbURL := storetest.New(t)
	ctx := context.Background()
	t.Setenv("DATABASE_URL", dbURL)
	t.Setenv("RAPPORT_SECRET", strings.Repeat("s", 32))
	renews := time.Now().AddDate(0, 0, 20).Format(time.DateOnly)
	_, err := st.UpsertCustomer(ctx, store.Customer{ID: "c_kai", Email: "kai@example.com", Phone: "+61 412 345 678", Name: "Kai Wong", TimeZone: "Australia/Sydney",
		Attributes: map[string]any{"renewal_date": "2020-" + renews[5:]}}) // a leap year: 29 February is a date
	require.NoError(t, err)
	_, err = st.UpsertCustomer(ctx, store.Customer{ID: "c_none", Email: "none@example.com", Name: "No Date"})
	require.NoError(t, err)
	_, err = st.RecordConsent(ctx, "c_kai", "sms", "opted_in", "api", store.Evidence{})
	require.NoError(t, err)

	out, errOut, err := run("preview", "renewal-reminder", "--customer", "c_kai", "--journeys-dir", "../../docs/examples")
	require.NoError(t, err, errOut)
	t.Logf("renewal-reminder:\n%s", out)
	enters, _ := time.Parse(time.DateOnly, renews)
	assert.Contains(t, out, "renewal-reminder for c_kai (Australia/Sydney time), from "+enters.AddDate(0, 0, -7).Format("Mon 2 Jan")+" 09:00, started by date")
	assert.Contains(t, out, "the date is "+renews+"; the journey enters 7 days before customer.attributes.renewal_date, every year, at 09:00 local time")
	assert.Contains(t, out, `email renewal-reminder: "Your plan renews on `+renews+`"`)
	assert.Contains(t, out, "sms renewal-reminder", "the day before, days_between(today, trigger.data.date) == 1 in Sydney")

	// The trigger's condition, at that moment, decides whether they enter.
	_, err = st.UpsertCustomer(ctx, store.Customer{ID: "c_post", Name: "Post Only", Attributes: map[string]any{"renewal_date": renews}})
	require.NoError(t, err)
	out, errOut, err = run("preview", "renewal-reminder", "--customer", "c_post", "--journeys-dir", "../../docs/examples")
	require.NoError(t, err, errOut)
	assert.Contains(t, out, "renewal-reminder would not start for c_post at ")
	assert.Contains(t, out, ": customer.has_email is false for them")

	_, _, err = run("preview", "renewal-reminder", "--customer", "c_none", "--journeys-dir", "../../docs/examples")
	assert.ErrorContains(t, err, "customer c_none has no date in attributes.renewal_date (text such as 2027-03-14), so renewal-reminder would never start for them")
}

// TestPreviewWhatIfAtTheStartWithDataAndTime: a what-if event at day 0
// (it panicked: the run was queried before it had started), a what-if
// carrying data that the journey's conditions read (there was no data:
// "no such key"), and one at a time of day (there were only whole days).
func TestPreviewWhatIfAtTheStartWithDataAndTime(t *testing.T) {
	st, dbURL := storetest.New(t)
	ctx := context.Background()
	t.Setenv("DATABASE_URL", dbURL)
	t.Setenv("RAPPORT_SECRET", strings.Repeat("s", 32))
	_, err := st.UpsertCustomer(ctx, store.Customer{ID: "s2_b", Email: "b@example.com", Name: "Bea", Locale: "en-GB", TimeZone: "Europe/London"})
	require.NoError(t, err)
	_, err = st.RecordConsent(ctx, "s2_b", "email", "opted_in", "api", store.Evidence{})
	require.NoError(t, err)
	cart := filepath.Join(t.TempDir(), "s2-event.json")
	require.NoError(t, os.WriteFile(cart, []byte(`{"type": "cart.abandoned", "data": {"items": [{"product_id": "p1", "name": "Teapot", "quantity": 1, "price": 30}]}}`), 0o600))

	// At day 0: the purchase ends the reminder before it is sent.
	out, errOut, err := run("preview", "cart-reminder", "--customer", "s2_b", "--journeys-dir", "../../docs/examples", "--event", cart,
		"--what-if", "event order.placed at day 0")
	require.NoError(t, err, errOut)
	t.Logf("what-if at day 0:\n%s", out)
	assert.Contains(t, out, "event order.placed arrives (what if)")
	assert.Contains(t, out, "the journey ends: exited")
	assert.NotContains(t, out, "email cart-reminder")

	// Data the journey reads, at a time of day.
	dir := t.TempDir()
	require.NoError(t, os.CopyFS(dir, os.DirFS("../../journeys")))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "wait-for-product.yaml"), []byte(`journey: wait-for-product
purpose: transactional
trigger: {event: order.placed}
steps:
  - id: for_view
    wait: {until_event: event.type == "product.viewed" && event.data.product_id == "p1", timeout: 7d}
  - id: thanks
    send: {channel: email, template: thank-you}
`), 0o600))
	before := time.Now().UTC().Truncate(time.Minute) // the preview starts on the minute
	out, errOut, err = run("preview", "wait-for-product", "--customer", "s2_b", "--journeys-dir", dir,
		"--what-if", `event product.viewed at day 1 with {"product_id": "p2"}`,
		"--what-if", `event product.viewed at day 2 12h30m with {"product_id": "p1"}`)
	require.NoError(t, err, errOut)
	t.Logf("what-if with data:\n%s", out)
	assert.NotContains(t, out, "no such key")
	assert.Regexp(t, `event product.viewed arrives \(what if\)\n.*the for_view wait \(.+\) goes on`, out, "p2 does not end it")
	assert.Regexp(t, `event product.viewed arrives \(what if\)\n.*it ends the for_view wait`, out, "p1 does")
	london, err := time.LoadLocation("Europe/London")
	require.NoError(t, err)
	var at []string // when it arrives, for each minute the preview may have started in
	for m := before; !m.After(time.Now().UTC()); m = m.Add(time.Minute) {
		at = append(at, m.Add(2*24*time.Hour+12*time.Hour+30*time.Minute).In(london).Format("Mon 2 Jan 15:04"))
	}
	assert.Regexp(t, `(?m)^  (`+strings.Join(at, "|")+`)( \d{4})? +event product.viewed arrives \(what if\)\n.*it ends the for_view wait`, out, "two days, twelve hours and a half in")

	for _, bad := range []string{
		"event order.placed at day 2 with [1]",
		`event order.placed at day 2 with {"a": 1} trailing`,
		"event order.placed at",
		"event order.placed at day 61",
		"event order.placed at day 60 1h",
		"event order.placed at day 230m",
	} {
		_, _, err := run("preview", "cart-reminder", "--customer", "s2_b", "--journeys-dir", "../../docs/examples", "--event", cart, "--what-if", bad)
		assert.ErrorContains(t, err, "--what-if", bad)
	}
}

// TestPreviewWebhookFollowsItsEndpoint: a marketing webhook to a
// customer who left its topic is not sent when its endpoint contacts the
// customer, and goes (the contact rules do not apply) when the endpoint
// declares contacts_customer false; with the endpoint not configured the
// preview applies the rules and says what it assumed.
func TestPreviewWebhookFollowsItsEndpoint(t *testing.T) {
	st, dbURL := storetest.New(t)
	ctx := context.Background()
	t.Setenv("DATABASE_URL", dbURL)
	t.Setenv("RAPPORT_SECRET", strings.Repeat("s", 32))
	t.Setenv("RAPPORT_WEBHOOK_ENDPOINTS", "")
	t.Setenv("RAPPORT_WEBHOOK_ENDPOINTS_FILE", "")
	_, err := st.UpsertCustomer(ctx, store.Customer{ID: "c_ada", Email: "ada@example.com", Name: "Ada Lovelace", Locale: "en-GB", TimeZone: "Europe/London"})
	require.NoError(t, err)
	placed := time.Now().Add(-24 * time.Hour)
	_, _, err = st.RecordEvent(ctx, store.Event{ID: "e1", Type: "order.placed", CustomerID: "c_ada", OccurredAt: placed},
		&store.Order{ID: "o1", CustomerID: "c_ada", Total: money.MustParse("8.50"), Currency: "GBP", PlacedAt: placed,
			Items: []store.Item{{ProductID: "tea", Name: "Earl Grey", Quantity: 2, Price: money.MustParse("4.25")}}})
	require.NoError(t, err)
	_, err = st.RecordTopic(ctx, "c_ada", "news", false, "test", store.Evidence{})
	require.NoError(t, err)
	dir := webhookJourney(t, `{"customer": {{json .Customer.ID}}{{with .Order}}, "order": {{json .ID}}{{end}}}`)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "order-hook.yaml"), []byte(`journey: order-hook
description: Tell a partner about each order, for its newsletter.
purpose: marketing
topic: news
trigger: {event: order.placed}
steps:
  - id: notify
    send: {channel: webhook, endpoint: orders-feed, template: order-feed}
`), 0o644))
	preview := func() string {
		t.Helper()
		out, errOut, err := run("preview", "order-hook", "--customer", "c_ada", "--journeys-dir", dir)
		require.NoError(t, err, errOut)
		t.Logf("%s", out)
		return out
	}

	out := preview()
	assert.Contains(t, out, "webhook order-feed to orders-feed (RAPPORT_WEBHOOK_ENDPOINTS configures none here: taken to contact the customer, so the contact rules apply) not sent: unsubscribed from news\n")

	t.Setenv("RAPPORT_WEBHOOK_ENDPOINTS", webhookEndpoints(t, map[string]bool{"orders-feed": false}))
	out = preview()
	assert.Contains(t, out, `webhook order-feed to orders-feed (contacts_customer false: no contact rules, counts towards no cap): {"customer": "c_ada", "order": "o1"}`)
	assert.NotContains(t, out, "not sent")

	t.Setenv("RAPPORT_WEBHOOK_ENDPOINTS", webhookEndpoints(t, map[string]bool{"orders-feed": true}))
	out = preview()
	assert.Contains(t, out, "webhook order-feed to orders-feed (contacts_customer: the contact rules apply) not sent: unsubscribed from news\n")

	t.Setenv("RAPPORT_WEBHOOK_ENDPOINTS", webhookEndpoints(t, map[string]bool{"crm": false, "shop": false}))
	out = preview()
	assert.Contains(t, out, "webhook order-feed to orders-feed (RAPPORT_WEBHOOK_ENDPOINTS here has only crm, shop, so a worker would not start: taken to contact the customer, so the contact rules apply) not sent: unsubscribed from news\n")
}
