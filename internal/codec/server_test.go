package codec

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

const (
	testToken  = "0123456789abcdef-token"
	testOrigin = "https://temporal.example.com"
)

// codecServer starts the codec server over ring k1 and returns it with the
// log it writes.
func codecServer(t *testing.T, mutate ...func(*ServerOptions)) (*httptest.Server, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	opts := ServerOptions{
		Ring:    ring(t, 1),
		Token:   testToken,
		Origins: []string{testOrigin + "/"},
		Log:     slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, m := range mutate {
		m(&opts)
	}
	h, err := NewServer(opts)
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, &logs
}

// payloadsJSON is the body the Temporal UI sends: commonpb.Payloads in
// protobuf JSON.
func payloadsJSON(t *testing.T, ps ...*commonpb.Payload) []byte {
	t.Helper()
	b, err := protojson.Marshal(&commonpb.Payloads{Payloads: ps})
	require.NoError(t, err)
	return b
}

// post sends body to url with headers and returns the response and its body.
func post(t *testing.T, url string, body io.Reader, headers map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, body)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, b
}

// parsePayloads reads a codec response.
func parsePayloads(t *testing.T, b []byte) []*commonpb.Payload {
	t.Helper()
	var ps commonpb.Payloads
	require.NoError(t, protojson.Unmarshal(b, &ps), string(b))
	return ps.Payloads
}

// jsonError reads a {"error": ...} body.
func jsonError(t *testing.T, resp *http.Response, b []byte) string {
	t.Helper()
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var e struct {
		Error string `json:"error"`
	}
	require.NoError(t, json.Unmarshal(b, &e), string(b))
	return e.Error
}

func TestServerDecodeWithBearer(t *testing.T) {
	srv, logs := codecServer(t)
	c := newCodec(t, ring(t, 1))
	in := []*commonpb.Payload{plain(t, "ada@example.com"), plain(t, 42)}
	enc, err := c.Encode(in)
	require.NoError(t, err)
	// Mixed with a payload from before encryption, which passes through.
	body := payloadsJSON(t, enc[0], enc[1], plain(t, "old"))

	resp, b := post(t, srv.URL+"/decode", bytes.NewReader(body), map[string]string{
		"Authorization": "Bearer " + testToken,
		"X-Namespace":   "default",
	})
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	out := parsePayloads(t, b)
	require.Len(t, out, 3)
	assert.True(t, proto.Equal(in[0], out[0]))
	assert.True(t, proto.Equal(in[1], out[1]))
	assert.True(t, proto.Equal(plain(t, "old"), out[2]))
	assert.Contains(t, logs.String(), "namespace=default")
	assert.NotContains(t, logs.String(), testToken)
}

func TestServerEncodeWithPathToken(t *testing.T) {
	srv, logs := codecServer(t)
	in := plain(t, "ada@example.com")
	resp, b := post(t, srv.URL+"/t/"+testToken+"/encode", bytes.NewReader(payloadsJSON(t, in)), nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	assert.NotContains(t, string(b), "ada@example.com")
	out := parsePayloads(t, b)
	require.Len(t, out, 1)
	assert.Equal(t, EncodingEncrypted, string(out[0].Metadata[converter.MetadataEncoding]))
	assert.Equal(t, "k1", string(out[0].Metadata[MetadataKeyID]))

	dec, err := newCodec(t, ring(t, 1)).Decode(out)
	require.NoError(t, err)
	assert.True(t, proto.Equal(in, dec[0]))
	assert.NotContains(t, logs.String(), testToken, "path tokens are never logged")
}

// TestServerAsTheUICallsIt sends what the Temporal UI sends from a browser
// when the codec endpoint is https://codec.example/t/<token>: its own
// access token in Authorization, X-Namespace, an Origin, and a query.
func TestServerAsTheUICallsIt(t *testing.T) {
	srv, _ := codecServer(t)
	enc, err := newCodec(t, ring(t, 1)).Encode([]*commonpb.Payload{plain(t, "ada@example.com")})
	require.NoError(t, err)
	resp, b := post(t, srv.URL+"/t/"+testToken+"/decode?preserveStorageRefs=true", bytes.NewReader(payloadsJSON(t, enc...)), map[string]string{
		"Authorization": "Bearer the-ui-sso-access-token",
		"X-Namespace":   "rapport",
		"Origin":        testOrigin,
	})
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	assert.Equal(t, testOrigin, resp.Header.Get("Access-Control-Allow-Origin"))
	assert.Equal(t, "true", resp.Header.Get("Access-Control-Allow-Credentials"))
	assert.Contains(t, resp.Header.Values("Vary"), "Origin")
	out := parsePayloads(t, b)
	require.Len(t, out, 1)
	assert.True(t, proto.Equal(plain(t, "ada@example.com"), out[0]))
}

func TestServerRefusesWithoutToken(t *testing.T) {
	srv, logs := codecServer(t)
	enc, err := newCodec(t, ring(t, 1)).Encode([]*commonpb.Payload{plain(t, "ada@example.com")})
	require.NoError(t, err)
	body := payloadsJSON(t, enc...)

	cases := []struct {
		name, path string
		headers    map[string]string
		want       string
	}{
		{"no token", "/decode", nil, "unauthorized: no token: send Authorization: Bearer <token>, or use the endpoint /t/<token>"},
		{"wrong bearer", "/decode", map[string]string{"Authorization": "Bearer " + testToken + "x"}, "unauthorized: wrong token"},
		{"empty bearer", "/encode", map[string]string{"Authorization": "Bearer "}, "unauthorized: the Authorization header is not of the form Bearer <token>"},
		{"basic auth", "/decode", map[string]string{"Authorization": "Basic " + testToken}, "unauthorized: the Authorization header is not of the form Bearer <token>"},
		{"wrong path token", "/t/" + strings.ToUpper(testToken) + "/decode", nil, "unauthorized: wrong token"},
		{"empty path token", "/t//decode", map[string]string{"Authorization": "Bearer " + testToken}, "unauthorized: wrong token"},
		{"wrong path token, right bearer", "/t/nope/decode", map[string]string{"Authorization": "Bearer " + testToken}, "unauthorized: wrong token"},
		{"unknown path", "/other", nil, "unauthorized: no token: send Authorization: Bearer <token>, or use the endpoint /t/<token>"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := post(t, srv.URL+tc.path, bytes.NewReader(body), tc.headers)
			assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
			assert.Equal(t, `Bearer realm="rapport-codec"`, resp.Header.Get("WWW-Authenticate"))
			assert.Equal(t, tc.want, jsonError(t, resp, b))
			assert.NotContains(t, string(b), "ada@example.com")
			assert.NotContains(t, string(b), "payloads")
		})
	}
	assert.NotContains(t, logs.String(), testToken)
	assert.NotContains(t, logs.String(), strings.ToUpper(testToken), "wrong path tokens are not logged either")
}

func TestServerCORS(t *testing.T) {
	srv, _ := codecServer(t)

	preflight := func(origin string) (*http.Response, []byte) {
		req, err := http.NewRequest(http.MethodOptions, srv.URL+"/t/"+testToken+"/decode", nil)
		require.NoError(t, err)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type,x-namespace")
		return do(t, req)
	}

	resp, _ := preflight(testOrigin)
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)
	assert.Equal(t, testOrigin, resp.Header.Get("Access-Control-Allow-Origin"))
	assert.Equal(t, "POST, OPTIONS", resp.Header.Get("Access-Control-Allow-Methods"))
	assert.Equal(t, "Content-Type, Authorization, Authorization-Extras, X-Namespace", resp.Header.Get("Access-Control-Allow-Headers"))
	assert.Equal(t, "true", resp.Header.Get("Access-Control-Allow-Credentials"))
	assert.Equal(t, "Origin", resp.Header.Get("Vary"))

	resp, _ = preflight("https://evil.example")
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"))
	assert.Empty(t, resp.Header.Get("Access-Control-Allow-Methods"))
	assert.Empty(t, resp.Header.Get("Access-Control-Allow-Credentials"))

	// A request from another origin is answered (a browser will not let
	// the page read it) but carries no CORS headers.
	resp, b := post(t, srv.URL+"/encode", bytes.NewReader(payloadsJSON(t, plain(t, 1))), map[string]string{
		"Authorization": "Bearer " + testToken,
		"Origin":        "https://evil.example",
	})
	assert.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	assert.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"))

	// A 401 to an allowed origin carries CORS headers so the UI can show it.
	resp, _ = post(t, srv.URL+"/decode", bytes.NewReader(payloadsJSON(t)), map[string]string{"Origin": testOrigin})
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Equal(t, testOrigin, resp.Header.Get("Access-Control-Allow-Origin"))
}

func TestServerBodyLimit(t *testing.T) {
	t.Run("default limit, declared length", func(t *testing.T) {
		srv, _ := codecServer(t)
		big := bytes.Repeat([]byte(" "), DefaultMaxBodyBytes+1)
		resp, b := post(t, srv.URL+"/decode", bytes.NewReader(big), map[string]string{"Authorization": "Bearer " + testToken})
		assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
		assert.Equal(t, "request body is 4194305 bytes; the limit is 4194304", jsonError(t, resp, b))
	})
	t.Run("small limit, chunked", func(t *testing.T) {
		srv, _ := codecServer(t, func(o *ServerOptions) { o.MaxBodyBytes = 1024 })
		// Hide the length so the body is sent chunked.
		body := io.MultiReader(bytes.NewReader(payloadsJSON(t, plain(t, strings.Repeat("x", 2048)))))
		resp, b := post(t, srv.URL+"/t/"+testToken+"/encode", body, nil)
		assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
		assert.Equal(t, "request body is over the limit of 1024 bytes", jsonError(t, resp, b))

		// Under the limit is fine.
		resp, b = post(t, srv.URL+"/t/"+testToken+"/encode", io.MultiReader(bytes.NewReader(payloadsJSON(t, plain(t, "small")))), nil)
		assert.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	})
}

func TestServerOtherRoutes(t *testing.T) {
	srv, _ := codecServer(t)

	resp, b := do(t, mustRequest(t, http.MethodGet, srv.URL+"/healthz"))
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.JSONEq(t, `{"status":"ok"}`, string(b))

	resp, _ = do(t, mustRequest(t, http.MethodGet, srv.URL+"/t/"+testToken+"/healthz"))
	assert.Equal(t, http.StatusOK, resp.StatusCode, "operators can check a path token")
	resp, _ = do(t, mustRequest(t, http.MethodGet, srv.URL+"/t/wrong/healthz"))
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	req := mustRequest(t, http.MethodGet, srv.URL+"/decode")
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, b = do(t, req)
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	assert.Equal(t, "method not allowed: use POST", jsonError(t, resp, b))

	resp, b = post(t, srv.URL+"/t/"+testToken+"/other", strings.NewReader("{}"), nil)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Equal(t, "not found: the codec serves POST /encode and POST /decode", jsonError(t, resp, b))

	// A trailing slash on the endpoint the UI was given still works.
	resp, b = post(t, srv.URL+"/t/"+testToken+"//encode", bytes.NewReader(payloadsJSON(t, plain(t, 1))), nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode, string(b))

	// Not JSON: the SDK's handler answers 400.
	resp, _ = post(t, srv.URL+"/decode", strings.NewReader("not json"), map[string]string{"Authorization": "Bearer " + testToken})
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)

	// A payload sealed with a key the server lacks: 400 naming the key.
	enc, err := newCodec(t, ring(t, 2)).Encode([]*commonpb.Payload{plain(t, "x")})
	require.NoError(t, err)
	resp, b = post(t, srv.URL+"/decode", bytes.NewReader(payloadsJSON(t, enc...)), map[string]string{"Authorization": "Bearer " + testToken})
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Contains(t, string(b), `it was sealed with key "k2"; the ring has k1`)
}

func mustRequest(t *testing.T, method, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	return req
}

func TestNewServerRefuses(t *testing.T) {
	r := ring(t, 1)
	cases := []struct {
		name string
		opts ServerOptions
		want string
	}{
		{"no token", ServerOptions{Ring: r}, "codec server: no token: the codec server must not be open; set one with `openssl rand -hex 32`"},
		{"short token", ServerOptions{Ring: r, Token: "secret"}, "codec server: the token is 6 characters; use at least 16, e.g. `openssl rand -hex 32`"},
		{"token with slash", ServerOptions{Ring: r, Token: "abcdefghijklmnop/q"}, "codec server: the token has a character other than letters, digits and - . _ ~ + = (it must fit in a URL path); use `openssl rand -hex 32`"},
		{"no ring", ServerOptions{Token: testToken}, "codec server: payload codec: no keys: set RAPPORT_CODEC_KEYS or RAPPORT_CODEC_KEYS_FILE"},
		{"wildcard origin", ServerOptions{Ring: r, Token: testToken, Origins: []string{"*"}}, `codec server: origin "*" is not allowed: credentials are allowed, so each origin must be named, such as https://temporal.example.com`},
		{"origin with path", ServerOptions{Ring: r, Token: testToken, Origins: []string{"https://temporal.example.com/ui"}}, `codec server: origin "https://temporal.example.com/ui" is not of the form https://host[:port]`},
		{"origin without scheme", ServerOptions{Ring: r, Token: testToken, Origins: []string{"temporal.example.com"}}, `codec server: origin "temporal.example.com" is not of the form https://host[:port]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, err := NewServer(tc.opts)
			assert.Nil(t, h)
			assert.EqualError(t, err, tc.want)
		})
	}
}

// TestRemotePayloadCodec shows the SDK's own codec-server client (what a
// worker or tool configured with a remote codec uses) working against the
// server, with the bearer token and with a path token.
func TestRemotePayloadCodec(t *testing.T) {
	srv, _ := codecServer(t)
	local := newCodec(t, ring(t, 1))
	in := []*commonpb.Payload{plain(t, "ada@example.com"), plain(t, map[string]bool{"ok": true})}

	for name, remote := range map[string]converter.PayloadCodec{
		"bearer": converter.NewRemotePayloadCodec(converter.RemotePayloadCodecOptions{
			Endpoint: srv.URL,
			ModifyRequest: func(r *http.Request) error {
				r.Header.Set("Authorization", "Bearer "+testToken)
				return nil
			},
		}),
		"path token": converter.NewRemotePayloadCodec(converter.RemotePayloadCodecOptions{
			Endpoint: srv.URL + "/t/" + testToken,
		}),
	} {
		t.Run(name, func(t *testing.T) {
			enc, err := remote.Encode(in)
			require.NoError(t, err)
			require.Len(t, enc, 2)
			assert.Equal(t, EncodingEncrypted, string(enc[0].Metadata[converter.MetadataEncoding]))

			dec, err := local.Decode(enc)
			require.NoError(t, err, "what the server seals, the library opens")
			assert.True(t, proto.Equal(in[0], dec[0]))

			mine, err := local.Encode(in)
			require.NoError(t, err)
			dec, err = remote.Decode(mine)
			require.NoError(t, err, "what the library seals, the server opens")
			require.Len(t, dec, 2)
			assert.True(t, proto.Equal(in[0], dec[0]))
			assert.True(t, proto.Equal(in[1], dec[1]))
		})
	}

	unauthorized := converter.NewRemotePayloadCodec(converter.RemotePayloadCodecOptions{Endpoint: srv.URL})
	_, err := unauthorized.Decode(in)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Unauthorized")

	// A remote data converter (as `temporal --codec-endpoint` does) reads
	// what the library's data converter writes.
	dc, err := NewDataConverter(ring(t, 1))
	require.NoError(t, err)
	p, err := dc.ToPayload("ada@example.com")
	require.NoError(t, err)
	rdc := converter.NewRemoteDataConverter(converter.GetDefaultDataConverter(), converter.RemoteDataConverterOptions{
		Endpoint: srv.URL + "/t/" + testToken + "/",
	})
	var s string
	require.NoError(t, rdc.FromPayload(p, &s))
	assert.Equal(t, "ada@example.com", s)
}
