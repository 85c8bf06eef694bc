package metrics

import (
	tallyprom "github.com/uber-go/tally/v4/prometheus"
	"go.temporal.io/sdk/client"
	sdktally "go.temporal.io/sdk/contrib/tally"

	"github.com/uber-go/tally/v4"
)

// TemporalHandler returns a handler for the Temporal SDK's own metrics
// (temporal_request_total, temporal_workflow_task_execution_latency_seconds,
// temporal_activity_execution_latency_seconds, ...), kept in the same
// registry as Rapport's, for client.Options.MetricsHandler:
//
//	c, err := client.Dial(client.Options{MetricsHandler: m.TemporalHandler(), ...})
//
// The SDK's names are sanitised and suffixed as Prometheus expects (counters
// end in _total, timers in _seconds and are histograms), as Temporal's
// other SDKs name them. Counters and gauges are published once a second,
// so a scrape may lag the SDK by that much; Close publishes what is left.
// A metric the SDK emits under a name already registered with other labels
// cannot be registered: it is dropped and counted in
// rapport_temporal_metric_errors_total.
//
// Every call returns a handler on the same scope, made on the first call.
// A nil *Metrics, or one already closed, returns a handler that records
// nothing.
func (m *Metrics) TemporalHandler() client.MetricsHandler {
	if m == nil {
		return client.MetricsNopHandler
	}
	m.temporalOnce.Do(func() {
		reporter := tallyprom.NewReporter(tallyprom.Options{
			Registerer:       m.registry,
			DefaultTimerType: tallyprom.HistogramTimerType,
			OnRegisterError:  func(error) { m.temporalErrors.Inc() },
		})
		scope, closer := tally.NewRootScope(tally.ScopeOptions{
			CachedReporter:  reporter,
			Separator:       tallyprom.DefaultSeparator,
			SanitizeOptions: &sdktally.PrometheusSanitizeOptions,
		}, m.interval)
		m.temporalScope = sdktally.NewPrometheusNamingScope(scope)
		m.temporalCloser = closer
	})
	if m.temporalScope == nil {
		return client.MetricsNopHandler
	}
	return sdktally.NewMetricsHandler(m.temporalScope)
}

// Close stops publishing the Temporal SDK's metrics, publishing what was
// recorded since the last time first. Call it once the Temporal client is
// closed. It is safe to call more than once, and on a nil *Metrics.
func (m *Metrics) Close() error {
	if m == nil {
		return nil
	}
	m.closeOnce.Do(func() {
		m.temporalOnce.Do(func() {}) // no scope is made after Close
		if m.temporalCloser != nil {
			m.closeErr = m.temporalCloser.Close()
		}
	})
	return m.closeErr
}
