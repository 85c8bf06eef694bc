package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	legacyrouter "github.com/getkin/kin-openapi/routers/legacy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/docs"
	"github.com/rapporthq/rapport/internal/api/contracttest"
	"github.com/rapporthq/rapport/internal/api/wire"
	"github.com/rapporthq/rapport/internal/apikey"
	"github.com/rapporthq/rapport/internal/links"
	"github.com/rapporthq/rapport/internal/money"
	"github.com/rapporthq/rapport/internal/router"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/store/storetest"
	"github.com/rapporthq/rapport/workflows"
)

func TestContractIsAValidOpenAPI31Document(t *testing.T) {
	doc := contracttest.Load(t)
	assert.True(t, doc.IsOpenAPI31OrLater(), "the contract is OpenAPI 3.1, not %s", doc.OpenAPI)

	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			name := method + " " + path
			assert.NotEmpty(t, op.OperationID, "%s has no operationId (client generators name methods by it)", name)
			if strings.HasPrefix(path, "/v1/") && path != "/v1/openapi.json" {
				scope, _ := op.Extensions["x-rapport-scope"].(string)
				require.NotEmpty(t, scope, "%s: a /v1 operation names its scope in x-rapport-scope", name)
				require.NotNil(t, op.Security, "%s names no security requirement", name)
				assert.Equal(t, openapi3.SecurityRequirements{{"apiKey": {scope}}}, *op.Security, "%s: security and x-rapport-scope differ", name)
				assert.True(t, hasSuccessExample(op), "%s has no example of a successful answer", name)
				continue
			}
			access, _ := op.Extensions["x-rapport-access"].(string)
			assert.Contains(t, []string{"public", "webhook"}, access, "%s is outside the API keys: mark it x-rapport-access public or webhook", name)
			assert.Contains(t, op.Tags, access, "%s: tag it %s", name, access)
			require.NotNil(t, op.Security, "%s must say it takes no key (security: [])", name)
			assert.Empty(t, *op.Security, "%s takes no key", name)
		}
	}
}

// hasSuccessExample reports whether op documents an example of a 2xx
// answer (a 204 has no body to show).
func hasSuccessExample(op *openapi3.Operation) bool {
	for code, resp := range op.Responses.Map() {
		if !strings.HasPrefix(code, "2") {
			continue
		}
		if code == "204" {
			return true
		}
		for _, mt := range resp.Value.Content {
			if len(mt.Examples) > 0 || mt.Example != nil {
				return true
			}
		}
	}
	return false
}

func TestContractIsServedAsJSONWithoutAKey(t *testing.T) {
	st, _ := storetest.New(t)
	h := (&Server{Store: st}).Handler()
	req := httptest.NewRequest(http.MethodGet, "/v1/openapi.json", nil)
	req.RemoteAddr = "192.0.2.10:5555"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))

	served, err := openapi3.NewLoader().LoadFromData(rec.Body.Bytes())
	require.NoError(t, err, "the served JSON does not load")
	committed := contracttest.Load(t)
	a, err := json.Marshal(served)
	require.NoError(t, err)
	b, err := json.Marshal(committed)
	require.NoError(t, err)
	assert.JSONEq(t, string(b), string(a), "the served JSON says something other than docs/openapi.yaml")

	// The committed file is the one embedded.
	onDisk, err := os.ReadFile(filepath.Join("..", "..", "docs", "openapi.yaml"))
	require.NoError(t, err)
	assert.Equal(t, string(onDisk), string(docs.OpenAPIYAML()))
}

// TestContractListsExactlyTheRoutesServed holds the document to the
// routes the server registers (routes(), the one table Handler mounts):
// a route served but not documented fails, and so does a documented
// operation nothing serves.
func TestContractListsExactlyTheRoutesServed(t *testing.T) {
	doc := contracttest.Load(t)
	var documented []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	var served []string
	for _, rt := range (&Server{}).routes() {
		served = append(served, rt.pattern)
	}
	for _, p := range served {
		assert.Contains(t, documented, p, "the API serves %s but docs/openapi.yaml does not document it", p)
	}
	for _, p := range documented {
		assert.Contains(t, served, p, "docs/openapi.yaml documents %s but the API does not serve it", p)
	}

	// Each documented scope is the one the route demands.
	scopes := map[string]apikey.Scope{}
	for _, rt := range (&Server{}).routes() {
		scopes[rt.pattern] = rt.scope
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			scope, _ := op.Extensions["x-rapport-scope"].(string)
			if rt, ok := scopes[method+" "+path]; ok {
				assert.Equal(t, string(rt), scope, "%s %s: the document and the route disagree on the scope", method, path)
			}
		}
	}
}

// contractAPI is the API over a real database, with the seed journeys
// compiled and Temporal mocked (journeys, erasure and audience runs are
// run for real in workflows and cmd/rapport): what the examples need to
// be answered as a shop would see them.
type contractAPI struct {
	s    *Server
	h    http.Handler
	keys map[string]string // scope -> key holding only it
}

func newContractAPI(t testing.TB) *contractAPI {
	t.Helper()
	st, _ := storetest.New(t)
	ctx := context.Background()

	cat, env := contracttest.ShippedCatalog(t, filepath.Join("..", ".."))
	tc := contracttest.Temporal()

	signer, err := links.NewSigner([]byte(strings.Repeat("c", 32)))
	require.NoError(t, err)
	s := &Server{Store: st, Temporal: tc, Topics: []string{"offers"}, Links: signer,
		Router:      &router.Router{Store: st, Catalog: cat, Env: env, Temporal: tc},
		PublicLimit: PublicLimit{Rate: 1000, Burst: 1000, WebhookRate: 1000, WebhookBurst: 1000}}
	a := &contractAPI{s: s, h: s.Handler(), keys: map[string]string{}}

	// What the examples name: Ada, an order and an event of hers, a task and a voucher
	// from her win-back, a customer whose erasure is under way, and a
	// failed fan-out.
	for _, c := range []store.Customer{
		{ID: "c_ada", Email: "ada@example.com", Name: "Ada Lovelace", Attributes: map[string]any{"tier": "gold"}},
		{ID: "c_gone", Email: "gone@example.com"},
	} {
		_, err := st.UpsertCustomer(ctx, c)
		require.NoError(t, err)
	}
	_, err = st.RecordOrder(ctx, store.Order{ID: "ord_0800", CustomerID: "c_ada", Total: money.MustParse("48.00"), Currency: "GBP",
		PlacedAt: time.Now().Add(-48 * time.Hour), Items: []store.Item{{ProductID: "p_teapot", Name: "Teapot", Quantity: 1, Price: money.MustParse("48.00")}}})
	require.NoError(t, err)
	_, _, err = st.RecordEvent(ctx, store.Event{ID: "evt_welcome", Type: "newsletter.joined", CustomerID: "c_ada",
		OccurredAt: time.Now().Add(-time.Hour), Data: json.RawMessage(`{"source":"footer"}`)}, nil)
	require.NoError(t, err)
	wf := "journey/lapse-winback/c_ada/audience-20260503"
	_, err = st.CreateTask(ctx, store.Task{ID: "task_call_ada", WorkflowID: wf, Journey: "lapse-winback", StepID: "call_if_we_can",
		CustomerID: "c_ada", Kind: "call", Queue: "retention", Brief: "Call Ada.", Outcomes: []string{"reached", "voicemail", "declined"},
		DueAt: time.Now().Add(48 * time.Hour)})
	require.NoError(t, err)
	_, err = st.CreateTask(ctx, store.Task{ID: "task_call_bo", WorkflowID: "journey/lapse-winback/c_bo/audience-20260503", Journey: "lapse-winback",
		StepID: "call_if_we_can", CustomerID: "c_bo", Kind: "call", Queue: "retention", Brief: "Call Bo.", Outcomes: []string{"reached"},
		DueAt: time.Now().Add(48 * time.Hour)})
	require.NoError(t, err)
	_, err = st.ClaimTask(ctx, "task_call_bo", "sam", "sam", "support-desk")
	require.NoError(t, err)
	_, err = st.IssueVoucher(ctx, store.Voucher{Code: "BACK15-ADA", CustomerID: "c_ada", WorkflowID: wf, StepID: "email_offer",
		Kind: "percent", Value: money.MustParse("15"), ExpiresAt: time.Now().Add(30 * 24 * time.Hour)})
	require.NoError(t, err)
	// A restock posted without a customer whose fan-out failed.
	_, err = st.RecordFanout(ctx, store.Event{ID: "restock_teapot_2026_12_05", Type: "product.restocked", OccurredAt: time.Now().Add(-time.Hour),
		Data: json.RawMessage(`{"product_id":"p_teapot"}`)}, []string{"back-in-stock"})
	require.NoError(t, err)
	f, err := st.ClaimFanout(ctx, time.Minute)
	require.NoError(t, err)
	require.NoError(t, st.FailFanout(ctx, *f, "temporal is down"))
	hash, err := st.CustomerHash("c_gone")
	require.NoError(t, err)
	_, _, err = st.BeginErasure(ctx, "c_gone", workflows.EraseWorkflowID(hash), "key dpo-desk", "asked by email on 3 May")
	require.NoError(t, err)
	return a
}

// key returns a key holding only scope, made once.
func (a *contractAPI) key(t testing.TB, scope string) string {
	t.Helper()
	if k, ok := a.keys[scope]; ok {
		return k
	}
	_, k, err := a.s.Store.CreateAPIKey(context.Background(), "contract-"+strings.ReplaceAll(scope, ":", "-"), []apikey.Scope{apikey.Scope(scope)})
	require.NoError(t, err)
	a.keys[scope] = k
	return k
}

// exampleCall is one documented example request of a /v1 operation.
type exampleCall struct {
	name, method, path string
	op                 *openapi3.Operation
	params             openapi3.Parameters
	body               any // nil: no body
}

// exampleCalls lists the documented example requests of every /v1
// operation: writes first (POST, PUT: what they create, a suppression
// say, is what the reads then find), reads next, DELETE last (an erasure
// must not take away what other examples read), each group in path order.
func exampleCalls(doc *openapi3.T) []exampleCall {
	var calls []exampleCall
	for _, path := range doc.Paths.InMatchingOrder() {
		if !strings.HasPrefix(path, "/v1/") {
			continue
		}
		item := doc.Paths.Value(path)
		for method, op := range item.Operations() {
			params := slices.Clone(item.Parameters)
			params = append(params, op.Parameters...)
			base := exampleCall{name: method + " " + path, method: method, path: path, op: op, params: params}
			if op.RequestBody == nil {
				calls = append(calls, base)
				continue
			}
			mt := op.RequestBody.Value.Content.Get("application/json")
			if mt == nil || len(mt.Examples) == 0 {
				calls = append(calls, base) // flagged by the test: an example is needed
				continue
			}
			for name, ex := range mt.Examples {
				c := base
				c.name += " (" + name + ")"
				c.body = ex.Value.Value
				calls = append(calls, c)
			}
		}
	}
	order := map[string]int{http.MethodPost: 0, http.MethodPut: 0, http.MethodGet: 1, http.MethodDelete: 2}
	slices.SortStableFunc(calls, func(a, b exampleCall) int {
		if d := order[a.method] - order[b.method]; d != 0 {
			return d
		}
		return strings.Compare(a.name, b.name)
	})
	return calls
}

// request builds an example's request: path parameters and query
// parameters from their documented examples, the body from the request
// example.
func (c exampleCall) request(t *testing.T) *http.Request {
	t.Helper()
	path := c.path
	q := url.Values{}
	for _, p := range c.params {
		if p.Value.Example == nil {
			require.NotEqual(t, openapi3.ParameterInPath, p.Value.In, "%s: path parameter %s has no example", c.name, p.Value.Name)
			continue
		}
		v := fmt.Sprint(p.Value.Example)
		switch p.Value.In {
		case openapi3.ParameterInPath:
			path = strings.ReplaceAll(path, "{"+p.Value.Name+"}", url.PathEscape(v))
		case openapi3.ParameterInQuery:
			q.Set(p.Value.Name, v)
		}
	}
	u := "http://localhost:8080" + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var body io.Reader
	if c.body != nil {
		b, err := json.Marshal(c.body)
		require.NoError(t, err)
		body = bytes.NewReader(b)
	}
	req := httptest.NewRequest(c.method, u, body)
	if c.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.RemoteAddr = "192.0.2.10:5555"
	return req
}

// TestEveryExampleAgainstTheRealHandlers sends each documented example
// request of every /v1 operation to the real handlers, with a key holding
// only the scope the document names, and validates the request and the
// answer against the document: the answer must be a documented success
// whose body fits its schema.
func TestEveryExampleAgainstTheRealHandlers(t *testing.T) {
	doc := contracttest.Load(t)
	rt, err := legacyrouter.NewRouter(doc)
	require.NoError(t, err)
	a := newContractAPI(t)
	ctx := context.Background()
	opts := &openapi3filter.Options{
		IncludeResponseStatus: true,
		MultiError:            true,
		AuthenticationFunc: func(_ context.Context, in *openapi3filter.AuthenticationInput) error {
			if !strings.HasPrefix(in.RequestValidationInput.Request.Header.Get("Authorization"), "Bearer rk_") {
				return fmt.Errorf("no API key in Authorization: Bearer")
			}
			return nil
		},
	}

	calls := exampleCalls(doc)
	seen := map[string]bool{}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			if c.op.RequestBody != nil && c.op.RequestBody.Value.Required {
				require.NotNil(t, c.body, "%s takes a body but documents no example of it", c.name)
			}
			req := c.request(t)
			scope, _ := c.op.Extensions["x-rapport-scope"].(string)
			if scope != "" {
				req.Header.Set("Authorization", "Bearer "+a.key(t, scope))
			}

			route, pathParams, err := rt.FindRoute(req)
			require.NoError(t, err, "the document's router does not find %s", req.URL)
			in := &openapi3filter.RequestValidationInput{Request: req, PathParams: pathParams, Route: route, Options: opts}
			require.NoError(t, openapi3filter.ValidateRequest(ctx, in), "the example request does not fit the document")
			if req.Body != nil {
				// ValidateRequest read the body and put it back.
				req.Body = io.NopCloser(bytes.NewReader(mustRead(t, req.Body)))
			}

			rec := httptest.NewRecorder()
			a.h.ServeHTTP(rec, req)
			require.True(t, rec.Code >= 200 && rec.Code < 300, "%s answered %d: %s", c.name, rec.Code, rec.Body.String())
			_, documented := c.op.Responses.Map()[fmt.Sprint(rec.Code)]
			require.True(t, documented, "%s answered %d, which the document does not list", c.name, rec.Code)

			out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: rec.Code, Header: rec.Header(), Options: opts}
			out.SetBodyBytes(rec.Body.Bytes())
			require.NoError(t, openapi3filter.ValidateResponse(ctx, out), "the answer does not fit the document: %s", rec.Body.String())
			seen[c.method+" "+c.path] = true
		})
	}
	// Every /v1 route served had an example sent.
	for _, r := range a.s.routes() {
		_, path, _ := strings.Cut(r.pattern, " ")
		if strings.HasPrefix(path, "/v1/") {
			assert.True(t, seen[r.pattern], "no documented example of %s was answered", r.pattern)
		}
	}
}

func mustRead(t *testing.T, r io.Reader) []byte {
	t.Helper()
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	return b
}

// TestContractAmountsTakeANumberOrADecimalString holds the Amount schema
// to the two forms shops send money in, and to refusing the rest.
func TestContractAmountsTakeANumberOrADecimalString(t *testing.T) {
	doc := contracttest.Load(t)
	amount := doc.Components.Schemas["Amount"].Value
	require.NotNil(t, amount)
	for _, ok := range []any{48.0, 0.0, 12.5, "48.00", "48", "0.5"} {
		assert.NoError(t, amount.VisitJSON(ok, openapi3.EnableJSONSchema2020()), "%#v is an amount", ok)
	}
	for _, bad := range []any{-1.0, "48,00", "-48.00", "£48", "", "4.8e1", true, nil} {
		assert.Error(t, amount.VisitJSON(bad, openapi3.EnableJSONSchema2020()), "%#v is not an amount", bad)
	}
}

// textField is a string field of a documented request: where it is, its
// schema, and the request with it set to a value.
type textField struct {
	path   string // as the API names it: data.order.items[0].name
	schema *openapi3.Schema
	set    func(v string) any // the example body with the field set to v
}

// textFields lists the string fields of a request body schema, following
// the example: every property of each object the example holds (present
// or not), the first element of its lists, and the alternative of a
// oneOf the example fits.
func textFields(schema *openapi3.Schema, example any, path string, set func(any) any) []textField {
	schema = pickAlternative(schema, example)
	var out []textField
	switch {
	case schema.Type.Includes("object"):
		obj, _ := example.(map[string]any)
		names := slices.Sorted(func(yield func(string) bool) {
			for name := range schema.Properties {
				if !yield(name) {
					return
				}
			}
		})
		for _, name := range names {
			prop := schema.Properties[name].Value
			v, present := obj[name]
			setProp := func(pv any) any {
				c := copyJSON(obj)
				c[name] = pv
				return set(c)
			}
			if prop.Type != nil && prop.Type.Includes("string") {
				out = append(out, textField{path: join(path, name), schema: prop, set: func(s string) any { return setProp(s) }})
				continue
			}
			if present {
				out = append(out, textFields(prop, v, join(path, name), setProp)...)
			}
		}
		if ap := schema.AdditionalProperties.Schema; ap != nil && obj != nil {
			for _, key := range sortedKeys(obj) {
				if _, known := schema.Properties[key]; known {
					continue
				}
				setKey := func(pv any) any {
					c := copyJSON(obj)
					c[key] = pv
					return set(c)
				}
				out = append(out, textFields(ap.Value, obj[key], join(path, key), setKey)...)
			}
		}
	case schema.Type.Includes("array"):
		list, _ := example.([]any)
		if len(list) > 0 && schema.Items != nil {
			setFirst := func(v any) any {
				c := slices.Clone(list)
				c[0] = v
				return set(c)
			}
			out = append(out, textFields(schema.Items.Value, list[0], path+"[0]", setFirst)...)
		}
	}
	return out
}

// pickAlternative is the alternative of a oneOf (or anyOf) that v fits.
func pickAlternative(s *openapi3.Schema, v any) *openapi3.Schema {
	alts := s.OneOf
	if len(alts) == 0 {
		alts = s.AnyOf
	}
	for _, alt := range alts {
		if alt.Value.VisitJSON(v, openapi3.EnableJSONSchema2020()) == nil {
			return pickAlternative(alt.Value, v)
		}
	}
	return s
}

func copyJSON(m map[string]any) map[string]any {
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// bounded reports whether a string schema bounds its values' length.
func bounded(s *openapi3.Schema) bool {
	return s.MaxLength != nil || len(s.Enum) > 0 || s.Format == "date-time"
}

// TestEveryTextFieldIsBoundedAndTheBoundIsKept holds every string field
// of every documented /v1 request (body and query) to a maxLength (or an
// enum or a date-time format), and sends each with one character more
// than its maxLength to the real handlers: the answer is 400 naming the
// field, and, unless the field has a pattern (then its form is named),
// the limit.
func TestEveryTextFieldIsBoundedAndTheBoundIsKept(t *testing.T) {
	doc := contracttest.Load(t)
	a := newContractAPI(t)
	checked := 0
	for _, c := range exampleCalls(doc) {
		var fields []textField
		for _, p := range c.params {
			if p.Value.In != openapi3.ParameterInQuery || p.Value.Schema == nil || !p.Value.Schema.Value.Type.Includes("string") {
				continue
			}
			fields = append(fields, textField{path: "?" + p.Value.Name, schema: p.Value.Schema.Value})
		}
		if c.body != nil {
			schema := c.op.RequestBody.Value.Content.Get("application/json").Schema.Value
			fields = append(fields, textFields(schema, c.body, "", func(v any) any { return v })...)
		}
		for _, f := range fields {
			name := c.name + " " + f.path
			if !assert.True(t, bounded(f.schema), "%s: a text field needs a maxLength in docs/openapi.yaml (and the API must keep it)", name) || f.schema.MaxLength == nil {
				continue
			}
			t.Run(name, func(t *testing.T) {
				max := int(*f.schema.MaxLength)
				over := strings.Repeat("a", max+1)
				call := c
				field := f.path
				var req *http.Request
				if query, ok := strings.CutPrefix(f.path, "?"); ok {
					field = query
					req = call.request(t)
					q := req.URL.Query()
					q.Set(query, over)
					req.URL.RawQuery = q.Encode()
				} else {
					call.body = f.set(over)
					req = call.request(t)
				}
				if scope, _ := c.op.Extensions["x-rapport-scope"].(string); scope != "" {
					req.Header.Set("Authorization", "Bearer "+a.key(t, scope))
				}
				rec := httptest.NewRecorder()
				a.h.ServeHTTP(rec, req)
				var got wire.Error
				rest, ok := strings.CutPrefix(field, "events[0].")
				if !ok {
					rest, ok = strings.CutPrefix(field, "batch[0].") // a Segment batch
				}
				if ok {
					// A batch answers per event.
					require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
					var batch wire.BatchResponse
					require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &batch))
					require.Equal(t, wire.StatusRejected, batch.Results[0].Status, rec.Body.String())
					got, field = wire.Error{Message: batch.Results[0].Error, Field: batch.Results[0].Field}, rest
				} else {
					require.Equal(t, http.StatusBadRequest, rec.Code, rec.Body.String())
					require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
				}
				assert.Equal(t, field, got.Field, got.Message)
				if f.schema.Pattern == "" {
					assert.True(t, strings.Contains(got.Message, fmt.Sprint(max)) || strings.Contains(got.Message, count(max)),
						"%s: the answer names the limit, %d: %s", name, max, got.Message)
				}
			})
			checked++
		}
	}
	assert.Greater(t, checked, 50, "the walk found the text fields")
}
