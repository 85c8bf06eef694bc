package fakes

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// hookRetry is how a fake retries a webhook post that failed (a non-2xx
// answer or no answer): it waits first, doubles the wait after every
// failure up to most, and gives up once total has passed since the first
// attempt.
type hookRetry struct {
	first, most, total time.Duration
}

// providerRetry is the providers' policy, roughly: SendGrid retries a
// failed event webhook post for up to 24 hours and Twilio retries its
// callbacks too; the fakes back off from 100 ms to at most 30 s a wait
// and give up after 20 minutes, longer than any outage the chaos suite
// stages behind the API.
func providerRetry() hookRetry {
	return hookRetry{first: 100 * time.Millisecond, most: 30 * time.Second, total: 20 * time.Minute}
}

// next is the wait after wait: double it, at most b.most.
func (b hookRetry) next(wait time.Duration) time.Duration {
	return min(2*wait, b.most)
}

// do calls post until it succeeds, waiting between attempts as b says. It
// returns post's last error when b.total has passed or stop is closed
// first.
func (b hookRetry) do(stop <-chan struct{}, post func() error) error {
	began, wait := time.Now(), b.first
	for {
		select {
		case <-stop:
			return errors.New("webhook post: turned off before it succeeded")
		default:
		}
		err := post()
		if err == nil {
			return nil
		}
		left := b.total - time.Since(began)
		if left <= 0 {
			return fmt.Errorf("webhook post: gave up after %s: %w", b.total, err)
		}
		t := time.NewTimer(min(wait, left))
		select {
		case <-stop:
			t.Stop()
			return fmt.Errorf("webhook post: turned off while retrying: %w", err)
		case <-t.C:
		}
		wait = b.next(wait)
	}
}

// hookSender posts one fake's webhooks while they are turned on. Turning
// them off (or on again) closes stop, which ends the retries still under
// way.
type hookSender struct {
	client *http.Client
	retry  hookRetry
	stop   chan struct{}
}

func newHookSender(retry hookRetry) *hookSender {
	return &hookSender{client: &http.Client{Timeout: 10 * time.Second}, retry: retry, stop: make(chan struct{})}
}

// send posts in the background: each of posts in turn, each retried as
// the sender's policy says; a post that is given up on does not hold back
// the next.
func (h *hookSender) send(posts ...func() error) {
	go func() {
		for _, post := range posts {
			_ = h.retry.do(h.stop, post)
		}
	}()
}

// do sends req with the sender's client and checks the answer is a 2xx.
func (h *hookSender) do(req *http.Request) error {
	resp, err := h.client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook post to %s: %w", req.URL.Redacted(), err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // so the connection is reused
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook post to %s: answered %d", req.URL.Redacted(), resp.StatusCode)
	}
	return nil
}

// close ends the retries under way.
func (h *hookSender) close() {
	if h != nil {
		close(h.stop)
	}
}
