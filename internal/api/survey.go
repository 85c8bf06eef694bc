package api

import (
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rapporthq/rapport/internal/links"
	"github.com/rapporthq/rapport/internal/locale"
	"github.com/rapporthq/rapport/internal/store"
)

// maxComment bounds a survey comment.
const maxComment = 2000

type surveyView struct {
	// W are the page's words, Lang its language (the customer's, or the
	// browser's when the link names no one).
	W        map[string]string
	Lang     string
	Title    string
	Name     string
	Answered *store.SurveyAnswer
	Error    string
	Score    int
	Comment  string
	Thanks   string
	// Dead is set when the link cannot be used (forged, expired).
	Dead bool
}

// surveyWords are the survey page's words for a locale.
func surveyWords(loc string) surveyView {
	w := locale.Words(loc, "survey.")
	return surveyView{W: w, Lang: locale.Lang(loc), Title: w["title"]}
}

// survey checks a survey link; a forged or expired one gets a 403 page,
// in the browser's language (the link names no one we may trust).
func (s *Server) survey(w http.ResponseWriter, r *http.Request) (links.Survey, bool) {
	var claims links.Survey
	v := surveyWords(requestLocale(r))
	v.Dead = true
	if s.Links == nil {
		v.Title, v.Error = v.W["unavailable_title"], v.W["unavailable"]
		s.page(w, http.StatusNotFound, v)
		return claims, false
	}
	switch err := s.Links.Verify(r.PathValue("token"), links.SurveyPurpose, time.Now(), &claims); {
	case errors.Is(err, links.ErrExpired):
		v.Title, v.Error = v.W["expired_title"], v.W["expired"]
		s.page(w, http.StatusForbidden, v)
		return claims, false
	case err != nil:
		v.Title, v.Error = v.W["forged_title"], v.W["forged"]
		s.page(w, http.StatusForbidden, v)
		return claims, false
	}
	return claims, true
}

// surveyCustomer finds the customer a survey is for, for their name and
// language; one that cannot be found (erased, or the database out of
// reach, which the answer's own queries report) is greeted without a
// name, in the browser's language.
func (s *Server) surveyCustomer(r *http.Request, claims links.Survey) (surveyView, string) {
	c, err := s.Store.GetCustomer(r.Context(), claims.CustomerID)
	if err != nil {
		return surveyWords(requestLocale(r)), ""
	}
	return surveyWords(c.Locale), c.FirstName()
}

func (s *Server) surveyPage(w http.ResponseWriter, r *http.Request) {
	claims, ok := s.survey(w, r)
	if !ok {
		return
	}
	view, name := s.surveyCustomer(r, claims)
	view.Name = name
	if a, err := s.Store.GetSurveyAnswer(r.Context(), claims.SurveyID); err == nil {
		view.Answered, view.Title = &a, view.W["thanks_title"]
	} else if !errors.Is(err, store.ErrNotFound) {
		s.surveyFailed(w, r, view, err)
		return
	}
	s.page(w, http.StatusOK, view)
}

// answerSurvey records the first answer to a survey and tells the
// customer's journeys (a survey.answered event).
func (s *Server) answerSurvey(w http.ResponseWriter, r *http.Request) {
	claims, ok := s.survey(w, r)
	if !ok {
		return
	}
	view, _ := s.surveyCustomer(r, claims)
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		status := http.StatusBadRequest
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			status = http.StatusRequestEntityTooLarge
		}
		view.Error = view.W["unreadable"]
		s.page(w, status, view)
		return
	}
	score, err := strconv.Atoi(r.PostForm.Get("score"))
	// The customer's words are kept, made storable: nothing in them is
	// refused.
	comment := strings.TrimSpace(cleanText(r.PostForm.Get("comment"), true))
	if err != nil || score < 1 || score > 5 {
		view.Error, view.Comment = view.W["score_needed"], comment
		s.page(w, http.StatusBadRequest, view)
		return
	}
	if len([]rune(comment)) > maxComment {
		view.Error, view.Score, view.Comment = view.W["too_long"], score, comment
		s.page(w, http.StatusBadRequest, view)
		return
	}
	if erased, err := s.Store.Erased(r.Context(), claims.CustomerID); err != nil {
		s.surveyFailed(w, r, view, err)
		return
	} else if erased {
		// Their data is gone: an old link must not bring some back.
		view.Error = view.W["closed"]
		s.page(w, http.StatusGone, view)
		return
	}
	answer, inserted, err := s.Store.AnswerSurvey(r.Context(), store.SurveyAnswer{
		SurveyID: claims.SurveyID, CustomerID: claims.CustomerID, WorkflowID: claims.WorkflowID, StepID: claims.StepID,
		Score: score, Comment: comment,
	})
	if err != nil {
		s.surveyFailed(w, r, view, err)
		return
	}
	if inserted {
		data := map[string]any{"score": score, "comment": comment, "survey_id": claims.SurveyID, "workflow_id": claims.WorkflowID,
			"step": claims.StepID, "order_id": claims.OrderID}
		raw, err := json.Marshal(data)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		e := store.Event{ID: "survey-" + claims.SurveyID, Type: "survey.answered", CustomerID: claims.CustomerID, OccurredAt: answer.AnsweredAt, Data: raw}
		if _, err := s.recordAndRoute(r.Context(), store.NewEvent{Event: e}); err != nil {
			s.surveyFailed(w, r, view, err)
			return
		}
	}
	view.Title, view.Answered = view.W["thanks_title"], &answer
	s.page(w, http.StatusOK, view)
}

// surveyFailed answers a survey request that failed on our side with a
// page asking to try again later: 503 with Retry-After while the database
// is out of reach, else 500.
func (s *Server) surveyFailed(w http.ResponseWriter, r *http.Request, view surveyView, err error) {
	status := s.pageFailure(w, r, err)
	view.Title, view.Error, view.Answered = view.W["title"], view.W["failed"], nil
	s.page(w, status, view)
}

func (s *Server) page(w http.ResponseWriter, status int, v surveyView) {
	if v.Answered != nil {
		switch {
		case v.Answered.Score <= 2:
			v.Thanks = v.W["sorry"]
		case v.Answered.Score >= 4:
			v.Thanks = v.W["glad"]
		default:
			v.Thanks = v.W["helps"]
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer") // the link is a credential
	w.WriteHeader(status)
	_ = surveyTemplate.Execute(w, v)
}

var surveyTemplate = template.Must(template.New("survey").Parse(`<!doctype html>
<html lang="{{.Lang}}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 34rem; margin: 2rem auto; padding: 0 1rem; color: #222; line-height: 1.5; }
fieldset { border: 0; padding: 0; margin: 1rem 0; }
.scores { display: flex; gap: 0.5rem; }
.scores label { border: 1px solid #888; border-radius: 6px; padding: 0.5rem 0.9rem; cursor: pointer; }
.scores input:focus-visible + span { outline: 3px solid #1a5fb4; }
textarea { width: 100%; min-height: 6rem; font: inherit; }
button { font: inherit; padding: 0.5rem 1.2rem; }
.error { color: #a00; }
</style>
</head>
<body>
<main>
<h1>{{.Title}}</h1>
{{if .Answered}}
<p>{{.Thanks}}</p>
<p>{{if .Answered.Comment}}{{printf .W.gave_comment .Answered.Score .Answered.Comment}}{{else}}{{printf .W.gave .Answered.Score}}{{end}}</p>
{{else if .Dead}}
<p class="error" role="alert">{{.Error}}</p>
{{else}}
{{if .Name}}<p>{{printf .W.hello .Name}}</p>{{end}}
{{if .Error}}<p class="error" role="alert" id="error">{{.Error}}</p>{{end}}
<form method="post">
<fieldset>
<legend>{{.W.question}}</legend>
<div class="scores">
{{range $n := .ScoreChoices}}<label><input type="radio" name="score" value="{{$n}}" required{{if eq $.Score $n}} checked{{end}}> <span>{{$n}}</span></label>
{{end}}</div>
</fieldset>
<p><label for="comment">{{.W.comment}}</label><br>
<textarea id="comment" name="comment" maxlength="2000">{{.Comment}}</textarea></p>
<button type="submit">{{.W.send}}</button>
</form>
{{end}}
</main>
</body>
</html>
`))

// ScoreChoices are the scores offered.
func (surveyView) ScoreChoices() []int { return []int{1, 2, 3, 4, 5} }
