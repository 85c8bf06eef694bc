package preview

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/rapporthq/rapport/internal/journey"
)

// whatIfRe is a what-if: event TYPE at [day N] [Hh][Mm] [with {JSON}].
var whatIfRe = regexp.MustCompile(`^event ([a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*) at(?: +day +(\d{1,4}))?(?: +(?:(\d{1,5})h)?(?:(\d{1,6})m)?)?(?: +with +(.+))?$`)

// whatIfForm is how a what-if is written, for error messages.
const whatIfForm = `write it as 'event order.placed at day 10', 'event order.placed at day 2 12h30m' or 'event order.placed at day 0 with {"product_id": "p1"}'`

// maxWhatIfData bounds a what-if event's data.
const maxWhatIfData = 64 << 10

// Event is an event a what-if sends during the preview: At after the
// start, with Data.
type Event struct {
	Type string
	At   time.Duration
	Data map[string]any
}

// ParseWhatIf reads --what-if events ('event TYPE at day N [Hh][Mm] [with
// {JSON}]'), none later than days in.
func ParseWhatIf(in []string, days int) ([]Event, error) {
	var out []Event
	for _, w := range in {
		m := whatIfRe.FindStringSubmatch(strings.TrimSpace(w))
		if m == nil || m[2]+m[3]+m[4] == "" {
			return nil, fmt.Errorf("--what-if %q: %s", oneLine(w, 80), whatIfForm)
		}
		var at time.Duration
		for i, unit := range []time.Duration{24 * time.Hour, time.Hour, time.Minute} {
			if n, err := strconv.Atoi(m[2+i]); err == nil {
				at += time.Duration(n) * unit
			}
		}
		if at > time.Duration(days)*24*time.Hour {
			return nil, fmt.Errorf("--what-if %q: %s in is after the preview's %d days", oneLine(w, 80), journey.FormatDuration(at), days)
		}
		e := Event{Type: m[1], At: at, Data: map[string]any{}}
		if m[5] != "" {
			if len(m[5]) > maxWhatIfData {
				return nil, fmt.Errorf("--what-if %q: the data is %d bytes; at most %d are taken", oneLine(w, 60), len(m[5]), maxWhatIfData)
			}
			dec := json.NewDecoder(strings.NewReader(m[5]))
			if err := dec.Decode(&e.Data); err != nil || e.Data == nil || dec.More() {
				return nil, fmt.Errorf("--what-if %q: the data after 'with' must be one JSON object, such as {\"product_id\": \"p1\"}", oneLine(w, 80))
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// ReadEvent reads the event that starts a preview from a JSON file
// ({"type": ..., "data": {...}}).
func ReadEvent(path string) (*journey.Event, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var ev journey.Event
	if err := json.Unmarshal(b, &ev); err != nil {
		return nil, fmt.Errorf("%s: not a JSON event ({\"type\": ..., \"data\": {...}}): %w", path, err)
	}
	if ev.Type == "" {
		return nil, fmt.Errorf("%s: the event has no type", path)
	}
	return &ev, nil
}

// oneLine shows s on one line, cut to at most n runes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
