package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Run is a journey run in the registry.
type Run struct {
	WorkflowID     string     `json:"workflow_id"`
	Journey        string     `json:"journey"`
	CustomerID     string     `json:"customer_id"`
	PlanHash       string     `json:"plan_hash"`
	Listens        bool       `json:"listens"`
	Status         string     `json:"status"`
	TriggerEventID string     `json:"trigger_event_id"`
	StartedAt      time.Time  `json:"started_at"`
	EndedAt        *time.Time `json:"ended_at,omitempty"`
	Outcome        string     `json:"outcome,omitempty"`
}

// Run statuses.
const (
	RunRunning   = "running"
	RunCompleted = "completed"
	RunExited    = "exited"
	RunFailed    = "failed"
)

const runColumns = `workflow_id, journey, customer_id, plan_hash, listens, status, trigger_event_id, started_at, ended_at, outcome`

func scanRun(row pgx.Row) (Run, error) {
	var r Run
	err := row.Scan(&r.WorkflowID, &r.Journey, &r.CustomerID, &r.PlanHash, &r.Listens, &r.Status, &r.TriggerEventID, &r.StartedAt, &r.EndedAt, &r.Outcome)
	return r, notFound(err)
}

// RunNotFound is the outcome recorded for a registered run that Temporal
// does not know (its start failed, or it was deleted).
const RunNotFound = "workflow not found in Temporal"

// RegisterRun records a run as running before its workflow starts, so
// events that arrive meanwhile find it. Registering the same workflow id
// again changes nothing, except for a run given up as not found, which is
// running again (its start is being retried).
func (s *Store) RegisterRun(ctx context.Context, r Run) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO journey_runs (workflow_id, journey, customer_id, plan_hash, listens, status, trigger_event_id)
		VALUES ($1, $2, $3, $4, $5, 'running', $6)
		ON CONFLICT (workflow_id) DO UPDATE SET status = 'running', outcome = '', ended_at = NULL, started_at = now()
			WHERE journey_runs.status = 'failed' AND journey_runs.outcome = '`+RunNotFound+`'`,
		r.WorkflowID, r.Journey, r.CustomerID, r.PlanHash, r.Listens, r.TriggerEventID)
	if err != nil {
		return fmt.Errorf("register run %s: %w", r.WorkflowID, err)
	}
	return nil
}

// FinishRun records how a run ended.
func (s *Store) FinishRun(ctx context.Context, workflowID, status, outcome string) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			UPDATE journey_runs SET status = $2, outcome = $3, ended_at = coalesce(ended_at, now())
			WHERE workflow_id = $1`, workflowID, status, outcome)
		if err != nil {
			return err
		}
		// A message still held back (or never attempted) will not go now:
		// it is skipped, saying why, so nothing is left pending.
		ended := "the journey ended"
		if outcome != "" {
			ended += " (" + outcome + ")"
		}
		_, err = tx.Exec(ctx, `
			UPDATE messages SET status = 'skipped', updated_at = now(),
				reason = CASE WHEN status = 'held' THEN $2 || ' while it was held back: ' || reason ELSE $2 || ' before it was sent' END
			WHERE workflow_id = $1 AND status IN ('held', 'pending')`, workflowID, ended)
		return err
	})
	if err != nil {
		return fmt.Errorf("finish run %s: %w", workflowID, err)
	}
	return nil
}

// RunningListeners returns the customer's running journeys that react to
// events, oldest first.
func (s *Store) RunningListeners(ctx context.Context, customerID string) ([]Run, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+runColumns+` FROM journey_runs
		WHERE customer_id = $1 AND status = 'running' AND listens ORDER BY started_at, workflow_id`, customerID)
	if err != nil {
		return nil, fmt.Errorf("running journeys of %s: %w", customerID, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Run, error) { return scanRun(r) })
}

// GetRun returns a run, or ErrNotFound.
func (s *Store) GetRun(ctx context.Context, workflowID string) (Run, error) {
	r, err := scanRun(s.pool.QueryRow(ctx, `SELECT `+runColumns+` FROM journey_runs WHERE workflow_id = $1`, workflowID))
	if err != nil {
		return r, fmt.Errorf("get run %s: %w", workflowID, err)
	}
	return r, nil
}

// RunCounts counts the journey runs by journey and status.
func (s *Store) RunCounts(ctx context.Context) (map[string]map[string]int, error) {
	rows, err := s.pool.Query(ctx, `SELECT journey, status, count(*) FROM journey_runs GROUP BY journey, status`)
	if err != nil {
		return nil, fmt.Errorf("count runs: %w", err)
	}
	out := map[string]map[string]int{}
	var journey, status string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&journey, &status, &n}, func() error {
		if out[journey] == nil {
			out[journey] = map[string]int{}
		}
		out[journey][status] = n
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("count runs: %w", err)
	}
	return out, nil
}
