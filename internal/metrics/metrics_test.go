package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMessagesAndHeld(t *testing.T) {
	m := New()
	defer m.Close()
	m.MessageSent("email", "thank-you", "sent")
	m.MessageSent("email", "thank-you", "sent")
	m.MessageSent("sms", "winback", "held")
	m.MessageSent("fax", "thank-you", "exploded") // outside the sets
	m.Held("sms", ReasonQuietHours)
	m.Held("email", "the customer said: stop writing to ada@example.com") // free text never becomes a label

	assert.Equal(t, 2.0, testutil.ToFloat64(m.messages.WithLabelValues("email", "thank-you", "sent")))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.messages.WithLabelValues("sms", "winback", "held")))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.messages.WithLabelValues("other", "thank-you", "other")))
	assert.Equal(t, 3, testutil.CollectAndCount(m.messages))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.held.WithLabelValues("sms", "quiet_hours")))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.held.WithLabelValues("email", "other")))
	assert.Equal(t, 2, testutil.CollectAndCount(m.held))

	err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(`
# HELP rapport_messages_held_total Messages held back, until later (held) or for good (skipped), by channel and reason.
# TYPE rapport_messages_held_total counter
rapport_messages_held_total{channel="email",reason="other"} 1
rapport_messages_held_total{channel="sms",reason="quiet_hours"} 1
`), "rapport_messages_held_total")
	assert.NoError(t, err)
}

func TestProviderAndEvents(t *testing.T) {
	m := New()
	defer m.Close()
	m.ObserveProvider(ProviderSendGrid, OpSend, OutcomeOK, 120*time.Millisecond)
	m.ObserveProvider(ProviderSendGrid, OpSend, OutcomeOK, 40*time.Millisecond)
	m.ObserveProvider(ProviderTwilio, OpSend, OutcomeRetryable, time.Second)
	m.ObserveProvider("mailgun", "bounce", "?", time.Second)

	fams, err := m.Registry().Gather()
	require.NoError(t, err)
	h := family(t, fams, "rapport_provider_request_duration_seconds")
	require.Len(t, h.Metric, 3)
	got := map[string]*dto.Histogram{}
	for _, mt := range h.Metric {
		got[labels(mt)] = mt.Histogram
	}
	sg := got["operation=send,outcome=ok,provider=sendgrid"]
	require.NotNil(t, sg)
	assert.Equal(t, uint64(2), sg.GetSampleCount())
	assert.InDelta(t, 0.16, sg.GetSampleSum(), 1e-9)
	require.NotNil(t, got["operation=send,outcome=retryable,provider=twilio"])
	require.NotNil(t, got["operation=other,outcome=other,provider=other"])

	m.EventAccepted("order.placed", EventAccepted)
	m.EventAccepted("order.placed", EventDuplicate)
	m.EventAccepted("cart.abandoned", EventAccepted)
	m.EventAccepted("", EventInvalid)
	assert.Equal(t, 1.0, testutil.ToFloat64(m.events.WithLabelValues("order.placed", "accepted")))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.events.WithLabelValues("order.placed", "duplicate")))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.events.WithLabelValues("custom", "accepted")))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.events.WithLabelValues("custom", "invalid")))
}

func TestNilRecordsNothing(t *testing.T) {
	var m *Metrics
	assert.NotPanics(t, func() {
		m.MessageSent("email", "j", "sent")
		m.Held("email", ReasonConsent)
		m.ObserveProvider(ProviderLob, OpSend, OutcomeOK, time.Second)
		m.EventAccepted("order.placed", EventAccepted)
		h := m.TemporalHandler()
		h.WithTags(map[string]string{"namespace": "default"}).Counter("temporal_request").Inc(1)
		h.Timer("temporal_activity_execution_latency").Record(time.Second)
		assert.Nil(t, m.Registry())
		assert.NoError(t, m.Close())
	})
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	assert.Equal(t, 200, rec.Code)
}

func TestHandlerServesRapportAndTemporalMetrics(t *testing.T) {
	m := newMetrics(10 * time.Millisecond)
	defer m.Close()
	m.MessageSent("email", "thank-you", "sent")

	// As the SDK records them.
	h := m.TemporalHandler()
	h.WithTags(map[string]string{"namespace": "default"}).Counter("temporal_request").Inc(1)
	h.WithTags(map[string]string{"namespace": "default", "activity_type": "SendMessage", "task_queue": "rapport"}).
		Timer("temporal_activity_execution_latency").Record(250 * time.Millisecond)
	h.WithTags(map[string]string{"namespace": "default", "worker_type": "WorkflowWorker"}).Gauge("temporal_worker_task_slots_available").Update(5)

	var body string
	require.Eventually(t, func() bool {
		body = scrape(t, m)
		return strings.Contains(body, `temporal_request_total{namespace="default"} 1`) &&
			strings.Contains(body, `temporal_worker_task_slots_available{namespace="default",worker_type="WorkflowWorker"} 5`)
	}, time.Minute, 10*time.Millisecond, "the Temporal counter is published within the interval")
	assert.Contains(t, body, `rapport_messages_total{channel="email",journey="thank-you",status="sent"} 1`)
	assert.Contains(t, body, "# TYPE temporal_activity_execution_latency_seconds histogram")
	assert.Contains(t, body, `temporal_activity_execution_latency_seconds_count{activity_type="SendMessage",namespace="default",task_queue="rapport"} 1`)
	assert.Contains(t, body, "go_goroutines")
	assert.Contains(t, body, "process_")
	assert.Contains(t, body, "rapport_temporal_metric_errors_total 0")

	// The same name with other labels cannot be registered: it is dropped
	// and counted, not a panic.
	h.WithTags(map[string]string{"namespace": "default", "operation": "StartWorkflowExecution"}).Counter("temporal_request").Inc(1)
	require.Eventually(t, func() bool {
		return strings.Contains(scrape(t, m), "rapport_temporal_metric_errors_total 1")
	}, time.Minute, 10*time.Millisecond)
}

func TestCloseFlushesTemporalMetrics(t *testing.T) {
	m := newMetrics(time.Hour) // never on its own in this test
	h := m.TemporalHandler()
	h.WithTags(map[string]string{"namespace": "default"}).Counter("temporal_request").Inc(3)
	require.NoError(t, m.Close())
	assert.Contains(t, scrape(t, m), `temporal_request_total{namespace="default"} 3`)
	require.NoError(t, m.Close(), "closing twice is harmless")
	assert.NotPanics(t, func() { m.TemporalHandler().Counter("temporal_request").Inc(1) })

	unused := New()
	require.NoError(t, unused.Close())
	assert.NotPanics(t, func() { unused.TemporalHandler().Counter("temporal_request").Inc(1) }, "no scope is made after Close")
}

func TestNewDoesNotUseTheDefaultRegistry(t *testing.T) {
	a, b := New(), New() // would panic on duplicate registration if shared
	defer a.Close()
	defer b.Close()
	a.MessageSent("email", "j", "sent")
	assert.Equal(t, 0, testutil.CollectAndCount(b.messages))
}

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	require.Equal(t, 200, rec.Code)
	b, err := io.ReadAll(rec.Body)
	require.NoError(t, err)
	return string(b)
}

func family(t *testing.T, fams []*dto.MetricFamily, name string) *dto.MetricFamily {
	t.Helper()
	for _, f := range fams {
		if f.GetName() == name {
			return f
		}
	}
	t.Fatalf("no metric %s", name)
	return nil
}

func labels(m *dto.Metric) string {
	var parts []string
	for _, l := range m.Label {
		parts = append(parts, l.GetName()+"="+l.GetValue())
	}
	return strings.Join(parts, ",")
}

// rapport_audience_run_overdue_seconds has a series per scheduled audience
// journey, 0 unless its running run is older than its period; a journey
// no longer scheduled loses its series.
func TestAudienceOverdue(t *testing.T) {
	m := New()
	defer m.Close()
	m.SetAudienceOverdue(map[string]time.Duration{"lapse-winback": 90 * time.Minute, "weekly-digest": 0, "gone": time.Hour})
	m.SetAudienceOverdue(map[string]time.Duration{"lapse-winback": 90 * time.Minute, "weekly-digest": 0})
	err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(`
# HELP rapport_audience_run_overdue_seconds For each scheduled audience journey, how long ago its audience run still running passed the schedule's next time (0: none did): the run is older than its period, and the run due meanwhile waits for it. See `+"`rapport schedules list`"+`.
# TYPE rapport_audience_run_overdue_seconds gauge
rapport_audience_run_overdue_seconds{journey="lapse-winback"} 5400
rapport_audience_run_overdue_seconds{journey="weekly-digest"} 0
`), "rapport_audience_run_overdue_seconds")
	assert.NoError(t, err)
	var none *Metrics
	assert.NotPanics(t, func() { none.SetAudienceOverdue(map[string]time.Duration{"x": time.Second}) })
}

// rapport_fanouts_failed is the number of failed fan-outs the runner last
// counted.
func TestFanoutsFailed(t *testing.T) {
	m := New()
	defer m.Close()
	m.SetFanoutsFailed(3)
	m.SetFanoutsFailed(2)
	err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(`
# HELP rapport_fanouts_failed Fan-outs of events posted without a customer given up after repeated failures and not retried since (see `+"`rapport fanouts --status failed`"+`), as of the API's fan-out runner's last pass.
# TYPE rapport_fanouts_failed gauge
rapport_fanouts_failed 2
`), "rapport_fanouts_failed")
	assert.NoError(t, err)
	var none *Metrics
	assert.NotPanics(t, func() { none.SetFanoutsFailed(1) })
}
