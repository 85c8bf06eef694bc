package api_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// channel reads one channel of a preferences answer.
func channel(t *testing.T, prefs map[string]any, name string) map[string]any {
	t.Helper()
	ch, ok := prefs["channels"].(map[string]any)[name].(map[string]any)
	require.True(t, ok, "no channel %s in %v", name, prefs)
	return ch
}

// Preferences answer what applies and where it comes from; a PUT changes
// what it names and leaves the rest; consent and topic changes are kept
// as history with their evidence.
func TestPreferencesAreReadAndChanged(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	s.customer(`{"id": "c_1", "email": "Ada@Example.com", "phone": "+44 7911 123456", "name": "Ada",
		"address": {"line1": "1 Rue de Rivoli", "city": "Paris", "postal_code": "75001", "country": "FR"}}`)

	p := s.must(http.StatusOK, "GET", "/v1/customers/c_1/preferences", "")
	assert.Equal(t, "c_1", p["customer_id"])
	for _, ch := range []string{"email", "sms", "mail", "phone"} {
		assert.Equal(t, "unknown", channel(t, p, ch)["consent"], ch)
		assert.Equal(t, "default", channel(t, p, ch)["quiet_hours_source"], ch)
	}
	assert.Equal(t, map[string]any{"offers": true, "reviews": true}, p["topics"], "the journeys' topics, subscribed until the customer leaves one")
	assert.Equal(t, "Europe/Paris", p["time_zone"])
	assert.Equal(t, "country", p["time_zone_source"])
	assert.Equal(t, "default", p["frequency"].(map[string]any)["source"])
	assert.Empty(t, p["suppressions"])
	assert.Nil(t, p["history"])

	p = s.must(http.StatusOK, "PUT", "/v1/customers/c_1/preferences", `{
		"channels": {"email": {"consent": "opted_out"}, "sms": {"consent": "opted_in", "quiet_hours": {"start": "22:00", "end": "07:30"}},
		             "mail": {"quiet_hours": null}},
		"topics": {"offers": false},
		"channel_order": ["sms", "email"],
		"time_zone": "Europe/London",
		"frequency": {"caps": [{"channel": "all", "max": 1, "per": "7d"}]},
		"evidence": {"source": "import", "shown": "old sign-up form", "note": "from the old shop"}}`)
	assert.Equal(t, "opted_out", channel(t, p, "email")["consent"])
	assert.Equal(t, "import", channel(t, p, "email")["source"])
	assert.Equal(t, "old sign-up form", channel(t, p, "email")["evidence"].(map[string]any)["shown"])
	sms := channel(t, p, "sms")
	assert.Equal(t, "opted_in", sms["consent"])
	assert.Equal(t, map[string]any{"start": "22:00", "end": "07:30"}, sms["quiet_hours"])
	assert.Equal(t, "customer", sms["quiet_hours_source"])
	assert.Nil(t, channel(t, p, "mail")["quiet_hours"])
	assert.Equal(t, "customer", channel(t, p, "mail")["quiet_hours_source"], "no quiet hours is the customer's choice")
	assert.Equal(t, "unknown", channel(t, p, "phone")["consent"], "what the PUT leaves out stays")
	assert.Equal(t, map[string]any{"offers": false, "reviews": true}, p["topics"])
	assert.Equal(t, []any{"sms", "email"}, p["channel_order"])
	assert.Equal(t, "Europe/London", p["time_zone"])
	assert.Equal(t, "customer", p["time_zone_source"])
	freq := p["frequency"].(map[string]any)
	assert.Equal(t, "customer", freq["source"])
	assert.Equal(t, []any{map[string]any{"channel": "all", "max": 1.0, "per": "7d"}}, freq["caps"])
	assert.Equal(t, "Europe/London", s.must(http.StatusOK, "GET", "/v1/customers/c_1", "")["time_zone"], "the customer's zone changed")

	// A second change adds to the history; a part left out stays.
	p = s.must(http.StatusOK, "PUT", "/v1/customers/c_1/preferences", `{"channels": {"email": {"consent": "opted_in"}}, "frequency": {"caps": []}}`)
	assert.Equal(t, "opted_in", channel(t, p, "email")["consent"])
	assert.Equal(t, "api", channel(t, p, "email")["source"], "without evidence the source is the API")
	assert.Equal(t, "default", p["frequency"].(map[string]any)["source"], "no caps: back to the shop's")
	assert.Equal(t, map[string]any{"start": "22:00", "end": "07:30"}, channel(t, p, "sms")["quiet_hours"])

	h := s.must(http.StatusOK, "GET", "/v1/customers/c_1/preferences?history=1", "")["history"].(map[string]any)
	consent := h["consent"].([]any)
	require.Len(t, consent, 3, "%v", consent)
	var emailStates []any
	for _, c := range consent {
		if c.(map[string]any)["channel"] == "email" {
			emailStates = append(emailStates, c.(map[string]any)["state"])
		}
	}
	assert.Equal(t, []any{"opted_out", "opted_in"}, emailStates, "in the order given")
	topics := h["topics"].([]any)
	require.Len(t, topics, 1)
	assert.Equal(t, "offers", topics[0].(map[string]any)["topic"])
	assert.Equal(t, false, topics[0].(map[string]any)["subscribed"])

	// A suppression of the customer's address shows, whatever its case.
	s.must(http.StatusCreated, "POST", "/v1/suppressions", `{"channel": "email", "address": "ada@example.com", "reason": "asked on the phone"}`)
	sups := s.must(http.StatusOK, "GET", "/v1/customers/c_1/preferences", "")["suppressions"].([]any)
	require.Len(t, sups, 1)
	assert.Equal(t, "email", sups[0].(map[string]any)["channel"])
}

// A PUT the API refuses names the field, and changes nothing, not even
// the parts of it that were right.
func TestPreferenceChangesAreCheckedWhole(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	s.customer(`{"id": "c_1", "email": "ada@example.com"}`)
	for _, tc := range []struct{ name, body, field, says string }{
		{"a channel misspelt", `{"channels": {"emial": {"consent": "opted_out"}}}`, "channels.emial", "did you mean email?"},
		{"a consent that is not one", `{"channels": {"email": {"consent": "maybe"}}}`, "channels.email.consent", "opted_in, opted_out or unknown"},
		{"an hour past midnight", `{"channels": {"sms": {"quiet_hours": {"start": "25:00", "end": "08:00"}}}}`, "channels.sms.quiet_hours.start", ""},
		{"quiet hours as words", `{"channels": {"sms": {"quiet_hours": "evenings"}}}`, "channels.sms.quiet_hours", "or null for none"},
		{"a topic no journey has", `{"channels": {"email": {"consent": "opted_out"}}, "topics": {"offer": false}}`, "topics.offer", "did you mean offers?"},
		{"a channel twice in the order", `{"channel_order": ["sms", "sms"]}`, "channel_order[1]", "once each"},
		{"a zone that is not one", `{"time_zone": "Europe/Atlantis"}`, "time_zone", "IANA"},
		{"a cap of nothing", `{"frequency": {"caps": [{"channel": "email", "max": 0, "per": "7d"}]}}`, "frequency.caps[0].max", "1 or more"},
		{"a cap per nothing", `{"frequency": {"caps": [{"channel": "email", "max": 1, "per": "soon"}]}}`, "frequency.caps[0].per", "duration"},
		{"an unknown part", `{"topic": {"offers": false}}`, "topic", "unknown field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := s.call("PUT", "/v1/customers/c_1/preferences", tc.body)
			require.Equal(t, http.StatusBadRequest, a.Code, a.Body)
			assert.Equal(t, tc.field, a.JSON["field"])
			assert.Contains(t, a.JSON["error"], tc.says)
		})
	}
	p := s.must(http.StatusOK, "GET", "/v1/customers/c_1/preferences?history=1", "")
	assert.Equal(t, "unknown", channel(t, p, "email")["consent"], "the email opt-out sent with a bad topic was not applied")
	h := p["history"].(map[string]any)
	assert.Empty(t, h["consent"])
	assert.Empty(t, h["topics"])
	assert.Equal(t, "default", p["frequency"].(map[string]any)["source"])

	assert.Equal(t, http.StatusNotFound, s.call("GET", "/v1/customers/c_nobody/preferences", "").Code)
	assert.Equal(t, http.StatusNotFound, s.call("PUT", "/v1/customers/c_nobody/preferences", `{"topics": {"offers": false}}`).Code)
}
