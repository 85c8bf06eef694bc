// Package ops serves what a cluster asks of a Rapport process: liveness
// (/healthz), readiness (/readyz: its database and Temporal answer, and it
// is not draining) and Prometheus metrics (/metrics), on an operations
// address of their own (RAPPORT_OPS_ADDR), never on a public port.
package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Check is one readiness check: nil when the dependency answers.
type Check struct {
	Name  string
	Check func(ctx context.Context) error
	// Degraded, when set, reports a failure without failing readiness:
	// the process still does useful work without the dependency (the API
	// stores events while Temporal is away and routes them later).
	Degraded bool
}

// Health answers the probes. The zero value is live, ready once Ready is
// called, and has no checks.
type Health struct {
	// Checks run, in order, on every /readyz.
	Checks []Check
	// Timeout bounds each check (default 2s).
	Timeout time.Duration
	// Log receives the errors of failing checks, which /readyz does not
	// show (they may name hosts and users); nil discards them.
	Log      *slog.Logger
	ready    atomic.Bool
	draining atomic.Bool

	mu      sync.Mutex
	details []detail
}

type detail struct {
	name string
	text func(ctx context.Context) string
}

// Detail adds a line /readyz shows under details: something an operator
// should know that does not make the process unready (text must hold no
// secrets). It may be called while the probes are served.
func (h *Health) Detail(name string, text func(ctx context.Context) string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.details = append(h.details, detail{name, text})
}

// Ready marks the process ready to take work (the worker has started
// polling; the API listens).
func (h *Health) Ready() { h.ready.Store(true) }

// Drain marks the process as stopping: /readyz fails from now on, so a
// load balancer stops sending it requests while it finishes what it has.
func (h *Health) Drain() { h.draining.Store(true) }

// Status is /readyz's answer.
type Status struct {
	Ready  bool              `json:"ready"`
	Reason string            `json:"reason,omitempty"`
	Checks map[string]string `json:"checks,omitempty"` // name -> "ok" or the error ("failing" on /readyz)
	// Details are what an operator should know (Health.Detail).
	Details map[string]string `json:"details,omitempty"`
}

// Readiness runs the checks and says whether the process is ready.
func (h *Health) Readiness(ctx context.Context) Status {
	switch {
	case h.draining.Load():
		return Status{Reason: "draining: the process is stopping"}
	case !h.ready.Load():
		return Status{Reason: "starting"}
	}
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	st := Status{Ready: true, Checks: map[string]string{}}
	for _, c := range h.Checks {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		err := c.Check(cctx)
		cancel()
		if err != nil {
			st.Checks[c.Name] = err.Error()
			if c.Degraded {
				continue
			}
			st.Ready = false
			if st.Reason == "" {
				st.Reason = c.Name + " is not answering"
			}
			continue
		}
		st.Checks[c.Name] = "ok"
	}
	h.mu.Lock()
	details := append([]detail(nil), h.details...)
	h.mu.Unlock()
	for _, d := range details {
		if st.Details == nil {
			st.Details = map[string]string{}
		}
		cctx, cancel := context.WithTimeout(ctx, timeout)
		st.Details[d.name] = d.text(cctx)
		cancel()
	}
	return st
}

// Register mounts /healthz, /readyz and, when metrics is not nil,
// /metrics on mux.
func (h *Health) Register(mux *http.ServeMux, metrics http.Handler) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		st := h.Readiness(r.Context())
		for name, result := range st.Checks {
			if result != "ok" {
				if h.Log != nil {
					h.Log.Warn("readiness check failing", "check", name, "error", result)
				}
				st.Checks[name] = "failing"
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if !st.Ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(st)
	})
	if metrics != nil {
		mux.Handle("GET /metrics", metrics)
	}
}

// Handler is a mux with the probes and metrics alone (the operations
// port of the worker and the API).
func (h *Health) Handler(metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	h.Register(mux, metrics)
	return mux
}

// Server serves the probes and metrics on their own address, apart from
// any public port, so that /metrics and /readyz are reachable by the
// cluster and never by the internet.
type Server struct {
	srv *http.Server
	l   net.Listener
}

// Disabled reports whether addr turns the operations server off ("" or
// "off").
func Disabled(addr string) bool { return addr == "" || addr == "off" }

// NewServer is an HTTP server of h's probes and metrics alone, for a
// caller that listens itself.
func NewServer(h *Health, metrics http.Handler) *http.Server {
	return &http.Server{Handler: h.Handler(metrics), ReadHeaderTimeout: 10 * time.Second}
}

// Start listens on addr and serves h's probes and metrics in the
// background until Stop. When addr is "" or "off" it serves nothing and
// returns a nil *Server, whose methods do nothing.
func Start(addr string, h *Health, metrics http.Handler) (*Server, error) {
	if Disabled(addr) {
		return nil, nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s for /healthz, /readyz and /metrics (RAPPORT_OPS_ADDR, --ops-addr; off to serve none): %w", addr, err)
	}
	s := &Server{srv: NewServer(h, metrics), l: l}
	go func() { _ = s.srv.Serve(l) }()
	return s, nil
}

// Addr is the address the server listens on ("" when disabled).
func (s *Server) Addr() string {
	if s == nil {
		return ""
	}
	return s.l.Addr().String()
}

// Stop shuts the server down, letting probes under way finish for up to
// five seconds.
func (s *Server) Stop() {
	if s == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
}
