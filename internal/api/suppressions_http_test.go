package api_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Staff add an address to the suppression list (201; 200 when it is
// there already, keeping the first reason), read it and lift it; phone
// numbers are kept in E.164, email addresses in lower case, so the entry
// is found however the address is written.
func TestSuppressionsByHand(t *testing.T) {
	t.Parallel()
	s := newShop(t)

	sup := s.must(http.StatusCreated, "POST", "/v1/suppressions", `{"channel": "email", "address": "Ada@Example.com", "reason": " asked on the phone "}`)
	assert.Equal(t, "ada@example.com", sup["address"])
	assert.Equal(t, "manual: asked on the phone", sup["reason"])
	assert.Equal(t, "api", sup["source"])
	again := s.must(http.StatusOK, "POST", "/v1/suppressions", `{"channel": "email", "address": "ada@example.com", "reason": "another reason", "source": "support"}`)
	assert.Equal(t, "manual: asked on the phone", again["reason"], "the first reason stands")
	got := s.must(http.StatusOK, "GET", "/v1/suppressions/email/ADA@example.com", "")
	assert.Equal(t, sup["created_at"], got["created_at"])

	sms := s.must(http.StatusCreated, "POST", "/v1/suppressions", `{"channel": "sms", "address": "07911 123456", "country": "GB", "reason": "STOP by letter"}`)
	assert.Equal(t, "+447911123456", sms["address"])
	assert.Equal(t, http.StatusOK, s.call("GET", "/v1/suppressions/sms/+447911123456", "").Code)
	assert.Equal(t, http.StatusOK, s.call("GET", "/v1/suppressions/sms/07911123456?country=GB", "").Code)

	a := s.call("DELETE", "/v1/suppressions/email/ada@example.com", "")
	assert.Equal(t, http.StatusNoContent, a.Code)
	a = s.call("GET", "/v1/suppressions/email/ada@example.com", "")
	assert.Equal(t, http.StatusNotFound, a.Code)
	assert.Equal(t, "that address is not suppressed", a.JSON["error"])
	assert.Equal(t, http.StatusOK, s.call("GET", "/v1/suppressions/sms/+447911123456", "").Code, "lifting one leaves the others")

	for _, tc := range []struct{ name, body, field string }{
		{"a channel that is not one", `{"channel": "fax", "address": "x", "reason": "r"}`, "channel"},
		{"no address", `{"channel": "email", "address": " ", "reason": "r"}`, "address"},
		{"not an email address", `{"channel": "email", "address": "ada", "reason": "r"}`, "address"},
		{"not a phone number", `{"channel": "sms", "address": "12", "reason": "r"}`, "address"},
		{"no reason", `{"channel": "email", "address": "grace@example.com", "reason": "  "}`, "reason"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := s.call("POST", "/v1/suppressions", tc.body)
			require.Equal(t, http.StatusBadRequest, a.Code, a.Body)
			assert.Equal(t, tc.field, a.JSON["field"])
		})
	}
	assert.Equal(t, http.StatusNotFound, s.call("GET", "/v1/suppressions/email/grace@example.com", "").Code, "a refused entry is not added")
	assert.Equal(t, http.StatusBadRequest, s.call("GET", "/v1/suppressions/fax/123", "").Code)
}
