package metrics

import "github.com/prometheus/client_golang/prometheus"

// Segment-spec calls (POST /v1/segment...): the type label's values, and
// the result SegmentIgnored besides the event results.
const (
	// SegmentIgnored: taken and not stored, by rule (an anonymous call,
	// or a call type Rapport does not use).
	SegmentIgnored = "ignored"
)

var (
	segmentTypes   = []string{"track", "identify", "page", "screen", "alias", "group"}
	segmentResults = []string{EventAccepted, EventDuplicate, EventInvalid, SegmentIgnored}
)

// newSegmentCalls makes rapport_segment_calls_total.
func newSegmentCalls() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rapport_segment_calls_total",
		Help: "Segment-spec calls received by the API, by call type (track, identify, page, screen, alias, group, else other) and result (accepted, duplicate, invalid, ignored).",
	}, []string{"type", "result"})
}

// SegmentCall counts a Segment-spec call the API received, by its type
// and what became of it (accepted, duplicate, invalid or ignored).
func (m *Metrics) SegmentCall(typ, result string) {
	if m == nil {
		return
	}
	inc(m.segment, oneOf(segmentTypes, typ), oneOf(segmentResults, result))
}
