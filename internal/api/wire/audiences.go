package wire

// Audience run statuses: AudienceRun.Status.
const (
	AudienceDone    = "done"
	AudienceRunning = "running"
)

// AudienceRun answers POST /v1/journeys/{name}/audience-runs: 200 when
// the run finished within the wait, 202 while it still runs.
type AudienceRun struct {
	Journey    string `json:"journey"`
	EntryKey   string `json:"entry_key"`
	WorkflowID string `json:"workflow_id"`
	// Status is AudienceDone, or AudienceRunning when the run outlasted
	// the wait (follow it in the Temporal UI by its workflow id).
	Status string         `json:"status"`
	Counts AudienceCounts `json:"counts"`
	// Runs are journey runs entered under this entry key, the first 100.
	Runs []string `json:"runs"`
}

// AudienceCounts is an audience run's progress.
type AudienceCounts struct {
	Scanned int64 `json:"scanned"`
	Matched int64 `json:"matched"`
	Started int64 `json:"started"`
	// Skipped counts matching customers not entered: already entered under
	// this key, or refused by the entry rules (max_active, reentry, once).
	Skipped    int64 `json:"skipped"`
	ScanMillis int64 `json:"scan_ms"`
}

// AudiencePreview answers GET /v1/journeys/{name}/audience: what the
// audience would select now, entering nobody.
type AudiencePreview struct {
	Journey  string `json:"journey"`
	Audience string `json:"audience"`
	// SQL lists the parts of the condition PostgreSQL decides; CEL those
	// evaluated for each candidate.
	SQL       []string `json:"sql"`
	CEL       []string `json:"cel"`
	Customers int64    `json:"customers"`
	Matched   int64    `json:"matched"`
	// Sample is a random sample of the matching customers.
	Sample     []AudienceCustomer `json:"sample"`
	ScanMillis int64              `json:"scan_ms"`
}

// AudienceCustomer is a customer as audience conditions see them (no
// contact details).
type AudienceCustomer struct {
	ID       string `json:"id"`
	Locale   string `json:"locale"`
	TimeZone string `json:"time_zone"`
	// Zone is the time zone Rapport uses for them (theirs, else their
	// country's, else the default).
	Zone               string         `json:"zone"`
	Country            string         `json:"country"`
	HasEmail           bool           `json:"has_email"`
	HasPhone           bool           `json:"has_phone"`
	HasPostalAddress   bool           `json:"has_postal_address"`
	OrdersCount        int64          `json:"orders_count"`
	LifetimeValue      float64        `json:"lifetime_value"`
	DaysSinceLastOrder int64          `json:"days_since_last_order"`
	Tags               []string       `json:"tags"`
	Attributes         map[string]any `json:"attributes"`
	// PreferredChannels is the customer's own order of channels, if they
	// gave one.
	PreferredChannels []string `json:"preferred_channels"`
}
