// Package contracttest holds HTTP traffic to the API's contract,
// docs/openapi.yaml, in tests: a handler wrapped by Checker.Handler has
// every request it serves, and every answer, validated against the
// document (with github.com/getkin/kin-openapi), and a mismatch fails the
// test. Clients of the API (the rapport CLI) test against the real
// handlers wrapped so.
package contracttest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	legacyrouter "github.com/getkin/kin-openapi/routers/legacy"
	"github.com/stretchr/testify/mock"
	enumspb "go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/mocks"

	"github.com/rapporthq/rapport/docs"
	"github.com/rapporthq/rapport/internal/journey"
)

// Load loads docs/openapi.yaml as the server embeds it, and validates it
// (its examples included, against their schemas).
func Load(t testing.TB) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(docs.OpenAPIYAML())
	if err != nil {
		t.Fatalf("docs/openapi.yaml does not load: %v", err)
	}
	if err := doc.Validate(loader.Context, openapi3.EnableExamplesValidation()); err != nil {
		t.Fatalf("docs/openapi.yaml is not a valid OpenAPI document: %v", err)
	}
	return doc
}

// Checker validates requests and answers against the contract and
// remembers the operations it saw.
type Checker struct {
	t      testing.TB
	router routers.Router
	opts   *openapi3filter.Options

	mu   sync.Mutex
	seen map[string][]int // "POST /v1/events" -> statuses answered
}

// New returns a Checker of the committed contract, failing t on every
// request or answer that does not fit it.
func New(t testing.TB) *Checker {
	t.Helper()
	rt, err := legacyrouter.NewRouter(Load(t))
	if err != nil {
		t.Fatalf("route the contract: %v", err)
	}
	return &Checker{t: t, router: rt, seen: map[string][]int{},
		opts: &openapi3filter.Options{
			IncludeResponseStatus: true, // an answer's status must be documented
			MultiError:            true,
			// Keys are the server's business (and its tests'): the
			// contract is checked for shapes here.
			AuthenticationFunc: func(context.Context, *openapi3filter.AuthenticationInput) error { return nil },
		}}
}

// Handler serves next, validating each request before next sees it and
// each answer before the client does. The answer is held until next is
// done (a streamed answer arrives whole).
func (c *Checker) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			c.t.Errorf("%s %s: read the request: %v", r.Method, r.URL.Path, err)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))

		// The document's router matches its servers' address.
		vr := r.Clone(r.Context())
		vr.URL.Scheme, vr.URL.Host = "http", "localhost:8080"
		vr.Body = io.NopCloser(bytes.NewReader(body))
		route, params, err := c.router.FindRoute(vr)
		if err != nil {
			c.t.Errorf("%s %s: docs/openapi.yaml documents no such operation: %v", r.Method, r.URL.Path, err)
			next.ServeHTTP(w, r)
			return
		}
		name := r.Method + " " + route.Path
		in := &openapi3filter.RequestValidationInput{Request: vr, PathParams: params, Route: route, Options: c.opts}
		if err := openapi3filter.ValidateRequest(r.Context(), in); err != nil {
			c.t.Errorf("%s: the request does not fit docs/openapi.yaml: %v\nbody: %s", name, err, body)
		}

		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: rec.Code, Header: rec.Header(), Options: c.opts}
		out.SetBodyBytes(rec.Body.Bytes())
		if err := openapi3filter.ValidateResponse(r.Context(), out); err != nil {
			c.t.Errorf("%s: the answer (%d) does not fit docs/openapi.yaml: %v\nbody: %s", name, rec.Code, err, rec.Body.String())
		}
		c.mu.Lock()
		c.seen[name] = append(c.seen[name], rec.Code)
		c.mu.Unlock()

		maps.Copy(w.Header(), rec.Header())
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
}

// Seen lists the operations validated ("POST /v1/events"), sorted.
func (c *Checker) Seen() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Sorted(maps.Keys(c.seen))
}

// Statuses lists the statuses an operation answered, in order.
func (c *Checker) Statuses(operation string) []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.seen[operation])
}

// String lists what was validated, for failure messages.
func (c *Checker) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprint(c.seen)
}

// ShippedCatalog compiles the shipped journeys the contract's examples
// name (thank-you and lapse-winback, in root/journeys, and back-in-stock,
// in root/docs/examples, whose trigger fans out), for a router the API
// starts them with.
func ShippedCatalog(t testing.TB, root string) (*journey.Catalog, *journey.Env) {
	t.Helper()
	comp, err := journey.NewCompiler(journey.Options{})
	if err != nil {
		t.Fatalf("journey compiler: %v", err)
	}
	var plans []*journey.Plan
	for _, f := range []string{"journeys/thank-you.yaml", "journeys/lapse-winback.yaml", "docs/examples/back-in-stock.yaml"} {
		src, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatalf("read %s: %v", f, err)
		}
		plan, diags := comp.Compile(filepath.Base(f), src)
		if diags.HasErrors() {
			t.Fatalf("%s: %v", f, diags)
		}
		plans = append(plans, plan)
	}
	cat, err := journey.NewCatalog(plans...)
	if err != nil {
		t.Fatalf("catalog: %v", err)
	}
	return cat, comp.Env()
}

// Temporal is a Temporal client that answers what the API asks of it, as
// a healthy cluster would (journeys, erasures and audience runs run for
// real in the tests of the whole stack, not here).
func Temporal() *mocks.Client {
	tc := &mocks.Client{}
	run := &mocks.WorkflowRun{}
	run.On("Get", mock.Anything, mock.Anything).Return(nil)
	run.On("GetID").Return("wf")
	run.On("GetRunID").Return("run")
	tc.On("ExecuteWorkflow", mock.Anything, mock.Anything, mock.Anything, mock.Anything).Return(run, nil)
	tc.On("SignalWithStartWorkflow", mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything).Return(run, nil)
	tc.On("SignalWorkflow", mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything).Return(nil)
	tc.On("DescribeWorkflowExecution", mock.Anything, mock.Anything, mock.Anything).Return(&workflowservice.DescribeWorkflowExecutionResponse{
		WorkflowExecutionInfo: &workflowpb.WorkflowExecutionInfo{Status: enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING}}, nil)
	tc.On("ListWorkflow", mock.Anything, mock.Anything).Return(&workflowservice.ListWorkflowExecutionsResponse{}, nil)
	update := &mocks.WorkflowUpdateHandle{}
	update.On("Get", mock.Anything, mock.Anything).Return(nil)
	tc.On("UpdateWorkflow", mock.Anything, mock.Anything).Return(update, nil)
	return tc
}
