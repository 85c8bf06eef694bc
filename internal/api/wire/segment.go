package wire

// StatusIgnored is what became of a Segment-spec call Rapport takes and
// does not store, by rule: an anonymous call (anonymousId without
// userId), or an alias or group call. Reason says which.
const StatusIgnored = "ignored"

// SegmentResponse answers one Segment-spec call (POST /v1/segment,
// /v1/segment/track, /identify, /page): 202 when it was stored, 200 when
// it was a duplicate or ignored.
type SegmentResponse struct {
	// MessageID is the call's messageId.
	MessageID string `json:"messageId,omitempty"`
	// Type is the call's type: track, identify, page, screen, alias or
	// group.
	Type string `json:"type"`
	// Status is StatusAccepted, StatusDuplicate or StatusIgnored.
	Status string `json:"status"`
	// Reason says why a call was ignored.
	Reason string `json:"reason,omitempty"`
	// ID is the Rapport event the call was stored as: "segment:" and the
	// messageId.
	ID string `json:"id,omitempty"`
	// Event is that event's type (order.placed, segment.signed_up...).
	Event string `json:"event,omitempty"`
	// Customer is what a new call did to the customer: an identify
	// created or updated them; a track, page or screen call for a userId
	// Rapport did not know created them, by the id alone. Absent for a
	// duplicate, and for other calls.
	Customer string `json:"customer,omitempty"`
	// Routing and the routing result are as in EventResponse.
	Routing string `json:"routing,omitempty"`
	*RoutingResult
	Order *OrderState `json:"order,omitempty"`
	Note  string      `json:"note,omitempty"`
}

// SegmentBatchResponse answers a Segment batch (200): counts, and a line
// per call in the batch's order.
type SegmentBatchResponse struct {
	Accepted   int             `json:"accepted"`
	Duplicates int             `json:"duplicates"`
	Rejected   int             `json:"rejected"`
	Ignored    int             `json:"ignored"`
	Results    []SegmentResult `json:"results"`
}

// SegmentResult is what became of one call of a batch.
type SegmentResult struct {
	// Index is the call's place in the batch, from 0.
	Index     int    `json:"index"`
	MessageID string `json:"messageId,omitempty"`
	Type      string `json:"type,omitempty"`
	// ID and Event are the Rapport event the call is stored as.
	ID    string `json:"id,omitempty"`
	Event string `json:"event,omitempty"`
	// Status is StatusAccepted, StatusDuplicate, StatusRejected or
	// StatusIgnored.
	Status string `json:"status"`
	// Error and Field say why a call was rejected; Field names it within
	// the call (properties.total, traits.email...).
	Error  string      `json:"error,omitempty"`
	Field  string      `json:"field,omitempty"`
	Reason string      `json:"reason,omitempty"`
	Order  *OrderState `json:"order,omitempty"`
	Note   string      `json:"note,omitempty"`
}
