package journey

import (
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEvalOverTheSchema(t *testing.T) {
	env, err := NewEnv()
	require.NoError(t, err)
	vars := Vars{
		Customer: Customer{ID: "c_1", Locale: "en-GB", OrdersCount: 3, Tags: []string{"vip"}, Attributes: map[string]any{"tier": "gold"}},
		Event: Event{ID: "e1", Type: "order.placed", OccurredAt: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC),
			Order: Order{ID: "o1", Total: 120.5, Gift: true, Items: []Item{{ProductID: "p1", Name: "Tea", Quantity: 2, Price: 60.25}}}},
		Order: Order{ID: "o1", Total: 120.5, Gift: true},
	}
	for expr, want := range map[string]bool{
		`event.type == "order.placed"`:                          true,
		`order.total > 100`:                                     true, // double compared with an int literal
		`order.total >= 200`:                                    false,
		`order.gift && customer.locale.startsWith("en")`:        true,
		`"vip" in customer.tags`:                                true,
		`customer.attributes.tier == "gold"`:                    true,
		`event.order.items.exists(i, i.product_id == "p1")`:     true,
		`event.order.items.all(i, i.quantity > 5)`:              false,
		`event.occurred_at < timestamp("2026-06-01T00:00:00Z")`: true,
		`customer.orders_count >= 3 && !order.gift`:             false,
	} {
		got, err := env.Eval(expr, vars)
		require.NoError(t, err, expr)
		assert.Equal(t, want, got, expr)
	}

	_, err = env.Eval(`customer.attributes.missing == "x"`, vars)
	assert.ErrorContains(t, err, "no such key", "a missing attribute is an error, not false")
	_, err = env.Eval(`customer.nope`, vars)
	assert.ErrorContains(t, err, `there is no field "nope"`)
}

func TestCatalogLoadsAFolder(t *testing.T) {
	c := newTestCompiler(t)
	fsys := fstest.MapFS{
		"thanks.yaml":            {Data: src("journey: thanks", "purpose: transactional", "trigger: {event: order.placed}", "steps: [{wait: 1d}]")},
		"sub/winback.yml":        {Data: src("journey: winback", "topic: offers", "trigger: {event: customer.lapsed}", "steps: [{wait: 1d}]")},
		"templates/x/email.yaml": {Data: []byte("not: a journey: at all")},
		"README.md":              {Data: []byte("# docs")},
	}
	cat, diags := c.LoadFS(fsys, "journeys")
	require.Empty(t, diags)
	names := []string{}
	for _, p := range cat.Plans() {
		names = append(names, p.Journey)
	}
	assert.Equal(t, []string{"thanks", "winback"}, names)
	assert.Equal(t, "journeys/sub/winback.yml", must(cat.Get("winback")).Source)
	assert.Len(t, cat.TriggeredBy("order.placed"), 1)
	assert.Empty(t, cat.TriggeredBy("nothing"))

	fsys["copy.yaml"] = &fstest.MapFile{Data: fsys["thanks.yaml"].Data}
	fsys["broken.yaml"] = &fstest.MapFile{Data: []byte("journey: broken\n")}
	cat, diags = c.LoadFS(fsys, "journeys")
	assert.Nil(t, cat)
	assert.Contains(t, diags.Error(), `journeys/thanks.yaml:1:1: journey "thanks" is already defined in journeys/copy.yaml`)
	assert.Contains(t, diags.Error(), "journeys/broken.yaml:1:1: the journey has no trigger")
}

func must[T any](v T, ok bool) T {
	if !ok {
		panic("missing")
	}
	return v
}

func TestMermaid(t *testing.T) {
	plan, diags := newTestCompiler(t).Compile("g.yaml", src(
		"journey: g",
		"purpose: transactional",
		"trigger: {event: order.placed}",
		"exit_when: event.type == \"order.refunded\"",
		"steps:",
		"  - {id: thanks, send: {channel: [email, sms], template: thank-you}}",
		"  - branch:",
		"      - when: order.gift",
		"        steps: [{exit: gift}]",
		"      - otherwise: [{wait: 3d}]",
	))
	require.Empty(t, diags)
	assert.Equal(t, `flowchart TD
  %% g (plan `+plan.ShortHash()+`)
  start(["on order.placed"])
  s1["thanks<br/>send thank-you via email or sms"]
  start --> s1
  s2{"branch_2"}
  s1 --> s2
  s3(["exit_3<br/>exit: gift"])
  s2 -->|"order.gift"| s3
  s4[/"wait_4<br/>wait 3d"/]
  s2 -->|"otherwise"| s4
  done(["journey ends"])
  s4 --> done
  exit_when{{"at any point:<br/>event.type == #quot;order.refunded#quot;"}} -.-> exited(["exit"])
`, plan.Mermaid())
}

func TestEvalAudience(t *testing.T) {
	env, err := NewEnv()
	require.NoError(t, err)
	lapsed := Customer{ID: "c_1", OrdersCount: 3, DaysSinceLastOrder: 120, Country: "GB", HasEmail: true}
	for expr, want := range map[string]bool{
		"days_since_last_order >= 90 && orders_count >= 1": true,
		"customer.days_since_last_order >= 90":             true,
		`country == "US"`:                                  false,
		`"vip" in tags`:                                    false,
		`size(attributes) == 0`:                            true,
	} {
		got, err := env.EvalAudience(expr, lapsed, time.Time{})
		require.NoError(t, err, expr)
		assert.Equal(t, want, got, expr)
	}
	_, err = env.EvalAudience("nonsense >", lapsed, time.Time{})
	assert.Error(t, err)
}

// TestMermaidAudience: an audience journey's start says whom it enters and
// when, not "on " with nothing after it.
func TestMermaidAudience(t *testing.T) {
	c := newTestCompiler(t)
	for _, tc := range []struct{ trigger, start string }{
		{"trigger: {audience: orders_count >= 1, schedule: '0 9 * * mon', time_zone: Europe/London}",
			`start(["customers where orders_count #gt;= 1<br/>checked at 0 9 * * mon (cron, Europe/London)"])`},
		{"trigger: {audience: orders_count >= 1}",
			"start([\"customers where orders_count #gt;= 1<br/>when `rapport audience run` starts\"])"},
	} {
		plan, diags := c.Compile("a.yaml", src("journey: a", "topic: offers", tc.trigger, "steps:", "  - send: {channel: email, template: thank-you}"))
		require.Empty(t, diags)
		assert.Contains(t, plan.Mermaid(), "\n  "+tc.start+"\n")
		assert.NotContains(t, plan.Mermaid(), `"on `)
	}
}
