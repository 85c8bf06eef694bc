package api

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/rapporthq/rapport/internal/api/wire"
	"golang.org/x/time/rate"
)

// PublicLimit is how fast one client address may call the customer pages
// (Rate requests a second on average, bursts of Burst) and the webhooks
// (WebhookRate, WebhookBurst: a provider reports every message from a few
// addresses, so its allowance is larger).
type PublicLimit struct {
	Rate         rate.Limit
	Burst        int
	WebhookRate  rate.Limit
	WebhookBurst int
	// TrustedProxies are the addresses of the load balancers in front of
	// the API: for a request from one of them, the client is the last
	// address in X-Forwarded-For that is not a trusted proxy.
	TrustedProxies []netip.Prefix
}

// DefaultPublicLimit allows a person well beyond what they need (5 pages
// a second, bursts of 40) and a provider's delivery reports 200 a second,
// bursts of 1,000.
var DefaultPublicLimit = PublicLimit{Rate: 5, Burst: 40, WebhookRate: 200, WebhookBurst: 1000}

// clientLimiter keeps a token bucket per client address. Buckets unused
// for longer than it takes to fill are forgotten, so memory stays bounded
// by the clients of the last few seconds.
type clientLimiter struct {
	limit   PublicLimit
	mu      sync.Mutex
	clients map[netip.Addr]*clientBucket
	swept   time.Time
}

type clientBucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// newClientLimiters returns the limiters of the customer pages and of
// the webhooks; unset rates take DefaultPublicLimit's.
func newClientLimiters(l PublicLimit) (pages, webhooks *clientLimiter) {
	d := DefaultPublicLimit
	if l.Rate <= 0 || l.Burst <= 0 {
		l.Rate, l.Burst = d.Rate, d.Burst
	}
	if l.WebhookRate <= 0 || l.WebhookBurst <= 0 {
		l.WebhookRate, l.WebhookBurst = d.WebhookRate, d.WebhookBurst
	}
	hooks := l
	hooks.Rate, hooks.Burst = l.WebhookRate, l.WebhookBurst
	return newClientLimiter(l), newClientLimiter(hooks)
}

// newClientLimiter limits each client to l.Rate and l.Burst.
func newClientLimiter(l PublicLimit) *clientLimiter {
	return &clientLimiter{limit: l, clients: map[netip.Addr]*clientBucket{}}
}

// wrap answers 429 with Retry-After to a client over its rate.
func (c *clientLimiter) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wait := c.reserve(c.client(r), time.Now())
		if wait > 0 {
			w.Header().Set("Retry-After", fmt.Sprint(int(math.Ceil(wait.Seconds()))))
			writeJSON(w, http.StatusTooManyRequests, wire.Error{Message: "too many requests from your address; try again in a moment"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// reserve takes a token for addr, or says how long until one is free.
func (c *clientLimiter) reserve(addr netip.Addr, now time.Time) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	// A bucket idle for this long is full again: forgetting it changes nothing.
	idle := time.Duration(float64(c.limit.Burst)/float64(c.limit.Rate)*float64(time.Second)) + time.Second
	if now.Sub(c.swept) > idle {
		for a, b := range c.clients {
			if now.Sub(b.seen) > idle {
				delete(c.clients, a)
			}
		}
		c.swept = now
	}
	b, ok := c.clients[addr]
	if !ok {
		b = &clientBucket{lim: rate.NewLimiter(c.limit.Rate, c.limit.Burst)}
		c.clients[addr] = b
	}
	b.seen = now
	res := b.lim.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return d
	}
	return 0
}

// client is the address a request comes from: the peer, or behind a
// trusted proxy the last untrusted address it forwarded for. IPv6 clients
// are limited per /64, the block one subscriber holds.
func (c *clientLimiter) client(r *http.Request) netip.Addr {
	addr := peer(r.RemoteAddr)
	if c.trusted(addr) {
		hops := strings.Split(r.Header.Get("X-Forwarded-For"), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				break
			}
			addr = a.Unmap()
			if !c.trusted(addr) {
				break
			}
		}
	}
	if addr.Is6() {
		if p, err := addr.Prefix(64); err == nil {
			return p.Addr()
		}
	}
	return addr
}

func (c *clientLimiter) trusted(a netip.Addr) bool {
	for _, p := range c.limit.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func peer(remote string) netip.Addr {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}
