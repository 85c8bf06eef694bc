package api

import (
	"testing"
	"time"
)

// The consent history says "from an email message", not "from a email".
func TestWithArticle(t *testing.T) {
	for channel, want := range map[string]string{"email": "an email", "sms": "an sms", "mail": "a mail", "phone": "a phone"} {
		if got := withArticle(channel); got != want {
			t.Errorf("withArticle(%q) = %q, want %q", channel, got, want)
		}
	}
}

// Caps read as a customer says them.
func TestCapWords(t *testing.T) {
	const day = 24 * time.Hour
	for _, tc := range []struct {
		lang string
		max  int
		per  time.Duration
		want string
	}{
		{"en", 3, 7 * day, "3 messages a week"},
		{"en", 1, 14 * day, "1 message every 2 weeks"},
		{"en", 5, 30 * day, "5 messages a month"},
		{"en", 2, day, "2 messages a day"},
		{"fr", 3, 7 * day, "3 messages par semaine"},
		{"de", 3, 7 * day, "3 messages a week"},
	} {
		if got := capWords(tc.lang, tc.max, tc.per); got != tc.want {
			t.Errorf("capWords(%q, %d, %s) = %q, want %q", tc.lang, tc.max, tc.per, got, tc.want)
		}
	}
}
