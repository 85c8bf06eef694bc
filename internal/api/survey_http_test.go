package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/links"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

// surveyToken signs a survey link for the customer, as a journey's
// message carries it.
func (s *shop) surveyToken(signer *links.Signer, customerID string, expires time.Time) (string, links.Survey) {
	s.t.Helper()
	wf := workflows.WorkflowID("satisfaction", customerID, "evt-1")
	claims := links.Survey{SurveyID: links.SurveyID(wf, "ask"), CustomerID: customerID, WorkflowID: wf, StepID: "ask", OrderID: "o-1"}
	token, err := signer.Sign(links.SurveyPurpose, claims, expires)
	require.NoError(s.t, err)
	return token, claims
}

// page requests a public page (no key); form, when not nil, is posted.
func (s *shop) page(method, path string, form url.Values) answer {
	s.t.Helper()
	var req *http.Request
	if form != nil {
		req = httptest.NewRequest(method, path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(method, path, nil)
	}
	return s.serve(req)
}

// The survey page asks; the first answer is recorded and becomes a
// survey.answered event for the customer's journeys (a poor score starts
// care); a second answer changes nothing; a bad score is asked again,
// keeping the comment.
func TestASurveyIsAnsweredOnce(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	ctx := context.Background()
	s.customer(`{"id": "c_1", "email": "ada@example.com", "name": "Ada Lovelace"}`)
	token, claims := s.surveyToken(s.links, "c_1", time.Now().Add(30*24*time.Hour))
	path := "/survey/" + token

	a := s.page("GET", path, nil)
	require.Equal(t, http.StatusOK, a.Code, a.Body)
	assert.Contains(t, a.Body, "Hello Ada,")
	assert.Contains(t, a.Body, `name="score"`)
	req := httptest.NewRequest("GET", path, nil)
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, req)
	assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
	assert.Equal(t, "no-referrer", rec.Header().Get("Referrer-Policy"), "the link is a credential")

	a = s.page("POST", path, url.Values{"score": {"9"}, "comment": {"<b>cold</b> tea"}})
	assert.Equal(t, http.StatusBadRequest, a.Code)
	assert.Contains(t, a.Body, "Please choose a score from 1 to 5.")
	assert.Contains(t, a.Body, "&lt;b&gt;cold&lt;/b&gt; tea", "the comment is kept, escaped")
	assert.NotContains(t, a.Body, "<b>cold</b>")
	a = s.page("POST", path, url.Values{"score": {"3"}, "comment": {strings.Repeat("é", 2001)}})
	assert.Equal(t, http.StatusBadRequest, a.Code)
	assert.Contains(t, a.Body, "under 2,000 characters")
	_, err := s.st.GetSurveyAnswer(ctx, claims.SurveyID)
	require.ErrorIs(t, err, store.ErrNotFound, "nothing recorded yet")

	a = s.page("POST", path, url.Values{"score": {"1"}, "comment": {"  The tea was cold.  "}})
	require.Equal(t, http.StatusOK, a.Code, a.Body)
	assert.Contains(t, a.Body, "You gave us 1 out of 5")
	assert.Contains(t, a.Body, "Someone from our team will read your comment")
	ans, err := s.st.GetSurveyAnswer(ctx, claims.SurveyID)
	require.NoError(t, err)
	assert.Equal(t, 1, ans.Score)
	assert.Equal(t, "The tea was cold.", ans.Comment)
	assert.Equal(t, claims.WorkflowID, ans.WorkflowID)

	ev := s.must(http.StatusOK, "GET", "/v1/events/survey-"+claims.SurveyID, "")
	assert.Equal(t, "survey.answered", ev["type"])
	assert.Equal(t, "c_1", ev["customer_id"])
	data := ev["data"].(map[string]any)
	assert.Equal(t, 1.0, data["score"])
	assert.Equal(t, "o-1", data["order_id"])
	assert.Equal(t, claims.WorkflowID, data["workflow_id"])
	care := workflows.WorkflowID("care", "c_1", "survey-"+claims.SurveyID)
	assert.Equal(t, []string{care}, s.temporal.startIDs(), "a poor score starts care")

	// A second answer is thanked with the first, and changes nothing.
	a = s.page("POST", path, url.Values{"score": {"5"}})
	require.Equal(t, http.StatusOK, a.Code)
	assert.Contains(t, a.Body, "You gave us 1 out of 5")
	ans, err = s.st.GetSurveyAnswer(ctx, claims.SurveyID)
	require.NoError(t, err)
	assert.Equal(t, 1, ans.Score)
	assert.Len(t, s.temporal.startIDs(), 1)
	a = s.page("GET", path, nil)
	assert.Contains(t, a.Body, "Thank you")
	assert.Contains(t, a.Body, "You gave us 1 out of 5")
	assert.NotContains(t, a.Body, `name="score"`, "no form once answered")
}

// A link that is forged, tampered with, meant for another page or expired
// gets a 403 page and changes nothing; a customer erased since gets 410.
func TestASurveyLinkMustBeGenuineAndCurrent(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	ctx := context.Background()
	s.customer(`{"id": "c_1", "email": "ada@example.com", "name": "Ada"}`)
	s.customer(`{"id": "c_2", "email": "grace@example.com", "name": "Grace"}`)
	other, err := links.NewSigner([]byte(strings.Repeat("x", 32)))
	require.NoError(t, err)

	forged, claims := s.surveyToken(other, "c_1", time.Now().Add(time.Hour))
	good, _ := s.surveyToken(s.links, "c_1", time.Now().Add(time.Hour))
	tampered := good[:len(good)-2] + map[bool]string{true: "AA", false: "BB"}[!strings.HasSuffix(good, "AA")]
	expired, _ := s.surveyToken(s.links, "c_1", time.Now().Add(-time.Minute))
	wrongPurpose, err := s.links.Sign(links.PreferencesPurpose, claims, time.Now().Add(time.Hour))
	require.NoError(t, err)
	for name, tc := range map[string]struct{ token, says string }{
		"forged":             {forged, "not valid"},
		"tampered":           {tampered, "not valid"},
		"for another page":   {wrongPurpose, "not valid"},
		"expired":            {expired, "has expired"},
		"not a token at all": {"hello", "not valid"},
	} {
		for _, method := range []string{"GET", "POST"} {
			a := s.page(method, "/survey/"+tc.token, url.Values{"score": {"1"}})
			assert.Equal(t, http.StatusForbidden, a.Code, "%s %s", method, name)
			assert.Contains(t, a.Body, tc.says, "%s %s", method, name)
			assert.NotContains(t, a.Body, `name="score"`, "%s %s", method, name)
		}
	}
	_, err = s.st.GetSurveyAnswer(ctx, claims.SurveyID)
	assert.ErrorIs(t, err, store.ErrNotFound, "no refused answer was recorded")
	assert.Empty(t, s.temporal.startIDs())

	// An erased customer's old link takes no answer.
	hash, err := s.st.CustomerHash("c_2")
	require.NoError(t, err)
	_, _, err = s.st.BeginErasure(ctx, "c_2", workflows.EraseWorkflowID(hash), "test", "asked")
	require.NoError(t, err)
	token, erased := s.surveyToken(s.links, "c_2", time.Now().Add(time.Hour))
	a := s.page("POST", "/survey/"+token, url.Values{"score": {"4"}})
	assert.Equal(t, http.StatusGone, a.Code)
	assert.Contains(t, a.Body, "This survey is closed.")
	_, err = s.st.GetSurveyAnswer(ctx, erased.SurveyID)
	assert.ErrorIs(t, err, store.ErrNotFound)
}
