// Package ops serves what a cluster asks of a Rapport process: liveness
// (/healthz), readiness (/readyz: its database and Temporal answer, and it
// is not draining) and Prometheus metrics (/metrics).
package ops

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
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

// Handler is a mux with the probes and metrics alone (the worker's
// operations port).
func (h *Health) Handler(metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	h.Register(mux, metrics)
	return mux
}
