package wire

import (
	"encoding/json"
	"time"
)

// Preferences is GET (and the answer to PUT)
// /v1/customers/{id}/preferences: what the customer chose, what applies
// where they chose nothing, and where each came from.
type Preferences struct {
	CustomerID string `json:"customer_id"`
	// Channels has an entry for every channel: email, sms, mail, phone.
	Channels     map[string]ChannelPreferences `json:"channels"`
	Topics       map[string]bool               `json:"topics"`
	ChannelOrder []string                      `json:"channel_order"`
	TimeZone     string                        `json:"time_zone"`
	// TimeZoneSource says where TimeZone comes from (customer, country,
	// default).
	TimeZoneSource string        `json:"time_zone_source"`
	Frequency      Frequency     `json:"frequency"`
	Suppressions   []Suppression `json:"suppressions"`
	// History is there when asked for (?history=1).
	History *History `json:"history,omitempty"`
}

// ChannelPreferences is the consent and quiet hours of one channel.
type ChannelPreferences struct {
	// Consent is opted_in, opted_out or unknown.
	Consent    string     `json:"consent"`
	Source     string     `json:"source,omitempty"`
	RecordedAt *time.Time `json:"recorded_at,omitempty"`
	Evidence   *Evidence  `json:"evidence,omitempty"`
	// QuietHours is null for none.
	QuietHours *QuietHours `json:"quiet_hours"`
	// QuietSource is default or customer.
	QuietSource string `json:"quiet_hours_source"`
}

// Frequency is the caps on how often the customer is contacted.
type Frequency struct {
	Caps []Cap `json:"caps"`
	// Source is default or customer.
	Source string `json:"source"`
}

// History is the customer's consent and topic changes, oldest first.
type History struct {
	Consent []ConsentEvent `json:"consent"`
	Topics  []TopicEvent   `json:"topics"`
}

// ConsentEvent is a change of consent to a channel.
type ConsentEvent struct {
	ID         int64     `json:"id"`
	CustomerID string    `json:"customer_id"`
	Channel    string    `json:"channel"`
	State      string    `json:"state"`
	Source     string    `json:"source"`
	Evidence   Evidence  `json:"evidence"`
	RecordedAt time.Time `json:"recorded_at"`
}

// TopicEvent is a subscription to a topic, or its end.
type TopicEvent struct {
	ID         int64     `json:"id"`
	CustomerID string    `json:"customer_id"`
	Topic      string    `json:"topic"`
	Subscribed bool      `json:"subscribed"`
	Source     string    `json:"source"`
	Evidence   Evidence  `json:"evidence"`
	RecordedAt time.Time `json:"recorded_at"`
}

// Evidence is what was shown and known when a choice was recorded.
type Evidence struct {
	Shown     string `json:"shown,omitempty"`
	IP        string `json:"ip,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
	Note      string `json:"note,omitempty"`
	// What the system the change came from said of it (Shopify's
	// marketing consent, source "shopify"): its state and opt-in level
	// there, when it changed there, and where it was collected.
	ExternalState string     `json:"external_state,omitempty"`
	OptInLevel    string     `json:"opt_in_level,omitempty"`
	ChangedAt     *time.Time `json:"changed_at,omitempty"`
	CollectedFrom string     `json:"collected_from,omitempty"`
}

// QuietHours are the hours no message is sent, in the customer's time
// zone: "21:00" to "08:00".
type QuietHours struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

// Cap is at most Max messages per Per (a duration such as 7d) on Channel
// (all, email, sms, mail or phone).
type Cap struct {
	Channel string `json:"channel"`
	Max     int    `json:"max"`
	Per     string `json:"per"`
}

// PreferencesUpdate is PUT /v1/customers/{id}/preferences: every part is
// optional; what is given replaces what stood.
type PreferencesUpdate struct {
	Channels     map[string]ChannelUpdate `json:"channels,omitempty"`
	Topics       map[string]bool          `json:"topics,omitempty"`
	ChannelOrder []string                 `json:"channel_order,omitempty"`
	// TimeZone is an IANA time zone.
	TimeZone  *string          `json:"time_zone,omitempty"`
	Frequency *FrequencyUpdate `json:"frequency,omitempty"`
	// Evidence is recorded with consent and topic changes.
	Evidence EvidenceRequest `json:"evidence,omitzero"`
}

// ChannelUpdate changes a channel's consent, its quiet hours, or both.
type ChannelUpdate struct {
	// Consent is opted_in, opted_out or unknown; empty leaves it.
	Consent string `json:"consent,omitempty"`
	// QuietHours is {"start": "21:00", "end": "08:00"}; null or "none"
	// for no quiet hours; absent (nil) to leave them as they are.
	QuietHours json.RawMessage `json:"quiet_hours,omitempty"`
}

// FrequencyUpdate replaces the customer's caps; an empty list goes back
// to the defaults.
type FrequencyUpdate struct {
	Caps []Cap `json:"caps"`
}

// EvidenceRequest is the evidence sent with a change of preferences.
type EvidenceRequest struct {
	// Source is where the change came from (support, import, ...); api
	// when empty.
	Source    string `json:"source,omitempty"`
	Shown     string `json:"shown,omitempty"`
	IP        string `json:"ip,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
	Note      string `json:"note,omitempty"`
}
