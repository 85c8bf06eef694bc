package journey

import (
	"encoding/json"
	"time"

	"github.com/rapporthq/rapport/internal/duration"
)

// Duration is a journey duration: its value and the text the marketer wrote
// ("14d"), kept so summaries show what the journey says.
type Duration struct {
	D    time.Duration `json:"d"`
	Text string        `json:"text"`
}

// String returns the text as written, or a compact rendering of the value.
func (d Duration) String() string {
	if d.Text != "" {
		return d.Text
	}
	return FormatDuration(d.D)
}

var _ json.Marshaler = Duration{}

// MarshalJSON keeps the value in nanoseconds next to the text.
func (d Duration) MarshalJSON() ([]byte, error) {
	type plain Duration
	return json.Marshal(plain(d))
}

// ParseDuration reads a journey duration: one or more whole numbers each
// followed by a unit, w (weeks), d (days), h (hours), m (minutes) or s
// (seconds), such as 90d, 36h, 15m, 2w or 1d12h (see package duration).
func ParseDuration(s string) (time.Duration, error) { return duration.Parse(s) }

// FormatDuration renders a duration in journey units, largest first
// (package duration's Format).
func FormatDuration(d time.Duration) string { return duration.Format(d) }
