package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/rapporthq/rapport/internal/api/wire"
	"github.com/rapporthq/rapport/internal/apikey"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

// maxEraseReason bounds the reason given for an erasure, which is kept.
const maxEraseReason = 500

// eraseCustomer erases a customer (DELETE /v1/customers/{id}, body
// {"reason": "..."}): it records the request, from when on the id's events
// answer 410 and nothing is sent to them, and starts the erasure workflow,
// or finds the one under way. It answers 202 with where the erasure
// stands; GET /v1/customers/{id}/erasure follows it. Asking again while it
// runs changes nothing; asking for a customer erased already answers 200
// with that erasure.
func (s *Server) eraseCustomer(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	var req wire.EraseRequest
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	reason := strings.TrimSpace(req.Reason)
	switch {
	case reason == "":
		s.fail(w, r, badField("reason", "is required: say why the customer is erased (\"asked by email on 3 May\"); it is kept with the erasure record"))
		return
	case utf8.RuneCountInString(reason) > maxEraseReason:
		s.fail(w, r, badField("reason", "is %d characters; keep it to %d", utf8.RuneCountInString(reason), maxEraseReason))
		return
	}
	if !s.Store.CanErase() {
		s.fail(w, r, &apiError{Status: http.StatusServiceUnavailable, Message: store.ErrNoHashKey.Error()})
		return
	}
	if s.Temporal == nil {
		s.fail(w, r, &apiError{Status: http.StatusServiceUnavailable, Message: "erasure needs Temporal, and this API has no connection to it"})
		return
	}

	_, err := s.Store.GetCustomer(ctx, id)
	exists := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, err)
		return
	}
	latest, err := s.Store.LatestErasure(ctx, id)
	switch {
	case err != nil && !errors.Is(err, store.ErrNotFound):
		s.fail(w, r, err)
		return
	case !exists && errors.Is(err, store.ErrNotFound):
		notFound(w, "customer", id)
		return
	case !exists && latest.Done():
		writeJSON(w, http.StatusOK, wire.Erasure{CustomerID: id, Status: wire.ErasureDone, ErasureRecord: erasureRecord(latest)})
		return
	}

	hash, err := s.Store.CustomerHash(id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	wid := workflows.EraseWorkflowID(hash)
	by := "unknown caller"
	if p, ok := apikey.FromContext(ctx); ok {
		by = p.Who()
	}
	er, _, err := s.Store.BeginErasure(ctx, id, wid, by, reason)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.startErasure(ctx, id, er); err != nil {
		s.log().Warn("erasure recorded, its workflow not started", "erasure_id", er.ID, "error", err)
		s.fail(w, r, &apiError{Status: http.StatusServiceUnavailable, Message: "the erasure is recorded (the customer's events are refused from now on) but could not start: Temporal did not answer; ask again to resume it"})
		return
	}
	writeJSON(w, http.StatusAccepted, s.erasureStatus(ctx, id, er))
}

// startErasure starts the erasure workflow, or finds it running: its id
// is the customer's, so asking twice starts one, and one that ended
// (failed, or done before a new registration was erased) may start again.
func (s *Server) startErasure(ctx context.Context, customerID string, er store.Erasure) error {
	_, err := s.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       er.WorkflowID,
		TaskQueue:                workflows.TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		StaticSummary:            fmt.Sprintf("erasure %d of a customer", er.ID),
	}, workflows.EraseWorkflowName, workflows.EraseInput{CustomerID: customerID, ErasureID: er.ID, By: er.RequestedBy})
	return err
}

// getErasure answers where the latest erasure of a customer stands (GET
// /v1/customers/{id}/erasure).
func (s *Server) getErasure(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !s.Store.CanErase() {
		s.fail(w, r, &apiError{Status: http.StatusServiceUnavailable, Message: store.ErrNoHashKey.Error()})
		return
	}
	er, err := s.Store.LatestErasure(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		writeJSON(w, http.StatusNotFound, wire.Error{Message: "customer " + id + " has not been erased"})
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.erasureStatus(r.Context(), id, er))
}

// erasureStatus says where an erasure stands: done, running, or failed
// when its workflow ended without completing it.
func (s *Server) erasureStatus(ctx context.Context, customerID string, er store.Erasure) wire.Erasure {
	out := wire.Erasure{CustomerID: customerID, Status: wire.ErasureRunning, ErasureRecord: erasureRecord(er)}
	if er.Done() {
		out.Status = wire.ErasureDone
		return out
	}
	if s.Temporal == nil {
		return out
	}
	d, err := s.Temporal.DescribeWorkflowExecution(ctx, er.WorkflowID, "")
	var nf *serviceerror.NotFound
	switch {
	case errors.As(err, &nf):
		out.Status, out.Error = wire.ErasureFailed, "the erasure is not running; ask for it again to resume it"
	case err != nil:
		return out // Temporal unavailable: it is recorded as running
	case d.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		out.Status = wire.ErasureFailed
		out.Error = "the erasure stopped; ask for it again to resume it"
		if err := s.Temporal.GetWorkflow(ctx, er.WorkflowID, "").Get(ctx, nil); err != nil {
			out.Error = fmt.Sprintf("the erasure stopped (%s); ask for it again to resume it", rootMessage(err))
		}
	}
	return out
}

// rootMessage is the innermost message of an error chain.
func rootMessage(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}

// refuseErased answers 410 Gone for an event of an erased customer.
func (s *Server) refuseErased(ctx context.Context, customerID string) error {
	erased, err := s.Store.Erased(ctx, customerID)
	if err != nil {
		return err
	}
	if erased {
		return erasedCustomer(customerID)
	}
	return nil
}

func erasedCustomer(id string) *apiError {
	return &apiError{Status: http.StatusGone, Field: "customer_id",
		Message: fmt.Sprintf("customer_id: customer %s was erased; their events are not taken. If they sign up again, create them with POST /v1/customers first (a new customer, with none of the old history)", id)}
}
