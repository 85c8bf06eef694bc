package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/mocks"

	"github.com/rapporthq/rapport/internal/apikey"
	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/router"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/store/storetest"
	"github.com/rapporthq/rapport/workflows"
)

// eraseAPI is the API over a real database, with Temporal mocked: the
// erasure workflow itself is tested in workflows and end to end in
// cmd/rapport.
type eraseAPI struct {
	t      *testing.T
	st     *store.Store
	tc     *mocks.Client
	s      *Server
	h      http.Handler
	token  string
	starts []client.StartWorkflowOptions
	inputs []workflows.EraseInput
}

func newEraseAPI(t *testing.T) *eraseAPI {
	t.Helper()
	st, _ := storetest.New(t)
	cat, err := journey.NewCatalog()
	require.NoError(t, err)
	a := &eraseAPI{t: t, st: st, tc: &mocks.Client{}}
	a.s = &Server{Store: st, Temporal: a.tc, Router: &router.Router{Store: st, Catalog: cat}}
	a.h = a.s.Handler()
	_, a.token, err = st.CreateAPIKey(context.Background(), "dpo-desk", []apikey.Scope{apikey.Admin})
	require.NoError(t, err)
	a.tc.On("ExecuteWorkflow", mock.Anything, mock.Anything, workflows.EraseWorkflowName, mock.Anything).
		Return(func(_ context.Context, o client.StartWorkflowOptions, _ any, args ...any) (client.WorkflowRun, error) {
			a.starts = append(a.starts, o)
			a.inputs = append(a.inputs, args[0].(workflows.EraseInput))
			return &mocks.WorkflowRun{}, nil
		})
	a.tc.On("DescribeWorkflowExecution", mock.Anything, mock.Anything, "").Return(&workflowservice.DescribeWorkflowExecutionResponse{
		WorkflowExecutionInfo: &workflowpb.WorkflowExecutionInfo{Status: enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING}}, nil)
	return a
}

func (a *eraseAPI) do(method, path string, body any) (int, map[string]any) {
	a.t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(a.t, err)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req := httptest.NewRequest(method, path, rd)
	req.Header.Set("Authorization", "Bearer "+a.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	var out map[string]any
	require.NoError(a.t, json.Unmarshal(rec.Body.Bytes(), &out), rec.Body.String())
	return rec.Code, out
}

func TestEraseAnswers410UntilRegisteredAgain(t *testing.T) {
	t.Parallel()
	a := newEraseAPI(t)
	ctx := context.Background()
	status, body := a.do("POST", "/v1/customers", map[string]any{"id": "c_ada", "email": "ada@example.com", "name": "Ada Lovelace"})
	require.Equal(t, http.StatusCreated, status, body)
	status, body = a.do("POST", "/v1/events", map[string]any{"id": "e1", "type": "page.viewed", "customer_id": "c_ada"})
	require.Equal(t, http.StatusAccepted, status, body)

	status, body = a.do("DELETE", "/v1/customers/c_ada", map[string]any{})
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "reason", body["field"], "a reason is required")
	status, body = a.do("DELETE", "/v1/customers/c_ada", map[string]any{"reason": strings.Repeat("x", 501)})
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "reason", body["field"])
	status, _ = a.do("DELETE", "/v1/customers/c_nobody", map[string]any{"reason": "asked"})
	assert.Equal(t, http.StatusNotFound, status, "no such customer, never erased")
	status, _ = a.do("GET", "/v1/customers/c_ada/erasure", nil)
	assert.Equal(t, http.StatusNotFound, status, "not erased yet")
	assert.Empty(t, a.starts)

	status, body = a.do("DELETE", "/v1/customers/c_ada", map[string]any{"reason": "asked by email"})
	require.Equal(t, http.StatusAccepted, status, body)
	assert.Equal(t, "running", body["status"])
	assert.Equal(t, "key dpo-desk", body["requested_by"])
	assert.Equal(t, "asked by email", body["reason"])
	require.Len(t, a.starts, 1)
	hash, err := a.st.CustomerHash("c_ada")
	require.NoError(t, err)
	assert.Equal(t, "rapport-erase/"+hash, a.starts[0].ID, "the workflow id holds a hash, not the id")
	assert.NotContains(t, a.starts[0].ID, "c_ada")
	assert.Equal(t, enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE, a.starts[0].WorkflowIDReusePolicy)
	assert.Equal(t, enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING, a.starts[0].WorkflowIDConflictPolicy, "asking again finds the erasure under way")
	assert.Equal(t, workflows.EraseInput{CustomerID: "c_ada", ErasureID: int64(body["id"].(float64)), By: "key dpo-desk"}, a.inputs[0])

	status, again := a.do("DELETE", "/v1/customers/c_ada", map[string]any{"reason": "asked again"})
	require.Equal(t, http.StatusAccepted, status, again)
	assert.Equal(t, body["id"], again["id"], "the same erasure")
	assert.Equal(t, a.starts[0].ID, a.starts[1].ID)

	// Events for her are gone at once, single or in a batch.
	status, body = a.do("POST", "/v1/events", map[string]any{"id": "e2", "type": "page.viewed", "customer_id": "c_ada"})
	assert.Equal(t, http.StatusGone, status, body)
	assert.Contains(t, body["error"], "erased")
	status, body = a.do("POST", "/v1/events", map[string]any{"events": []any{map[string]any{"id": "e3", "type": "page.viewed", "customer_id": "c_ada"}}})
	require.Equal(t, http.StatusOK, status, body)
	assert.EqualValues(t, 1, body["rejected"])
	assert.Contains(t, body["results"].([]any)[0].(map[string]any)["error"], "was erased")

	// The workflow does its work (here, directly).
	er, err := a.st.LatestErasure(ctx, "c_ada")
	require.NoError(t, err)
	_, err = a.st.RemoveCustomerData(ctx, er.ID, "c_ada", nil)
	require.NoError(t, err)
	_, err = a.st.FinishErasure(ctx, er.ID)
	require.NoError(t, err)
	status, body = a.do("GET", "/v1/customers/c_ada/erasure", nil)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, "done", body["status"])
	status, body = a.do("DELETE", "/v1/customers/c_ada", map[string]any{"reason": "asked a third time"})
	assert.Equal(t, http.StatusOK, status, "erased already: nothing to start")
	assert.Equal(t, "done", body["status"])
	assert.Len(t, a.starts, 2)
	status, _ = a.do("GET", "/v1/customers/c_ada", nil)
	assert.Equal(t, http.StatusNotFound, status)
	status, _ = a.do("POST", "/v1/events", map[string]any{"id": "e4", "type": "page.viewed", "customer_id": "c_ada"})
	assert.Equal(t, http.StatusGone, status, "still gone after the erasure")

	// She signs up again: a new customer, whose events are taken.
	status, body = a.do("POST", "/v1/customers", map[string]any{"id": "c_ada", "email": "ada@example.com", "name": "Ada"})
	require.Equal(t, http.StatusCreated, status, body)
	status, body = a.do("POST", "/v1/events", map[string]any{"id": "e5", "type": "page.viewed", "customer_id": "c_ada"})
	assert.Equal(t, http.StatusAccepted, status, body)
}

func TestEraseNeedsTheEraseScope(t *testing.T) {
	t.Parallel()
	a := newEraseAPI(t)
	_, token, err := a.st.CreateAPIKey(context.Background(), "shop", []apikey.Scope{apikey.CustomersWrite, apikey.CustomersRead, apikey.EventsWrite})
	require.NoError(t, err)
	a.token = token
	status, body := a.do("DELETE", "/v1/customers/c_ada", map[string]any{"reason": "asked"})
	assert.Equal(t, http.StatusForbidden, status)
	assert.Equal(t, "erase", body["scope"])
}
