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
	"github.com/rapporthq/rapport/internal/store"
)

// maxComment bounds a survey comment.
const maxComment = 2000

type surveyView struct {
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

// survey checks a survey link; a forged or expired one gets a 403 page.
func (s *Server) survey(w http.ResponseWriter, r *http.Request) (links.Survey, bool) {
	var claims links.Survey
	if s.Links == nil {
		s.page(w, http.StatusNotFound, surveyView{Title: "Survey unavailable", Error: "Surveys are not set up here.", Dead: true})
		return claims, false
	}
	switch err := s.Links.Verify(r.PathValue("token"), links.SurveyPurpose, time.Now(), &claims); {
	case errors.Is(err, links.ErrExpired):
		s.page(w, http.StatusForbidden, surveyView{Title: "This link has expired", Error: "This survey link has expired. Thank you for thinking of us all the same.", Dead: true})
		return claims, false
	case err != nil:
		s.page(w, http.StatusForbidden, surveyView{Title: "This link is not valid", Error: "This survey link is not valid. Please use the link from your email as it is.", Dead: true})
		return claims, false
	}
	return claims, true
}

func (s *Server) surveyPage(w http.ResponseWriter, r *http.Request) {
	claims, ok := s.survey(w, r)
	if !ok {
		return
	}
	view := surveyView{Title: "How did we do?"}
	if c, err := s.Store.GetCustomer(r.Context(), claims.CustomerID); err == nil {
		view.Name = c.FirstName()
	}
	if a, err := s.Store.GetSurveyAnswer(r.Context(), claims.SurveyID); err == nil {
		view.Answered, view.Title = &a, "Thank you"
	} else if !errors.Is(err, store.ErrNotFound) {
		s.surveyFailed(w, r, err)
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
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		status := http.StatusBadRequest
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			status = http.StatusRequestEntityTooLarge
		}
		s.page(w, status, surveyView{Title: "How did we do?", Error: "The answer could not be read; please try again."})
		return
	}
	score, err := strconv.Atoi(r.PostForm.Get("score"))
	// The customer's words are kept, made storable: nothing in them is
	// refused.
	comment := strings.TrimSpace(cleanText(r.PostForm.Get("comment"), true))
	if err != nil || score < 1 || score > 5 {
		s.page(w, http.StatusBadRequest, surveyView{Title: "How did we do?", Error: "Please choose a score from 1 to 5.", Comment: comment})
		return
	}
	if len([]rune(comment)) > maxComment {
		s.page(w, http.StatusBadRequest, surveyView{Title: "How did we do?", Error: "Please keep the comment under 2,000 characters.", Score: score, Comment: comment})
		return
	}
	if erased, err := s.Store.Erased(r.Context(), claims.CustomerID); err != nil {
		s.surveyFailed(w, r, err)
		return
	} else if erased {
		// Their data is gone: an old link must not bring some back.
		s.page(w, http.StatusGone, surveyView{Title: "How did we do?", Error: "This survey is closed."})
		return
	}
	answer, inserted, err := s.Store.AnswerSurvey(r.Context(), store.SurveyAnswer{
		SurveyID: claims.SurveyID, CustomerID: claims.CustomerID, WorkflowID: claims.WorkflowID, StepID: claims.StepID,
		Score: score, Comment: comment,
	})
	if err != nil {
		s.surveyFailed(w, r, err)
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
			s.surveyFailed(w, r, err)
			return
		}
	}
	view := surveyView{Title: "Thank you", Answered: &answer}
	s.page(w, http.StatusOK, view)
}

// surveyFailed answers a survey request that failed on our side with a
// page asking to try again later: 503 with Retry-After while the database
// is out of reach, else 500.
func (s *Server) surveyFailed(w http.ResponseWriter, r *http.Request, err error) {
	status := s.pageFailure(w, r, err)
	s.page(w, status, surveyView{Title: "How did we do?", Error: "We cannot take your answer just now. Please try again in a few minutes."})
}

func (s *Server) page(w http.ResponseWriter, status int, v surveyView) {
	if v.Answered != nil {
		switch {
		case v.Answered.Score <= 2:
			v.Thanks = "We are sorry it was not right. Someone from our team will read your comment and get in touch."
		case v.Answered.Score >= 4:
			v.Thanks = "We are so glad you are happy."
		default:
			v.Thanks = "Your answer helps us do better."
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer") // the link is a credential
	w.WriteHeader(status)
	_ = surveyTemplate.Execute(w, v)
}

var surveyTemplate = template.Must(template.New("survey").Parse(`<!doctype html>
<html lang="en">
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
<p>You gave us {{.Answered.Score}} out of 5{{if .Answered.Comment}} and told us: “{{.Answered.Comment}}”{{end}}.</p>
{{else if .Dead}}
<p class="error" role="alert">{{.Error}}</p>
{{else}}
{{if .Name}}<p>Hello {{.Name}}, we would love to know how your order went.</p>{{end}}
{{if .Error}}<p class="error" role="alert" id="error">{{.Error}}</p>{{end}}
<form method="post">
<fieldset>
<legend>How happy are you with your order, from 1 (not at all) to 5 (very)?</legend>
<div class="scores">
{{range $n := .ScoreChoices}}<label><input type="radio" name="score" value="{{$n}}" required{{if eq $.Score $n}} checked{{end}}> <span>{{$n}}</span></label>
{{end}}</div>
</fieldset>
<p><label for="comment">Anything you would like to tell us? (optional)</label><br>
<textarea id="comment" name="comment" maxlength="2000">{{.Comment}}</textarea></p>
<button type="submit">Send</button>
</form>
{{end}}
</main>
</body>
</html>
`))

// ScoreChoices are the scores offered.
func (surveyView) ScoreChoices() []int { return []int{1, 2, 3, 4, 5} }
