package wire

import (
	"encoding/json"
	"time"
)

// Export is the part of GET /v1/customers/{id}/export that has a fixed
// shape. The document holds more members: the customer's rows, table by
// table (orders, events, messages, preferences, ...), each a list of
// objects with the table's columns; decode them into json.RawMessage or
// maps.
type Export struct {
	// Format names the layout of the document
	// ("rapport.customer-export/v1").
	Format     string    `json:"format"`
	ExportedAt time.Time `json:"exported_at"`
	CustomerID string    `json:"customer_id"`
	// ListLimit is how many rows each list holds at most; Truncated names
	// the lists cut at it.
	ListLimit int `json:"list_limit"`
	// Customer is the customer's row.
	Customer map[string]any `json:"customer"`
	// Journeys are the customer's journey executions as Temporal knows
	// them; JourneysError says what could not be listed.
	Journeys      []ExportJourney    `json:"journeys"`
	JourneysError string             `json:"journeys_error,omitempty"`
	Truncated     []ExportTruncation `json:"truncated"`
}

// ExportJourney is one Temporal execution of the customer's journeys.
type ExportJourney struct {
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
	Journey    string `json:"journey"`
	PlanHash   string `json:"plan_hash,omitempty"`
	// Status is running, completed, failed, terminated, ...
	Status    string     `json:"status"`
	StartedAt time.Time  `json:"started_at"`
	ClosedAt  *time.Time `json:"closed_at,omitempty"`
	// State is an open run's answer to the state query (where it stands,
	// step by step); StateError says why there is none.
	State      json.RawMessage `json:"state,omitempty"`
	StateError string          `json:"state_error,omitempty"`
}

// ExportTruncation says that a list of an export was cut at the limit.
type ExportTruncation struct {
	// List names the list: "events", "preferences.consent_events"...
	List     string `json:"list"`
	Included int    `json:"included"`
	Total    int64  `json:"total"`
}
