package wire

import "time"

// CustomerRequest is POST /v1/customers: it creates the customer, or
// replaces the fields given of an existing one.
type CustomerRequest struct {
	// ID is the shop's id for the customer: 1-128 letters, digits,
	// _ . : or -.
	ID    string `json:"id"`
	Email string `json:"email,omitempty"`
	// Phone is in international form, such as +44 20 7946 0958.
	Phone string `json:"phone,omitempty"`
	// Name is one line of at most 200 characters, required with a postal
	// address.
	Name string `json:"name,omitempty"`
	// Locale is a language tag such as en-GB.
	Locale string `json:"locale,omitempty"`
	// TimeZone is an IANA time zone such as Europe/London.
	TimeZone string          `json:"time_zone,omitempty"`
	Address  *AddressRequest `json:"address,omitempty"`
	// Attributes are anything the journeys may use (at most 16 KiB as
	// compact JSON, 100 keys).
	Attributes map[string]any `json:"attributes,omitempty"`
}

// AddressRequest is a customer's postal address as sent.
type AddressRequest struct {
	Line1      string `json:"line1,omitempty"`
	Line2      string `json:"line2,omitempty"`
	City       string `json:"city,omitempty"`
	State      string `json:"state,omitempty"`
	PostalCode string `json:"postal_code,omitempty"`
	// Country is a two-letter code such as GB.
	Country string `json:"country,omitempty"`
}

// Customer is a customer as stored: the answer to POST /v1/customers and
// GET /v1/customers/{id}.
type Customer struct {
	ID    string `json:"id"`
	Email string `json:"email,omitempty"`
	Phone string `json:"phone,omitempty"`
	// PhoneE164 is the phone number in E.164 form, when it is a valid one.
	PhoneE164  string         `json:"phone_e164,omitempty"`
	Name       string         `json:"name,omitempty"`
	Locale     string         `json:"locale,omitempty"`
	TimeZone   string         `json:"time_zone,omitempty"`
	Address    Address        `json:"address"`
	Attributes map[string]any `json:"attributes"`
	CreatedAt  time.Time      `json:"created_at"`
	UpdatedAt  time.Time      `json:"updated_at"`
}

// Address is a customer's postal address as stored.
type Address struct {
	Line1      string `json:"line1"`
	Line2      string `json:"line2,omitempty"`
	City       string `json:"city"`
	State      string `json:"state,omitempty"`
	PostalCode string `json:"postal_code"`
	Country    string `json:"country"`
}
