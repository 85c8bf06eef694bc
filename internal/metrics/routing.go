package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

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

// newAudienceOverdue makes rapport_audience_run_overdue_seconds: for each
// scheduled audience journey, how long ago its running run became older
// than its period.
func newAudienceOverdue() *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "rapport_audience_run_overdue_seconds",
		Help: "For each scheduled audience journey, how long ago its audience run still running passed the schedule's next time (0: none did): the run is older than its period, and the run due meanwhile waits for it. See `rapport schedules list`.",
	}, []string{"journey"})
}

// SetAudienceOverdue sets, for each scheduled audience journey (and only
// those: a journey gone loses its series), how long ago its running run
// became older than its period (0: it is not).
func (m *Metrics) SetAudienceOverdue(overdue map[string]time.Duration) {
	if m == nil {
		return
	}
	m.audienceOverdue.Reset()
	for journey, d := range overdue {
		if g, err := m.audienceOverdue.GetMetricWithLabelValues(journey); err == nil {
			g.Set(max(d, 0).Seconds())
		}
	}
}

// newFanoutsFailed makes rapport_fanouts_failed: fan-outs given up after
// repeated failures, not yet retried.
func newFanoutsFailed() prometheus.Gauge {
	return prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "rapport_fanouts_failed",
		Help: "Fan-outs of events posted without a customer given up after repeated failures and not retried since (see `rapport fanouts --status failed`), as of the API's fan-out runner's last pass.",
	})
}

// SetFanoutsFailed sets the number of failed fan-outs.
func (m *Metrics) SetFanoutsFailed(n int) {
	if m == nil {
		return
	}
	m.fanoutsFailed.Set(float64(n))
}
