package journey

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
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

var durationUnits = []struct {
	suffix string
	unit   time.Duration
}{
	{"w", 7 * 24 * time.Hour},
	{"d", 24 * time.Hour},
	{"h", time.Hour},
	{"m", time.Minute},
	{"s", time.Second},
}

// maxDuration bounds journey durations to something a journey could mean
// (ten years) and keeps arithmetic far from overflow.
const maxDuration = 10 * 365 * 24 * time.Hour

// ParseDuration reads a journey duration: one or more whole numbers each
// followed by a unit, w (weeks), d (days), h (hours), m (minutes) or s
// (seconds), such as 90d, 36h, 15m, 2w or 1d12h. A day is 24 hours.
func ParseDuration(s string) (time.Duration, error) {
	text := strings.TrimSpace(s)
	if text == "" {
		return 0, fmt.Errorf("a duration is empty; write a number and a unit, such as 14d, 36h, 15m or 2w")
	}
	var total time.Duration
	rest := text
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 {
			return 0, badDuration(text)
		}
		n, err := strconv.ParseInt(rest[:i], 10, 64)
		if err != nil || n > int64(maxDuration/time.Second) {
			return 0, fmt.Errorf("duration %q is too long; the longest a journey can wait is 10 years", text)
		}
		rest = rest[i:]
		var unit time.Duration
		for _, u := range durationUnits {
			if strings.HasPrefix(rest, u.suffix) && !strings.HasPrefix(rest, "ms") {
				unit = u.unit
				rest = rest[len(u.suffix):]
				break
			}
		}
		if unit == 0 {
			return 0, badDuration(text)
		}
		if n > int64(maxDuration/unit) {
			return 0, fmt.Errorf("duration %q is too long; the longest a journey can wait is 10 years", text)
		}
		total += time.Duration(n) * unit
		if total > maxDuration {
			return 0, fmt.Errorf("duration %q is too long; the longest a journey can wait is 10 years", text)
		}
	}
	return total, nil
}

func badDuration(text string) error {
	return fmt.Errorf("%q is not a duration; write a whole number followed by a unit, w, d, h, m or s, such as 14d, 36h, 15m or 2w", text)
}

// FormatDuration renders a duration in journey units, largest first: 14d,
// 1d12h, 90m becomes 1h30m. Sub-second remainders are dropped.
func FormatDuration(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	var b strings.Builder
	for _, u := range durationUnits[1:] { // days and below read better than weeks
		if n := d / u.unit; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.suffix)
			d -= n * u.unit
		}
	}
	if b.Len() == 0 {
		return d.String()
	}
	return b.String()
}
