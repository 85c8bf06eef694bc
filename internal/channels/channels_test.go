package channels_test

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/rapporthq/rapport/internal/channels"
)

func TestKindOfStatus(t *testing.T) {
	for _, tc := range []struct {
		status int
		want   channels.Kind
	}{
		{429, channels.NotTaken}, {408, channels.NotTaken},
		{400, channels.Permanent}, {401, channels.Permanent}, {403, channels.Permanent}, {404, channels.Permanent}, {413, channels.Permanent}, {422, channels.Permanent},
		{500, channels.InDoubt}, {501, channels.InDoubt}, {502, channels.InDoubt}, {503, channels.InDoubt}, {504, channels.InDoubt}, {599, channels.InDoubt},
	} {
		assert.Equal(t, tc.want, channels.KindOfStatus(tc.status), "status %d", tc.status)
	}
}

func TestTransportError(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want channels.Kind
	}{
		{"refused", fmt.Errorf("post: %w", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}), channels.NotTaken},
		{"dial timeout", &net.OpError{Op: "dial", Err: errors.New("i/o timeout")}, channels.NotTaken},
		{"no such host", &net.DNSError{Err: "no such host", Name: "api.example"}, channels.NotTaken},
		{"reset mid-answer", &net.OpError{Op: "read", Err: syscall.ECONNRESET}, channels.InDoubt},
		{"timeout awaiting headers", errors.New("net/http: request canceled (Client.Timeout exceeded while awaiting headers)"), channels.InDoubt},
		{"EOF", errors.New("unexpected EOF"), channels.InDoubt},
	} {
		assert.Equal(t, tc.want, channels.KindOf(channels.TransportError("p", tc.err)), tc.name)
	}
	assert.Equal(t, channels.InDoubt, channels.KindOf(errors.New("context deadline exceeded")), "an unclassified error is in doubt")
}

func TestOneLine(t *testing.T) {
	for in, want := range map[string]string{
		"Ada Lovelace":                             "Ada Lovelace",
		"Bob\r\nBcc: evil@example.com\r\nX: 1":     "Bob Bcc: evil@example.com X: 1",
		"  a\t\tb \u2028 c\u2029d\u0085e\x00f\x7f": "a b c d e f",
		"10,00\u00a0€":                             "10,00\u00a0€",
		"\r\n":                                     "",
	} {
		assert.Equal(t, want, channels.OneLine(in), "%q", in)
	}
}
