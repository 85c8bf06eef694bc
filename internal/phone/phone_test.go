package phone

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNormalize(t *testing.T) {
	for _, tc := range []struct{ in, country, want string }{
		{"+44 7911 123456", "", "+447911123456"},
		{"07911 123456", "GB", "+447911123456"},
		{"(212) 555-2368", "US", "+12125552368"},
		{"+1 212 555 2368", "GB", "+12125552368"},
	} {
		got, err := Normalize(tc.in, tc.country)
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got)
	}
	for _, bad := range []string{"123", "+44 20 1234", "not a number", "+999 1234567"} {
		_, err := Normalize(bad, "GB")
		assert.Error(t, err, bad)
	}
}
