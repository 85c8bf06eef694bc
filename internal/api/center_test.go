package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/links"
	"github.com/rapporthq/rapport/internal/policy"
	"github.com/rapporthq/rapport/internal/store"
)

// centerPage fetches c_1's preference center.
func (a *inputAPI) centerPage() (token, page string) {
	a.t.Helper()
	token = a.links.SignSubject(links.PreferencesPurpose, "c_1", time.Now().Add(time.Hour))
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, httptest.NewRequest("GET", "/preferences/"+token, nil))
	require.Equal(a.t, http.StatusOK, rec.Code, rec.Body.String())
	return token, rec.Body.String()
}

// chosen says which of a channel's radio buttons is selected on a page:
// "yes", "no" or "" for neither.
func chosen(t *testing.T, page, channel string) string {
	t.Helper()
	var got []string
	for _, value := range []string{"yes", "no"} {
		re := regexp.MustCompile(`<input type="radio" name="channel_` + channel + `" value="` + value + `" id="channel_` + channel + `_` + value + `"( checked)?>`)
		m := re.FindStringSubmatch(page)
		require.NotNil(t, m, "the page offers %s for %s", value, channel)
		if m[1] != "" {
			got = append(got, value)
		}
	}
	require.LessOrEqual(t, len(got), 1, "at most one choice selected for %s", channel)
	return strings.Join(got, "")
}

// TestPreferenceCenterShowsConsentAsItIs: a channel the customer never
// said anything about is shown with neither Yes nor No chosen, and a
// sentence saying what happens until they choose (which depends on
// whether the channel needs an opt-in); saving leaves it unknown unless
// they choose, and records exactly what they chose.
func TestPreferenceCenterShowsConsentAsItIs(t *testing.T) {
	a := newInputAPI(t)
	a.s.Rules.RequireOptIn = map[policy.Channel]bool{policy.SMS: true, policy.Phone: true}
	a.s.Rules.Caps = []policy.Cap{{Max: 3, Per: 7 * 24 * time.Hour}}
	ctx := context.Background()
	_, err := a.st.RecordConsent(ctx, "c_1", "mail", string(policy.OptedOut), "checkout", store.Evidence{Shown: "no post, thanks"})
	require.NoError(t, err)

	token, page := a.centerPage()
	assert.Equal(t, "", chosen(t, page, "email"), "email was never asked: not shown as given")
	assert.Equal(t, "", chosen(t, page, "sms"))
	assert.Equal(t, "no", chosen(t, page, "mail"))
	assert.Contains(t, page, `<p class="note" id="unknown_email">You have not told us yet, so for now we may send you marketing this way. Choose No to stop it.</p>`)
	assert.Contains(t, page, `<p class="note" id="unknown_sms">You have not told us yet, so we send you no marketing this way until you choose Yes.</p>`)
	assert.NotContains(t, page, `id="unknown_mail"`, "no sentence where the customer chose")
	assert.Contains(t, page, "at most 3 messages a week", "caps in a customer's words")

	// Saving with nothing chosen records nothing; choosing records it.
	post := func(form url.Values) {
		t.Helper()
		req := httptest.NewRequest("POST", "/preferences/"+token, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		a.h.ServeHTTP(rec, req)
		require.Equal(t, http.StatusSeeOther, rec.Code, rec.Body.String())
	}
	post(url.Values{"channel_mail": {"no"}, "frequency": {"default"}})
	history, err := a.st.ConsentHistory(ctx, "c_1")
	require.NoError(t, err)
	require.Len(t, history, 1, "the page as shown changes nothing: %+v", history)

	post(url.Values{"channel_email": {"yes"}, "channel_sms": {"no"}, "channel_mail": {"yes"}, "channel_phone": {"maybe"}, "frequency": {"default"}})
	history, err = a.st.ConsentHistory(ctx, "c_1")
	require.NoError(t, err)
	got := map[string]string{}
	for _, h := range history[1:] {
		got[h.Channel] = h.State
		assert.Equal(t, "preference_center", h.Source)
		assert.Contains(t, h.Evidence.Shown, "yes, no, or not told yet", "the evidence names the page's wording")
	}
	assert.Equal(t, map[string]string{"email": "opted_in", "sms": "opted_out", "mail": "opted_in"}, got, "a value other than yes or no records nothing")

	_, page = a.centerPage()
	assert.Equal(t, "yes", chosen(t, page, "email"))
	assert.Equal(t, "no", chosen(t, page, "sms"))
	assert.Equal(t, "yes", chosen(t, page, "mail"))
	assert.Equal(t, "", chosen(t, page, "phone"))
	assert.NotContains(t, page, `id="unknown_email"`)
}
