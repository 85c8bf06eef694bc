// Package wire holds the bodies of Rapport's HTTP API under /v1: every
// request and response body, and the error body, as the API reads and
// writes them. The API's handlers (internal/api) and the rapport CLI both
// use these types, so the two cannot drift apart; docs/openapi.yaml is the
// contract they follow, and tests hold both to it.
//
// The package imports nothing heavy (no database driver, no Temporal), so
// that any Go client of the API can use it.
//
// Request bodies mark their optional fields omitempty: a client sending a
// zero value sends nothing, as the contract wants (the API reads an absent
// field as its zero value). Response bodies are exactly what the API
// answers.
package wire

// Error is every error answer: {"error": "...", "field": "..."}.
type Error struct {
	// Message says what is wrong, in a sentence.
	Message string `json:"error"`
	// Field names the field at fault by its full path
	// ("data.order.items[0].price"), when one is.
	Field string `json:"field,omitempty"`
	// Scope is the scope the key lacks, on a 403.
	Scope string `json:"scope,omitempty"`
}

func (e *Error) Error() string { return e.Message }
