package wire

import "time"

// TaskList answers GET /v1/tasks.
type TaskList struct {
	Tasks []Task `json:"tasks"`
}

// Task is work a journey asks staff to do: GET /v1/tasks/{id}, and the
// answer to claiming and completing one.
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
}

// ClaimRequest is POST /v1/tasks/{id}/claim.
type ClaimRequest struct {
	// Assignee is who takes the task.
	Assignee string `json:"assignee"`
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
