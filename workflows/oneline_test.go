package workflows

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

func TestOneLineCutsBetweenRunes(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"  two\n lines\t", 10, "two lines"},
		{"abcdefghij", 10, "abcdefghij"},
		{"abcdefghijk", 10, "abcdefghi…"},
		{"héllo wörld, ça va", 8, "héllo w…"},
		{"日本語のテキストです", 5, "日本語の…"},
		{"👍👍👍", 3, "👍👍👍"},
		{"👍👍👍👍", 3, "👍👍…"},
		{"ab", 1, "…"},
	} {
		got := oneLine(c.in, c.n)
		assert.Equal(t, c.want, got, "oneLine(%q, %d)", c.in, c.n)
		assert.True(t, utf8.ValidString(got), "oneLine(%q, %d) = %q is not valid UTF-8", c.in, c.n, got)
		assert.LessOrEqual(t, utf8.RuneCountInString(got), c.n)
	}
	// Every cut of a string of multi-byte runes stays valid UTF-8.
	s := strings.Repeat("é日👍", 20)
	for n := 1; n < 70; n++ {
		got := oneLine(s, n)
		assert.True(t, utf8.ValidString(got), "n=%d", n)
		assert.LessOrEqual(t, utf8.RuneCountInString(got), n)
	}
}
