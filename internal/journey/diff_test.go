package journey

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDiff: an edit reads step by step: settings changed, steps added and
// removed (nested ones too), reordered, and template content changed.
func TestDiff(t *testing.T) {
	compile := func(tmpl versionedTemplates, lines ...string) *Plan {
		c, err := NewCompiler(Options{Templates: tmpl})
		require.NoError(t, err)
		p, diags := c.Compile("w.yaml", src(lines...))
		require.False(t, diags.HasErrors(), "%v", diags)
		return p
	}
	tmpl := versionedTemplates{"offer": "aaaaaaaaaaaa", "postcard": "bbbbbbbbbbbb", "nudge": "cccccccccccc"}
	old := compile(tmpl,
		"journey: winback",
		"topic: offers",
		"trigger: {audience: days_since_last_order >= 90}",
		"steps:",
		"  - {id: offer, send: {channel: email, template: offer}}",
		"  - {id: pause, wait: 14d}",
		"  - id: route",
		"    branch:",
		"      - when: customer.has_postal_address",
		"        steps: [{id: card, send: {channel: mail, template: postcard}}]",
		"      - otherwise: [{id: bye, exit: no address}]",
	)
	edited := versionedTemplates{"offer": "dddddddddddd", "postcard": "bbbbbbbbbbbb", "nudge": "cccccccccccc"}
	new := compile(edited,
		"journey: winback",
		"topic: offers",
		"trigger: {audience: days_since_last_order >= 120}",
		"steps:",
		"  - {id: pause, wait: 7d}",
		"  - {id: offer, send: {channel: [email, sms], template: offer}}",
		"  - id: route",
		"    branch:",
		"      - when: customer.has_postal_address",
		"        steps: [{id: card, send: {channel: mail, template: postcard}}]",
		"      - otherwise: [{id: text, send: {channel: sms, template: nudge}}]",
	)
	var got []string
	for _, c := range Diff(old, new) {
		got = append(got, c.Where+": "+c.What)
	}
	assert.Equal(t, []string{
		`journey: trigger.audience: "days_since_last_order >= 90" → "days_since_last_order >= 120"`,
		`step pause: wait.for: "14d" → "7d"`,
		`step offer: send.channels[1]: set to "sms"`,
		`step route: branch.otherwise[0].id: "bye" → "text"`,
		`step route: branch.otherwise[0].kind: "exit" → "send"`,
		`step text: added (send nudge via sms)`,
		`step bye: removed (exit)`,
		`journey: steps reordered: offer, pause, route, card → pause, offer, route, card`,
		`template nudge: now sent`,
		`template offer: content changed (aaaaaaa → ddddddd)`,
	}, got)
	assert.Empty(t, Diff(old, old), "a plan has no difference with itself")
}
