package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rapporthq/rapport/internal/api/wire"
	"github.com/rapporthq/rapport/internal/links"
)

// fuzzRequest is a request of the fuzz test: its method, path and body,
// each of which may hold %s, where the fuzzed value goes. Outside /v1 it
// is a form posted to a public page (signed links, {survey},
// {preferences} and {unsubscribe} in its path), the value URL-encoded.
type fuzzRequest struct {
	method, path, body string
}

// fuzzRequests reach every /v1 route that takes input, with the value in
// each kind of place: a text field, a key, a number, a whole object, a
// batch's event, a path segment and a query parameter.
var fuzzRequests = []fuzzRequest{
	{"POST", "/v1/customers", `{"id": "c_fz", "name": %s}`},
	{"POST", "/v1/customers", `{"id": "c_fz", "email": %s, "phone": "+44 20 7946 0958"}`},
	{"POST", "/v1/customers", `{"id": "c_fz", "name": "Fuzz", "address": {"line1": %s, "city": "London", "postal_code": "N1", "country": "GB"}}`},
	{"POST", "/v1/customers", `{"id": "c_fz", "locale": %s, "time_zone": "Europe/London"}`},
	{"POST", "/v1/customers", `{"id": "c_fz", "attributes": {"k": %s}}`},
	{"POST", "/v1/customers", `{"id": "c_fz", "attributes": {%s: 1}}`},
	{"POST", "/v1/customers", `{"id": %s}`},
	{"POST", "/v1/events", `{"id": %s, "type": "custom.thing", "customer_id": "c_ada"}`},
	{"POST", "/v1/events", `{"id": "e_fz", "type": %s, "customer_id": "c_ada"}`},
	{"POST", "/v1/events", `{"id": "e_fz", "type": "custom.thing", "customer_id": "c_ada", "data": {"s": %s}}`},
	{"POST", "/v1/events", `{"id": "e_fz", "type": "custom.thing", "customer_id": "c_ada", "data": %s}`},
	{"POST", "/v1/events", `{"id": "e_fz", "type": "custom.thing", "customer_id": "c_ada", "occurred_at": %s}`},
	{"POST", "/v1/events", `{"events": [{"id": "e_fz1", "type": "custom.thing", "customer_id": "c_ada", "data": {"s": %s}}, {"id": "e_fz2", "type": "custom.thing", "customer_id": "c_ada"}]}`},
	{"POST", "/v1/events", `{"events": [%s, {"id": "e_fz3", "type": "custom.thing", "customer_id": "c_ada"}]}`},
	{"POST", "/v1/events", `{"id": "e_fz", "type": "order.placed", "customer_id": "c_ada", "data": {"order": {"id": "o_fz", "total": %s, "currency": "GBP",
		"items": [{"product_id": "p", "name": "Tea", "quantity": 1, "price": 1}]}}}`},
	{"POST", "/v1/events", `{"id": "e_fz", "type": "order.placed", "customer_id": "c_ada", "data": {"order": {"id": "o_fz", "total": 1, "currency": "GBP",
		"items": [{"product_id": "p", "name": %s, "quantity": 1, "price": 1}]}}}`},
	{"POST", "/v1/orders", `{"id": %s, "customer_id": "c_ada", "placed_at": "2026-01-01T00:00:00Z", "total": 1, "currency": "GBP",
		"items": [{"product_id": "p", "name": "Tea", "quantity": %s, "price": 1}]}`},
	{"POST", "/v1/products", `{"products": [{"id": "p_fz", "name": %s, "price": 1, "url": "https://shop.example/p"}]}`},
	{"POST", "/v1/products", `{"products": [{"id": "p_fz", "name": "Pot", "price": 1, "image_url": %s, "complements": {"p_fz2": 1}}, {"id": "p_fz2", "name": "Cup", "price": 2}]}`},
	{"POST", "/v1/products", `{"products": [{"id": "p_fz", "name": "Pot", "price": 1, "complements": {%s: 0.5}}]}`},
	{"PUT", "/v1/customers/c_ada/preferences", `{"topics": {"offers": false}, "evidence": {"note": %s, "source": "fuzz"}}`},
	{"PUT", "/v1/customers/c_ada/preferences", `{"time_zone": %s, "channels": {"sms": {"quiet_hours": {"start": "21:00", "end": "08:00"}}}}`},
	{"PUT", "/v1/customers/c_ada/preferences", `{"channels": {"email": {"consent": "opted_in", "quiet_hours": %s}}, "frequency": {"caps": [{"channel": "all", "max": 3, "per": "7d"}]}}`},
	{"POST", "/v1/suppressions", `{"channel": "email", "address": %s, "reason": "fuzz"}`},
	{"POST", "/v1/suppressions", `{"channel": "sms", "address": "+44 7911 123456", "reason": %s, "country": "GB"}`},
	{"POST", "/v1/tasks/task_call_ada/claim", `{"assignee": %s}`},
	{"POST", "/v1/tasks/task_call_ada/complete", `{"outcome": "reached", "notes": %s, "by": "sam"}`},
	{"POST", "/v1/tasks/task_call_ada/assign", `{"assignee": %s, "by": "kim"}`},
	{"POST", "/v1/tasks/task_call_ada/notes", `{"note": %s, "by": %s}`},
	{"POST", "/v1/tasks/task_call_bo/unclaim", `{"by": %s}`},
	{"POST", "/v1/vouchers/BACK15-ADA/redeem", `{"order_id": %s}`},
	{"DELETE", "/v1/customers/c_gone", `{"reason": %s}`},
	{"GET", "/v1/customers/%s", ""},
	{"GET", "/v1/events/%s", ""},
	{"GET", "/v1/fanouts?event_id=%s&status=%s&limit=%s", ""},
	{"POST", "/v1/fanouts/%s/%s/retry", ""},
	{"GET", "/v1/tasks?queue=%s&status=open", ""},
	{"GET", "/v1/suppressions/email/%s", ""},
	{"GET", "/v1/journeys/lapse-winback/audience?sample=%s", ""},
	{"POST", "/survey/{survey}", "score=%s&comment=%s"},
	{"POST", "/preferences/{preferences}", "channel_email=%s&topic_offers=on&quiet=on&quiet_from=%s&quiet_to=08:00&frequency=%s&time_zone=%s"},
	{"POST", "/unsubscribe/{unsubscribe}", "action=%s&List-Unsubscribe=%s"},
}

// FuzzHandlers drives the real handlers, over a real database, with
// values no shop (or customer, on the public pages' forms) should send: NUL, bytes that are not UTF-8, lone
// surrogates, numbers out of range, line breaks, very long text, deep
// nesting. Whatever the value, the answer is never 5xx, and a 400 to a
// body that is JSON names the field at fault. Its seed corpus runs with
// the unit tests; fuzz it with
//
//	go test ./internal/api -run NONE -fuzz FuzzHandlers -fuzztime 5m
func FuzzHandlers(f *testing.F) {
	a := newContractAPI(f)
	key := a.key(f, "admin")
	signer, err := links.NewSigner([]byte(strings.Repeat("f", 32)))
	if err != nil {
		f.Fatal(err)
	}
	a.s.Links = signer
	expires := time.Now().Add(24 * time.Hour)
	survey, err := signer.Sign(links.SurveyPurpose, links.Survey{SurveyID: "sv_fz", CustomerID: "c_ada", WorkflowID: "wf_fz", StepID: "ask"}, expires)
	if err != nil {
		f.Fatal(err)
	}
	unsubscribe, err := signer.Sign(links.UnsubscribePurpose, links.Unsubscribe{CustomerID: "c_ada", Topic: "offers", Channel: "email"}, expires)
	if err != nil {
		f.Fatal(err)
	}
	tokens := strings.NewReplacer("{survey}", survey, "{preferences}", signer.SignSubject(links.PreferencesPurpose, "c_ada", expires), "{unsubscribe}", unsubscribe)
	values := []struct {
		v      string
		quoted bool // inside a JSON string's quotes, as sent
	}{
		{`a\u0000b`, true}, {"a\xffb", true}, {"\xc3\x28", true}, {"\xed\xa0\x80", true}, {`\ud800`, true}, {`\udc00\ud800`, true},
		{`Bob\r\nBcc: evil@example.com\r\nX-Injected: 1`, true}, {"Bob\u2028Smith", true}, {`tab\there`, true},
		{strings.Repeat("x", 5000), true}, {strings.Repeat("é", 200001), true}, {"fine", true}, {"", true},
		{`1e999999`, false}, {`-1e999999`, false}, {`1e-999999`, false}, {`1.8e308`, false}, {`0e-16384`, false}, {`1e400`, false},
		{`-0`, false}, {`12345678901234567890123456789`, false}, {`1.5`, false}, {`true`, false}, {`null`, false},
		{strings.Repeat("[", 40) + strings.Repeat("]", 40), false}, {strings.Repeat(`{"a":`, 33) + "1" + strings.Repeat("}", 33), false},
		{`{"k\u0000": 1}`, false}, {`["\ud800"]`, false}, {`{"a": "b\u0000"}`, false}, {`{`, false}, {"\"\xff\"", false},
	}
	for i := range fuzzRequests {
		for _, v := range values {
			f.Add(uint8(i), v.quoted, v.v)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, quoted bool, value string) {
		fr := fuzzRequests[int(which)%len(fuzzRequests)]
		form := !strings.HasPrefix(fr.path, "/v1/")
		fill := value
		if quoted {
			fill = `"` + value + `"`
		}
		var body []byte
		target := tokens.Replace(fr.path)
		switch {
		case form:
			body = []byte(strings.ReplaceAll(fr.body, "%s", url.QueryEscape(value)))
		case fr.body != "":
			body = []byte(strings.ReplaceAll(fr.body, "%s", fill))
		default:
			target = strings.ReplaceAll(fr.path, "%s", url.PathEscape(value))
		}
		req := httptest.NewRequest(fr.method, "http://localhost"+target[:0]+"/", nil)
		if u, err := url.Parse("http://localhost" + target); err == nil {
			req.URL, req.RequestURI = u, target
		}
		req.Body = http.NoBody
		if body != nil {
			req.Body = readCloser{bytes.NewReader(body)}
			req.ContentLength = int64(len(body))
			req.Header.Set("Content-Type", "application/json")
		}
		if form {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		req.RemoteAddr = "192.0.2.10:5555"
		rec := httptest.NewRecorder()
		a.h.ServeHTTP(rec, req)

		if rec.Code >= 500 {
			t.Fatalf("%s %s with %q answered %d: %s", fr.method, fr.path, value, rec.Code, rec.Body.String())
		}
		var got wire.Error
		if rec.Code == http.StatusBadRequest && !form {
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("%s %s with %q: the 400 is not JSON: %s", fr.method, fr.path, value, rec.Body.String())
			}
			// Only a body that is not JSON, or nests too deep, is refused
			// as a whole.
			if got.Field == "" && (body == nil || json.Valid(body) && checkDepth(body, maxDepth) == nil) {
				t.Fatalf("%s %s with %q: a 400 names no field: %s", fr.method, fr.path, value, rec.Body.String())
			}
		}
		if fr.method == "POST" && fr.path == "/v1/events" && rec.Code == http.StatusOK && strings.HasPrefix(fr.body, `{"events"`) {
			var batch wire.BatchResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &batch); err != nil {
				t.Fatalf("a batch's answer is not JSON: %s", rec.Body.String())
			}
			for _, r := range batch.Results {
				if r.Status == wire.StatusRejected && r.Field == "" && !strings.Contains(r.Error, "not valid JSON") {
					t.Fatalf("batch with %q: line %d is rejected naming no field: %s", value, r.Index, r.Error)
				}
			}
		}
	})
}

// readCloser is a request body.
type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }
