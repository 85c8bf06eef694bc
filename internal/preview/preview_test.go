package preview

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/app"
	"github.com/rapporthq/rapport/internal/money"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/store/storetest"
)

// TestParseWhatIf reads what-if events: a day, a time of day, data, and
// the forms it refuses.
func TestParseWhatIf(t *testing.T) {
	evs, err := ParseWhatIf([]string{
		"event order.placed at day 10",
		`event product.viewed at day 2 12h30m with {"product_id": "p1"}`,
		"event page.viewed at 90m",
		" event order.placed at day 0 ",
	}, 60)
	require.NoError(t, err)
	assert.Equal(t, []Event{
		{Type: "order.placed", At: 10 * 24 * time.Hour, Data: map[string]any{}},
		{Type: "product.viewed", At: 2*24*time.Hour + 12*time.Hour + 30*time.Minute, Data: map[string]any{"product_id": "p1"}},
		{Type: "page.viewed", At: 90 * time.Minute, Data: map[string]any{}},
		{Type: "order.placed", At: 0, Data: map[string]any{}},
	}, evs)

	for bad, says := range map[string]string{
		"order at 3":                                         "write it as 'event order.placed at day 10'",
		"event order.placed at":                              "write it as",
		"event order.placed at day 230m":                     "write it as",
		"event order.placed at day 61":                       "61d in is after the preview's 60 days",
		"event order.placed at day 60 1h":                    "after the preview's 60 days",
		"event order.placed at day 2 with [1]":               "must be one JSON object",
		`event order.placed at day 2 with {"a": 1} trailing`: "must be one JSON object",
		"event order.placed at day 2 with {\"a\": \"" + strings.Repeat("x", maxWhatIfData) + "\"}": "at most 65536 are taken",
	} {
		_, err := ParseWhatIf([]string{bad}, 60)
		assert.ErrorContains(t, err, "--what-if", bad)
		assert.ErrorContains(t, err, says, bad)
	}
}

// TestRunPlaysAJourneyAndStoresNothing previews the seed journeys for a
// customer of a real database: the messages with their subjects, the
// waits, a what-if purchase ending a win-back, a suppressed address, and
// nothing sent or stored.
func TestRunPlaysAJourneyAndStoresNothing(t *testing.T) {
	st, _ := storetest.New(t)
	ctx := context.Background()
	_, err := st.UpsertCustomer(ctx, store.Customer{ID: "c_ada", Email: "ada@example.com", Name: "Ada Lovelace", Locale: "en-GB",
		Address: store.Address{Line1: "12 St James's Square", City: "London", PostalCode: "SW1Y 4LB", Country: "GB"}})
	require.NoError(t, err)
	placed := time.Now().Add(-120 * 24 * time.Hour)
	_, _, err = st.RecordEvent(ctx, store.Event{ID: "e1", Type: "order.placed", CustomerID: "c_ada", OccurredAt: placed},
		&store.Order{ID: "o1", CustomerID: "c_ada", Total: money.MustParse("8.50"), Currency: "GBP", PlacedAt: placed,
			Items: []store.Item{{ProductID: "tea", Name: "Earl Grey", Quantity: 2, Price: money.MustParse("4.25")}}})
	require.NoError(t, err)
	js, err := app.LoadJourneys("../../journeys")
	require.NoError(t, err)
	cfg, err := app.ConfigFromEnv(app.MapEnv{"RAPPORT_SECRET": strings.Repeat("s", 32)})
	require.NoError(t, err)
	preview := func(journeyName string, whatIf ...Event) string {
		t.Helper()
		plan, ok := js.Catalog.Get(journeyName)
		require.True(t, ok, journeyName)
		var out strings.Builder
		require.NoError(t, Run(ctx, &out, Options{Store: st, Templates: js.Templates, Env: js.Compiler.Env(), Config: cfg,
			Plan: plan, CustomerID: "c_ada", WhatIf: whatIf, Days: 60}))
		t.Logf("%s:\n%s", journeyName, out.String())
		return out.String()
	}

	out := preview("thank-you")
	assert.Contains(t, out, "thank-you for c_ada (Europe/London time)")
	assert.Contains(t, out, "started by order.placed; nothing is sent or stored")
	assert.Contains(t, out, `email thank-you: "Thank you for your order, Ada"`)
	assert.Contains(t, out, "the journey ends: completed")

	out = preview("lapse-winback")
	assert.Contains(t, out, "email winback-offer:")
	assert.Contains(t, out, "mail winback-postcard: a postcard")
	assert.Regexp(t, `waits 14d, until \w{3} \d+ \w{3}`, out)
	assert.Less(t, strings.Index(out, "email winback-offer"), strings.Index(out, "mail winback-postcard"), "in time order")
	assert.Regexp(t, `(?m)^  \w{3} \d+ \w{3}( \d{4})? \d\d:\d\d +the journey ends: exited \(no phone number to call\)$`, out)

	out = preview("lapse-winback", Event{Type: "order.placed", At: 3 * 24 * time.Hour, Data: map[string]any{}})
	assert.Contains(t, out, "event order.placed arrives (what if)")
	assert.NotContains(t, out, "winback-postcard", "it ended before the postcard")
	assert.Contains(t, out, "the journey ends: exited")

	require.NoError(t, st.Suppress(ctx, store.Suppression{Channel: "email", Address: "ada@example.com", Reason: "bounced", Source: "test"}))
	assert.Contains(t, preview("thank-you"), "email thank-you not sent: the email address is suppressed: bounced")

	msgs, err := st.MessagesFor(ctx, "c_ada")
	require.NoError(t, err)
	assert.Empty(t, msgs, "nothing was sent or stored")

	plan, _ := js.Catalog.Get("thank-you")
	assert.ErrorContains(t, Run(ctx, &strings.Builder{}, Options{Store: st, Templates: js.Templates, Env: js.Compiler.Env(), Config: cfg,
		Plan: plan, CustomerID: "c_nobody", Days: 60}), "customer c_nobody")
	assert.Error(t, Run(ctx, &strings.Builder{}, Options{Store: st, Plan: plan, CustomerID: "c_ada"}), "no days")
}
