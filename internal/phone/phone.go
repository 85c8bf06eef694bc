// Package phone checks phone numbers and writes them in E.164 form
// (github.com/nyaruka/phonenumbers). The API, the activities and the
// Twilio channel share it; it imports none of them.
package phone

import (
	"fmt"

	"github.com/nyaruka/phonenumbers"
)

// Normalize validates a phone number and returns it in E.164 form. Numbers
// written without a country code are read as numbers of country (a
// two-letter code, such as GB).
func Normalize(number, country string) (string, error) {
	if country == "" {
		country = "US"
	}
	n, err := phonenumbers.Parse(number, country)
	if err != nil {
		return "", fmt.Errorf("%q is not a phone number: %v", number, err)
	}
	if !phonenumbers.IsValidNumber(n) {
		return "", fmt.Errorf("%q is not a valid phone number", number)
	}
	return phonenumbers.Format(n, phonenumbers.E164), nil
}
