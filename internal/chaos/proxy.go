// Package chaos runs Rapport's production topology on one machine and
// injects the faults production meets: worker processes killed with
// SIGKILL, PostgreSQL stopped for tens of seconds, providers answering 5xx
// after they accepted a request, hanging past the client's timeout, and
// throttling with 429s. It then counts what the providers (the fakes)
// really received against what the journeys meant to send. `rapport
// chaos` is its command.
package chaos

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Faults are the rates (0 to 1) at which the proxy answers a provider
// request with a fault instead of passing the provider's answer on.
type Faults struct {
	// AfterAccept forwards the request to the provider, which accepts it,
	// then answers 504 (or 502) as a gateway that lost the answer would.
	AfterAccept float64
	// Hang forwards the request, then answers nothing until the client
	// gives up (its timeout) or MaxHang passes.
	Hang float64
	// Throttle answers 429 without forwarding: the request never reached
	// the provider.
	Throttle float64
}

// Counts are the faults a proxy has injected so far, and the requests it
// passed on untouched.
type Counts struct {
	Passed, AfterAccept, Hung, Throttled int64
	// Refused counts the requests answered 503, not forwarded, while a
	// provider was down (SetDown).
	Refused int64
}

// Proxy sits in front of the provider fakes and injects Faults at random,
// from a seed so a run can be repeated.
type Proxy struct {
	next http.Handler
	// MaxHang bounds a hang when the client never gives up.
	MaxHang time.Duration

	mu     sync.Mutex
	rng    *rand.Rand
	faults Faults
	// sendGridDown answers every SendGrid request 503 without forwarding.
	sendGridDown bool

	passed, afterAccept, hung, throttled, refused atomic.Int64
}

// SetSendGridDown takes SendGrid down (every mail send answered 503, from
// its edge: the request never reaches SendGrid) or brings it back.
func (p *Proxy) SetSendGridDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sendGridDown = down
}

func (p *Proxy) isSendGridDown() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sendGridDown
}

// NewProxy returns a proxy in front of next (the fakes) that injects
// nothing until SetFaults says so.
func NewProxy(next http.Handler, seed uint64) *Proxy {
	return &Proxy{next: next, MaxHang: 2 * time.Minute, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// SetFaults changes the fault rates from now on.
func (p *Proxy) SetFaults(f Faults) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = f
}

// Counts returns the faults injected so far.
func (p *Proxy) Counts() Counts {
	return Counts{Passed: p.passed.Load(), AfterAccept: p.afterAccept.Load(), Hung: p.hung.Load(), Throttled: p.throttled.Load(), Refused: p.refused.Load()}
}

type fault int

const (
	pass fault = iota
	afterAccept
	hang
	throttle
)

// pick draws the fault for one request.
func (p *Proxy) pick() fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	x := p.rng.Float64()
	f := p.faults
	switch {
	case x < f.Throttle:
		return throttle
	case x < f.Throttle+f.AfterAccept:
		return afterAccept
	case x < f.Throttle+f.AfterAccept+f.Hang:
		return hang
	}
	return pass
}

// ServeHTTP passes the request to the fakes, or injects a fault.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_fakes/") || r.Method != http.MethodPost {
		p.next.ServeHTTP(w, r)
		return
	}
	if strings.HasPrefix(r.URL.Path, "/v3/") && p.isSendGridDown() {
		p.refused.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"errors":[{"field":null,"message":"service unavailable"}]}`)
		return
	}
	switch p.pick() {
	case throttle:
		p.throttled.Add(1)
		throttled(w, r.URL.Path)
	case afterAccept:
		p.afterAccept.Add(1)
		p.forward(r)
		status := http.StatusGatewayTimeout
		if p.afterAccept.Load()%2 == 0 {
			status = http.StatusBadGateway
		}
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, "<html><body><h1>"+http.StatusText(status)+"</h1></body></html>\n")
	case hang:
		p.hung.Add(1)
		p.forward(r)
		t := time.NewTimer(p.MaxHang)
		defer t.Stop()
		select {
		case <-r.Context().Done(): // the client gave up
		case <-t.C:
			w.WriteHeader(http.StatusGatewayTimeout)
		}
	default:
		p.passed.Add(1)
		p.next.ServeHTTP(w, r)
	}
}

// forward lets the fakes handle r (they record what they accept) and
// drops their answer. It runs even when the client has gone: the provider
// got the request.
func (p *Proxy) forward(r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	in := r.Clone(context.WithoutCancel(r.Context()))
	in.Body = io.NopCloser(bytes.NewReader(body))
	p.next.ServeHTTP(httptest.NewRecorder(), in)
}

// throttled answers 429 in the shape of the provider path asks for.
func throttled(w http.ResponseWriter, path string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Retry-After", "1")
	w.WriteHeader(http.StatusTooManyRequests)
	switch {
	case strings.HasPrefix(path, "/v3/"): // SendGrid
		_, _ = io.WriteString(w, `{"errors":[{"field":null,"message":"too many requests"}]}`)
	case strings.HasPrefix(path, "/2010-04-01/"): // Twilio
		_, _ = io.WriteString(w, `{"code":20429,"message":"Too Many Requests","more_info":"https://www.twilio.com/docs/errors/20429","status":429}`)
	default: // Lob
		_, _ = io.WriteString(w, `{"error":{"message":"rate limit exceeded","status_code":429,"code":"rate_limit_exceeded"}}`)
	}
}
