// Package duration reads and writes the durations Rapport's people write:
// whole numbers with a unit, w, d, h, m or s ("14d", "1d12h"), a day
// being 24 hours. Journeys, the contact rules and the configuration all
// use it; it imports nothing of theirs.
package duration

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

var units = []struct {
	suffix string
	unit   time.Duration
}{
	{"w", 7 * 24 * time.Hour},
	{"d", 24 * time.Hour},
	{"h", time.Hour},
	{"m", time.Minute},
	{"s", time.Second},
}

// Max bounds durations to something a journey could mean (ten years) and
// keeps arithmetic far from overflow.
const Max = 10 * 365 * 24 * time.Hour

// Parse reads a duration: one or more whole numbers each
// followed by a unit, w (weeks), d (days), h (hours), m (minutes) or s
// (seconds), such as 90d, 36h, 15m, 2w or 1d12h. A day is 24 hours.
func Parse(s string) (time.Duration, error) {
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
		if err != nil || n > int64(Max/time.Second) {
			return 0, fmt.Errorf("duration %q is too long; the longest a journey can wait is 10 years", text)
		}
		rest = rest[i:]
		var unit time.Duration
		for _, u := range units {
			if strings.HasPrefix(rest, u.suffix) && !strings.HasPrefix(rest, "ms") {
				unit = u.unit
				rest = rest[len(u.suffix):]
				break
			}
		}
		if unit == 0 {
			return 0, badDuration(text)
		}
		if n > int64(Max/unit) {
			return 0, fmt.Errorf("duration %q is too long; the longest a journey can wait is 10 years", text)
		}
		total += time.Duration(n) * unit
		if total > Max {
			return 0, fmt.Errorf("duration %q is too long; the longest a journey can wait is 10 years", text)
		}
	}
	return total, nil
}

func badDuration(text string) error {
	return fmt.Errorf("%q is not a duration; write a whole number followed by a unit, w, d, h, m or s, such as 14d, 36h, 15m or 2w", text)
}

// Format renders a duration in these units, largest first: 14d,
// 1d12h, 90m becomes 1h30m. Sub-second remainders are dropped.
func Format(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	var b strings.Builder
	for _, u := range units[1:] { // days and below read better than weeks
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
