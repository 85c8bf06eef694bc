package metrics

import "github.com/prometheus/client_golang/prometheus"

// newRoutingFailed makes rapport_events_routing_failed: events the routing
// sweeper dead-lettered after repeated failures, not yet retried.
func newRoutingFailed() prometheus.Gauge {
	return prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "rapport_events_routing_failed",
		Help: "Events dead-lettered by the routing sweeper after repeated failures (see `rapport events failed`), as of the sweeper's last pass.",
	})
}

// SetEventsRoutingFailed sets the number of dead-lettered events.
func (m *Metrics) SetEventsRoutingFailed(n int) {
	if m == nil {
		return
	}
	m.routingFailed.Set(float64(n))
}
