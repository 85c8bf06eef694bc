package workflows

import (
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Erasure of a customer (GDPR art. 17, CCPA delete) is a workflow, so it
// goes through to the end whatever fails on the way: each part is an
// idempotent activity, retried until it is done.
const (
	EraseWorkflowName = "EraseCustomer"

	BeginErasureActivity       = "BeginErasure"
	CustomerRunsActivity       = "CustomerRuns"
	ExitRunForErasureActivity  = "ExitRunForErasure"
	DeleteExecutionsActivity   = "DeleteExecutions"
	RemoveCustomerDataActivity = "RemoveCustomerData"
	FinishErasureActivity      = "FinishErasure"

	// ErrErasureImpossible is the error type of a failure retrying cannot
	// mend (no hashing key configured): the erasure stops, saying why, and
	// can be asked for again once it is fixed.
	ErrErasureImpossible = "ErasureImpossible"

	// ErasedReason is the reason a journey run of an erased customer
	// exits with.
	ErasedReason = "customer erased"
)

// EraseWorkflowID is the id of the erasure workflow of a customer, named
// by the keyed hash of their id (no customer id in workflow ids that
// outlive the customer). Asking again while one runs finds it.
func EraseWorkflowID(customerHash string) string {
	return "rapport-erase/" + customerHash
}

// EraseInput starts the erasure of a customer.
type EraseInput struct {
	CustomerID string `json:"customer_id"`
	// ErasureID is the erasure's record in the database.
	ErasureID int64 `json:"erasure_id"`
	// By names who asked ("key dpo-desk"), for the runs' records.
	By string `json:"by"`
}

// EraseResult is what the erasure did.
type EraseResult struct {
	RunsExited        int   `json:"runs_exited"`
	ExecutionsDeleted int   `json:"executions_deleted"`
	RowsRemoved       int64 `json:"rows_removed"`
	// Rounds counts the passes: more than one when a run started while the
	// erasure was under way.
	Rounds int `json:"rounds"`
}

// CustomerRuns are a customer's journey runs in the registry.
type CustomerRuns struct {
	Running []string `json:"running"`
	All     []string `json:"all"`
}

// ExitRunRequest asks for a running journey run to be exited, and waits
// for it to end.
type ExitRunRequest struct {
	WorkflowID string `json:"workflow_id"`
	By         string `json:"by"`
	ErasureID  int64  `json:"erasure_id"`
}

// ExitRunResult says how the run ended.
type ExitRunResult struct {
	// Exited is true when the exit update ended it; false when it had
	// ended already, or was not found.
	Exited bool `json:"exited"`
	// Ended is how it ended: exited, completed, failed, terminated, or
	// "not found".
	Ended string `json:"ended"`
}

// DeleteExecutionsRequest asks for every Temporal execution of the
// customer's journey runs to be deleted: those of the listed workflow ids,
// and any other carrying their RapportCustomerId.
type DeleteExecutionsRequest struct {
	CustomerID  string   `json:"customer_id"`
	WorkflowIDs []string `json:"workflow_ids"`
	ErasureID   int64    `json:"erasure_id"`
}

// DeleteExecutionsResult counts the executions deleted.
type DeleteExecutionsResult struct {
	Deleted int `json:"deleted"`
}

// RemoveDataRequest asks for the customer's personal data to be removed
// from the database, once none of their runs is running and every one's
// executions are deleted (Deleted).
type RemoveDataRequest struct {
	ErasureID  int64    `json:"erasure_id"`
	CustomerID string   `json:"customer_id"`
	Deleted    []string `json:"deleted"`
}

// RemoveDataResult says what was removed, or which runs hold it back.
type RemoveDataResult struct {
	Waiting []string `json:"waiting,omitempty"`
	Rows    int64    `json:"rows"`
}

// FinishErasureRequest completes an erasure's record with what it did.
type FinishErasureRequest struct {
	ErasureID         int64 `json:"erasure_id"`
	RunsExited        int   `json:"runs_exited"`
	ExecutionsDeleted int   `json:"executions_deleted"`
}

// maxEraseRounds bounds the passes an erasure makes while runs of the
// customer keep starting.
const maxEraseRounds = 20

// EraseWorkflow erases a customer: (a) their id is marked erased, so
// events for it are refused and nothing more is sent to them; (b) each of
// their running journeys gets the exit update ("customer erased") and the
// erasure waits for it to end; (c) every execution of their journeys is
// deleted from Temporal, so no history keeps their data; (d) their personal
// data is removed from the database in one transaction; (e) the erasure's
// record is completed. A run that started meanwhile holds (d) back, and
// the erasure goes round again.
//
// Every activity is idempotent and retried until it succeeds (database or
// Temporal unavailable, a worker lost): an infrastructure failure delays
// the erasure, never ends it. Only a missing hashing key does.
func EraseWorkflow(ctx workflow.Context, in EraseInput) (EraseResult, error) {
	var res EraseResult
	retry := &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        5 * time.Minute,
		NonRetryableErrorTypes: []string{ErrErasureImpossible},
	}
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 2 * time.Minute, RetryPolicy: retry})
	// Exiting a run waits for it to end, and deleting executions for
	// Temporal to delete them: those activities heartbeat meanwhile.
	waitCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Minute, HeartbeatTimeout: 30 * time.Second, RetryPolicy: retry,
	})

	if err := workflow.ExecuteActivity(ctx, BeginErasureActivity, in).Get(ctx, nil); err != nil {
		return res, fmt.Errorf("mark the customer erased: %w", err)
	}
	var deleted []string
	for {
		res.Rounds++
		var runs CustomerRuns
		if err := workflow.ExecuteActivity(ctx, CustomerRunsActivity, in.CustomerID).Get(ctx, &runs); err != nil {
			return res, fmt.Errorf("list the customer's journeys: %w", err)
		}

		futures := make([]workflow.Future, len(runs.Running))
		for i, id := range runs.Running {
			futures[i] = workflow.ExecuteActivity(waitCtx, ExitRunForErasureActivity, ExitRunRequest{WorkflowID: id, By: in.By, ErasureID: in.ErasureID})
		}
		for _, f := range futures {
			var out ExitRunResult
			if err := f.Get(ctx, &out); err != nil {
				return res, fmt.Errorf("exit a journey of the customer: %w", err)
			}
			if out.Exited {
				res.RunsExited++
			}
		}

		var del DeleteExecutionsResult
		if err := workflow.ExecuteActivity(waitCtx, DeleteExecutionsActivity,
			DeleteExecutionsRequest{CustomerID: in.CustomerID, WorkflowIDs: runs.All, ErasureID: in.ErasureID}).Get(ctx, &del); err != nil {
			return res, fmt.Errorf("delete the customer's executions: %w", err)
		}
		res.ExecutionsDeleted += del.Deleted
		for _, id := range runs.All {
			if !slices.Contains(deleted, id) {
				deleted = append(deleted, id)
			}
		}

		var removed RemoveDataResult
		if err := workflow.ExecuteActivity(ctx, RemoveCustomerDataActivity,
			RemoveDataRequest{ErasureID: in.ErasureID, CustomerID: in.CustomerID, Deleted: deleted}).Get(ctx, &removed); err != nil {
			return res, fmt.Errorf("remove the customer's data: %w", err)
		}
		res.RowsRemoved += removed.Rows
		if len(removed.Waiting) == 0 {
			break
		}
		if res.Rounds >= maxEraseRounds {
			return res, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("journeys of the customer kept starting during the erasure (%d passes); ask for the erasure again", res.Rounds),
				ErrErasureImpossible, nil)
		}
		// A run started meanwhile: go round again, after a pause.
		if err := workflow.Sleep(ctx, time.Duration(res.Rounds)*time.Second); err != nil {
			return res, err
		}
	}

	if err := workflow.ExecuteActivity(ctx, FinishErasureActivity,
		FinishErasureRequest{ErasureID: in.ErasureID, RunsExited: res.RunsExited, ExecutionsDeleted: res.ExecutionsDeleted}).Get(ctx, nil); err != nil {
		return res, fmt.Errorf("complete the erasure record: %w", err)
	}
	return res, nil
}
