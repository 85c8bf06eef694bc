package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Task statuses.
const (
	TaskOpen      = "open"
	TaskClaimed   = "claimed"
	TaskCompleted = "completed"
	TaskOverdue   = "overdue"
	TaskCancelled = "cancelled"
)

// Task is work for staff that a journey asked for.
type Task struct {
	ID          string         `json:"id"`
	WorkflowID  string         `json:"workflow_id"`
	Journey     string         `json:"journey"`
	StepID      string         `json:"step_id"`
	CustomerID  string         `json:"customer_id"`
	Kind        string         `json:"kind"`
	Queue       string         `json:"queue"`
	Status      string         `json:"status"`
	Brief       string         `json:"brief"`
	Outcomes    []string       `json:"outcomes"`
	DueAt       time.Time      `json:"due_at"`
	Context     map[string]any `json:"context"`
	Assignee    string         `json:"assignee,omitempty"`
	Outcome     string         `json:"outcome,omitempty"`
	Notes       string         `json:"notes,omitempty"`
	Escalations int            `json:"escalations"`
	CreatedAt   time.Time      `json:"created_at"`
	ClaimedAt   *time.Time     `json:"claimed_at,omitempty"`
	CompletedAt *time.Time     `json:"completed_at,omitempty"`
	// ClaimedByKey and CompletedByKey name the API keys the claim and the
	// outcome came with.
	ClaimedByKey   string `json:"claimed_by_key,omitempty"`
	CompletedByKey string `json:"completed_by_key,omitempty"`
	// Actions is what staff did to the task, oldest first: claims,
	// assignments, unclaims and notes (at most MaxTaskActions).
	Actions []TaskAction `json:"actions"`
}

// Task action kinds.
const (
	TaskClaim   = "claim"   // a person took the task
	TaskAssign  = "assign"  // someone gave the task to a person
	TaskUnclaim = "unclaim" // the task went back to its queue
	TaskNote    = "note"    // a note for whoever works on it next
)

// TaskAction is one thing staff did to a task.
type TaskAction struct {
	Kind string `json:"kind"` // claim, assign, unclaim, note
	// By is who did it (the person, with the API key's name).
	By string `json:"by"`
	// Key is the API key it came with.
	Key string `json:"key,omitempty"`
	// Assignee is who holds the task after a claim or an assignment.
	Assignee string `json:"assignee,omitempty"`
	// From is who held it before an assignment or an unclaim.
	From string    `json:"from,omitempty"`
	Note string    `json:"note,omitempty"`
	At   time.Time `json:"at"`
}

// MaxTaskActions bounds the actions a task keeps: past it, the oldest is
// dropped. MaxTaskNotes bounds its notes: past it, a note is a conflict.
const (
	MaxTaskActions = 200
	MaxTaskNotes   = 100
)

// Final reports whether the task can no longer be worked on.
func (t Task) Final() bool {
	return t.Status == TaskCompleted || t.Status == TaskCancelled
}

// ErrConflict is returned when a change is not allowed in the row's
// current state (a task already completed, a voucher already redeemed).
var ErrConflict = errors.New("conflict")

const taskColumns = `id, workflow_id, journey, step_id, customer_id, kind, queue, status, brief, outcomes, due_at,
	context, assignee, outcome, notes, escalations, created_at, claimed_at, completed_at, claimed_by_key, completed_by_key, actions`

func scanTask(row pgx.Row) (Task, error) {
	var t Task
	err := row.Scan(&t.ID, &t.WorkflowID, &t.Journey, &t.StepID, &t.CustomerID, &t.Kind, &t.Queue, &t.Status, &t.Brief,
		&t.Outcomes, &t.DueAt, &t.Context, &t.Assignee, &t.Outcome, &t.Notes, &t.Escalations, &t.CreatedAt, &t.ClaimedAt, &t.CompletedAt,
		&t.ClaimedByKey, &t.CompletedByKey, &t.Actions)
	if t.Actions == nil {
		t.Actions = []TaskAction{}
	}
	return t, notFound(err)
}

// CreateTask stores a task once: creating it again for the same journey
// run and step returns the task as stored.
func (s *Store) CreateTask(ctx context.Context, t Task) (Task, error) {
	if t.Context == nil {
		t.Context = map[string]any{}
	}
	if t.Outcomes == nil {
		t.Outcomes = []string{}
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO tasks (id, workflow_id, journey, step_id, customer_id, kind, queue, status, brief, outcomes, due_at, context)
		VALUES ($1, $2, $3, $4, $5, $6, $7, 'open', $8, $9, $10, $11)
		ON CONFLICT (workflow_id, step_id) DO NOTHING`,
		t.ID, t.WorkflowID, t.Journey, t.StepID, t.CustomerID, t.Kind, t.Queue, t.Brief, t.Outcomes, t.DueAt, t.Context)
	if err != nil {
		return t, fmt.Errorf("create task %s: %w", t.ID, err)
	}
	return s.GetTask(ctx, t.ID)
}

// GetTask returns a task, or ErrNotFound.
func (s *Store) GetTask(ctx context.Context, id string) (Task, error) {
	t, err := scanTask(s.pool.QueryRow(ctx, `SELECT `+taskColumns+` FROM tasks WHERE id = $1`, id))
	if err != nil {
		return t, fmt.Errorf("get task %s: %w", id, err)
	}
	return t, nil
}

// TaskFilter selects tasks; empty fields match everything. Statuses empty
// means the tasks still to do (open and claimed).
type TaskFilter struct {
	Queue      string
	CustomerID string
	Statuses   []string
	Limit      int
}

// ListTasks returns tasks, soonest due first.
func (s *Store) ListTasks(ctx context.Context, f TaskFilter) ([]Task, error) {
	if len(f.Statuses) == 0 {
		f.Statuses = []string{TaskOpen, TaskClaimed}
	}
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 200
	}
	rows, err := s.pool.Query(ctx, `SELECT `+taskColumns+` FROM tasks
		WHERE ($1 = '' OR queue = $1) AND ($2 = '' OR customer_id = $2) AND status = ANY($3)
		ORDER BY due_at, id LIMIT $4`, f.Queue, f.CustomerID, f.Statuses, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Task, error) { return scanTask(r) })
}

// ClaimTask assigns a task to a person, noting who claimed it (by: the
// person, with the key's name) and the API key the claim came with. Claiming again by the same person is harmless; a task claimed by
// someone else, or finished, is a conflict.
func (s *Store) ClaimTask(ctx context.Context, id, assignee, by, byKey string) (Task, error) {
	return s.changeTask(ctx, id, "claim", func(tx pgx.Tx, t Task) (Task, error) {
		switch {
		case t.Final():
			return Task{}, fmt.Errorf("%w: the task is %s", ErrConflict, t.Status)
		case t.Status == TaskClaimed && t.Assignee != assignee:
			return Task{}, fmt.Errorf("%w: the task is claimed by %s", ErrConflict, t.Assignee)
		}
		// Claimed again by the same person: nothing new to record.
		return scanTask(tx.QueryRow(ctx, `UPDATE tasks SET status = CASE WHEN status = 'overdue' THEN status ELSE 'claimed' END,
			assignee = $2, claimed_at = coalesce(claimed_at, now()), claimed_by_key = $3,
			actions = CASE WHEN assignee = $2 THEN actions ELSE `+appendAction(4)+` END
			WHERE id = $1 RETURNING `+taskColumns, id, assignee, byKey,
			TaskAction{Kind: TaskClaim, By: by, Key: byKey, Assignee: assignee}))
	})
}

// changeTask changes a task in a transaction that holds its row: change
// gets the task as it stands and returns it as it becomes (or an error,
// wrapped as "VERB task ID").
func (s *Store) changeTask(ctx context.Context, id, verb string, change func(tx pgx.Tx, t Task) (Task, error)) (Task, error) {
	var out Task
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		t, err := scanTask(tx.QueryRow(ctx, `SELECT `+taskColumns+` FROM tasks WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return err
		}
		out, err = change(tx, t)
		return err
	})
	if err != nil {
		return out, fmt.Errorf("%s task %s: %w", verb, id, err)
	}
	return out, nil
}

// appendAction is the tasks.actions column with the action, parameter
// $a, added (its time the database's), the oldest dropped once it holds
// MaxTaskActions.
func appendAction(a int) string {
	return fmt.Sprintf(`(CASE WHEN jsonb_array_length(actions) >= %d THEN actions - 0 ELSE actions END)
	|| jsonb_build_array(jsonb_set($%d::jsonb, '{at}', to_jsonb(now())))`, MaxTaskActions, a)
}

// AssignTask gives a task to a person, whoever holds it now: an explicit
// assignment by staff (by, with the API key byKey), recorded as such.
// Assigning it to the person who holds it changes nothing; a finished
// task is a conflict.
func (s *Store) AssignTask(ctx context.Context, id, assignee, by, byKey string) (Task, error) {
	return s.changeTask(ctx, id, "assign", func(tx pgx.Tx, t Task) (Task, error) {
		switch {
		case t.Final():
			return Task{}, fmt.Errorf("%w: the task is %s", ErrConflict, t.Status)
		case t.Assignee == assignee:
			return t, nil
		}
		return scanTask(tx.QueryRow(ctx, `UPDATE tasks SET status = CASE WHEN status = 'overdue' THEN status ELSE 'claimed' END,
			assignee = $2, claimed_at = now(), claimed_by_key = $3, actions = `+appendAction(4)+`
			WHERE id = $1 RETURNING `+taskColumns, id, assignee, byKey,
			TaskAction{Kind: TaskAssign, By: by, Key: byKey, Assignee: assignee, From: t.Assignee}))
	})
}

// UnclaimTask puts a task back in its queue for anyone to claim, whoever
// held it (by and byKey did it). A task nobody holds, or a finished one,
// is a conflict.
func (s *Store) UnclaimTask(ctx context.Context, id, by, byKey string) (Task, error) {
	return s.changeTask(ctx, id, "unclaim", func(tx pgx.Tx, t Task) (Task, error) {
		switch {
		case t.Final():
			return Task{}, fmt.Errorf("%w: the task is %s", ErrConflict, t.Status)
		case t.Assignee == "":
			return Task{}, fmt.Errorf("%w: nobody holds the task", ErrConflict)
		}
		return scanTask(tx.QueryRow(ctx, `UPDATE tasks SET status = CASE WHEN status = 'overdue' THEN status ELSE 'open' END,
			assignee = '', claimed_at = NULL, claimed_by_key = '', actions = `+appendAction(2)+`
			WHERE id = $1 RETURNING `+taskColumns, id,
			TaskAction{Kind: TaskUnclaim, By: by, Key: byKey, From: t.Assignee}))
	})
}

// NoteTask adds a note to a task, finished or not. A task that already
// has MaxTaskNotes notes is a conflict.
func (s *Store) NoteTask(ctx context.Context, id, note, by, byKey string) (Task, error) {
	return s.changeTask(ctx, id, "note", func(tx pgx.Tx, t Task) (Task, error) {
		notes := 0
		for _, a := range t.Actions {
			if a.Kind == TaskNote {
				notes++
			}
		}
		if notes >= MaxTaskNotes {
			return Task{}, fmt.Errorf("%w: the task has %d notes, as many as it keeps", ErrConflict, notes)
		}
		return scanTask(tx.QueryRow(ctx, `UPDATE tasks SET actions = `+appendAction(2)+`
			WHERE id = $1 RETURNING `+taskColumns, id,
			TaskAction{Kind: TaskNote, By: by, Key: byKey, Note: note}))
	})
}

// CompleteTask records a task's outcome, and the API key it came with
// (byKey; "" keeps what is recorded, as when the journey records it).
// Completing it again with the same outcome is harmless; a different
// outcome, or a cancelled task, is a conflict.
func (s *Store) CompleteTask(ctx context.Context, id, outcome, notes, byKey string) (Task, error) {
	return s.changeTask(ctx, id, "complete", func(tx pgx.Tx, t Task) (Task, error) {
		switch {
		case t.Status == TaskCompleted && t.Outcome == outcome:
			if byKey == "" || t.CompletedByKey != "" {
				return t, nil
			}
			return scanTask(tx.QueryRow(ctx, `UPDATE tasks SET completed_by_key = $2 WHERE id = $1 RETURNING `+taskColumns, id, byKey))
		case t.Final():
			return Task{}, fmt.Errorf("%w: the task is already %s", ErrConflict, t.Status)
		}
		return scanTask(tx.QueryRow(ctx, `UPDATE tasks SET status = 'completed', outcome = $2, notes = $3, completed_at = now(),
			completed_by_key = CASE WHEN $4 <> '' THEN $4 ELSE completed_by_key END
			WHERE id = $1 RETURNING `+taskColumns, id, outcome, notes, byKey))
	})
}

// EscalateTask moves an unfinished task to another queue with a new due
// time.
func (s *Store) EscalateTask(ctx context.Context, id, queue string, due time.Time) (Task, error) {
	t, err := scanTask(s.pool.QueryRow(ctx, `UPDATE tasks SET queue = $2, due_at = $3, escalations = escalations + 1,
		status = 'open', assignee = '', claimed_at = NULL
		WHERE id = $1 AND status IN ('open', 'claimed', 'overdue') RETURNING `+taskColumns, id, queue, due))
	if errors.Is(err, ErrNotFound) {
		return s.GetTask(ctx, id) // finished meanwhile: nothing to move
	}
	if err != nil {
		return t, fmt.Errorf("escalate task %s: %w", id, err)
	}
	return t, nil
}

// SetTaskStatus marks an unfinished task overdue or cancelled.
func (s *Store) SetTaskStatus(ctx context.Context, id, status string) (Task, error) {
	if status != TaskOverdue && status != TaskCancelled {
		return Task{}, fmt.Errorf("set task %s status: %q is not overdue or cancelled", id, status)
	}
	t, err := scanTask(s.pool.QueryRow(ctx, `UPDATE tasks SET status = $2
		WHERE id = $1 AND status IN ('open', 'claimed', 'overdue') RETURNING `+taskColumns, id, status))
	if errors.Is(err, ErrNotFound) {
		return s.GetTask(ctx, id)
	}
	if err != nil {
		return t, fmt.Errorf("set task %s %s: %w", id, status, err)
	}
	return t, nil
}

// ParseTaskStatuses reads a comma-separated status filter ("all" for
// every status).
func ParseTaskStatuses(s string) ([]string, error) {
	all := []string{TaskOpen, TaskClaimed, TaskCompleted, TaskOverdue, TaskCancelled}
	if s == "" {
		return nil, nil
	}
	if s == "all" {
		return all, nil
	}
	var out []string
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		ok := false
		for _, a := range all {
			ok = ok || a == part
		}
		if !ok {
			return nil, fmt.Errorf("status %q is not one of %s or all", part, strings.Join(all, ", "))
		}
		out = append(out, part)
	}
	return out, nil
}
