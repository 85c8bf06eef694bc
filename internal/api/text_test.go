package api

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/store/storetest"
)

// The bound on numbers is exactly what PostgreSQL stores and routing
// (encoding/json into float64) reads: checked against the real database
// at the edges and on random numbers around them.
func TestNumbersAreRefusedExactlyWhereTheDatabaseOrRoutingWouldFail(t *testing.T) {
	_, url := storetest.New(t)
	db := storetest.DB(t, url)
	ctx := context.Background()
	takes := func(n string) bool {
		_, err := db.Exec(ctx, `SELECT $1::text::jsonb`, n)
		var v any
		return err == nil && json.Unmarshal([]byte(n), &v) == nil
	}
	numbers := []string{
		"0", "-0", "1", "-1", "1.5", "1e308", "-1e308", "1.7976931348623157e308", "1.7976931348623158e308",
		"1.797693134862315808e308", "1.8e308", "-1.8e308", "1e309", "1e999999", "1E400", "1e+400",
		"1e-300", "1e-400", "1e-16383", "1e-16384", "0e-16383", "0e-16384", "0.0e-16383", "1.5e-16382", "1.5e-16383",
		"0e999999", "0e1073741822", "0e1073741823", "0e-1073741823", "0e99999999999999999999", "1e-99999999999999999999",
		"1." + strings.Repeat("0", 16383), "1." + strings.Repeat("0", 16384), "0." + strings.Repeat("0", 16383) + "1",
		strings.Repeat("9", 309), strings.Repeat("9", 308) + ".5", "12345678901234567890123456789",
	}
	seed := time.Now().UnixNano()
	t.Logf("random numbers from seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	digits := func(n int) string {
		var b strings.Builder
		for range n {
			b.WriteByte(byte('0' + rng.IntN(10)))
		}
		return b.String()
	}
	for range 300 {
		n := fmt.Sprint(1+rng.IntN(9)) + digits(rng.IntN(4))
		if rng.IntN(2) == 0 {
			n += "." + digits(1+rng.IntN(30))
		}
		switch rng.IntN(3) {
		case 0:
			n += fmt.Sprintf("e%d", 290+rng.IntN(30))
		case 1:
			n += fmt.Sprintf("e-%d", 16340+rng.IntN(60))
		default:
			n += fmt.Sprintf("e%d", rng.IntN(600)-300)
		}
		if rng.IntN(2) == 0 {
			n = "-" + n
		}
		numbers = append(numbers, n)
	}
	for _, n := range numbers {
		assert.Equal(t, takes(n), numberProblem([]byte(n)) == "", "%s: %s", short(n), numberProblem([]byte(n)))
	}
}

// What a string may hold is exactly what PostgreSQL's jsonb takes.
func TestStringsAreRefusedExactlyWhereTheDatabaseWould(t *testing.T) {
	_, url := storetest.New(t)
	db := storetest.DB(t, url)
	ctx := context.Background()
	for _, s := range []string{
		`"plain"`, `"é and 😀"`, `"\u00e9"`, `"\ud83d\ude00"`, `"tab\there"`, `"\\u0000"`, `"\u0001"`, `"\uffff"`,
		`"\u0000"`, `"a\u0000b"`, `"\ud800"`, `"\udc00"`, `"\ud800\u0041"`, `"\ud800x"`, `"\udc00\ud800"`, `"\ud83d"`,
		"\"\xff\"", "\"a\xc3\x28\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "\"\xe2\x82\"",
	} {
		_, err := db.Exec(ctx, `SELECT $1::text::jsonb`, s)
		assert.Equal(t, err == nil, stringProblem([]byte(s)) == "", "%q: %s", s, stringProblem([]byte(s)))
	}
}

// Values the database cannot store are answered 400 with the field at
// fault, by every route that takes them, and nothing is stored.
func TestValuesTheDatabaseCannotStoreAreRefusedWithTheirField(t *testing.T) {
	a := newInputAPI(t)
	event := func(data string) string {
		return `{"id": "e_bad", "type": "custom.thing", "customer_id": "c_1", "data": ` + data + `}`
	}
	order := func(field string) string {
		return `{"id": "e_bad", "type": "order.placed", "customer_id": "c_1", "data": {"order": {"id": "o", "total": 1, "currency": "GBP",
			"items": [{"product_id": "p", "name": ` + field + `, "quantity": 1, "price": 1}]}}}`
	}
	for _, tc := range []struct {
		name, method, path, body, field, says string
	}{
		{"NUL in data", "POST", "/v1/events", event(`{"s": "a\u0000b"}`), "data.s", "NUL"},
		{"invalid UTF-8 in data", "POST", "/v1/events", event("{\"s\": \"a\xffb\"}"), "data.s", "UTF-8"},
		{"a lone surrogate in data", "POST", "/v1/events", event(`{"s": "\ud800"}`), "data.s", "surrogate"},
		{"a lone low surrogate deep in data", "POST", "/v1/events", event(`{"a": {"b": [1, "\udc00"]}}`), "data.a.b[1]", "surrogate"},
		{"a number too large", "POST", "/v1/events", event(`{"n": 1e999999}`), "data.n", "largest number"},
		{"a number too small", "POST", "/v1/events", event(`{"n": [1e-999999]}`), "data.n[0]", "after the decimal point"},
		{"a number just beyond a float", "POST", "/v1/events", event(`{"n": 1.8e308}`), "data.n", "largest number"},
		{"NUL in a key of data", "POST", "/v1/events", event(`{"a": {"k\u0000": 1}}`), "data.a", "key"},
		{"NUL in the id", "POST", "/v1/events", `{"id": "e\u0000", "type": "custom.thing", "customer_id": "c_1"}`, "id", "NUL"},
		{"NUL in an item's name", "POST", "/v1/events", order(`"Tea\u0000"`), "data.order.items[0].name", "NUL"},
		{"invalid UTF-8 in an item's name", "POST", "/v1/events", order("\"Tea\xfe\""), "data.order.items[0].name", "UTF-8"},
		{"NUL in a customer's name", "POST", "/v1/customers", `{"id": "c_2", "name": "Ada\u0000"}`, "name", "NUL"},
		{"invalid UTF-8 in a customer's name", "POST", "/v1/customers", "{\"id\": \"c_2\", \"name\": \"Ada\xc3\x28\"}", "name", "UTF-8"},
		{"NUL in an attribute's key", "POST", "/v1/customers", `{"id": "c_2", "attributes": {"ti\u0000er": "gold"}}`, "attributes", "key"},
		{"NUL in an attribute", "POST", "/v1/customers", `{"id": "c_2", "attributes": {"tags": ["a", "b\u0000"]}}`, "attributes.tags[1]", "NUL"},
		{"a number too large in attributes", "POST", "/v1/customers", `{"id": "c_2", "attributes": {"n": 1e400}}`, "attributes.n", "largest number"},
		{"NUL in an address", "POST", "/v1/customers", `{"id": "c_2", "name": "A", "address": {"line1": "1\u0000", "city": "London", "postal_code": "N1", "country": "GB"}}`, "address.line1", "NUL"},
		{"NUL in evidence", "PUT", "/v1/customers/c_1/preferences", `{"topics": {"offers": false}, "evidence": {"note": "\u0000"}}`, "evidence.note", "NUL"},
		{"NUL in a suppression's reason", "POST", "/v1/suppressions", `{"channel": "email", "address": "x@example.com", "reason": "a\u0000"}`, "reason", "NUL"},
		{"NUL in a product's name", "POST", "/v1/products", `{"products": [{"id": "p", "name": "\u0000", "price": 1}]}`, "products[0].name", "NUL"},
		{"NUL in an order's item", "POST", "/v1/orders", `{"id": "o", "customer_id": "c_1", "placed_at": "2026-01-01T00:00:00Z", "total": 1, "currency": "GBP",
			"items": [{"product_id": "\u0000", "name": "Tea", "quantity": 1, "price": 1}]}`, "items[0].product_id", "NUL"},
		{"NUL in a path", "GET", "/v1/customers/c%00", "", "id", "control character"},
		{"invalid UTF-8 in a path", "GET", "/v1/events/%ff", "", "id", "UTF-8"},
		{"NUL in a query", "GET", "/v1/tasks?queue=a%00", "", "queue", "control character"},
		{"a line break in a query", "GET", "/v1/tasks?customer_id=c_1%0d%0a", "", "customer_id", "control character"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := a.send(tc.method, tc.path, tc.body)
			require.Equal(t, http.StatusBadRequest, code, "%s", body)
			got := answer(t, body)
			assert.Equal(t, tc.field, got["field"], "%s", body)
			assert.Contains(t, got["error"], tc.says)
			assert.True(t, strings.HasPrefix(got["error"].(string), tc.field+": "), "%s", got["error"])
		})
	}
	code, _ := a.send("GET", "/v1/events/e_bad", "")
	assert.Equal(t, http.StatusNotFound, code, "nothing refused was stored")
	code, _ = a.send("GET", "/v1/customers/c_2", "")
	assert.Equal(t, http.StatusNotFound, code, "nothing refused was stored")
}

// Fields that reach a subject, a header, a text message or an address are
// one line: a line break or another control character is refused, with
// the field. Free text (notes, reasons, event data) keeps its lines.
func TestLineBreaksAreRefusedWhereTheyWouldReshapeAMessage(t *testing.T) {
	a := newInputAPI(t)
	for _, tc := range []struct {
		name, method, path, body, field string
	}{
		{"a name", "POST", "/v1/customers", `{"id": "c_2", "name": "Bob\r\nBcc: evil@example.com\r\nX-Injected: 1"}`, "name"},
		{"a name with a tab", "POST", "/v1/customers", `{"id": "c_2", "name": "Bob\tSmith"}`, "name"},
		{"a name with a line separator", "POST", "/v1/customers", `{"id": "c_2", "name": "Bob\u2028Smith"}`, "name"},
		{"an email", "POST", "/v1/customers", `{"id": "c_2", "email": "bob@example.com\r\nBcc: x@example.com"}`, "email"},
		{"an address line", "POST", "/v1/customers", `{"id": "c_2", "name": "Bob", "address": {"line1": "1 High St\nFlat 2", "city": "London", "postal_code": "N1", "country": "GB"}}`, "address.line1"},
		{"an item's name", "POST", "/v1/events", `{"id": "e_1", "type": "order.placed", "customer_id": "c_1", "data": {"order": {"id": "o", "total": 1, "currency": "GBP",
			"items": [{"product_id": "p", "name": "Tea\r\nBcc: x", "quantity": 1, "price": 1}]}}}`, "data.order.items[0].name"},
		{"a product's name", "POST", "/v1/products", `{"products": [{"id": "p", "name": "Tea\nPot", "price": 1}]}`, "products[0].name"},
		{"a product's link", "POST", "/v1/products", `{"products": [{"id": "p", "name": "Pot", "price": 1, "url": "javascript:alert(1)"}]}`, "products[0].url"},
		{"an assignee", "POST", "/v1/tasks/t_1/claim", `{"assignee": "sam\r\nroot"}`, "assignee"},
		{"evidence's source", "PUT", "/v1/customers/c_1/preferences", `{"evidence": {"source": "import\nfake"}}`, "evidence.source"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := a.send(tc.method, tc.path, tc.body)
			require.Equal(t, http.StatusBadRequest, code, "%s", body)
			assert.Equal(t, tc.field, answer(t, body)["field"], "%s", body)
		})
	}
	code, body := a.send("POST", "/v1/events", `{"id": "e_2", "type": "custom.thing", "customer_id": "c_1", "data": {"comment": "line one\nline two\ttabbed"}}`)
	assert.Equal(t, http.StatusAccepted, code, "event data keeps its lines: %s", body)
	code, body = a.send("POST", "/v1/suppressions", `{"channel": "email", "address": "x@example.com", "reason": "asked twice:\nby phone and by letter"}`)
	assert.Equal(t, http.StatusCreated, code, "a reason keeps its lines: %s", body)
}

// A batch answers per event: one event with a value the database cannot
// store is rejected and named, and the other 999 are stored.
func TestABatchOfAThousandWithOnePoisonedEventStoresTheOthers(t *testing.T) {
	a := newInputAPI(t)
	const bad = 537
	events := make([]string, 1000)
	for i := range events {
		data := fmt.Sprintf(`{"n": %d}`, i)
		if i == bad {
			data = `{"n": 537, "s": "a\u0000b"}`
		}
		events[i] = fmt.Sprintf(`{"id": "b_%d", "type": "custom.thing", "customer_id": "c_1", "data": %s}`, i, data)
	}
	code, body := a.send("POST", "/v1/events", `{"events": [`+strings.Join(events, ",")+`]}`)
	require.Equal(t, http.StatusOK, code, "%s", body)
	got := answer(t, body)
	assert.EqualValues(t, 999, got["accepted"])
	assert.EqualValues(t, 1, got["rejected"])
	results := got["results"].([]any)
	require.Len(t, results, 1000)
	line := results[bad].(map[string]any)
	assert.Equal(t, map[string]any{"index": float64(bad), "id": "b_537", "status": "rejected", "field": "data.s",
		"error": `data.s: holds the NUL character (\u0000), which cannot be stored; remove it`}, line)
	for i, r := range results {
		if i != bad {
			assert.Equal(t, "accepted", r.(map[string]any)["status"], "event %d", i)
		}
	}
	var stored int
	require.NoError(t, storetest.DB(t, a.url).QueryRow(context.Background(), `SELECT count(*) FROM events WHERE id LIKE 'b_%'`).Scan(&stored))
	assert.Equal(t, 999, stored)

	// Each kind of value the issue found: four of five stored, every time.
	for i, poison := range []string{`"a\u0000b"`, "\"a\xffb\"", `"\ud800"`, `1e999999`, `{"k\u0000": 1}`} {
		batch := make([]string, 5)
		for j := range batch {
			v := `"fine"`
			if j == 2 {
				v = poison
			}
			batch[j] = fmt.Sprintf(`{"id": "p%d_%d", "type": "custom.thing", "customer_id": "c_1", "data": {"s": %s}}`, i, j, v)
		}
		code, body := a.send("POST", "/v1/events", `{"events": [`+strings.Join(batch, ",")+`]}`)
		require.Equal(t, http.StatusOK, code, "%s", body)
		got := answer(t, body)
		assert.EqualValues(t, 4, got["accepted"], "%s", body)
		line := got["results"].([]any)[2].(map[string]any)
		assert.Equal(t, "rejected", line["status"])
		assert.Contains(t, []string{"data.s", "data"}, line["field"], "%s", body)
	}
}

// Should the database refuse a value the checks let through, the batch
// still keeps its other events, and one event is answered 400, not 500.
// A trigger on the test database stands in for such a value.
func TestAValueOnlyTheDatabaseRefusesHoldsBackNoOtherEvent(t *testing.T) {
	a := newInputAPI(t)
	db := storetest.DB(t, a.url)
	ctx := context.Background()
	_, err := db.Exec(ctx, `
		CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.data ? 'poison' THEN RAISE EXCEPTION 'poison is not stored' USING ERRCODE = '22000'; END IF;
			RETURN NEW;
		END $$;
		CREATE TRIGGER refuse_poison BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION refuse_poison();`)
	require.NoError(t, err)

	code, body := a.send("POST", "/v1/events", `{"events": [
		{"id": "t_1", "type": "custom.thing", "customer_id": "c_1"},
		{"id": "t_2", "type": "custom.thing", "customer_id": "c_1", "data": {"poison": true}},
		{"id": "t_3", "type": "custom.thing", "customer_id": "c_1"}]}`)
	require.Equal(t, http.StatusOK, code, "%s", body)
	got := answer(t, body)
	assert.EqualValues(t, 2, got["accepted"])
	assert.EqualValues(t, 1, got["rejected"])
	line := got["results"].([]any)[1].(map[string]any)
	assert.Equal(t, "rejected", line["status"])
	assert.Contains(t, line["error"], "poison is not stored")
	for _, id := range []string{"t_1", "t_3"} {
		code, _ := a.send("GET", "/v1/events/"+id, "")
		assert.Equal(t, http.StatusOK, code, id)
	}

	code, body = a.send("POST", "/v1/events", `{"id": "t_4", "type": "custom.thing", "customer_id": "c_1", "data": {"poison": 1}}`)
	assert.Equal(t, http.StatusBadRequest, code, "%s", body)
	assert.Contains(t, answer(t, body)["error"], "cannot be stored")
}
