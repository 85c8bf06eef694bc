package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// POST /v1/customers creates a customer (201) and replaces every field of
// one that exists (200); GET answers what is stored, in canonical form.
func TestCustomersAreCreatedUpdatedAndRead(t *testing.T) {
	t.Parallel()
	s := newShop(t)

	c := s.must(http.StatusCreated, "POST", "/v1/customers", `{"id": "c_ada", "email": "ada@example.com", "name": "Ada Lovelace",
		"phone": "07911 123456", "locale": "en-gb", "time_zone": "Europe/London",
		"address": {"line1": " 12 St James's Square ", "city": "London", "postal_code": "SW1Y 4JH", "country": "GB"},
		"attributes": {"tier": "gold", "tags": ["vip"]}}`)
	assert.Equal(t, "c_ada", c["id"])
	assert.Equal(t, "en-GB", c["locale"], "the language tag in canonical form")
	assert.Equal(t, "+447911123456", c["phone_e164"], "read with the address's country")
	assert.Equal(t, "12 St James's Square", c["address"].(map[string]any)["line1"], "trimmed")
	assert.Equal(t, map[string]any{"tier": "gold", "tags": []any{"vip"}}, c["attributes"])
	assert.NotEmpty(t, c["created_at"])

	got := s.must(http.StatusOK, "GET", "/v1/customers/c_ada", "")
	assert.Equal(t, c, got)

	// An update replaces every field: what is not sent is cleared.
	up := s.must(http.StatusOK, "POST", "/v1/customers", `{"id": "c_ada", "email": "ada.king@example.com", "name": "Ada King"}`)
	assert.Equal(t, "ada.king@example.com", up["email"])
	assert.Equal(t, "Ada King", up["name"])
	assert.Nil(t, up["phone"])
	assert.Nil(t, up["phone_e164"])
	assert.Equal(t, c["created_at"], up["created_at"], "still the same customer")
	assert.Equal(t, up, s.must(http.StatusOK, "GET", "/v1/customers/c_ada", ""))

	a := s.call("GET", "/v1/customers/c_nobody", "")
	assert.Equal(t, http.StatusNotFound, a.Code)
	assert.Contains(t, a.JSON["error"], "c_nobody")
}

// A customer the API refuses is answered 400 naming the field at fault,
// and nothing of it is stored.
func TestCustomerValidationNamesTheFieldAndStoresNothing(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	for _, tc := range []struct {
		name, body, field, says string
	}{
		{"no id", `{"email": "x@example.com"}`, "id", "is required"},
		{"an email as id", `{"id": "ada@example.com"}`, "id", "opaque id"},
		{"not an email", `{"id": "c_x", "email": "ada at example.com"}`, "email", "not an email address"},
		{"a display name", `{"id": "c_x", "email": "Ada <ada@example.com>"}`, "email", "not an email address"},
		{"not a phone", `{"id": "c_x", "phone": "call me"}`, "phone", "international form"},
		{"not a language", `{"id": "c_x", "locale": "english please"}`, "locale", "language tag"},
		{"not a zone", `{"id": "c_x", "time_zone": "Mars/Olympus_Mons"}`, "time_zone", "IANA time zone"},
		{"the local zone", `{"id": "c_x", "time_zone": "Local"}`, "time_zone", "IANA time zone"},
		{"a country in lower case", `{"id": "c_x", "name": "X", "address": {"line1": "1 Road", "city": "York", "postal_code": "YO1 7HH", "country": "gb"}}`, "address.country", "two-letter"},
		{"a letter to no one", `{"id": "c_x", "address": {"line1": "1 Road", "city": "York", "postal_code": "YO1 7HH", "country": "GB"}}`, "name", "addressed to a name"},
		{"a misspelt field", `{"id": "c_x", "emial": "x@example.com"}`, "emial", "unknown field"},
		{"attributes not an object", `{"id": "c_x", "attributes": ["vip"]}`, "attributes", "must be an object"},
		{"a name of the wrong type", `{"id": "c_x", "name": 42}`, "name", "must be a string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := s.call("POST", "/v1/customers", tc.body)
			require.Equal(t, http.StatusBadRequest, a.Code, a.Body)
			assert.Equal(t, tc.field, a.JSON["field"], a.Body)
			assert.Contains(t, a.JSON["error"], tc.says)
		})
	}
	assert.Equal(t, http.StatusNotFound, s.call("GET", "/v1/customers/c_x", "").Code, "no refused customer was stored")

	// Not JSON at all.
	req := jsonRequest(s, "POST", "/v1/customers", `id=c_x`)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	a := s.serve(req)
	assert.Equal(t, http.StatusUnsupportedMediaType, a.Code)
	a = s.call("POST", "/v1/customers", `{"id": "c_x"`)
	assert.Equal(t, http.StatusBadRequest, a.Code)
	assert.Contains(t, a.JSON["error"], "ends in the middle")
	assert.Equal(t, http.StatusNotFound, s.call("GET", "/v1/customers/c_x", "").Code)

	// Without a key nothing is answered but how to send one.
	req = jsonRequest(s, "GET", "/v1/customers/c_x", "")
	req.Header.Del("Authorization")
	a = s.serve(req)
	assert.Equal(t, http.StatusUnauthorized, a.Code)
	assert.True(t, strings.Contains(a.Body, "Bearer"), a.Body)
}

// jsonRequest is a /v1 request with the shop's key, to change before
// sending with serve.
func jsonRequest(s *shop, method, path, body string) *http.Request {
	req, err := http.NewRequest(method, path, strings.NewReader(body))
	require.NoError(s.t, err)
	req.Header.Set("Authorization", "Bearer "+s.key)
	req.Header.Set("Content-Type", "application/json")
	return req
}
