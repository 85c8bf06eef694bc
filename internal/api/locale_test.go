package api

import (
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/links"
	"github.com/rapporthq/rapport/internal/locale/localetest"
	"github.com/rapporthq/rapport/workflows"
)

// visit requests a public page, as a browser that prefers the languages
// given (Accept-Language), posting form when it is not nil.
func (a *inputAPI) visit(method, path string, form url.Values, languages string) *httptest.ResponseRecorder {
	a.t.Helper()
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	req := httptest.NewRequest(method, path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if languages != "" {
		req.Header.Set("Accept-Language", languages)
	}
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	return rec
}

// noEnglish asserts a page for a French reader holds none of Rapport's
// English (its English catalog, English month and weekday names).
func noEnglish(t *testing.T, what string, rec *httptest.ResponseRecorder) {
	t.Helper()
	page := html.UnescapeString(rec.Body.String())
	assert.Empty(t, localetest.EnglishIn(page, "fr"), "%s (%d) has English for a French reader:\n%s", what, rec.Code, page)
	if strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		assert.Contains(t, page, `<html lang="fr">`, what)
	}
}

// TestPagesSpeakTheCustomersLanguage: a fr-FR customer's preference
// center, unsubscribe page and survey, with a topic whose French name
// comes from configuration, and the pages of links that name no one for a
// browser that asks for French, are French throughout; a fr-CA customer
// gets the same through the chain fr-CA, fr, en.
func TestPagesSpeakTheCustomersLanguage(t *testing.T) {
	a := newInputAPI(t)
	a.s.Topics = append(a.s.Topics, "reviews", "back-in-stock")
	a.s.TopicLabels = map[string]map[string]string{"reviews": {"en": "Reviews", "fr": "Avis"}, "back-in-stock": {"fr": "Retour en stock"}}
	for _, c := range []string{
		`{"id": "c_fr", "name": "Amélie Poulain", "email": "amelie@example.com", "locale": "fr-FR"}`,
		`{"id": "c_ca", "name": "Gilles Vigneault", "email": "gilles@example.com", "locale": "fr-CA"}`,
	} {
		code, body := a.send("POST", "/v1/customers", c)
		require.Equal(t, http.StatusCreated, code, "%s", body)
	}

	for _, id := range []string{"c_fr", "c_ca"} {
		token := a.links.SignSubject(links.PreferencesPurpose, id, time.Now().Add(time.Hour))
		rec := a.visit("GET", "/preferences/"+token, nil, "en-US")
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		noEnglish(t, "the preference center of "+id, rec)
		page := rec.Body.String()
		assert.Contains(t, page, `id="topic_reviews" checked>Avis</label>`, "the configured French label")
		assert.Contains(t, page, `id="topic_back-in-stock" checked>Retour en stock</label>`)
		assert.Contains(t, page, `id="topic_offers" checked>Offres et bons de réduction</label>`, "Rapport's own name for a topic it knows")
		assert.Contains(t, page, "Vos préférences")

		rec = a.visit("POST", "/preferences/"+token, url.Values{"topic_reviews": {"on"}, "frequency": {"default"}}, "")
		require.Equal(t, http.StatusSeeOther, rec.Code, rec.Body.String())
		rec = a.visit("GET", rec.Header().Get("Location"), nil, "")
		noEnglish(t, "the saved preference center", rec)
		assert.Contains(t, rec.Body.String(), "Enregistré.")
	}

	// Unsubscribing: the page, its buttons and the one-click answer.
	unsub, err := a.links.Sign(links.UnsubscribePurpose, links.Unsubscribe{CustomerID: "c_fr", Topic: "reviews", Channel: "email", WorkflowID: "w"}, time.Now().Add(time.Hour))
	require.NoError(t, err)
	rec := a.visit("GET", "/unsubscribe/"+unsub, nil, "")
	require.Equal(t, http.StatusOK, rec.Code)
	noEnglish(t, "the unsubscribe page", rec)
	assert.Contains(t, html.UnescapeString(rec.Body.String()), "Ne plus recevoir d'e-mails sur le thème « avis » ?")
	rec = a.visit("POST", "/unsubscribe/"+unsub, url.Values{"action": {"topic"}}, "")
	require.Equal(t, http.StatusOK, rec.Code)
	noEnglish(t, "the unsubscribed page", rec)
	rec = a.visit("POST", "/unsubscribe/"+unsub, url.Values{"List-Unsubscribe": {"One-Click"}}, "")
	require.Equal(t, http.StatusOK, rec.Code)
	noEnglish(t, "the one-click answer", rec)
	assert.Equal(t, "C'est fait : vous ne recevrez plus de messages sur « avis ».\n", rec.Body.String())

	// The survey: asked, answered, answered badly, and its dead links.
	wf := workflows.WorkflowID("satisfaction", "c_fr", "evt-1")
	survey, err := a.links.Sign(links.SurveyPurpose, links.Survey{SurveyID: links.SurveyID(wf, "ask"), CustomerID: "c_fr", WorkflowID: wf, StepID: "ask"}, time.Now().Add(time.Hour))
	require.NoError(t, err)
	rec = a.visit("GET", "/survey/"+survey, nil, "en")
	require.Equal(t, http.StatusOK, rec.Code)
	noEnglish(t, "the survey", rec)
	assert.Contains(t, html.UnescapeString(rec.Body.String()), "Bonjour Amélie, nous aimerions savoir")
	rec = a.visit("POST", "/survey/"+survey, url.Values{"score": {"9"}}, "")
	require.Equal(t, http.StatusBadRequest, rec.Code)
	noEnglish(t, "the survey's error", rec)
	assert.Contains(t, rec.Body.String(), "Choisissez une note de 1 à 5.")
	rec = a.visit("POST", "/survey/"+survey, url.Values{"score": {"2"}, "comment": {"Thé froid"}}, "")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	noEnglish(t, "the survey's thanks", rec)
	assert.Contains(t, html.UnescapeString(rec.Body.String()), "Vous nous avez donné 2 sur 5 et nous avez dit : « Thé froid ».")

	expired, err := a.links.Sign(links.SurveyPurpose, links.Survey{SurveyID: "s", CustomerID: "c_fr"}, time.Now().Add(-time.Hour))
	require.NoError(t, err)
	for what, path := range map[string]string{
		"an expired survey link":     "/survey/" + expired,
		"a forged survey link":       "/survey/forged",
		"a forged preference link":   "/preferences/a.b.c",
		"an expired preference link": "/preferences/" + a.links.SignSubject(links.PreferencesPurpose, "c_fr", time.Now().Add(-time.Hour)),
		"a forged unsubscribe link":  "/unsubscribe/forged",
	} {
		rec := a.visit("GET", path, nil, "fr-CA,fr;q=0.9,en;q=0.5")
		require.Equal(t, http.StatusForbidden, rec.Code, what)
		noEnglish(t, what, rec)
		en := a.visit("GET", path, nil, "")
		assert.Contains(t, en.Body.String(), `<html lang="en">`, "%s: a browser asking for nothing gets English", what)
	}
}

// A topic without a label in the customer's language falls back along
// the chain, then to Rapport's own name, then to its key.
func TestTopicLabelsFallBack(t *testing.T) {
	s := &Server{TopicLabels: map[string]map[string]string{"reviews": {"en": "Reviews", "fr-CA": "Critiques"}}}
	assert.Equal(t, "Critiques", s.topicLabel("reviews", "fr-CA"))
	assert.Equal(t, "Reviews", s.topicLabel("reviews", "fr-FR"), "no French label: the English one")
	assert.Equal(t, "Offres et bons de réduction", s.topicLabel("offers", "fr-BE"))
	assert.Equal(t, "Offers and vouchers", s.topicLabel("offers", "de-DE"))
	assert.Equal(t, "back in stock", s.topicLabel("back-in-stock", "fr"))
}
