package wire

import "time"

// Erasure statuses: Erasure.Status.
const (
	ErasureRunning = "running"
	ErasureDone    = "done"
	ErasureFailed  = "failed"
)

// EraseRequest is the body of DELETE /v1/customers/{id}.
type EraseRequest struct {
	// Reason says why the customer is erased (up to 500 characters); it is
	// kept with the erasure record.
	Reason string `json:"reason"`
}

// Erasure says where a customer's erasure stands: the answer to DELETE
// /v1/customers/{id} and GET /v1/customers/{id}/erasure.
type Erasure struct {
	CustomerID string `json:"customer_id"`
	// Status is ErasureRunning, ErasureDone or ErasureFailed.
	Status string `json:"status"`
	// Error says why a failed erasure stopped; asking again resumes it.
	Error string `json:"error,omitempty"`
	ErasureRecord
}

// ErasureRecord is the record kept of an erasure: who asked, when, why,
// and how far it got.
type ErasureRecord struct {
	ID                int64      `json:"id"`
	CustomerHash      string     `json:"customer_hash"`
	WorkflowID        string     `json:"workflow_id"`
	RequestedBy       string     `json:"requested_by"`
	Reason            string     `json:"reason"`
	RequestedAt       time.Time  `json:"requested_at"`
	Stage             string     `json:"stage"`
	RunsExited        int        `json:"runs_exited"`
	ExecutionsDeleted int        `json:"executions_deleted"`
	RowsRemoved       int64      `json:"rows_removed"`
	LastError         string     `json:"last_error,omitempty"`
	UpdatedAt         time.Time  `json:"updated_at"`
	CompletedAt       *time.Time `json:"completed_at,omitempty"`
}
