package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

// The erasure workflow's activities. Each is idempotent: the workflow
// retries them until they succeed.

// RegisterErasure adds the erasure activities to a worker under the names
// the erasure workflow uses.
func (a *Activities) RegisterErasure(w Registry) {
	w.RegisterActivityWithOptions(a.BeginErasure, activity.RegisterOptions{Name: workflows.BeginErasureActivity})
	w.RegisterActivityWithOptions(a.CustomerRuns, activity.RegisterOptions{Name: workflows.CustomerRunsActivity})
	w.RegisterActivityWithOptions(a.ExitRunForErasure, activity.RegisterOptions{Name: workflows.ExitRunForErasureActivity})
	w.RegisterActivityWithOptions(a.DeleteExecutions, activity.RegisterOptions{Name: workflows.DeleteExecutionsActivity})
	w.RegisterActivityWithOptions(a.RemoveCustomerData, activity.RegisterOptions{Name: workflows.RemoveCustomerDataActivity})
	w.RegisterActivityWithOptions(a.FinishErasure, activity.RegisterOptions{Name: workflows.FinishErasureActivity})
}

// erasureError makes the failures retrying cannot mend (no hashing key, no
// Temporal client) end the erasure, saying why; others are retried.
func erasureError(err error) error {
	if errors.Is(err, store.ErrNoHashKey) {
		return temporal.NewNonRetryableApplicationError(err.Error(), workflows.ErrErasureImpossible, err)
	}
	return err
}

// BeginErasure checks the erasure can be done and that its record exists
// (the API made it, and with it the id's events are refused).
func (a *Activities) BeginErasure(ctx context.Context, in workflows.EraseInput) error {
	if !a.Store.CanErase() {
		return erasureError(store.ErrNoHashKey)
	}
	if a.Temporal == nil {
		return temporal.NewNonRetryableApplicationError("this worker has no Temporal client for erasures", workflows.ErrErasureImpossible, nil)
	}
	e, err := a.Store.GetErasure(ctx, in.ErasureID)
	if errors.Is(err, store.ErrNotFound) {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("erasure %d is not recorded; ask for the erasure again", in.ErasureID), workflows.ErrErasureImpossible, err)
	}
	if err != nil {
		return err
	}
	h, err := a.Store.CustomerHash(in.CustomerID)
	if err != nil {
		return erasureError(err)
	}
	if e.CustomerHash != h {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("erasure %d is of another customer", in.ErasureID), workflows.ErrErasureImpossible, nil)
	}
	return a.Store.RecordErasureProgress(ctx, in.ErasureID, store.ErasureProgress{Stage: store.ErasureExiting})
}

// CustomerRuns lists the customer's journey runs in the registry.
func (a *Activities) CustomerRuns(ctx context.Context, customerID string) (workflows.CustomerRuns, error) {
	running, all, err := a.Store.CustomerRuns(ctx, customerID)
	return workflows.CustomerRuns{Running: running, All: all}, err
}

// exitGrace is how long a run has to end after the exit update before it
// is terminated.
const exitGrace = 2 * time.Minute

// ExitRunForErasure sends a running journey the exit update ("customer
// erased") and waits for it to end. A run that had ended, or that Temporal
// does not know, is recorded as exited in the registry if it still says
// running; one that does not end within exitGrace (a run from before the
// exit update existed, say) is terminated.
func (a *Activities) ExitRunForErasure(ctx context.Context, req workflows.ExitRunRequest) (workflows.ExitRunResult, error) {
	var res workflows.ExitRunResult
	log := a.logger(ctx)
	_, err := a.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   req.WorkflowID,
		UpdateName:   workflows.ExitUpdate,
		Args:         []any{workflows.Exit{Reason: workflows.ErasedReason, By: req.By}},
		WaitForStage: client.WorkflowUpdateStageAccepted,
	})
	var notFound *serviceerror.NotFound
	var appErr *temporal.ApplicationError
	terminate := false
	switch {
	case err == nil:
		res.Exited = true
	case errors.As(err, &notFound):
		res.Ended = "not found"
	case errors.As(err, &appErr) && strings.Contains(err.Error(), "unknown update"):
		terminate = true // a run from before the exit update existed
	case errors.As(err, &appErr):
		// Refused: the run has ended, or is exiting already.
		log.Info("exit update refused; waiting for the run to end", "reason", err.Error())
	default:
		return res, fmt.Errorf("exit the run: %w", err)
	}

	deadline := time.Now().Add(exitGrace)
	for res.Ended == "" {
		d, err := a.Temporal.DescribeWorkflowExecution(ctx, req.WorkflowID, "")
		switch {
		case errors.As(err, &notFound):
			res.Ended = "not found"
			continue
		case err != nil:
			return res, fmt.Errorf("see whether the run ended: %w", err)
		}
		if status := d.GetWorkflowExecutionInfo().GetStatus(); status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			res.Ended = strings.ToLower(strings.TrimPrefix(status.String(), "WORKFLOW_EXECUTION_STATUS_"))
			continue
		}
		if terminate || time.Now().After(deadline) {
			log.Warn("the run did not end on the exit update; terminating it")
			if err := a.Temporal.TerminateWorkflow(ctx, req.WorkflowID, "", workflows.ErasedReason); err != nil && !errors.As(err, &notFound) {
				return res, fmt.Errorf("terminate the run: %w", err)
			}
			terminate = false
			continue
		}
		activity.RecordHeartbeat(ctx, "waiting for the run to end")
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	if err := a.Store.EndRunErased(ctx, req.WorkflowID); err != nil {
		return res, err
	}
	return res, nil
}

// deleteWait bounds how long one attempt of DeleteExecutions waits for
// Temporal to finish deleting (it deletes in the background, and waits
// for the execution's closing to be fully recorded first: up to half a
// minute on a default server).
const deleteWait = 5 * time.Minute

// DeleteExecutions deletes from Temporal every execution of the customer's
// journeys: the current run of each workflow id listed, and every
// execution Temporal lists under their RapportCustomerId (earlier runs of
// a workflow that continued as new, runs the registry missed). It
// succeeds once Temporal knows none of them and lists none.
func (a *Activities) DeleteExecutions(ctx context.Context, req workflows.DeleteExecutionsRequest) (workflows.DeleteExecutionsResult, error) {
	var res workflows.DeleteExecutionsResult
	if err := a.Store.RecordErasureProgress(ctx, req.ErasureID, store.ErasureProgress{Stage: store.ErasureDeleting}); err != nil {
		return res, err
	}
	var notFound *serviceerror.NotFound
	asked := map[string]bool{} // workflow id + run id deletion was asked for
	del := func(id, runID string) error {
		if asked[id+"/"+runID] {
			return nil
		}
		_, err := a.Temporal.WorkflowService().DeleteWorkflowExecution(ctx, &workflowservice.DeleteWorkflowExecutionRequest{
			Namespace:         a.Namespace,
			WorkflowExecution: &commonpb.WorkflowExecution{WorkflowId: id, RunId: runID},
		})
		switch {
		case errors.As(err, &notFound):
		case err != nil:
			return fmt.Errorf("delete a journey execution: %w", err)
		default:
			res.Deleted++
		}
		asked[id+"/"+runID] = true
		return nil
	}
	deadline := time.Now().Add(deleteWait)
	for {
		for _, id := range req.WorkflowIDs {
			if err := del(id, ""); err != nil {
				return res, err
			}
		}
		listed, err := a.listedExecutions(ctx, req.CustomerID)
		if err != nil {
			return res, err
		}
		for _, e := range listed {
			if err := del(e.GetWorkflowId(), e.GetRunId()); err != nil {
				return res, err
			}
		}
		// Deleted once Temporal no longer knows them, nor lists them.
		known := len(listed)
		for _, id := range req.WorkflowIDs {
			_, err := a.Temporal.DescribeWorkflowExecution(ctx, id, "")
			switch {
			case errors.As(err, &notFound):
			case err != nil:
				return res, fmt.Errorf("see whether a journey execution is deleted: %w", err)
			default:
				known++
			}
		}
		if known == 0 {
			return res, nil
		}
		if time.Now().After(deadline) {
			msg := fmt.Sprintf("Temporal still holds %d execution(s) of the customer; deleting them again", known)
			_ = a.Store.RecordErasureProgress(ctx, req.ErasureID, store.ErasureProgress{Error: msg})
			return res, errors.New(msg)
		}
		activity.RecordHeartbeat(ctx, known)
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// listedExecutions are the executions Temporal lists for the customer.
func (a *Activities) listedExecutions(ctx context.Context, customerID string) ([]*commonpb.WorkflowExecution, error) {
	if strings.ContainsAny(customerID, `'"\`) {
		return nil, nil // not a valid id (see workflows.ValidIDPart): no run carries it
	}
	query := fmt.Sprintf("%s = '%s'", workflows.CustomerIDAttr.GetName(), customerID)
	var out []*commonpb.WorkflowExecution
	var token []byte
	for {
		resp, err := a.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: a.Namespace, Query: query, NextPageToken: token, PageSize: 1000,
		})
		if err != nil {
			return nil, fmt.Errorf("list the customer's executions: %w", err)
		}
		for _, e := range resp.GetExecutions() {
			out = append(out, e.GetExecution())
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return out, nil
		}
	}
}

// RemoveCustomerData removes the customer's personal data from the
// database (store.RemoveCustomerData).
func (a *Activities) RemoveCustomerData(ctx context.Context, req workflows.RemoveDataRequest) (workflows.RemoveDataResult, error) {
	scrub, err := a.Store.RemoveCustomerData(ctx, req.ErasureID, req.CustomerID, req.Deleted)
	if err != nil {
		return workflows.RemoveDataResult{}, erasureError(err)
	}
	if len(scrub.Waiting) > 0 {
		a.logger(ctx).Info("runs of the erased customer started meanwhile; going round again", "runs", len(scrub.Waiting))
	}
	return workflows.RemoveDataResult{Waiting: scrub.Waiting, Rows: scrub.Rows}, nil
}

// FinishErasure completes the erasure's record with what it did.
func (a *Activities) FinishErasure(ctx context.Context, req workflows.FinishErasureRequest) error {
	err := a.Store.RecordErasureProgress(ctx, req.ErasureID, store.ErasureProgress{RunsExited: req.RunsExited, ExecutionsDeleted: req.ExecutionsDeleted})
	if err != nil {
		return err
	}
	_, err = a.Store.FinishErasure(ctx, req.ErasureID)
	return err
}
