package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rapporthq/rapport/internal/money"
)

// ReportQuery selects the runs a journey report counts: the journey's
// runs entered in [Since, Until) (zero: no bound), on one plan when Plan
// is set (a hash or its first digits).
type ReportQuery struct {
	Journey string
	Since   time.Time
	Until   time.Time
	Plan    string
}

// runFilter is the WHERE clause selecting the query's runs as r, with its
// arguments from $1.
func (q ReportQuery) runFilter() (string, []any) {
	var since, until *time.Time
	if !q.Since.IsZero() {
		since = &q.Since
	}
	if !q.Until.IsZero() {
		until = &q.Until
	}
	return `r.journey = $1 AND ($2::timestamptz IS NULL OR r.started_at >= $2) AND ($3::timestamptz IS NULL OR r.started_at < $3)
		AND ($4 = '' OR r.plan_hash LIKE $4 || '%')`, []any{q.Journey, since, until, q.Plan}
}

// RunTally counts a journey's runs by arm, status and outcome.
type RunTally struct {
	Arm     string
	Status  string
	Outcome string
	Runs    int
}

// ReportRuns counts the query's runs by arm, status and outcome.
func (s *Store) ReportRuns(ctx context.Context, q ReportQuery) ([]RunTally, error) {
	where, args := q.runFilter()
	rows, err := s.pool.Query(ctx, `SELECT r.arm, r.status, r.outcome, count(*) FROM journey_runs r WHERE `+where+`
		GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`, args...)
	if err != nil {
		return nil, fmt.Errorf("report runs of %s: %w", q.Journey, err)
	}
	return collect(rows, q.Journey, func(row pgx.CollectableRow) (RunTally, error) {
		var t RunTally
		return t, row.Scan(&t.Arm, &t.Status, &t.Outcome, &t.Runs)
	})
}

// ConversionTally counts an arm's conversions and sums their revenue in
// one currency ("" for conversions without revenue). SumSquares is the
// sum of the squared revenues, for the spread of revenue per entrant.
type ConversionTally struct {
	Arm         string
	Currency    string
	Conversions int
	Revenue     money.Amount
	SumSquares  float64
}

// netRevenue is a conversion's revenue (c) net of what became of its
// order (o) since: nothing once cancelled or refunded in full, less what
// was refunded of it.
const netRevenue = `CASE WHEN o.status IN ('cancelled', 'refunded') THEN c.revenue - c.revenue ELSE c.revenue - coalesce(o.refunded, 0) END`

// ReportConversions tallies the conversions of the query's runs by arm
// and currency, their revenue net of cancellations and refunds.
func (s *Store) ReportConversions(ctx context.Context, q ReportQuery) ([]ConversionTally, error) {
	where, args := q.runFilter()
	rows, err := s.pool.Query(ctx, `
		SELECT r.arm, c.currency, count(*), coalesce(sum(`+netRevenue+`), 0), coalesce(sum((`+netRevenue+`)::float8 ^ 2), 0)
		FROM journey_conversions c JOIN journey_runs r USING (workflow_id)
			LEFT JOIN orders o ON o.id = c.order_id AND o.customer_id = c.customer_id
		WHERE `+where+` GROUP BY 1, 2 ORDER BY 1, 2`, args...)
	if err != nil {
		return nil, fmt.Errorf("report conversions of %s: %w", q.Journey, err)
	}
	return collect(rows, q.Journey, func(row pgx.CollectableRow) (ConversionTally, error) {
		var t ConversionTally
		return t, row.Scan(&t.Arm, &t.Currency, &t.Conversions, &t.Revenue, &t.SumSquares)
	})
}

// StepTally counts the runs that reached a step: those that recorded it
// (run_steps), or left a message, task or split record at it (runs from
// before steps were recorded).
type StepTally struct {
	Step string
	Runs int
}

// ReportSteps counts, per step, the query's runs that reached it.
func (s *Store) ReportSteps(ctx context.Context, q ReportQuery) ([]StepTally, error) {
	where, args := q.runFilter()
	rows, err := s.pool.Query(ctx, `
		SELECT x.step_id, count(DISTINCT x.workflow_id)
		FROM (
			SELECT s.workflow_id, s.step_id FROM run_steps s JOIN journey_runs r USING (workflow_id) WHERE `+where+`
			UNION SELECT m.workflow_id, m.step_id FROM messages m JOIN journey_runs r USING (workflow_id) WHERE `+where+`
			UNION SELECT t.workflow_id, t.step_id FROM tasks t JOIN journey_runs r USING (workflow_id) WHERE `+where+`
			UNION SELECT a.workflow_id, a.step_id FROM split_assignments a JOIN journey_runs r USING (workflow_id) WHERE `+where+`
		) x GROUP BY 1 ORDER BY 1`, args...)
	if err != nil {
		return nil, fmt.Errorf("report steps of %s: %w", q.Journey, err)
	}
	return collect(rows, q.Journey, func(row pgx.CollectableRow) (StepTally, error) {
		var t StepTally
		return t, row.Scan(&t.Step, &t.Runs)
	})
}

// MessageTally counts a step's messages in one status, with one reason
// (for skipped and failed ones), and how many of them were held back by
// the contact rules at some point.
type MessageTally struct {
	Step     string
	Status   string
	Reason   string
	Messages int
	Held     int
}

// ReportMessages tallies the messages of the query's runs by step, status
// and (for skipped and failed ones) reason.
func (s *Store) ReportMessages(ctx context.Context, q ReportQuery) ([]MessageTally, error) {
	where, args := q.runFilter()
	rows, err := s.pool.Query(ctx, `
		SELECT m.step_id, m.status, CASE WHEN m.status IN ('skipped', 'failed') THEN m.reason ELSE '' END, count(*),
			count(*) FILTER (WHERE EXISTS (SELECT 1 FROM message_holds h WHERE h.message_id = m.id))
		FROM messages m JOIN journey_runs r USING (workflow_id)
		WHERE `+where+` GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`, args...)
	if err != nil {
		return nil, fmt.Errorf("report messages of %s: %w", q.Journey, err)
	}
	return collect(rows, q.Journey, func(row pgx.CollectableRow) (MessageTally, error) {
		var t MessageTally
		return t, row.Scan(&t.Step, &t.Status, &t.Reason, &t.Messages, &t.Held)
	})
}

// SplitTally counts the query's runs that took a path of a split, and
// their conversions and revenue in one currency.
type SplitTally struct {
	Step        string
	Path        string
	Holdout     bool
	Currency    string
	Runs        int
	Conversions int
	Revenue     money.Amount
	SumSquares  float64
}

// ReportSplits tallies the paths the query's runs took at each split, with
// their conversions by currency (Currency "" holds the runs, and the
// conversions without revenue).
func (s *Store) ReportSplits(ctx context.Context, q ReportQuery) ([]SplitTally, error) {
	where, args := q.runFilter()
	rows, err := s.pool.Query(ctx, `
		SELECT a.step_id, a.path, a.holdout, coalesce(c.currency, ''), count(*), count(c.workflow_id),
			coalesce(sum(`+netRevenue+`), 0), coalesce(sum((`+netRevenue+`)::float8 ^ 2), 0)
		FROM split_assignments a JOIN journey_runs r USING (workflow_id)
			LEFT JOIN journey_conversions c ON c.workflow_id = a.workflow_id
			LEFT JOIN orders o ON o.id = c.order_id AND o.customer_id = c.customer_id
		WHERE `+where+` GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 4`, args...)
	if err != nil {
		return nil, fmt.Errorf("report splits of %s: %w", q.Journey, err)
	}
	return collect(rows, q.Journey, func(row pgx.CollectableRow) (SplitTally, error) {
		var t SplitTally
		return t, row.Scan(&t.Step, &t.Path, &t.Holdout, &t.Currency, &t.Runs, &t.Conversions, &t.Revenue, &t.SumSquares)
	})
}

// DayTally counts an arm's entries and conversions on a UTC day.
type DayTally struct {
	Day         time.Time
	Arm         string
	Entered     int
	Conversions int
}

// ReportDays counts, per UTC day and arm, the query's runs entered and the
// conversions made (on the day of the goal event).
func (s *Store) ReportDays(ctx context.Context, q ReportQuery) ([]DayTally, error) {
	where, args := q.runFilter()
	rows, err := s.pool.Query(ctx, `
		SELECT day, arm, sum(entered)::int, sum(converted)::int FROM (
			SELECT date_trunc('day', r.started_at AT TIME ZONE 'UTC') AS day, r.arm, 1 AS entered, 0 AS converted
			FROM journey_runs r WHERE `+where+`
			UNION ALL
			SELECT date_trunc('day', c.converted_at AT TIME ZONE 'UTC'), r.arm, 0, 1
			FROM journey_conversions c JOIN journey_runs r USING (workflow_id) WHERE `+where+`
		) x GROUP BY 1, 2 ORDER BY 1, 2`, args...)
	if err != nil {
		return nil, fmt.Errorf("report days of %s: %w", q.Journey, err)
	}
	return collect(rows, q.Journey, func(row pgx.CollectableRow) (DayTally, error) {
		var t DayTally
		err := row.Scan(&t.Day, &t.Arm, &t.Entered, &t.Conversions)
		t.Day = time.Date(t.Day.Year(), t.Day.Month(), t.Day.Day(), 0, 0, 0, 0, time.UTC)
		return t, err
	})
}

// ReportOpenWindows counts the query's runs whose goal window is still
// open at now (from entry; runs counting from their last message are
// counted open while they run): their conversions may yet come.
func (s *Store) ReportOpenWindows(ctx context.Context, q ReportQuery, now time.Time) (int, error) {
	where, args := q.runFilter()
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM journey_runs r WHERE `+where+` AND r.goal IS NOT NULL
		AND (r.goal_until > $5 OR r.goal_until IS NULL AND r.status = 'running')
		AND NOT EXISTS (SELECT 1 FROM journey_conversions c WHERE c.workflow_id = r.workflow_id)`, append(args, now)...).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("report open windows of %s: %w", q.Journey, err)
	}
	return n, nil
}

func collect[T any](rows pgx.Rows, journeyName string, scan func(pgx.CollectableRow) (T, error)) ([]T, error) {
	out, err := pgx.CollectRows(rows, scan)
	if err != nil {
		return nil, fmt.Errorf("report of %s: %w", journeyName, err)
	}
	return out, nil
}
