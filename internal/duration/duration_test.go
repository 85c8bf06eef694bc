package duration

import (
	"testing"
	"time"
)

func TestParseAndFormat(t *testing.T) {
	for text, want := range map[string]time.Duration{"14d": 14 * 24 * time.Hour, "2w": 14 * 24 * time.Hour, "1d12h": 36 * time.Hour, "90m": 90 * time.Minute, " 30s ": 30 * time.Second} {
		got, err := Parse(text)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %v, %v; want %v", text, got, err, want)
		}
	}
	for _, bad := range []string{"", "14", "d", "1.5d", "10ms", "5y", "4000w"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted it", bad)
		}
	}
	if got := Format(36 * time.Hour); got != "1d12h" {
		t.Errorf("Format(36h) = %q", got)
	}
}
