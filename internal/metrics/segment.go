package metrics

import "github.com/prometheus/client_golang/prometheus"

// Segment-spec calls (POST /v1/segment...): the type label's values, and
// the result SegmentIgnored besides the event results.
const (
	// SegmentIgnored: taken and not stored, by rule (an anonymous call,
	// or a call type Rapport does not use).
	SegmentIgnored = "ignored"
	// SegmentRefused: a shared secret is configured and the call's
	// X-Signature is missing or does not verify (answered 401; its type
	// is not read, so it counts as other).
	SegmentRefused = "refused"
)

var (
	segmentTypes   = []string{"track", "identify", "page", "screen", "alias", "group"}
	segmentResults = []string{EventAccepted, EventDuplicate, EventInvalid, SegmentIgnored, SegmentRefused}
)

// newSegmentCalls makes rapport_segment_calls_total.
func newSegmentCalls() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rapport_segment_calls_total",
		Help: "Segment-spec calls received by the API, by call type (track, identify, page, screen, alias, group, else other) and result (accepted, duplicate, invalid, ignored, refused).",
	}, []string{"type", "result"})
}

// SegmentCall counts a Segment-spec call the API received, by its type
// and what became of it (accepted, duplicate, invalid, ignored or
// refused).
func (m *Metrics) SegmentCall(typ, result string) {
	if m == nil {
		return
	}
	inc(m.segment, oneOf(segmentTypes, typ), oneOf(segmentResults, result))
}
