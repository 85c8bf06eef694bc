package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rapporthq/rapport/internal/money"
)

// StepReached is a step a run entered, and when.
type StepReached struct {
	Step string    `json:"step"`
	At   time.Time `json:"at"`
}

// maxStepsPerWrite bounds one RecordSteps call.
const maxStepsPerWrite = 1000

// RecordSteps stores the steps a run reached, for the funnel. A step
// recorded before keeps its first time.
func (s *Store) RecordSteps(ctx context.Context, workflowID string, steps []StepReached) error {
	if len(steps) == 0 {
		return nil
	}
	if len(steps) > maxStepsPerWrite {
		steps = steps[:maxStepsPerWrite]
	}
	ids := make([]string, len(steps))
	ats := make([]time.Time, len(steps))
	for i, st := range steps {
		ids[i], ats[i] = st.Step, st.At
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO run_steps (workflow_id, step_id, reached_at)
		SELECT $1, step, at FROM unnest($2::text[], $3::timestamptz[]) AS t(step, at)
		ON CONFLICT (workflow_id, step_id) DO NOTHING`, workflowID, ids, ats)
	if err != nil {
		return fmt.Errorf("record the steps run %s reached: %w", workflowID, err)
	}
	return nil
}

// GoalCandidate is a run an event may convert: one of the customer's runs
// with a goal, entered before the event was stored, not converted yet,
// whose window may still be open at the event.
type GoalCandidate struct {
	Run
	// LastSentAt is when the run's latest message before the event went,
	// if any (for goals counted from the last message).
	LastSentAt *time.Time
}

// GoalCandidates returns the runs an event may convert (see
// GoalCandidate), oldest first: the caller checks each goal's condition
// and window. A run started by the event itself is not one.
func (s *Store) GoalCandidates(ctx context.Context, e Event) ([]GoalCandidate, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT `+prefixed("r.", runColumns)+`,
			(SELECT max(m.sent_at) FROM messages m WHERE m.workflow_id = r.workflow_id AND m.status = 'sent' AND m.sent_at <= $3)
		FROM journey_runs r
		WHERE r.customer_id = $1 AND r.goal IS NOT NULL AND r.from_seq < $2 AND r.trigger_event_id <> $4
			AND r.started_at <= $3 AND (r.goal_until IS NULL OR r.goal_until >= $3) AND r.status <> 'failed'
			AND NOT EXISTS (SELECT 1 FROM journey_conversions c WHERE c.workflow_id = r.workflow_id)
		ORDER BY r.started_at, r.workflow_id
		LIMIT 1000`, e.CustomerID, e.Seq, e.OccurredAt, e.ID)
	if err != nil {
		return nil, fmt.Errorf("runs event %s may convert: %w", e.ID, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (GoalCandidate, error) {
		var c GoalCandidate
		r := &c.Run
		err := row.Scan(&r.WorkflowID, &r.Journey, &r.CustomerID, &r.PlanHash, &r.Listens, &r.ListensFor, &r.Status, &r.TriggerEventID, &r.StartedAt, &r.EndedAt, &r.Outcome, &r.EntryKey, &r.FromSeq,
			&r.Arm, &r.Goal, &r.GoalUntil, &c.LastSentAt)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("runs event %s may convert: %w", e.ID, err)
	}
	return out, nil
}

// Conversion is a run that met its goal.
type Conversion struct {
	WorkflowID  string    `json:"workflow_id"`
	Journey     string    `json:"journey"`
	CustomerID  string    `json:"customer_id"`
	EventID     string    `json:"event_id"`
	EventType   string    `json:"event_type"`
	ConvertedAt time.Time `json:"converted_at"`
	// OrderID, Revenue and Currency are the goal event's order, when it
	// named one the store holds.
	OrderID  string        `json:"order_id,omitempty"`
	Revenue  *money.Amount `json:"revenue,omitempty"`
	Currency string        `json:"currency,omitempty"`
}

// RecordConversion stores a run's conversion. A run converts once: by the
// earliest goal event, whatever order they are routed in.
func (s *Store) RecordConversion(ctx context.Context, c Conversion) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO journey_conversions (workflow_id, journey, customer_id, event_id, event_type, converted_at, order_id, revenue, currency)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (workflow_id) DO UPDATE SET event_id = excluded.event_id, event_type = excluded.event_type,
			converted_at = excluded.converted_at, order_id = excluded.order_id, revenue = excluded.revenue,
			currency = excluded.currency, recorded_at = now()
		WHERE excluded.converted_at < journey_conversions.converted_at`,
		c.WorkflowID, c.Journey, c.CustomerID, c.EventID, c.EventType, c.ConvertedAt, c.OrderID, c.Revenue, c.Currency)
	if err != nil {
		return fmt.Errorf("record the conversion of run %s: %w", c.WorkflowID, err)
	}
	return nil
}

// OrderAmount returns an order's total and currency, exact, or
// ErrNotFound when the customer has no such order.
func (s *Store) OrderAmount(ctx context.Context, customerID, orderID string) (money.Amount, string, error) {
	var total money.Amount
	var currency string
	err := s.pool.QueryRow(ctx, `SELECT total, currency FROM orders WHERE id = $1 AND customer_id = $2`, orderID, customerID).Scan(&total, &currency)
	if err != nil {
		return money.Amount{}, "", notFound(err)
	}
	return total, currency, nil
}

// Conversions returns a journey's conversions, oldest first.
func (s *Store) Conversions(ctx context.Context, journeyName string) ([]Conversion, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT workflow_id, journey, customer_id, event_id, event_type, converted_at, order_id, revenue, currency
		FROM journey_conversions WHERE journey = $1 ORDER BY converted_at, workflow_id`, journeyName)
	if err != nil {
		return nil, fmt.Errorf("conversions of %s: %w", journeyName, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Conversion, error) {
		var c Conversion
		err := row.Scan(&c.WorkflowID, &c.Journey, &c.CustomerID, &c.EventID, &c.EventType, &c.ConvertedAt, &c.OrderID, &c.Revenue, &c.Currency)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("conversions of %s: %w", journeyName, err)
	}
	return out, nil
}

// RunSteps returns the steps a run reached, in the order it reached them.
func (s *Store) RunSteps(ctx context.Context, workflowID string) ([]StepReached, error) {
	rows, err := s.pool.Query(ctx, `SELECT step_id, reached_at FROM run_steps WHERE workflow_id = $1 ORDER BY reached_at, step_id`, workflowID)
	if err != nil {
		return nil, fmt.Errorf("steps of run %s: %w", workflowID, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (StepReached, error) {
		var st StepReached
		err := row.Scan(&st.Step, &st.At)
		return st, err
	})
	if err != nil {
		return nil, fmt.Errorf("steps of run %s: %w", workflowID, err)
	}
	return out, nil
}
