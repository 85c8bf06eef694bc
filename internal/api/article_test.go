package api

import "testing"

// The consent history says "from an email message", not "from a email".
func TestWithArticle(t *testing.T) {
	for channel, want := range map[string]string{"email": "an email", "sms": "an sms", "mail": "a mail", "phone": "a phone"} {
		if got := withArticle(channel); got != want {
			t.Errorf("withArticle(%q) = %q, want %q", channel, got, want)
		}
	}
}
