// Package metrics holds Rapport's Prometheus metrics: what the send activity
// did with each message, why messages were held back, how long provider
// calls took, what became of the events the API received, and the Temporal
// SDK's own metrics, all in one registry served by Handler.
//
// Every label takes its values from a small fixed set; anything else is
// recorded as "other" (or "custom" for event types), so a label can never
// carry free text or personal data. The journey label is the exception:
// it is a journey's name, which the journey compiler restricts to
// lowercase letters, digits and dashes, and which the journey files bound.
//
// A nil *Metrics records nothing, so code that is handed none (tests, tools)
// needs no wiring.
package metrics

import (
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/uber-go/tally/v4"
)

// Other is the label value recorded for a value outside a label's set.
const Other = "other"

// Channels, the values of the channel label.
const (
	ChannelEmail = "email"
	ChannelSMS   = "sms"
	ChannelMail  = "mail"
	// ChannelWebhook: a journey's JSON message to a configured endpoint.
	ChannelWebhook = "webhook"
)

// Send statuses, the values of the status label of rapport_messages_total.
// They are the send activity's result statuses (workflows.SendStatus).
const (
	StatusSent    = "sent"
	StatusFailed  = "failed"
	StatusSkipped = "skipped"
	StatusUnknown = "unknown"
	StatusHeld    = "held"
)

// Reasons a message was held back (held until later, or skipped for good),
// the values of the reason label of rapport_messages_held_total.
const (
	// ReasonQuietHours: the channel's quiet hours in the customer's time
	// zone.
	ReasonQuietHours = "quiet_hours"
	// ReasonFrequencyCap: a frequency cap, the customer's or the journey's.
	ReasonFrequencyCap = "frequency_cap"
	// ReasonConsent: the customer opted out of the channel, or marketing on
	// it needs an opt-in they have not given.
	ReasonConsent = "consent"
	// ReasonTopic: the customer unsubscribed from the message's topic.
	ReasonTopic = "topic"
	// ReasonSuppressed: the address is suppressed (a hard bounce, a STOP).
	ReasonSuppressed = "suppressed"
	// ReasonNoAddress: the customer has no address on the channel.
	ReasonNoAddress = "no_address"
	// ReasonNotConfigured: the channel has no provider configured.
	ReasonNotConfigured = "not_configured"
	// ReasonNoCustomer: the customer no longer exists.
	ReasonNoCustomer = "no_customer"
	// ReasonNothingToRecommend: the step recommends products and there are
	// none to recommend.
	ReasonNothingToRecommend = "nothing_to_recommend"
)

// Providers, the values of the provider label.
const (
	ProviderSendGrid = "sendgrid"
	ProviderTwilio   = "twilio"
	ProviderLob      = "lob"
	// ProviderWebhook: a configured webhook endpoint.
	ProviderWebhook = "webhook"
)

// Provider operations, the values of the operation label.
const (
	// OpSend is sending a message (an email, a text, a letter or postcard).
	OpSend = "send"
)

// Outcomes of a provider call, the values of the outcome label. They follow
// the classification of provider failures in package channels.
const (
	// OutcomeOK: the provider accepted the request.
	OutcomeOK = "ok"
	// OutcomeRetryable: refused for now (a rate limit, a 5xx, no connection).
	OutcomeRetryable = "retryable"
	// OutcomePermanent: refused for good (a bad address, bad credentials).
	OutcomePermanent = "permanent"
	// OutcomeInDoubt: the request may have reached the provider (a timeout,
	// a dropped connection).
	OutcomeInDoubt = "in_doubt"
)

// Event results, the values of the result label of
// rapport_events_accepted_total.
const (
	// EventAccepted: stored for the first time.
	EventAccepted = "accepted"
	// EventDuplicate: already received with this id (and so not stored
	// again), or repeated within a batch.
	EventDuplicate = "duplicate"
	// EventInvalid: rejected (a bad field, an unknown customer, an id
	// already used for another event).
	EventInvalid = "invalid"
)

// EventCustom is the type label of an event whose type is not one Rapport
// knows (see KnownEventTypes): shops may send any type.
const EventCustom = "custom"

// KnownEventTypes returns the event types recorded under their own name in
// the type label; any other type is recorded as EventCustom.
func KnownEventTypes() []string { return slices.Clone(knownEventTypes) }

var knownEventTypes = []string{"order.placed", "order.delivered", "survey.answered", "sms.replied"}

var (
	channels  = []string{ChannelEmail, ChannelSMS, ChannelMail, ChannelWebhook}
	statuses  = []string{StatusSent, StatusFailed, StatusSkipped, StatusUnknown, StatusHeld}
	reasons   = []string{ReasonQuietHours, ReasonFrequencyCap, ReasonConsent, ReasonTopic, ReasonSuppressed, ReasonNoAddress, ReasonNotConfigured, ReasonNoCustomer, ReasonNothingToRecommend}
	providers = []string{ProviderSendGrid, ProviderTwilio, ProviderLob, ProviderWebhook}
	ops       = []string{OpSend}
	outcomes  = []string{OutcomeOK, OutcomeRetryable, OutcomePermanent, OutcomeInDoubt}
	results   = []string{EventAccepted, EventDuplicate, EventInvalid}
)

// providerBuckets are the buckets, in seconds, of
// rapport_provider_request_duration_seconds: from a fast API answer to a
// client's timeout.
var providerBuckets = []float64{0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// phaseBuckets are the buckets, in seconds, of rapport_send_phase_seconds:
// from a cached lookup to a slow provider.
var phaseBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5}

// Phases of the send path, for ObservePhase.
const (
	PhaseFacts    = "facts"
	PhaseCustomer = "customer"
	PhaseRender   = "render"
	PhaseClaim    = "claim"
	PhaseProvider = "provider"
	PhaseRecord   = "record"
)

var phases = []string{PhaseFacts, PhaseCustomer, PhaseRender, PhaseClaim, PhaseProvider, PhaseRecord}

// ObservePhase records how long a phase of the send path took (one of
// the Phase constants).
func (m *Metrics) ObservePhase(phase string, d time.Duration) {
	if m == nil {
		return
	}
	if h, err := m.phases.GetMetricWithLabelValues(oneOf(phases, phase)); err == nil {
		h.Observe(d.Seconds())
	}
}

// Metrics is Rapport's metrics and the registry that holds them. Make one
// with New; a nil *Metrics records nothing.
type Metrics struct {
	registry *prometheus.Registry
	messages *prometheus.CounterVec
	held     *prometheus.CounterVec
	provider *prometheus.HistogramVec
	events   *prometheus.CounterVec
	// routingFailed is rapport_events_routing_failed and audienceOverdue
	// rapport_audience_run_overdue_seconds (routing.go).
	routingFailed   prometheus.Gauge
	audienceOverdue *prometheus.GaugeVec
	// fanoutsFailed is rapport_fanouts_failed (routing.go).
	fanoutsFailed prometheus.Gauge
	inDoubt       *prometheus.CounterVec
	settled       *prometheus.CounterVec
	phases        *prometheus.HistogramVec
	// shopify is rapport_shopify_webhooks_total (shopify.go).
	shopify *prometheus.CounterVec
	// segment is rapport_segment_calls_total (segment.go).
	segment *prometheus.CounterVec
	// shopRedactions is rapport_shopify_shop_redaction_customers_total
	// (shopify.go).
	shopRedactions *prometheus.CounterVec

	// The Temporal SDK's metrics go through a tally scope made on first
	// use (see TemporalHandler), reported every interval.
	interval       time.Duration
	temporalOnce   sync.Once
	temporalScope  tally.Scope
	temporalCloser io.Closer
	temporalErrors prometheus.Counter
	closeOnce      sync.Once
	closeErr       error
}

// New makes a registry holding the Go runtime's and the process's
// collectors and Rapport's metrics:
//
//   - rapport_messages_total{channel,journey,status}: messages the send
//     activity settled, by its result status (sent, failed, skipped,
//     unknown, held).
//   - rapport_messages_held_total{channel,reason}: messages held back, until
//     later (status held) or for good (skipped), by why.
//   - rapport_provider_request_duration_seconds{provider,operation,outcome}:
//     how long calls to SendGrid, Twilio and Lob took.
//   - rapport_events_accepted_total{type,result}: events received by the
//     API, by what became of them.
//   - rapport_events_routing_failed: events the routing sweeper
//     dead-lettered after repeated failures, not yet retried.
//   - rapport_fanouts_failed: fan-outs (events posted without a
//     customer) given up after repeated failures, not yet retried.
//   - rapport_audience_run_overdue_seconds{journey}: for each scheduled
//     audience journey, how long ago its running run passed the schedule's
//     next time (0: none did), as of the worker's last look.
//   - rapport_messages_in_doubt_total{channel}: provider calls whose answer
//     left it unknown whether the message was taken (status unknown).
//   - rapport_messages_in_doubt_settled_total{channel,how,result}: unknown
//     messages settled, by how (webhook, lookup, deadline) and result
//     (sent, resent, expired).
//   - rapport_send_phase_seconds{phase}: where the send path spends its
//     time: facts (the journey's customer facts), customer (reading the
//     customer), render (voucher, products, links and template), claim
//     (the contact rules' decision and the outbox claim), provider (the
//     provider call), record (writing its answer).
//   - rapport_temporal_metric_errors_total: Temporal SDK metrics that could
//     not be registered (see TemporalHandler).
//
// It does not touch Prometheus's default registry.
func New() *Metrics {
	return newMetrics(time.Second)
}

func newMetrics(interval time.Duration) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		interval: interval,
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rapport_messages_total",
			Help: "Messages settled by the send activity, by channel, journey and status (sent, failed, skipped, unknown, held).",
		}, []string{"channel", "journey", "status"}),
		held: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rapport_messages_held_total",
			Help: "Messages held back, until later (held) or for good (skipped), by channel and reason.",
		}, []string{"channel", "reason"}),
		provider: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rapport_provider_request_duration_seconds",
			Help:    "Duration of calls to message providers, by provider, operation and outcome (ok, retryable, permanent, in_doubt).",
			Buckets: providerBuckets,
		}, []string{"provider", "operation", "outcome"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rapport_events_accepted_total",
			Help: "Events received by the API, by type (known types, else custom) and result (accepted, duplicate, invalid).",
		}, []string{"type", "result"}),
		segment:         newSegmentCalls(),
		routingFailed:   newRoutingFailed(),
		fanoutsFailed:   newFanoutsFailed(),
		shopify:         newShopifyWebhooks(),
		shopRedactions:  newShopRedactions(),
		audienceOverdue: newAudienceOverdue(),
		inDoubt: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rapport_messages_in_doubt_total",
			Help: "Provider calls that left it unknown whether the message was taken, by channel.",
		}, []string{"channel"}),
		settled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rapport_messages_in_doubt_settled_total",
			Help: "Messages in doubt settled, by channel, how (webhook, lookup, deadline) and result (sent, resent, expired).",
		}, []string{"channel", "how", "result"}),
		phases: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rapport_send_phase_seconds",
			Help:    "Time spent in each phase of the send path: facts, customer, render, claim, provider, record.",
			Buckets: phaseBuckets,
		}, []string{"phase"}),
		temporalErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rapport_temporal_metric_errors_total",
			Help: "Temporal SDK metrics dropped because they could not be registered (a name reused with other labels).",
		}),
	}
	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.messages, m.held, m.provider, m.events, m.inDoubt, m.settled, m.phases, m.temporalErrors, m.routingFailed, m.audienceOverdue,
		m.fanoutsFailed,
		m.shopify,
		m.segment,
		m.shopRedactions,
	)
	return m
}

// Registry returns the registry the metrics are in, to add more or to
// gather them; nil for a nil *Metrics.
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.registry
}

// Handler serves the registry's metrics in the Prometheus exposition
// format, for GET /metrics. A nil *Metrics serves an empty page.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return promhttp.HandlerFor(prometheus.NewRegistry(), promhttp.HandlerOpts{})
	}
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      m.registry, // counts promhttp's own errors
	})
}

// MessageSent counts a message the send activity settled, with its result
// status (sent, failed, skipped, unknown or held) on a channel (email, sms,
// mail) for a journey.
func (m *Metrics) MessageSent(channel, journey, status string) {
	if m == nil {
		return
	}
	if journey == "" {
		journey = "none"
	}
	inc(m.messages, oneOf(channels, channel), journey, oneOf(statuses, status))
}

// Held counts a message held back on a channel, until later or for good,
// for a reason (one of the Reason constants).
func (m *Metrics) Held(channel, reason string) {
	if m == nil {
		return
	}
	inc(m.held, oneOf(channels, channel), oneOf(reasons, reason))
}

// ObserveProvider records how long a call to a provider (sendgrid, twilio,
// lob) took, for an operation (OpSend) with an outcome (one of the Outcome
// constants).
func (m *Metrics) ObserveProvider(provider, op, outcome string, d time.Duration) {
	if m == nil {
		return
	}
	h, err := m.provider.GetMetricWithLabelValues(oneOf(providers, provider), oneOf(ops, op), oneOf(outcomes, outcome))
	if err == nil {
		h.Observe(d.Seconds())
	}
}

// EventAccepted counts an event the API received, by type (a known type,
// else EventCustom) and result (accepted, duplicate or invalid).
func (m *Metrics) EventAccepted(typ, result string) {
	if m == nil {
		return
	}
	if !slices.Contains(knownEventTypes, typ) {
		typ = EventCustom
	}
	inc(m.events, typ, oneOf(results, result))
}

// How an in-doubt message was settled.
const (
	SettledByWebhook  = "webhook"  // a signed delivery webhook about it
	SettledByLookup   = "lookup"   // the provider's records (Twilio)
	SettledByDeadline = "deadline" // no evidence in time: the channel's policy
	SettledBySilence  = "silence"  // the webhook reported every later email, not this one
)

// What settling an in-doubt message found.
const (
	SettledSent    = "sent"    // it was sent
	SettledResent  = "resent"  // proven not sent, or at-least-once: sent again
	SettledExpired = "expired" // at-most-once: left unknown, not sent again
)

var (
	settleHows    = []string{SettledByWebhook, SettledByLookup, SettledByDeadline, SettledBySilence}
	settleResults = []string{SettledSent, SettledResent, SettledExpired}
)

// InDoubt counts a provider call on a channel whose answer left it unknown
// whether the message was taken.
func (m *Metrics) InDoubt(channel string) {
	if m == nil {
		return
	}
	inc(m.inDoubt, oneOf(channels, channel))
}

// SettledInDoubt counts an in-doubt message on a channel settled by how
// (one of the SettledBy constants) with result (one of SettledSent,
// SettledResent, SettledExpired).
func (m *Metrics) SettledInDoubt(channel, how, result string) {
	if m == nil {
		return
	}
	inc(m.settled, oneOf(channels, channel), oneOf(settleHows, how), oneOf(settleResults, result))
}

// oneOf returns v if it is in set, else Other.
func oneOf(set []string, v string) string {
	if slices.Contains(set, v) {
		return v
	}
	return Other
}

// inc adds one to a counter, dropping values Prometheus refuses (not
// UTF-8) rather than panicking.
func inc(c *prometheus.CounterVec, labels ...string) {
	if ctr, err := c.GetMetricWithLabelValues(labels...); err == nil {
		ctr.Inc()
	}
}
