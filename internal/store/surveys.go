package store

import (
	"cmp"
	"context"
	"fmt"
	"time"
)

// SurveyAnswer is a customer's answer to a satisfaction survey.
type SurveyAnswer struct {
	SurveyID   string `json:"survey_id"`
	CustomerID string `json:"customer_id"`
	WorkflowID string `json:"workflow_id"`
	StepID     string `json:"step_id"`
	Score      int    `json:"score"`
	Comment    string `json:"comment"`
	// Source is where the answer came from: page (the survey page), or
	// what a journey's record step says (sms, phone).
	Source     string    `json:"source"`
	AnsweredAt time.Time `json:"answered_at"`
	// Survey names the survey: a record step's survey, else the journey
	// that asked (found by the workflow id when left empty).
	Survey string `json:"survey,omitempty"`
	// OrderID is the order the answer is about, when known.
	OrderID string `json:"order_id,omitempty"`
}

// AnswerSurvey records an answer once: the first answer to a survey
// stands, and inserted says whether this was it.
func (s *Store) AnswerSurvey(ctx context.Context, a SurveyAnswer) (stored SurveyAnswer, inserted bool, err error) {
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO survey_answers (survey_id, customer_id, workflow_id, step_id, score, comment, source, survey, order_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7,
			coalesce(nullif($8, ''), (SELECT journey FROM journey_runs WHERE workflow_id = $3), ''), $9)
		ON CONFLICT (survey_id) DO NOTHING`,
		a.SurveyID, a.CustomerID, a.WorkflowID, a.StepID, a.Score, a.Comment, cmp.Or(a.Source, "page"), a.Survey, a.OrderID)
	if err != nil {
		return a, false, fmt.Errorf("answer survey %s: %w", a.SurveyID, err)
	}
	stored, err = s.GetSurveyAnswer(ctx, a.SurveyID)
	return stored, tag.RowsAffected() == 1, err
}

// GetSurveyAnswer returns the answer to a survey, or ErrNotFound.
func (s *Store) GetSurveyAnswer(ctx context.Context, surveyID string) (SurveyAnswer, error) {
	var a SurveyAnswer
	err := s.pool.QueryRow(ctx, `SELECT survey_id, customer_id, workflow_id, step_id, score, comment, source, answered_at, survey, order_id
		FROM survey_answers WHERE survey_id = $1`, surveyID).
		Scan(&a.SurveyID, &a.CustomerID, &a.WorkflowID, &a.StepID, &a.Score, &a.Comment, &a.Source, &a.AnsweredAt, &a.Survey, &a.OrderID)
	return a, notFound(err)
}

// SplitAssignment records the path of a split a run took.
type SplitAssignment struct {
	WorkflowID string `json:"workflow_id"`
	StepID     string `json:"step_id"`
	Journey    string `json:"journey"`
	CustomerID string `json:"customer_id"`
	Path       string `json:"path"`
	Holdout    bool   `json:"holdout"`
}

// RecordSplit stores the path a run took at a split (once).
func (s *Store) RecordSplit(ctx context.Context, a SplitAssignment) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO split_assignments (workflow_id, step_id, journey, customer_id, path, holdout)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (workflow_id, step_id) DO NOTHING`,
		a.WorkflowID, a.StepID, a.Journey, a.CustomerID, a.Path, a.Holdout)
	if err != nil {
		return fmt.Errorf("record split: %w", err)
	}
	return nil
}

// SplitCounts counts runs per path of a journey's split step.
func (s *Store) SplitCounts(ctx context.Context, journey, stepID string) (map[string]int, error) {
	rows, err := s.pool.Query(ctx, `SELECT path, count(*) FROM split_assignments WHERE journey = $1 AND step_id = $2 GROUP BY path`, journey, stepID)
	if err != nil {
		return nil, fmt.Errorf("split counts: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var p string
		var n int
		if err := rows.Scan(&p, &n); err != nil {
			return nil, err
		}
		out[p] = n
	}
	return out, rows.Err()
}
