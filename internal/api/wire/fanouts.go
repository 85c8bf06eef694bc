package wire

import "time"

// FanoutList answers GET /v1/fanouts.
type FanoutList struct {
	Fanouts []Fanout `json:"fanouts"`
}

// Fanout is how far an event posted without a customer has come through
// one journey whose trigger fans out on it: GET /v1/fanouts, and the
// answer to POST /v1/fanouts/{event_id}/{journey}/retry.
type Fanout struct {
	EventID    string    `json:"event_id"`
	Journey    string    `json:"journey"`
	Type       string    `json:"type"`
	OccurredAt time.Time `json:"occurred_at"`
	ReceivedAt time.Time `json:"received_at"`
	// Cursor is the id of the last customer scanned ("" before the first
	// page): a fan-out resumes after it.
	Cursor string `json:"cursor"`
	// Scanned counts the customers scanned, Matched those the condition
	// selected, Started those entered, Skipped those the entry rules
	// refused (or who had entered for this event before).
	Scanned int64 `json:"scanned"`
	Matched int64 `json:"matched"`
	Started int64 `json:"started"`
	Skipped int64 `json:"skipped"`
	// Attempts counts its attempts since it was received or last retried.
	Attempts int `json:"attempts"`
	// Error is the last attempt's error (pending, failed), or why a done
	// fan-out entered nobody.
	Error string `json:"error,omitempty"`
	// DoneAt is when it was done, or given up as failed.
	DoneAt *time.Time `json:"done_at,omitempty"`
	// Status is pending, running, done or failed.
	Status string `json:"status"`
	// NextAttemptAt, for a pending fan-out whose last attempt failed, is
	// when it is tried again.
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
}
