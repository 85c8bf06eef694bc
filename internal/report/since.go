package report

import (
	"fmt"
	"time"

	"github.com/rapporthq/rapport/internal/journey"
)

// ParseSince reads when a report starts: a journey duration back from
// now ("30d", "12h"), a date ("2026-11-01", midnight UTC) or an RFC 3339
// time. rapport report --since and the API's ?since= read it alike.
func ParseSince(v string, now time.Time) (time.Time, error) {
	if d, err := journey.ParseDuration(v); err == nil {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is neither a duration (30d) nor a date (2026-11-01)", v)
}
