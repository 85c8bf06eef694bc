package wire

import "time"

// SuppressionRequest is POST /v1/suppressions: an address never to be
// contacted again on a channel, whoever it belongs to.
type SuppressionRequest struct {
	// Channel is email, sms, mail or phone.
	Channel string `json:"channel"`
	Address string `json:"address"`
	// Reason says why, in up to 500 characters.
	Reason string `json:"reason"`
	// Country helps read a phone number written without its country code.
	Country string `json:"country,omitempty"`
	// Source is where the request came from; api when empty.
	Source string `json:"source,omitempty"`
}

// Suppression is an address suppressed on a channel: the answer to POST
// /v1/suppressions and GET /v1/suppressions/{channel}/{address}.
type Suppression struct {
	Channel   string    `json:"channel"`
	Address   string    `json:"address"`
	Reason    string    `json:"reason"`
	Source    string    `json:"source"`
	CreatedAt time.Time `json:"created_at"`
}
