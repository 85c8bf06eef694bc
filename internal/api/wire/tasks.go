package wire

import "time"

// TaskList answers GET /v1/tasks.
type TaskList struct {
	Tasks []Task `json:"tasks"`
}

// Task is work a journey asks staff to do: GET /v1/tasks/{id}, and the
// answer to completing one (TaskChange to claiming, assigning,
// unclaiming and noting one).
type Task struct {
	ID         string `json:"id"`
	WorkflowID string `json:"workflow_id"`
	Journey    string `json:"journey"`
	StepID     string `json:"step_id"`
	CustomerID string `json:"customer_id"`
	Kind       string `json:"kind"`
	Queue      string `json:"queue"`
	// Status is open, claimed, completed, overdue or cancelled.
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
	// assignments, unclaims and notes (the latest 200; at most 100 notes).
	Actions []TaskAction `json:"actions"`
}

// TaskChange answers POST /v1/tasks/{id}/claim, /assign, /unclaim and
// /notes: the task as it now stands, and whether its journey run
// recorded the change among its staff actions. The task is the record
// either way.
type TaskChange struct {
	Task
	// RunRecorded is true when the run recorded the change (runs of
	// interpreter revision 6 that wait for the task).
	RunRecorded bool `json:"run_recorded"`
	// RunReason says why the run did not record it: it has ended, it
	// started at an older revision, it is not waiting for the task, or
	// Temporal did not answer in time.
	RunReason string `json:"run_reason,omitempty"`
}

// TaskAction is one thing staff did to a task.
type TaskAction struct {
	// Kind is claim, assign, unclaim or note.
	Kind string `json:"kind"`
	// By is who did it: the person named, with the API key's name.
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

// ClaimRequest is POST /v1/tasks/{id}/claim.
type ClaimRequest struct {
	// Assignee is who takes the task.
	Assignee string `json:"assignee"`
}

// AssignRequest is POST /v1/tasks/{id}/assign.
type AssignRequest struct {
	// Assignee is who gets the task, whoever holds it now.
	Assignee string `json:"assignee"`
	// By names the person who assigns it; the key's name is added.
	By string `json:"by,omitempty"`
}

// UnclaimRequest is POST /v1/tasks/{id}/unclaim.
type UnclaimRequest struct {
	// By names the person who puts the task back; the key's name is added.
	By string `json:"by,omitempty"`
}

// NoteRequest is POST /v1/tasks/{id}/notes.
type NoteRequest struct {
	// Note is for whoever works on the task next (at most 2,000
	// characters).
	Note string `json:"note"`
	// By names the person who writes it; the key's name is added.
	By string `json:"by,omitempty"`
}

// CompleteRequest is POST /v1/tasks/{id}/complete.
type CompleteRequest struct {
	// Outcome is one of the task's outcomes.
	Outcome string `json:"outcome"`
	// Notes are for the record (at most 10,000 characters).
	Notes string `json:"notes,omitempty"`
	// By names the person who did the task; the key's name is added.
	By string `json:"by,omitempty"`
}
