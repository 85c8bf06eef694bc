package fakes

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sendgrid/sendgrid-go/helpers/eventwebhook"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func post(t *testing.T, h http.Handler, auth, body string) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/v3/mail/send", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Result(), string(b)
}

func TestSendGridFakeIsStrict(t *testing.T) {
	f := New(Config{SendGridAPIKey: "SG.k"})
	ok := `{"personalizations":[{"to":[{"email":"a@example.com"}]}],"from":{"email":"s@shop.example"},"subject":"Hi","content":[{"type":"text/plain","value":"x"},{"type":"text/html","value":"<b>x</b>"}]}`
	for _, tc := range []struct {
		name, auth, body string
		status           int
		want             string
	}{
		{"accepted", "Bearer SG.k", ok, 202, ""},
		{"no key", "", ok, 401, "authorization required"},
		{"wrong key", "Bearer nope", ok, 401, "invalid, expired, or revoked"},
		{"not JSON", "Bearer SG.k", `{`, 400, "Bad Request"},
		{"no personalizations", "Bearer SG.k", `{"from":{"email":"s@shop.example"},"subject":"Hi","content":[{"type":"text/plain","value":"x"}]}`, 400, "personalizations field is required"},
		{"no recipient", "Bearer SG.k", `{"personalizations":[{}],"from":{"email":"s@shop.example"},"subject":"Hi","content":[{"type":"text/plain","value":"x"}]}`, 400, "The to array is required"},
		{"no from", "Bearer SG.k", `{"personalizations":[{"to":[{"email":"a@example.com"}]}],"subject":"Hi","content":[{"type":"text/plain","value":"x"}]}`, 400, "The from object must be provided"},
		{"no subject", "Bearer SG.k", `{"personalizations":[{"to":[{"email":"a@example.com"}]}],"from":{"email":"s@shop.example"},"content":[{"type":"text/plain","value":"x"}]}`, 400, "The subject is required"},
		{"template instead of subject and content", "Bearer SG.k", `{"personalizations":[{"to":[{"email":"a@example.com"}]}],"from":{"email":"s@shop.example"},"template_id":"d-1"}`, 202, ""},
		{"no content", "Bearer SG.k", `{"personalizations":[{"to":[{"email":"a@example.com"}]}],"from":{"email":"s@shop.example"},"subject":"Hi"}`, 400, "the content parameter is required"},
		{"html before text", "Bearer SG.k", `{"personalizations":[{"to":[{"email":"a@example.com"}]}],"from":{"email":"s@shop.example"},"subject":"Hi","content":[{"type":"text/html","value":"x"},{"type":"text/plain","value":"x"}]}`, 400, "text/plain content must be first"},
		{"bad recipient", "Bearer SG.k", `{"personalizations":[{"to":[{"email":"nobody"}]}],"from":{"email":"s@shop.example"},"subject":"Hi","content":[{"type":"text/plain","value":"x"}]}`, 400, "Does not contain a valid address"},
		{"reserved header", "Bearer SG.k", `{"personalizations":[{"to":[{"email":"a@example.com"}]}],"from":{"email":"s@shop.example"},"subject":"Hi","headers":{"Subject":"x"},"content":[{"type":"text/plain","value":"x"}]}`, 400, "reserved"},
		{"non-string custom arg", "Bearer SG.k", `{"personalizations":[{"to":[{"email":"a@example.com"}],"custom_args":{"n":1}}],"from":{"email":"s@shop.example"},"subject":"Hi","content":[{"type":"text/plain","value":"x"}]}`, 400, "Expected: string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := post(t, f, tc.auth, tc.body)
			assert.Equal(t, tc.status, resp.StatusCode, body)
			if tc.status == 202 {
				assert.NotEmpty(t, resp.Header.Get("X-Message-Id"))
			} else {
				assert.Contains(t, body, tc.want)
				assert.Contains(t, body, `"errors":[`)
			}
		})
	}
	assert.Len(t, f.Recorder.Messages(), 2, "only accepted messages are recorded")

	f.SendGrid.Failures.Add(500, 2)
	for range 2 {
		resp, _ := post(t, f, "Bearer SG.k", ok)
		assert.Equal(t, 500, resp.StatusCode)
	}
	resp, _ := post(t, f, "Bearer SG.k", ok)
	assert.Equal(t, 202, resp.StatusCode, "forced failures run out")

	req := httptest.NewRequest(http.MethodPost, "/_fakes/sendgrid/fail?status=429&times=1", nil)
	rec := httptest.NewRecorder()
	f.ServeHTTP(rec, req)
	require.Equal(t, http.StatusNoContent, rec.Code)
	resp, _ = post(t, f, "Bearer SG.k", ok)
	assert.Equal(t, 429, resp.StatusCode)
	assert.NotEmpty(t, resp.Header.Get("X-RateLimit-Reset"))
}

func TestSendGridFakePostsSignedEvents(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	got := make(chan []map[string]any, 1)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ok, err := eventwebhook.VerifySignature(&key.PublicKey, body, r.Header.Get(eventwebhook.VerificationHTTPHeader), r.Header.Get(eventwebhook.TimestampHTTPHeader))
		if err != nil || !ok {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var events []map[string]any
		_ = json.Unmarshal(body, &events)
		got <- events
	}))
	defer hook.Close()
	f := New(Config{SendGridAPIKey: "SG.k"})
	f.SendGrid.PostEvents(hook.URL, key)
	srv := httptest.NewServer(f)
	defer srv.Close()
	body := `{"from":{"email":"a@shop.example"},"subject":"s","content":[{"type":"text/plain","value":"x"}],
		"personalizations":[{"to":[{"email":"b@example.com"}],"custom_args":{"message_id":"m-1"}}]}`
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v3/mail/send", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer SG.k")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	select {
	case events := <-got:
		require.Len(t, events, 2)
		assert.Equal(t, "processed", events[0]["event"])
		assert.Equal(t, "delivered", events[1]["event"])
		assert.Equal(t, "m-1", events[1]["message_id"], "custom_args come back on the event")
		assert.Equal(t, "b@example.com", events[1]["email"])
	case <-time.After(time.Minute):
		t.Fatal("no signed event webhook arrived")
	}
}

// fastRetry is a retry policy short enough for tests.
var fastRetry = hookRetry{first: 10 * time.Millisecond, most: 50 * time.Millisecond, total: 30 * time.Second}

func TestSendGridFakeRetriesEventsUntilTheEndpointAnswers(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	const failFirst = 4
	var mu sync.Mutex
	attempts, stamps := 0, []string{}
	got := make(chan []map[string]any, 1)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		attempts++
		n := attempts
		stamps = append(stamps, r.Header.Get(eventwebhook.TimestampHTTPHeader))
		mu.Unlock()
		if n <= failFirst {
			w.WriteHeader(http.StatusServiceUnavailable) // the database behind the API is down
			return
		}
		ok, err := eventwebhook.VerifySignature(&key.PublicKey, body, r.Header.Get(eventwebhook.VerificationHTTPHeader), r.Header.Get(eventwebhook.TimestampHTTPHeader))
		if err != nil || !ok {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var events []map[string]any
		_ = json.Unmarshal(body, &events)
		got <- events
	}))
	defer hook.Close()
	f := New(Config{SendGridAPIKey: "SG.k"})
	f.SendGrid.retry = fastRetry
	f.SendGrid.PostEvents(hook.URL, key)
	defer f.SendGrid.PostEvents("", nil)
	body := `{"from":{"email":"a@shop.example"},"subject":"s","content":[{"type":"text/plain","value":"x"}],
		"personalizations":[{"to":[{"email":"b@example.com"}],"custom_args":{"message_id":"m-2"}}]}`
	resp, _ := post(t, f, "Bearer SG.k", body)
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	select {
	case events := <-got:
		require.Len(t, events, 2)
		assert.Equal(t, "delivered", events[1]["event"])
		assert.Equal(t, "m-2", events[1]["message_id"])
	case <-time.After(time.Minute):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("the event was not delivered after the endpoint recovered (%d attempts)", attempts)
	}
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, failFirst+1, attempts, "retried until it was taken, then no more")
	for _, ts := range stamps {
		assert.NotEmpty(t, ts, "every attempt is signed")
	}
}

func TestProviderRetryBacksOffTo30sAndGivesUpAfter20Minutes(t *testing.T) {
	b := providerRetry()
	assert.Equal(t, 100*time.Millisecond, b.first)
	var waits []time.Duration
	var spent time.Duration
	for w := b.first; spent < b.total; w = b.next(w) {
		waits = append(waits, w)
		spent += w
	}
	assert.Equal(t, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond}, waits[:4], "doubles from 100 ms")
	assert.Equal(t, 30*time.Second, slices.Max(waits), "at most 30 s a wait")
	assert.Equal(t, 30*time.Second, waits[len(waits)-1])
	assert.Greater(t, spent, 35*time.Second+30*time.Second, "outlasts a 35 s outage with a wait to spare")
	assert.Equal(t, 20*time.Minute, b.total)
}

func TestHookRetryGivesUpAndStops(t *testing.T) {
	b := hookRetry{first: time.Millisecond, most: 5 * time.Millisecond, total: 100 * time.Millisecond}
	calls := 0
	began := time.Now()
	err := b.do(make(chan struct{}), func() error { calls++; return errors.New("503") })
	require.Error(t, err)
	assert.ErrorContains(t, err, "gave up")
	assert.GreaterOrEqual(t, time.Since(began), b.total)
	assert.Greater(t, calls, 1, "it retried")
	// The waits double up to the cap and stay there (how many calls fit
	// in b.total depends on how fast the machine runs, so it is not
	// counted).
	assert.Equal(t, []time.Duration{2 * time.Millisecond, 4 * time.Millisecond, 5 * time.Millisecond, 5 * time.Millisecond},
		[]time.Duration{b.next(time.Millisecond), b.next(2 * time.Millisecond), b.next(4 * time.Millisecond), b.next(5 * time.Millisecond)})

	stop := make(chan struct{})
	done := make(chan error, 1)
	slow := hookRetry{first: time.Hour, most: time.Hour, total: time.Hour}
	go func() { done <- slow.do(stop, func() error { return errors.New("503") }) }()
	close(stop)
	select {
	case err := <-done:
		assert.ErrorContains(t, err, "turned off")
	case <-time.After(time.Minute):
		t.Fatal("closing stop did not end the retries")
	}

	calls = 0
	require.NoError(t, b.do(make(chan struct{}), func() error {
		if calls++; calls < 3 {
			return errors.New("503")
		}
		return nil
	}))
	assert.Equal(t, 3, calls)
}
