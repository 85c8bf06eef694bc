package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/apikey"
	"github.com/rapporthq/rapport/internal/devstack/pglocal"
	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/links"
	"github.com/rapporthq/rapport/internal/router"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/store/storetest"
)

// inputAPI is the API over a real, fresh database, with an admin key and
// customer c_1; routing starts no journey (the catalog is empty).
type inputAPI struct {
	t     *testing.T
	s     *Server
	h     http.Handler
	st    *store.Store
	url   string
	key   string
	links *links.Signer
}

func newInputAPI(t *testing.T) *inputAPI {
	t.Helper()
	st, dbURL := storetest.New(t)
	signer, err := links.NewSigner([]byte(strings.Repeat("s", 32)))
	require.NoError(t, err)
	s := &Server{Store: st, Router: &router.Router{Store: st, Catalog: &journey.Catalog{}}, Links: signer,
		Topics: []string{"offers", "recommendations", "surveys"}, ShopName: "The Shop",
		PublicLimit: PublicLimit{Rate: 1000, Burst: 1000, WebhookRate: 1000, WebhookBurst: 1000}}
	_, key, err := st.CreateAPIKey(context.Background(), "test", []apikey.Scope{apikey.Admin})
	require.NoError(t, err)
	a := &inputAPI{t: t, s: s, h: s.Handler(), st: st, url: dbURL, key: key, links: signer}
	code, body := a.send("POST", "/v1/customers", `{"id": "c_1", "name": "Ada Lovelace", "email": "ada@example.com"}`)
	require.Equal(t, http.StatusCreated, code, "%s", body)
	return a
}

// send makes a request with the admin key and returns the status and the
// raw answer.
func (a *inputAPI) send(method, path, body string) (int, []byte) {
	return a.sendBytes(method, path, []byte(body))
}

func (a *inputAPI) sendBytes(method, path string, body []byte) (int, []byte) {
	a.t.Helper()
	rec := a.raw(method, path, body)
	return rec.Code, rec.Body.Bytes()
}

func (a *inputAPI) raw(method, path string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+a.key)
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	return rec
}

// answer decodes a JSON answer.
func answer(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(body, &m), "%s", body)
	return m
}

// nested is a JSON value n levels deep: [[[...]]].
func nested(n int) string {
	return strings.Repeat("[", n) + strings.Repeat("]", n)
}

func TestBodiesOverTheLimitAnswer413(t *testing.T) {
	a := newInputAPI(t)
	big := `{"id": "c_2", "name": "` + strings.Repeat("x", 11<<20) + `"}`
	for _, path := range []string{"/v1/customers", "/v1/events", "/v1/suppressions"} {
		code, body := a.send("POST", path, big)
		assert.Equal(t, http.StatusRequestEntityTooLarge, code, path)
		assert.Contains(t, answer(t, body)["error"], "1 MiB", "%s: the answer names the limit", path)
	}
	code, body := a.send("PUT", "/v1/customers/c_1/preferences", `{"evidence": {"note": "`+strings.Repeat("x", 2<<20)+`"}}`)
	assert.Equal(t, http.StatusRequestEntityTooLarge, code)
	assert.Contains(t, answer(t, body)["error"], "1 MiB")

	// A batch may be larger than one event, but not larger than 16 MiB.
	batch := `{"events": [{"id": "e", "type": "x", "customer_id": "c_1", "data": {"s": "` + strings.Repeat("x", 17<<20) + `"}}]}`
	code, body = a.send("POST", "/v1/events", batch)
	assert.Equal(t, http.StatusRequestEntityTooLarge, code)
	assert.Contains(t, answer(t, body)["error"], "16 MiB")

	code, _ = a.send("GET", "/v1/customers/c_2", "")
	assert.Equal(t, http.StatusNotFound, code, "nothing was written")

	// Over a real connection, the client still hears the 413 although
	// most of its body was never read.
	srv := httptest.NewServer(a.h)
	defer srv.Close()
	req, err := http.NewRequest("POST", srv.URL+"/v1/customers", strings.NewReader(big))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+a.key)
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Contains(t, answer(t, raw)["error"], "1 MiB")
}

func TestNestingDeeperThan32Answers400(t *testing.T) {
	a := newInputAPI(t)
	// The event object is level 1 and data level 2, so n more levels in
	// data make the body n+2 deep.
	event := func(id string, depth int) string {
		return fmt.Sprintf(`{"id": %q, "type": "custom.deep", "customer_id": "c_1", "data": {"x": %s}}`, id, nested(depth-2))
	}
	code, body := a.send("POST", "/v1/events", event("e_32", 32))
	assert.Equal(t, http.StatusAccepted, code, "32 levels are accepted: %s", body)

	for _, depth := range []int{33, 40} {
		code, body := a.send("POST", "/v1/events", event(fmt.Sprintf("e_%d", depth), depth))
		assert.Equal(t, http.StatusBadRequest, code, "%d levels", depth)
		assert.Contains(t, answer(t, body)["error"], "32 levels", "the answer names the limit")
	}
	code, body = a.send("POST", "/v1/customers", `{"id": "c_2", "attributes": {"a": `+nested(40)+`}}`)
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, answer(t, body)["error"], "32 levels")

	// A batch's events are held to the same limit; one too deep is
	// refused with the whole batch, before anything is decoded.
	code, body = a.send("POST", "/v1/events", `{"events": [`+event("b_ok", 32)+`, `+event("b_ok2", 32)+`]}`)
	require.Equal(t, http.StatusOK, code, "%s", body)
	assert.EqualValues(t, 2, answer(t, body)["accepted"])
	code, body = a.send("POST", "/v1/events", `{"events": [`+event("b_ok3", 32)+`, `+event("b_deep", 33)+`]}`)
	require.Equal(t, http.StatusBadRequest, code, "%s", body)
	assert.Contains(t, answer(t, body)["error"], "32 levels")
	_, err := a.st.GetEvent(context.Background(), "b_ok3")
	assert.ErrorIs(t, err, store.ErrNotFound, "nothing of the batch was written")

	_, err = a.st.GetEvent(context.Background(), "e_40")
	assert.ErrorIs(t, err, store.ErrNotFound, "nothing was written")
}

func TestDeepBodyIsRefusedWithoutParsing(t *testing.T) {
	a := newInputAPI(t)
	body := func(depth int) string {
		return `{"id": "e_deep", "type": "custom.deep", "customer_id": "c_1", "data": {"x": ` + nested(depth) + `}}`
	}
	deep := body(9000)
	require.Greater(t, len(deep), 18000)
	refuse := func(body string) float64 {
		return testing.AllocsPerRun(20, func() {
			code, answer := a.send("POST", "/v1/events", body)
			require.Equal(t, http.StatusBadRequest, code, "%s", answer)
		})
	}
	// Refused at once: a body 9,000 levels deep costs about what one just
	// past the limit costs, where decoding it would allocate at every
	// level. Counted in allocations, not time, which a busy machine
	// stretches.
	justPast, deepest := refuse(body(maxDepth+1)), refuse(deep)
	t.Logf("allocations to refuse a body %d levels deep: %.0f; 9000 levels deep: %.0f", maxDepth+1, justPast, deepest)
	assert.Less(t, deepest, justPast+1000, "a deep body is refused without parsing")

	// The check stops at the first byte past the limit: what follows is
	// never read, even when it is not JSON at all.
	junk := []byte(strings.Repeat("[", 33) + "\x00 not json" + strings.Repeat("{", 1<<20))
	err := checkDepth(junk, maxDepth)
	var ae *apiError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusBadRequest, ae.Status)
	assert.NoError(t, checkDepth([]byte(`{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{"}`), maxDepth),
		"brackets inside strings, even after an escaped quote, do not count")
}

func TestEventDataAndAttributesAreBounded(t *testing.T) {
	a := newInputAPI(t)
	keys := func(n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf(`"k%d": %d`, i, i)
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	event := func(id, data string) string {
		return fmt.Sprintf(`{"id": %q, "type": "custom.thing", "customer_id": "c_1", "data": %s}`, id, data)
	}
	code, body := a.send("POST", "/v1/events", event("e_100", keys(100)))
	assert.Equal(t, http.StatusAccepted, code, "100 keys are accepted: %s", body)
	code, body = a.send("POST", "/v1/events", event("e_101", keys(101)))
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Equal(t, "data", answer(t, body)["field"])
	assert.Contains(t, answer(t, body)["error"], "at most 100")

	atLimit := `{"s":"` + strings.Repeat("x", maxDataBytes-8) + `"}`
	require.Equal(t, maxDataBytes, len(atLimit))
	code, body = a.send("POST", "/v1/events", event("e_32k", atLimit))
	assert.Equal(t, http.StatusAccepted, code, "32 KiB is accepted: %s", body)
	overLimit := `{"s":"` + strings.Repeat("x", maxDataBytes-7) + `"}`
	code, body = a.send("POST", "/v1/events", event("e_big", overLimit))
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Equal(t, "data", answer(t, body)["field"])
	assert.Contains(t, answer(t, body)["error"], "at most 32 KiB")

	code, body = a.send("POST", "/v1/events", `{"events": [`+event("b_big", overLimit)+`]}`)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, "data", answer(t, body)["results"].([]any)[0].(map[string]any)["field"])

	customer := func(attrs string) string {
		return `{"id": "c_2", "name": "Grace", "attributes": ` + attrs + `}`
	}
	code, body = a.send("POST", "/v1/customers", customer(keys(101)))
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Equal(t, "attributes", answer(t, body)["field"])
	assert.Contains(t, answer(t, body)["error"], "at most 100")
	code, body = a.send("POST", "/v1/customers", customer(`{"notes": "`+strings.Repeat("x", 16<<10)+`"}`))
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Equal(t, "attributes", answer(t, body)["field"])
	assert.Contains(t, answer(t, body)["error"], "at most 16 KiB")
	code, body = a.send("POST", "/v1/customers", customer(keys(100)))
	assert.Equal(t, http.StatusCreated, code, "100 keys are accepted: %s", body)
}

func TestAnswersAreCompact(t *testing.T) {
	a := newInputAPI(t)
	code, body := a.send("POST", "/v1/events", `{"id": "e_1", "type": "custom.thing", "customer_id": "c_1", "data": {"a": {"b": [1, 2, {"c": "d"}]}}}`)
	require.Equal(t, http.StatusAccepted, code, "%s", body)
	for _, path := range []string{"/v1/customers/c_1", "/v1/events/e_1", "/v1/customers/c_1/preferences", "/v1/customers/nobody"} {
		_, body := a.send("GET", path, "")
		var compact bytes.Buffer
		require.NoError(t, json.Compact(&compact, body))
		assert.Equal(t, compact.String()+"\n", string(body), "%s is compact", path)
	}
	_, body = a.send("GET", "/v1/events/e_1", "")
	assert.Contains(t, string(body), `"data":{"a":{"b":[1,2,{"c":"d"}]}}`)

	// An event stored before the limits, 9,000 levels deep, comes back
	// small, its data left out.
	deep := json.RawMessage(`{"x": ` + nested(9000) + `}`)
	_, _, err := a.st.RecordEvent(context.Background(), store.Event{ID: "e_old", Type: "custom.deep", CustomerID: "c_1", OccurredAt: time.Now(), Data: deep}, nil)
	require.NoError(t, err)
	code, body = a.send("GET", "/v1/events/e_old", "")
	require.Equal(t, http.StatusOK, code)
	assert.Less(t, len(body), 1000)
	got := answer(t, body)
	assert.Nil(t, got["data"])
	assert.Contains(t, got["data_omitted"], "32 levels")
}

func TestAddressesAreCheckedAgainstLob(t *testing.T) {
	a := newInputAPI(t)
	usAddr := func(edit func(m map[string]any)) map[string]any {
		m := map[string]any{"line1": "185 Berry St", "line2": "Suite 6100", "city": "San Francisco", "state": "CA", "postal_code": "94107", "country": "US"}
		edit(m)
		return m
	}
	gbAddr := func(edit func(m map[string]any)) map[string]any {
		m := map[string]any{"line1": "12 St James's Square", "city": "London", "postal_code": "SW1Y 4LB", "country": "GB"}
		edit(m)
		return m
	}
	long := func(n int) string { return strings.Repeat("a", n) }
	for i, tc := range []struct {
		name    string
		address map[string]any
		field   string // "" when accepted
	}{
		{"us", usAddr(func(m map[string]any) {}), ""},
		{"us line1 64", usAddr(func(m map[string]any) { m["line1"] = long(64) }), ""},
		{"us line1 65", usAddr(func(m map[string]any) { m["line1"] = long(65) }), "address.line1"},
		{"us line2 64", usAddr(func(m map[string]any) { m["line2"] = long(64) }), ""},
		{"us line2 65", usAddr(func(m map[string]any) { m["line2"] = long(65) }), "address.line2"},
		{"us city 200", usAddr(func(m map[string]any) { m["city"] = long(200) }), ""},
		{"us city 201", usAddr(func(m map[string]any) { m["city"] = long(201) }), "address.city"},
		{"us no city", usAddr(func(m map[string]any) { delete(m, "city") }), "address.city"},
		{"us state NY", usAddr(func(m map[string]any) { m["state"] = "NY" }), ""},
		{"us state spelt out", usAddr(func(m map[string]any) { m["state"] = "California" }), "address.state"},
		{"us no state", usAddr(func(m map[string]any) { m["state"] = "" }), "address.state"},
		{"us zip+4", usAddr(func(m map[string]any) { m["postal_code"] = "94107-1741" }), ""},
		{"us zip letters", usAddr(func(m map[string]any) { m["postal_code"] = "SW1Y 4LB" }), "address.postal_code"},
		{"us no zip", usAddr(func(m map[string]any) { delete(m, "postal_code") }), "address.postal_code"},
		{"puerto rico as a country", usAddr(func(m map[string]any) { m["country"] = "PR"; m["state"] = "" }), "address.country"},
		{"puerto rico as a state", usAddr(func(m map[string]any) { m["state"] = "PR"; m["postal_code"] = "00901" }), ""},
		{"street without country", usAddr(func(m map[string]any) { delete(m, "country") }), "address.country"},
		{"gb", gbAddr(func(m map[string]any) {}), ""},
		{"gb line1 200", gbAddr(func(m map[string]any) { m["line1"] = long(200) }), ""},
		{"gb line1 201", gbAddr(func(m map[string]any) { m["line1"] = long(201) }), "address.line1"},
		{"gb line2 201", gbAddr(func(m map[string]any) { m["line2"] = long(201) }), "address.line2"},
		{"gb state 201", gbAddr(func(m map[string]any) { m["state"] = long(201) }), "address.state"},
		{"gb postcode 40", gbAddr(func(m map[string]any) { m["postal_code"] = long(40) }), ""},
		{"gb postcode 41", gbAddr(func(m map[string]any) { m["postal_code"] = long(41) }), "address.postal_code"},
		{"gb city and state, no postcode", gbAddr(func(m map[string]any) { delete(m, "postal_code"); m["state"] = "Greater London" }), ""},
		{"gb city alone", gbAddr(func(m map[string]any) { delete(m, "postal_code") }), "address.postal_code"},
		{"country Lob does not serve", gbAddr(func(m map[string]any) { m["country"] = "JE" }), "address.country"},
		{"a country alone", map[string]any{"country": "JE"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("c_addr_%d", i)
			raw, err := json.Marshal(map[string]any{"id": id, "name": "Grace Hopper", "address": tc.address})
			require.NoError(t, err)
			code, body := a.sendBytes("POST", "/v1/customers", raw)
			if tc.field == "" {
				assert.Equal(t, http.StatusCreated, code, "%s", body)
				return
			}
			assert.Equal(t, http.StatusBadRequest, code, "%s", body)
			got := answer(t, body)
			assert.Equal(t, tc.field, got["field"])
			assert.True(t, strings.HasPrefix(got["error"].(string), tc.field+": "), got["error"])
			code, _ = a.send("GET", "/v1/customers/"+id, "")
			assert.Equal(t, http.StatusNotFound, code, "nothing was stored")
		})
	}
	code, body := a.send("POST", "/v1/customers", `{"id": "c_noname", "address": {"line1": "185 Berry St", "city": "San Francisco", "state": "CA", "postal_code": "94107", "country": "US"}}`)
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Equal(t, "name", answer(t, body)["field"], "Lob needs a name to address a piece to")
}

func TestPreferencesRefuseUnknownTopics(t *testing.T) {
	a := newInputAPI(t)
	code, body := a.send("PUT", "/v1/customers/c_1/preferences", `{"topics": {"offers": true, "offer": false}}`)
	require.Equal(t, http.StatusBadRequest, code, "%s", body)
	got := answer(t, body)
	assert.Equal(t, "topics.offer", got["field"])
	assert.Contains(t, got["error"], "did you mean offers?")
	assert.Contains(t, got["error"], "offers, recommendations, surveys")

	code, body = a.send("PUT", "/v1/customers/c_1/preferences", `{"topics": {"gardening": false}}`)
	require.Equal(t, http.StatusBadRequest, code)
	assert.NotContains(t, answer(t, body)["error"], "did you mean", "no suggestion when nothing is near")

	history, err := a.st.TopicHistory(context.Background(), "c_1")
	require.NoError(t, err)
	assert.Empty(t, history, "nothing was recorded, not even the known topic of the refused request")

	code, body = a.send("PUT", "/v1/customers/c_1/preferences", `{"topics": {"offers": false}}`)
	require.Equal(t, http.StatusOK, code, "%s", body)
	assert.Equal(t, map[string]any{"offers": false, "recommendations": true, "surveys": true}, answer(t, body)["topics"])

	code, body = a.send("PUT", "/v1/customers/c_1/preferences", `{"channels": {"emial": {"consent": "opted_out"}}}`)
	require.Equal(t, http.StatusBadRequest, code)
	assert.Equal(t, "channels.emial", answer(t, body)["field"])
	assert.Contains(t, answer(t, body)["error"], "did you mean email?")

	// The preference center reads only the topics it shows: a forged
	// field for another topic changes nothing.
	token := a.links.SignSubject(links.PreferencesPurpose, "c_1", time.Now().Add(time.Hour))
	form := url.Values{"topic_offer": {"on"}, "topic_offers": {"on"}, "topic_recommendations": {"on"}, "topic_surveys": {"on"},
		"topic_x'; drop table customers": {"on"}, "frequency": {"default"}}
	req := httptest.NewRequest("POST", "/preferences/"+token, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusSeeOther, rec.Code, rec.Body.String())
	history, err = a.st.TopicHistory(context.Background(), "c_1")
	require.NoError(t, err)
	for _, h := range history {
		assert.Contains(t, a.s.Topics, h.Topic, "only known topics are recorded")
	}
	assert.Len(t, history, 2, "offers off by the API, then on again by the page")
}

func TestTypeErrorsNameTheFullPath(t *testing.T) {
	a := newInputAPI(t)
	order := func(items string) string {
		return `{"id": "e_o", "type": "order.placed", "customer_id": "c_1", "data": {"order": {"id": "o_1", "total": 3, "currency": "GBP", "items": ` + items + `}}}`
	}
	item := `{"product_id": "p", "name": "n", "quantity": 1, "price": 1}`
	for _, tc := range []struct {
		method, path, body string
		field, says        string
	}{
		{"PUT", "/v1/customers/c_1/preferences", `{"channels": {"email": {"consent": 5}}}`, "channels.email.consent", "must be a string, not a number"},
		{"PUT", "/v1/customers/c_1/preferences", `{"channels": {"sms": {"consent": "opted_in", "quiet": 1}}}`, "channels.sms.quiet", "did you mean quiet_hours?"},
		{"PUT", "/v1/customers/c_1/preferences", `{"topics": {"offers": "no"}}`, "topics.offers", "must be true or false, not a string"},
		{"PUT", "/v1/customers/c_1/preferences", `{"frequency": {"caps": [{"channel": "all", "max": 1, "per": "7d"}, {"channel": "all", "max": "two", "per": "7d"}]}}`, "frequency.caps[1].max", "must be a whole number, not a string"},
		{"PUT", "/v1/customers/c_1/preferences", `{"frequency": {"caps": [{"channel": "all", "max": 1.5, "per": "7d"}]}}`, "frequency.caps[0].max", "whole number"},
		{"PUT", "/v1/customers/c_1/preferences", `{"channel_order": ["sms", 2]}`, "channel_order[1]", "must be a string, not a number"},
		{"POST", "/v1/events", `{"id": "e_t", "type": "custom.x", "customer_id": "c_1", "occurred_at": "yesterday"}`, "occurred_at", "must be an RFC 3339 time such as 2026-11-23T10:00:00Z"},
		{"POST", "/v1/events", `{"id": "e_t", "type": "custom.x", "customer_id": "c_1", "occurred_at": 1700000000}`, "occurred_at", "must be an RFC 3339 time"},
		{"POST", "/v1/events", `{"id": "e_t", "type": "custom.x", "customer_id": "c_1", "data": [1]}`, "data", "must be an object, not a list"},
		{"POST", "/v1/events", order(`[` + item + `, ` + item + `, {"product_id": "p", "name": "n", "quantity": 1, "price": "x"}]`), "data.order.items[2].price", `"x" is not an amount; give a number (48.0) or a decimal string ("48.00")`},
		{"POST", "/v1/events", order(`[` + item + `, {"product_id": "p", "name": "n", "quantity": 1, "price": 1, "colour": "red"}]`), "data.order.items[1].colour", "unknown field"},
		{"POST", "/v1/events", order(`{"a": 1}`), "data.order.items", "must be a list, not an object"},
		{"POST", "/v1/customers", `{"id": "c_2", "address": {"city": 12}}`, "address.city", "must be a string, not a number"},
		{"POST", "/v1/customers", `{"id": "c_2", "address": {"citty": "London"}}`, "address.citty", "did you mean city?"},
		{"POST", "/v1/customers", `{"id": "c_2", "address": "12 High St"}`, "address", "must be an object, not a string"},
		{"POST", "/v1/customers", `{"id": "c_2", "emial": "a@example.com"}`, "emial", "did you mean email?"},
		{"POST", "/v1/customers", `[1, 2]`, "body", "must be an object, not a list"},
		{"POST", "/v1/orders", `{"id": "o_9", "customer_id": "c_1", "placed_at": "last week", "total": 1, "currency": "GBP", "items": [` + item + `]}`, "placed_at", "must be an RFC 3339 time"},
	} {
		code, body := a.send(tc.method, tc.path, tc.body)
		if !assert.Equal(t, http.StatusBadRequest, code, "%s %s", tc.body, body) {
			continue
		}
		got := answer(t, body)
		assert.Equal(t, tc.field, got["field"], "%s", tc.body)
		assert.Equal(t, tc.field+": ", got["error"].(string)[:len(tc.field)+2], "the message starts with the path: %s", got["error"])
		assert.Contains(t, got["error"], tc.says)
		assert.NotContains(t, got["error"], "Go struct", "no Go parsing message")
		assert.NotContains(t, got["error"], "parsing time")
	}

	// In a batch, the line of the event says where.
	code, body := a.send("POST", "/v1/events", `{"events": [{"id": "e_b", "type": "custom.x", "customer_id": "c_1", "occurred_at": "soon"}]}`)
	require.Equal(t, http.StatusOK, code)
	line := answer(t, body)["results"].([]any)[0].(map[string]any)
	assert.Equal(t, "occurred_at", line["field"])
	assert.Contains(t, line["error"], "RFC 3339")
}

func TestUnavailableClassification(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, connectErr := pgconn.Connect(ctx, "postgres://rapport@127.0.0.1:1/rapport?connect_timeout=5")
	require.Error(t, connectErr)
	var ce *pgconn.ConnectError
	require.ErrorAs(t, connectErr, &ce, "a refused connection is a ConnectError")

	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", fmt.Errorf("get customer c_1: %w", connectErr), true},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"crash shutdown", fmt.Errorf("x: %w", &pgconn.PgError{Code: "57P02"}), true},
		{"starting up", &pgconn.PgError{Code: "57P03"}, true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"deadline", fmt.Errorf("acquire: %w", context.DeadlineExceeded), true},
		{"network", &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}, true},
		{"connection dropped", fmt.Errorf("receive: %w", io.ErrUnexpectedEOF), true},
		{"closed connection", pgconn.ErrConnClosed, true},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"query cancelled by the user", &pgconn.PgError{Code: "57014"}, false},
		{"not found", fmt.Errorf("get customer: %w", store.ErrNotFound), false},
		{"a bug", errors.New("something else"), false},
		{"nil", nil, false},
	} {
		assert.Equal(t, tc.want, unavailable(tc.err), tc.name)
	}
}

// TestDatabaseDownAnswers503 takes the database away from under a running
// API: /v1 (whose key check is the first to need it) and the public pages
// answer 503 with Retry-After, not 500.
func TestDatabaseDownAnswers503(t *testing.T) {
	a := newInputAPI(t)
	code, _ := a.send("GET", "/v1/customers/c_1", "")
	require.Equal(t, http.StatusOK, code)
	token := a.links.SignSubject(links.PreferencesPurpose, "c_1", time.Now().Add(time.Hour))

	u, err := url.Parse(a.url)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, pglocal.DropDatabase(ctx, storetest.Server(t).URL, strings.TrimPrefix(u.Path, "/")),
		"drop the database, ending its connections")

	for _, path := range []string{"/v1/customers/c_1", "/v1/customers/c_1/preferences"} {
		rec := a.raw("GET", path, nil)
		assert.Equal(t, http.StatusServiceUnavailable, rec.Code, "%s: %s", path, rec.Body)
		assert.Equal(t, "5", rec.Header().Get("Retry-After"), path)
		assert.Contains(t, answer(t, rec.Body.Bytes())["error"], "try again")
	}
	rec := a.raw("POST", "/v1/events", []byte(`{"id": "e", "type": "custom.x", "customer_id": "c_1"}`))
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code, "%s", rec.Body)

	req := httptest.NewRequest("GET", "/preferences/"+token, nil)
	page := httptest.NewRecorder()
	a.h.ServeHTTP(page, req)
	assert.Equal(t, http.StatusServiceUnavailable, page.Code, "the preference center")
	assert.Equal(t, "5", page.Header().Get("Retry-After"))
	assert.Contains(t, page.Body.String(), "try again in a few minutes")
}
