package wire

import "time"

// ReportLink answers POST /v1/journeys/{name}/report-links: a signed
// link to the journey's report page, valid until ExpiresAt.
type ReportLink struct {
	Journey string `json:"journey"`
	// Path is the page's path and query, signed link included
	// (/reports/NAME?link=...); URL is the whole address when the API
	// knows its public address (RAPPORT_PUBLIC_URL).
	Path      string    `json:"path"`
	URL       string    `json:"url,omitempty"`
	ExpiresAt time.Time `json:"expires_at"`
}
