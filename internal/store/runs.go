package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rapporthq/rapport/internal/journey"
)

// Run is a journey run in the registry.
type Run struct {
	WorkflowID string `json:"workflow_id"`
	Journey    string `json:"journey"`
	CustomerID string `json:"customer_id"`
	PlanHash   string `json:"plan_hash"`
	Listens    bool   `json:"listens"`
	// ListensFor are the event types the run reacts to, when Listens;
	// nil (or journey.AnyEventType among them) means every type.
	ListensFor     []string   `json:"listens_for,omitempty"`
	Status         string     `json:"status"`
	TriggerEventID string     `json:"trigger_event_id"`
	StartedAt      time.Time  `json:"started_at"`
	EndedAt        *time.Time `json:"ended_at,omitempty"`
	Outcome        string     `json:"outcome,omitempty"`
	EntryKey       string     `json:"entry_key,omitempty"`
	// FromSeq is the number of the last of the customer's events the entry
	// decision saw; every later event reaches the run.
	FromSeq int64 `json:"from_seq"`
	// Arm is the run's side of its journey's holdout: ArmHoldout,
	// ArmTreatment, or "" for a journey without a holdout.
	Arm string `json:"arm,omitempty"`
	// Goal is the goal of the plan the run entered on, if any, and
	// GoalUntil when its window ends, for a goal counted from entry.
	Goal      *journey.Goal `json:"goal,omitempty"`
	GoalUntil *time.Time    `json:"goal_until,omitempty"`
}

// Arms of a journey with a holdout.
const (
	ArmTreatment = "treatment"
	ArmHoldout   = "holdout"
)

// HeldOutOutcome is the outcome recorded for a run of the control group:
// it entered, and ended there.
const HeldOutOutcome = "held out (control group)"

// Run statuses.
const (
	RunRunning   = "running"
	RunCompleted = "completed"
	RunExited    = "exited"
	RunFailed    = "failed"
)

const runColumns = `workflow_id, journey, customer_id, plan_hash, listens, listens_for, status, trigger_event_id, started_at, ended_at, outcome, entry_key, from_seq, arm, goal, goal_until`

func scanRun(row pgx.Row) (Run, error) {
	var r Run
	err := row.Scan(&r.WorkflowID, &r.Journey, &r.CustomerID, &r.PlanHash, &r.Listens, &r.ListensFor, &r.Status, &r.TriggerEventID, &r.StartedAt, &r.EndedAt, &r.Outcome, &r.EntryKey, &r.FromSeq,
		&r.Arm, &r.Goal, &r.GoalUntil)
	return r, notFound(err)
}

// RunNotFound is the outcome recorded for a registered run that Temporal
// does not know (its start failed, or it was deleted).
const RunNotFound = "workflow not found in Temporal"

// RegisterRun records a run as running before its workflow starts, with
// no entry rules; see EnterRun.
func (s *Store) RegisterRun(ctx context.Context, r Run) error {
	_, err := s.EnterRun(ctx, Entry{Run: r})
	return err
}

// Entry is a run about to start, with the rules its journey sets on
// entering.
type Entry struct {
	Run
	// Once: the customer may never enter the journey again.
	Once bool
	// Reentry: the customer may enter again only this long after their
	// last entry.
	Reentry time.Duration
	// MaxActive caps the customer's running runs of the journey; 0 is no
	// cap.
	MaxActive int
	// BacklogLimit caps the events returned as backlog (default 100).
	BacklogLimit int
	// Holdout is the journey's holdout share (percent): a customer in the
	// control group (journey.HeldOut) enters, and the run ends at once as
	// ArmHoldout, with no workflow; the others are ArmTreatment.
	Holdout int
}

// Entered says what EnterRun did.
type Entered struct {
	// Start is true when the workflow should be started (or its start
	// retried): the run is registered and running.
	Start bool
	// New is true when this call registered the run; false when it was
	// registered before (a repeated trigger, or a start being retried).
	New bool
	// Refused says why the customer did not enter, when Start is false.
	Refused string
	// HeldOut is true when the customer entered in the journey's control
	// group: the run is registered, ended, and has no workflow to start.
	HeldOut bool
	// WorkflowID is the run's id: the entry's, or, when runs of the entry
	// failed before, RetryWorkflowID of it.
	WorkflowID string
	// Backlog are the customer's events stored after Run.FromSeq, for the
	// run to receive first: they may have been routed before the run was
	// registered. Only for runs that listen.
	Backlog []Event
}

// EnterRun registers a run as running before its workflow starts, so
// events that arrive meanwhile find it, unless the journey's entry rules
// refuse it. It holds the customer's routing lock, the one storing an
// event takes: an event stored before the run is registered is in the
// backlog, one stored after finds the run among RunningListeners.
//
// Entering the same workflow id again for the same trigger event starts
// it again while it runs (a crash may have come between registering and
// starting; Temporal rejects a second start); another trigger under the
// same key, or a run that ended, is refused. A run given up as not found
// in Temporal is running again. A run that failed does not count, for the
// entry nor for the entry rules: the entry is made again under
// RetryWorkflowID(id, 2) (then 3, ...), which Temporal has not seen, so
// starts stay unique under the reject-duplicate id policy.
func (s *Store) EnterRun(ctx context.Context, e Entry) (Entered, error) {
	var out Entered
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockRouting(ctx, tx, e.CustomerID); err != nil {
			return err
		}
		base := e.WorkflowID
		existing, err := scanRun(tx.QueryRow(ctx, `SELECT `+runColumns+` FROM journey_runs WHERE workflow_id = $1`, e.WorkflowID))
		// A run that failed (an outage, before runs waited them out; a run
		// terminated in Temporal) does not count: the entry starts again,
		// under the next free id (Temporal keeps the failed run's).
		for n := 2; err == nil && existing.Status == RunFailed && existing.Outcome != RunNotFound; n++ {
			if n > maxEntryRetries {
				return fmt.Errorf("entry %s failed %d times; not starting it again", base, maxEntryRetries)
			}
			e.WorkflowID = RetryWorkflowID(base, n)
			existing, err = scanRun(tx.QueryRow(ctx, `SELECT `+runColumns+` FROM journey_runs WHERE workflow_id = $1`, e.WorkflowID))
		}
		out.WorkflowID = e.WorkflowID
		switch {
		case err == nil && existing.Status == RunFailed && existing.Outcome == RunNotFound:
			_, err = tx.Exec(ctx, `UPDATE journey_runs SET status = 'running', outcome = '', ended_at = NULL, started_at = now()
				WHERE workflow_id = $1`, e.WorkflowID)
			if err != nil {
				return err
			}
			e.FromSeq = existing.FromSeq
		case err == nil && existing.Status == RunRunning && existing.TriggerEventID == e.TriggerEventID:
			e.FromSeq = existing.FromSeq // the same trigger again: its start may have been cut short
		case err == nil && e.Once:
			out.Refused = fmt.Sprintf("entry: once, and the customer entered on %s", existing.StartedAt.UTC().Format("2006-01-02 15:04 UTC"))
			return nil
		case err == nil && existing.Status == RunRunning:
			out.Refused = fmt.Sprintf("already entered under the key %s on %s", existing.EntryKey, existing.StartedAt.UTC().Format("2006-01-02 15:04 UTC"))
			return nil
		case err == nil:
			out.Refused = fmt.Sprintf("this entry (%s) already ran: %s", existing.EntryKey, existing.Status)
			return nil
		case errors.Is(err, ErrNotFound):
			// An erasure under way ends the customer's runs and then removes
			// them; a run entered meanwhile would outlive it.
			erased, err := s.erased(ctx, tx, e.CustomerID)
			if err != nil {
				return err
			}
			if erased {
				out.Refused = "the customer was erased"
				return nil
			}
			if out.Refused, err = refusal(ctx, tx, e); err != nil || out.Refused != "" {
				return err
			}
			arm, status, outcome := "", RunRunning, ""
			if e.Holdout > 0 {
				arm = ArmTreatment
				if journey.HeldOut(e.Journey, e.CustomerID, e.Holdout) {
					arm, status, outcome = ArmHoldout, RunExited, HeldOutOutcome
				}
			}
			var within *float64
			if e.Goal != nil && e.Goal.From != journey.GoalFromLastMessage {
				secs := e.Goal.Within.D.Seconds()
				within = &secs
			}
			_, err = tx.Exec(ctx, `
				INSERT INTO journey_runs (workflow_id, journey, customer_id, plan_hash, listens, listens_for, status, trigger_event_id, entry_key, from_seq,
					arm, goal, goal_until, outcome, ended_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, now() + make_interval(secs => $13), $14,
					CASE WHEN $7 = 'running' THEN NULL ELSE now() END)`,
				e.WorkflowID, e.Journey, e.CustomerID, e.PlanHash, e.Listens, listensFor(e.ListensFor), status, e.TriggerEventID, e.EntryKey, e.FromSeq,
				arm, e.Goal, within, outcome)
			if err != nil {
				return err
			}
			out.New = true
			if arm == ArmHoldout {
				out.HeldOut = true
				return nil
			}
		default:
			return err
		}
		out.Start = true
		if !e.Listens {
			return nil
		}
		limit := e.BacklogLimit
		if limit <= 0 {
			limit = 100
		}
		// Only events of the types the run listens for: the others would be
		// ignored by the run and would take places in the backlog.
		rows, err := tx.Query(ctx, `SELECT `+eventColumns+` FROM events
			WHERE customer_id = $1 AND seq > $2 AND id <> $3 AND ($5::text[] IS NULL OR type = ANY($5))
			ORDER BY seq LIMIT $4`, e.CustomerID, e.FromSeq, e.TriggerEventID, limit, listensFor(e.ListensFor))
		if err != nil {
			return err
		}
		out.Backlog, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Event, error) { return scanEvent(r) })
		return err
	})
	if err != nil {
		return Entered{}, fmt.Errorf("enter run %s: %w", e.WorkflowID, err)
	}
	return out, nil
}

// listensFor is the listens_for column's value: NULL for every type.
func listensFor(types []string) []string {
	if types == nil || slices.Contains(types, "*") {
		return nil
	}
	return types
}

// refusal checks the entry rules for a new run; it returns why the
// customer may not enter, or "". Runs that failed do not count. A run of
// the control group counts as active (max_active) until its goal window
// ends, as the treated customer's run would keep them in the journey.
func refusal(ctx context.Context, tx pgx.Tx, e Entry) (string, error) {
	if !e.Once && e.Reentry <= 0 && e.MaxActive <= 0 {
		return "", nil
	}
	var last *time.Time
	var active int
	var now time.Time
	err := tx.QueryRow(ctx, `
		SELECT max(started_at) FILTER (WHERE status <> 'failed'),
			count(*) FILTER (WHERE status = 'running' OR arm = 'holdout' AND goal_until > now()), now()
		FROM journey_runs WHERE customer_id = $1 AND journey = $2`, e.CustomerID, e.Journey).Scan(&last, &active, &now)
	if err != nil {
		return "", err
	}
	switch {
	case e.Once && last != nil:
		return fmt.Sprintf("entry: once, and the customer entered on %s", last.UTC().Format("2006-01-02 15:04 UTC")), nil
	case e.Reentry > 0 && last != nil && now.Sub(*last) < e.Reentry:
		return fmt.Sprintf("reentry: the customer entered on %s, less than %s ago", last.UTC().Format("2006-01-02 15:04 UTC"), days(e.Reentry)), nil
	case e.MaxActive > 0 && active >= e.MaxActive:
		return fmt.Sprintf("max_active: the customer is in %d running run(s) of this journey already", active), nil
	}
	return "", nil
}

// maxEntryRetries bounds how often one entry may be made again after its
// runs failed.
const maxEntryRetries = 100

// RetryWorkflowID is the id of the nth run (n >= 2) of an entry whose
// earlier runs failed: id~n. "~" cannot occur in customer ids or entry
// keys, so it names no other entry.
func RetryWorkflowID(id string, n int) string {
	return fmt.Sprintf("%s~%d", id, n)
}

// RestartableEvents returns which of the events (by id) started a run
// that failed and was not made again since: routing such an event again
// starts its journey again.
func (s *Store) RestartableEvents(ctx context.Context, eventIDs []string) (map[string]bool, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT DISTINCT f.trigger_event_id FROM journey_runs f
		WHERE f.trigger_event_id = ANY($1) AND f.status = 'failed'
		AND NOT EXISTS (SELECT 1 FROM journey_runs o
			WHERE o.customer_id = f.customer_id AND o.journey = f.journey AND o.trigger_event_id = f.trigger_event_id
			AND o.status <> 'failed')`, eventIDs)
	if err != nil {
		return nil, fmt.Errorf("events whose runs failed: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("events whose runs failed: %w", err)
	}
	out := make(map[string]bool, len(ids))
	for _, id := range ids {
		out[id] = true
	}
	return out, nil
}

// GiveUpRun records that a run Temporal does not know has ended, unless
// the run already recorded how it ended.
func (s *Store) GiveUpRun(ctx context.Context, workflowID, outcome string) error {
	_, err := s.pool.Exec(ctx, `
		UPDATE journey_runs SET status = 'failed', outcome = $2, ended_at = now()
		WHERE workflow_id = $1 AND status = 'running'`, workflowID, outcome)
	if err != nil {
		return fmt.Errorf("give up run %s: %w", workflowID, err)
	}
	return nil
}

// MoveRun records that a running run moved to another plan of its
// journey (on_edit: restart-at-step), with the events that plan listens
// for. It reports whether the run was still running.
func (s *Store) MoveRun(ctx context.Context, workflowID, planHash string, listens bool, listensTo []string) (bool, error) {
	tag, err := s.pool.Exec(ctx, `
		UPDATE journey_runs SET plan_hash = $2, listens = $3, listens_for = $4
		WHERE workflow_id = $1 AND status = 'running'`, workflowID, planHash, listens, listensFor(listensTo))
	if err != nil {
		return false, fmt.Errorf("move run %s to plan %s: %w", workflowID, planHash, err)
	}
	return tag.RowsAffected() == 1, nil
}

// PlanSeen names a plan of a journey.
type PlanSeen struct {
	Journey  string
	PlanHash string
}

// SeePlans records when each plan was first seen (a plan seen before keeps
// its time).
func (s *Store) SeePlans(ctx context.Context, plans []PlanSeen) error {
	batch := &pgx.Batch{}
	for _, p := range plans {
		batch.Queue(`INSERT INTO journey_plans (journey, plan_hash) VALUES ($1, $2) ON CONFLICT DO NOTHING`, p.Journey, p.PlanHash)
	}
	if err := s.pool.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("record the plans seen: %w", err)
	}
	return nil
}

// RunsOnOlderPlans returns, by workflow id after after, at most limit
// running runs of a journey on plans seen before planHash. A plan never
// seen (an API started a run on it before any worker saw it) is not
// older: its runs stay. It returns none when planHash itself was never
// seen. (The plans of runs registered before plans were recorded were
// recorded, at their first run's start, by the migration.)
func (s *Store) RunsOnOlderPlans(ctx context.Context, journeyName, planHash, after string, limit int) ([]Run, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+runColumns+` FROM journey_runs r
		WHERE r.journey = $1 AND r.status = 'running' AND r.plan_hash <> $2 AND r.workflow_id > $3
		  AND (SELECT first_seen FROM journey_plans p WHERE p.journey = r.journey AND p.plan_hash = r.plan_hash)
		      < (SELECT first_seen FROM journey_plans p WHERE p.journey = $1 AND p.plan_hash = $2)
		ORDER BY r.workflow_id LIMIT $4`, journeyName, planHash, after, limit)
	if err != nil {
		return nil, fmt.Errorf("runs of %s on plans older than %s: %w", journeyName, planHash, err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Run, error) { return scanRun(row) })
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
		if err != nil {
			return err
		}
		// A task the run no longer waits for (overdue, the journey went
		// on) leaves staff lists: nobody can complete it now.
		_, err = tx.Exec(ctx, `UPDATE tasks SET status = 'cancelled'
			WHERE workflow_id = $1 AND status IN ('open', 'claimed', 'overdue')`, workflowID)
		return err
	})
	if err != nil {
		return fmt.Errorf("finish run %s: %w", workflowID, err)
	}
	return nil
}

// RunningListeners returns the customer's running journeys that react to
// events of the given type, oldest first. An empty eventType returns the
// runs that react to any event at all.
func (s *Store) RunningListeners(ctx context.Context, customerID, eventType string) ([]Run, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+runColumns+` FROM journey_runs
		WHERE customer_id = $1 AND status = 'running' AND listens
		  AND ($2 = '' OR listens_for IS NULL OR $2 = ANY(listens_for) OR '*' = ANY(listens_for))
		ORDER BY started_at, workflow_id`, customerID, eventType)
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

// days writes a duration in days when it is whole days (180d), else as Go
// does.
func days(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

// RunsEntered returns the workflow ids of the journey's runs entered under
// an entry key, at most limit, in id order.
func (s *Store) RunsEntered(ctx context.Context, journeyName, entryKey string, limit int) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT workflow_id FROM journey_runs WHERE journey = $1 AND entry_key = $2 ORDER BY workflow_id LIMIT $3`,
		journeyName, entryKey, limit)
	if err != nil {
		return nil, fmt.Errorf("runs of %s entered under %s: %w", journeyName, entryKey, err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// RunningPlans counts the running runs of each journey by plan hash.
func (s *Store) RunningPlans(ctx context.Context) (map[string]map[string]int, error) {
	rows, err := s.pool.Query(ctx, `SELECT journey, plan_hash, count(*) FROM journey_runs WHERE status = 'running' GROUP BY journey, plan_hash`)
	if err != nil {
		return nil, fmt.Errorf("count running plans: %w", err)
	}
	out := map[string]map[string]int{}
	var journeyName, hash string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&journeyName, &hash, &n}, func() error {
		if out[journeyName] == nil {
			out[journeyName] = map[string]int{}
		}
		out[journeyName][hash] = n
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("count running plans: %w", err)
	}
	return out, nil
}
