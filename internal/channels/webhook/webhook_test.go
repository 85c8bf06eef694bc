package webhook

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/channels"
)

// The vector is Standard Webhooks' own example, and was computed again,
// independently of this code, with openssl:
//
//	KEYHEX=$(echo -n 'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' | base64 -d | xxd -p -c 256)
//	printf '%s' 'msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314}' |
//	  openssl dgst -sha256 -mac HMAC -macopt hexkey:$KEYHEX -binary | base64
//	# g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=
//
// and, for the second secret of a rotation (the 32 bytes
// "rapport-second-secret-of-32-byte", base64
// cmFwcG9ydC1zZWNvbmQtc2VjcmV0LW9mLTMyLWJ5dGU=), the same with its key:
//
//	# 4nFIhmpJv2MKsqkBQ6e7ijEfRH3+PDk8Ny9Bo+9kME4=
const (
	vectorSecret  = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorSecret2 = "whsec_cmFwcG9ydC1zZWNvbmQtc2VjcmV0LW9mLTMyLWJ5dGU="
	vectorID      = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTS      = 1614265330
	vectorBody    = `{"test": 2432232314}`
	vectorSig     = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	vectorSig2    = "v1,4nFIhmpJv2MKsqkBQ6e7ijEfRH3+PDk8Ny9Bo+9kME4="
)

func TestSignatureMatchesTheOpenSSLVector(t *testing.T) {
	k1, err := ParseSecret(vectorSecret)
	require.NoError(t, err)
	k2, err := ParseSecret(vectorSecret2)
	require.NoError(t, err)
	assert.Equal(t, vectorSig, Signature([][]byte{k1}, vectorID, vectorTS, []byte(vectorBody)))
	assert.Equal(t, vectorSig+" "+vectorSig2, Signature([][]byte{k1, k2}, vectorID, vectorTS, []byte(vectorBody)),
		"while rotating, one signature per secret, space-separated")
}

func TestVerify(t *testing.T) {
	at := time.Unix(vectorTS, 0)
	h := http.Header{}
	h.Set("webhook-id", vectorID)
	h.Set("webhook-timestamp", fmt.Sprint(vectorTS))
	h.Set("webhook-signature", vectorSig2+" "+vectorSig)
	require.NoError(t, Verify(vectorSecret, h, []byte(vectorBody), at), "any one signature of the list matches")
	require.NoError(t, Verify(vectorSecret2, h, []byte(vectorBody), at.Add(4*time.Minute)))

	assert.Error(t, Verify(vectorSecret, h, []byte(`{"test": 2432232315}`), at), "a tampered body")
	assert.Error(t, Verify(vectorSecret, h, []byte(vectorBody), at.Add(6*time.Minute)), "a replay after the tolerance")
	assert.Error(t, Verify(vectorSecret, h, []byte(vectorBody), at.Add(-6*time.Minute)), "a timestamp from the future")
	other := h.Clone()
	other.Set("webhook-id", "msg_other")
	assert.Error(t, Verify(vectorSecret, other, []byte(vectorBody), at), "the id is signed")
	other = h.Clone()
	other.Set("webhook-signature", "v2,"+strings.TrimPrefix(vectorSig, "v1,"))
	assert.Error(t, Verify(vectorSecret, other, []byte(vectorBody), at), "only v1 signatures count")
	assert.Error(t, Verify("whsec_"+strings.Repeat("A", 32), h, []byte(vectorBody), at), "another secret")
}

func TestParseEndpoints(t *testing.T) {
	eps, err := ParseEndpoints([]byte(`[{"name": "crm", "url": "https://crm.example/hooks?token=x", "secret": "` + vectorSecret + ` ` + vectorSecret2 + `", "timeout": "5s", "contacts_customer": true},
		{"name": "feed", "url": "http://10.0.0.5/in", "secret": "` + vectorSecret + `"}]`))
	require.NoError(t, err)
	require.Len(t, eps, 2)
	assert.Equal(t, 5*time.Second, eps[0].timeout)
	assert.Len(t, eps[0].keys, 2)
	assert.True(t, eps[0].ContactsCustomer)
	assert.Equal(t, DefaultTimeout, eps[1].timeout)
	assert.False(t, eps[1].ContactsCustomer)

	for _, tc := range []struct{ json, want string }{
		{`{}`, "not a JSON array"},
		{`[{"name": "crm", "url": "https://x.example", "secret": "` + vectorSecret + `", "colour": 1}]`, "unknown field"},
		{`[{"name": "CRM", "url": "https://x.example", "secret": "` + vectorSecret + `"}]`, `name "CRM" is not allowed`},
		{`[{"name": "crm", "url": "ftp://x.example", "secret": "` + vectorSecret + `"}]`, `endpoint "crm": url must be`},
		{`[{"name": "crm", "url": "https://u:p@x.example", "secret": "` + vectorSecret + `"}]`, "user name or password"},
		{`[{"name": "crm", "url": "https://x.example", "secret": ""}]`, "secret: missing"},
		{`[{"name": "crm", "url": "https://x.example", "secret": "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}]`, "does not start with whsec_"},
		{`[{"name": "crm", "url": "https://x.example", "secret": "whsec_c2hvcnQ="}]`, "decodes to 5 bytes"},
		{`[{"name": "crm", "url": "https://x.example", "secret": "whsec_!!"}]`, "standard base64"},
		{`[{"name": "crm", "url": "https://x.example", "secret": "` + vectorSecret + `", "timeout": "1m"}]`, `timeout "1m"`},
		{`[{"name": "crm", "url": "https://x.example", "secret": "` + vectorSecret + `"}, {"name": "crm", "url": "https://y.example", "secret": "` + vectorSecret + `"}]`, "named twice"},
	} {
		_, err := ParseEndpoints([]byte(tc.json))
		require.Error(t, err, tc.json)
		assert.Contains(t, err.Error(), tc.want, tc.json)
		assert.NotContains(t, err.Error(), "MfKQ9r8G", "no error repeats a secret")
	}
}

func TestPublic(t *testing.T) {
	for addr, public := range map[string]bool{
		"93.184.215.14": true, "2606:2800:21f:cb07:6820:80da:af6b:8b2c": true,
		"127.0.0.1": false, "::1": false, "10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false,
		"169.254.169.254": false, "fe80::1": false, "fc00::1": false, "0.0.0.0": false, "::": false,
		"100.64.0.1": false, "::ffff:127.0.0.1": false, "::ffff:10.0.0.1": false, "64:ff9b::7f00:1": false,
		"224.0.0.1": false, "255.255.255.255": false,
	} {
		assert.Equal(t, public, Public(netip.MustParseAddr(addr)), addr)
	}
}

// receiver is a test endpoint answering what answer says and keeping what
// it was sent.
type receiver struct {
	*httptest.Server
	answer func(w http.ResponseWriter)
	got    atomic.Pointer[http.Request]
	body   atomic.Pointer[[]byte]
}

func newReceiver(t *testing.T, answer func(w http.ResponseWriter)) *receiver {
	r := &receiver{answer: answer}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.got.Store(req)
		r.body.Store(&b)
		r.answer(w)
	}))
	t.Cleanup(r.Close)
	return r
}

func clientFor(t *testing.T, url string, allow ...netip.Prefix) *Client {
	t.Helper()
	eps, err := ParseEndpoints([]byte(`[{"name": "crm", "url": "` + url + `", "secret": "` + vectorSecret + `", "timeout": "2s"}]`))
	require.NoError(t, err)
	c, err := New(Config{Endpoints: eps, AllowNetworks: allow})
	require.NoError(t, err)
	return c
}

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

func TestSendSignsAndClassifies(t *testing.T) {
	status := http.StatusNoContent
	answer := ""
	r := newReceiver(t, func(w http.ResponseWriter) {
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "7")
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, answer)
	})
	c := clientFor(t, r.URL+"/hook", loopback...)
	msg := channels.Webhook{Endpoint: "crm", ID: "0b6f3c1e-5d7a-4a43-9d3e-2f1b8d3c9a10", Body: []byte(`{"order":"o-1"}`)}

	rec, err := c.SendWebhook(context.Background(), msg)
	require.NoError(t, err)
	assert.Equal(t, channels.Receipt{Provider: Provider, MessageID: msg.ID}, rec)
	got := r.got.Load()
	assert.Equal(t, "/hook", got.URL.Path)
	assert.Equal(t, "application/json", got.Header.Get("Content-Type"))
	assert.Equal(t, msg.ID, got.Header.Get("webhook-id"))
	require.NoError(t, Verify(vectorSecret, got.Header, *r.body.Load(), time.Now()))

	kind := func(st int, body string) *channels.Error {
		t.Helper()
		status, answer = st, body
		_, err := c.SendWebhook(context.Background(), msg)
		var pe *channels.Error
		require.ErrorAs(t, err, &pe, "status %d", st)
		assert.Equal(t, msg.ID, r.got.Load().Header.Get("webhook-id"), "the same id on every attempt")
		return pe
	}
	pe := kind(http.StatusUnprocessableEntity, `{"error": "unknown customer"}`+strings.Repeat("x", 1000))
	assert.Equal(t, channels.Permanent, pe.Kind)
	assert.Equal(t, 422, pe.Status)
	assert.Contains(t, pe.Error(), `answered 422: {"error": "unknown customer"}`)
	assert.LessOrEqual(t, len([]rune(pe.Message)), 200, "a bounded snippet")
	assert.Equal(t, channels.InDoubt, kind(http.StatusBadGateway, "").Kind, "a 5xx may come after the receiver took it")
	pe = kind(http.StatusTooManyRequests, "")
	assert.Equal(t, channels.NotTaken, pe.Kind)
	assert.Equal(t, 7*time.Second, pe.RetryAfter)
	pe = kind(http.StatusFound, "")
	assert.Equal(t, channels.Permanent, pe.Kind, "redirects are not followed")
	assert.Contains(t, pe.Message, "redirects are not followed")

	_, err = c.SendWebhook(context.Background(), channels.Webhook{Endpoint: "nope", ID: "x", Body: []byte(`{}`)})
	assert.Equal(t, channels.Permanent, channels.KindOf(err))
	_, err = c.SendWebhook(context.Background(), channels.Webhook{Endpoint: "crm", ID: "x", Body: make([]byte, MaxBody+1)})
	assert.Equal(t, channels.Permanent, channels.KindOf(err))
}

func TestATimeoutIsInDoubt(t *testing.T) {
	release := make(chan struct{})
	r := newReceiver(t, func(w http.ResponseWriter) { <-release })
	defer close(release)
	c := clientFor(t, r.URL, loopback...)
	_, err := c.SendWebhook(context.Background(), channels.Webhook{Endpoint: "crm", ID: "m1", Body: []byte(`{}`)})
	require.Error(t, err)
	assert.Equal(t, channels.InDoubt, channels.KindOf(err), "it may have been taken: %v", err)
}

func TestPrivateAddressesAreRefusedAtDialTime(t *testing.T) {
	var hits atomic.Int32
	r := newReceiver(t, func(w http.ResponseWriter) { hits.Add(1) })
	port := r.Listener.Addr().(interface{ AddrPort() netip.AddrPort }).AddrPort().Port()
	for _, url := range []string{
		r.URL,
		fmt.Sprintf("http://localhost:%d/", port), // a name: checked once resolved
	} {
		c := clientFor(t, url)
		_, err := c.SendWebhook(context.Background(), channels.Webhook{Endpoint: "crm", ID: "m1", Body: []byte(`{}`)})
		require.Error(t, err, url)
		assert.Equal(t, channels.Permanent, channels.KindOf(err), "a refused address is a refusal for good: %v", err)
		assert.Contains(t, err.Error(), "not public")
	}
	assert.Zero(t, hits.Load(), "nothing reached the loopback receiver")

	c := clientFor(t, fmt.Sprintf("http://localhost:%d/", port), loopback...)
	_, err := c.SendWebhook(context.Background(), channels.Webhook{Endpoint: "crm", ID: "m1", Body: []byte(`{}`)})
	require.NoError(t, err, "allowed networks are reached")
	assert.EqualValues(t, 1, hits.Load())
}

func TestErrorsDoNotRepeatTheURLQuery(t *testing.T) {
	c := clientFor(t, "http://127.0.0.1:1/hook?token=sekrit", loopback...)
	_, err := c.SendWebhook(context.Background(), channels.Webhook{Endpoint: "crm", ID: "m1", Body: []byte(`{}`)})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "sekrit")
	assert.Equal(t, channels.NotTaken, channels.KindOf(err), "a refused connection was not taken: %v", err)
}
