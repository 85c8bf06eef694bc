package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
)

func TestSegmentCallsAreCountedByTypeAndResult(t *testing.T) {
	m := New()
	m.SegmentCall("page", SegmentIgnored)
	m.SegmentCall("page", SegmentIgnored)
	m.SegmentCall("track", EventAccepted)
	m.SegmentCall("pageview", EventInvalid) // not a call type
	m.SegmentCall("identify", "exploded")   // not a result
	assert.Equal(t, 2.0, testutil.ToFloat64(m.segment.WithLabelValues("page", "ignored")))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.segment.WithLabelValues("track", "accepted")))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.segment.WithLabelValues(Other, "invalid")))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.segment.WithLabelValues("identify", Other)))
	assert.Equal(t, 4, testutil.CollectAndCount(m.Registry(), "rapport_segment_calls_total"), "registered, with four series")

	var none *Metrics
	assert.NotPanics(t, func() { none.SegmentCall("track", EventAccepted) })
}
