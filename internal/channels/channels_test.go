package channels_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
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
		{"certificate refused", fmt.Errorf("post: %w", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), channels.NotTaken},
		{"handshake alert", fmt.Errorf("post: %w", tls.AlertError(40)), channels.NotTaken},
		{"not TLS", fmt.Errorf("post: %w", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}), channels.NotTaken},
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

// TestTLSHandshakeFailureIsNotTaken: a real request to a server whose
// certificate the client does not trust fails in the handshake, before
// the request is written: not taken, safe to retry.
func TestTLSHandshakeFailureIsNotTaken(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("the request reached the server")
	}))
	defer srv.Close()
	_, err := http.Post(srv.URL, "application/json", strings.NewReader("{}")) // the default client does not trust the test certificate
	assert.Error(t, err)
	assert.Equal(t, channels.NotTaken, channels.KindOf(channels.TransportError("p", err)))
}
