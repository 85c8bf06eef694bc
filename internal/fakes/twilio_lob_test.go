package fakes

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

const sid = "AC00000000000000000000000000000001"

func twilioPost(f http.Handler, user, pass string, form url.Values) (int, string) {
	req := httptest.NewRequest(http.MethodPost, "/2010-04-01/Accounts/"+sid+"/Messages.json", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(user, pass)
	rec := httptest.NewRecorder()
	f.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

func TestTwilioFakeIsStrict(t *testing.T) {
	f := New(Config{TwilioAccountSID: sid, TwilioAuthToken: "tok"})
	ok := url.Values{"To": {"+447911123456"}, "Body": {"hi"}, "From": {"+15005550006"}}
	with := func(k, v string) url.Values {
		c := url.Values{}
		for key, vals := range ok {
			c[key] = vals
		}
		if v == "" {
			c.Del(k)
		} else {
			c.Set(k, v)
		}
		return c
	}
	for _, tc := range []struct {
		name   string
		pass   string
		form   url.Values
		status int
		code   string
	}{
		{"accepted", "tok", ok, 201, `"status":"queued"`},
		{"bad token", "nope", ok, 401, `"code":20003`},
		{"no To", "tok", with("To", ""), 400, `"code":21604`},
		{"no Body", "tok", with("Body", ""), 400, `"code":21602`},
		{"no sender", "tok", with("From", ""), 400, `"code":21603`},
		{"not E.164", "tok", with("To", "07911 123456"), 400, `"code":21211`},
		{"bad callback", "tok", with("StatusCallback", "not a url"), 400, `"code":21609`},
		{"too long", "tok", with("Body", strings.Repeat("x", 1601)), 400, `"code":21617`},
		{"magic STOP number", "tok", with("To", "+15005550004"), 400, `"code":21610`},
	} {
		status, body := twilioPost(f, sid, tc.pass, tc.form)
		assert.Equal(t, tc.status, status, "%s: %s", tc.name, body)
		assert.Contains(t, body, tc.code, tc.name)
	}
	assert.Len(t, f.Recorder.Messages(), 1)
}

func lobPost(f http.Handler, path, key, idem, body string) (int, string) {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(key, "")
	if idem != "" {
		req.Header.Set("Idempotency-Key", idem)
	}
	rec := httptest.NewRecorder()
	f.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

func TestLobFakeIsStrict(t *testing.T) {
	f := New(Config{LobAPIKey: "k"})
	us := `{"name":"Grace","address_line1":"1 Navy Way","address_city":"Arlington","address_state":"VA","address_zip":"22202","address_country":"US"}`
	gb := `{"name":"Ada","address_line1":"12 St James's Square","address_city":"London","address_zip":"SW1Y 4LB","address_country":"GB"}`
	for _, tc := range []struct {
		name, path, key, body string
		status                int
		want                  string
	}{
		{"letter", "/v1/letters", "k", `{"to":` + us + `,"from":` + us + `,"file":"<p>x</p>","color":true,"use_type":"operational"}`, 200, `"id":"ltr_`},
		{"postcard abroad", "/v1/postcards", "k", `{"to":` + gb + `,"from":` + us + `,"front":"a","back":"b","use_type":"marketing"}`, 200, `"id":"psc_`},
		{"bad key", "/v1/letters", "x", `{}`, 401, `"code":"unauthorized"`},
		{"letter without from", "/v1/letters", "k", `{"to":` + us + `,"file":"x","color":true,"use_type":"operational"}`, 422, "from is required"},
		{"letter without color", "/v1/letters", "k", `{"to":` + us + `,"from":` + us + `,"file":"x","use_type":"operational"}`, 422, "color is required"},
		{"no use_type", "/v1/postcards", "k", `{"to":` + us + `,"front":"a","back":"b"}`, 422, "use_type is required"},
		{"postcard abroad without from", "/v1/postcards", "k", `{"to":` + gb + `,"front":"a","back":"b","use_type":"marketing"}`, 422, "from is required when the to address is international"},
		{"bad zip", "/v1/postcards", "k", `{"to":{"name":"G","address_line1":"1 Way","address_city":"X","address_state":"VA","address_zip":"ABC"},"front":"a","back":"b","use_type":"marketing"}`, 422, "address_zip"},
		{"metadata quote", "/v1/postcards", "k", `{"to":` + us + `,"front":"a","back":"b","use_type":"marketing","metadata":{"k":"a\"b"}}`, 422, "metadata"},
		{"unknown field", "/v1/postcards", "k", `{"to":` + us + `,"front":"a","back":"b","use_type":"marketing","colour":true}`, 422, "unknown field"},
	} {
		status, body := lobPost(f, tc.path, tc.key, "", tc.body)
		assert.Equal(t, tc.status, status, "%s: %s", tc.name, body)
		assert.Contains(t, body, tc.want, tc.name)
		if status >= 400 {
			assert.Contains(t, body, `{"error":{`, tc.name)
		}
	}
	created := f.Lob.Created()
	body := `{"to":` + us + `,"front":"a","back":"b","use_type":"marketing"}`
	_, first := lobPost(f, "/v1/postcards", "k", "key-1", body)
	_, again := lobPost(f, "/v1/postcards", "k", "key-1", body)
	assert.Equal(t, first, again, "the same key answers the first object")
	_, letter := lobPost(f, "/v1/letters", "k", "key-1", `{"to":`+us+`,"from":`+us+`,"file":"x","color":true,"use_type":"operational"}`)
	assert.NotEqual(t, first, letter, "keys are per resource")
	assert.Equal(t, created+2, f.Lob.Created())
}
