package chaos

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/channels"
	"github.com/rapporthq/rapport/internal/channels/sendgrid"
	"github.com/rapporthq/rapport/internal/fakes"
)

const sgKey = "SG.chaos-test"

// proxied starts the fakes behind a proxy with one fault always on, and a
// SendGrid client (the real one) that gives up after timeout.
func proxied(t *testing.T, f Faults, timeout time.Duration) (*fakes.Fakes, *Proxy, *sendgrid.Client) {
	t.Helper()
	fk := fakes.New(fakes.Config{SendGridAPIKey: sgKey})
	p := NewProxy(fk, 1)
	p.MaxHang = time.Minute // far past the hanging test's client timeout
	p.SetFaults(f)
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	c := sendgrid.New(sendgrid.Config{APIKey: sgKey, BaseURL: srv.URL, HTTPClient: &http.Client{Timeout: timeout}})
	return fk, p, c
}

func email() channels.Email {
	return channels.Email{To: "a@example.com", From: "s@shop.example", Subject: "Hi", Text: "x",
		CustomArgs: map[string]string{"customer_id": "c1", "step": "s1"}}
}

func TestProxyAfterAcceptAnswers5xxButTheProviderGotIt(t *testing.T) {
	fk, p, c := proxied(t, Faults{AfterAccept: 1}, time.Minute)
	_, err := c.SendEmail(context.Background(), email())
	require.Error(t, err, "the client sees a failure")
	assert.Regexp(t, "50[24]", err.Error())
	msgs := fk.Recorder.Messages()
	require.Len(t, msgs, 1, "yet the provider accepted the email")
	assert.Equal(t, "c1", msgs[0].CustomerID)
	assert.Equal(t, Counts{AfterAccept: 1}, p.Counts())
}

func TestProxyHangOutlastsTheClientTimeoutAndStillForwards(t *testing.T) {
	fk, p, c := proxied(t, Faults{Hang: 1}, 300*time.Millisecond)
	began := time.Now()
	_, err := c.SendEmail(context.Background(), email())
	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), "Timeout") || strings.Contains(err.Error(), "deadline"), err.Error())
	assert.GreaterOrEqual(t, time.Since(began), 300*time.Millisecond, "the answer never came before the client's timeout")
	assert.Less(t, time.Since(began), p.MaxHang, "the client gave up, not the proxy")
	// The proxy forwards before it hangs, even when the client has gone.
	require.Eventually(t, func() bool { return len(fk.Recorder.Messages()) == 1 }, time.Minute, 10*time.Millisecond, "the provider got the email")
	assert.Equal(t, int64(1), p.Counts().Hung)
}

func TestProxyThrottleDoesNotForward(t *testing.T) {
	fk, p, c := proxied(t, Faults{Throttle: 1}, time.Minute)
	_, err := c.SendEmail(context.Background(), email())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "429")
	assert.Empty(t, fk.Recorder.Messages(), "a 429 never reached the provider")
	assert.Equal(t, Counts{Throttled: 1}, p.Counts())
}

func TestProxyPassesWithoutFaultsAndDrawsRates(t *testing.T) {
	fk, p, c := proxied(t, Faults{}, time.Minute)
	_, err := c.SendEmail(context.Background(), email())
	require.NoError(t, err)
	assert.Len(t, fk.Recorder.Messages(), 1)

	// At a rate of a half, about half the requests are throttled, the
	// same ones for the same seed.
	draw := func() []fault {
		q := NewProxy(fk, 42)
		q.SetFaults(Faults{Throttle: 0.5})
		var out []fault
		for range 1000 {
			out = append(out, q.pick())
		}
		return out
	}
	a := draw()
	assert.Equal(t, a, draw(), "one seed, one sequence")
	n := 0
	for _, f := range a {
		if f == throttle {
			n++
		}
	}
	assert.InDelta(t, 500, n, 80)
	assert.Equal(t, int64(1), p.Counts().Passed)
}
