// Package inspect reads journey runs from Temporal for staff, and writes
// them for people: a customer's runs with their state and their tasks
// (rapport inspect), and runs by journey and plan (rapport runs list).
package inspect

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

// Run is one journey run of a customer, as `rapport inspect` shows it.
type Run struct {
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
	Journey    string `json:"journey"`
	PlanHash   string `json:"plan_hash"`
	Status     string `json:"status"` // the workflow's: running, completed, ...
	// Outcome is the RapportOutcome search attribute of an ended run:
	// completed, partly_delivered, nothing_delivered, exited, failed.
	Outcome   string     `json:"outcome,omitempty"`
	StartedAt time.Time  `json:"started_at"`
	ClosedAt  *time.Time `json:"closed_at,omitempty"`
	// State is the run's answer to the state query; StateError says why
	// there is none (no worker to answer, say).
	State      *workflows.State `json:"state,omitempty"`
	StateError string           `json:"state_error,omitempty"`
	// Tasks are the run's staff tasks with what staff did to them
	// (claims, assignments, unclaims, notes), from the database when
	// DATABASE_URL names it.
	Tasks []store.Task `json:"tasks,omitempty"`
}

// Inspection is a customer's journeys.
type Inspection struct {
	CustomerID string `json:"customer_id"`
	Runs       []Run  `json:"runs"`
	// TasksError says why the runs' tasks could not be read.
	TasksError string `json:"tasks_error,omitempty"`
}

// Customer finds a customer's runs (at most limit) by RapportCustomerId,
// running ones first, and asks each for its state.
func Customer(ctx context.Context, c client.Client, namespace, customerID string, limit int) (Inspection, error) {
	in := Inspection{CustomerID: customerID, Runs: []Run{}}
	query := fmt.Sprintf("%s = '%s'", workflows.CustomerIDAttr.GetName(), customerID) // a valid id holds no quote
	var token []byte
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: namespace, Query: query, NextPageToken: token, PageSize: int32(min(limit, 1000)),
		})
		if err != nil {
			return in, fmt.Errorf("find the journeys of %s in Temporal: %w", customerID, err)
		}
		for _, e := range resp.GetExecutions() {
			v := Run{
				WorkflowID: e.GetExecution().GetWorkflowId(),
				RunID:      e.GetExecution().GetRunId(),
				Status:     strings.ToLower(strings.TrimPrefix(e.GetStatus().String(), "WORKFLOW_EXECUTION_STATUS_")),
				StartedAt:  e.GetStartTime().AsTime(),
				Journey:    keyword(e.GetSearchAttributes(), workflows.JourneyAttr.GetName()),
				PlanHash:   keyword(e.GetSearchAttributes(), workflows.PlanHashAttr.GetName()),
				Outcome:    keyword(e.GetSearchAttributes(), workflows.OutcomeAttr.GetName()),
			}
			if e.GetCloseTime() != nil && e.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
				t := e.GetCloseTime().AsTime()
				v.ClosedAt = &t
			}
			in.Runs = append(in.Runs, v)
		}
		token = resp.GetNextPageToken()
		if len(token) == 0 || len(in.Runs) >= limit {
			break
		}
	}
	slices.SortStableFunc(in.Runs, func(a, b Run) int {
		if ar, br := a.Status == "running", b.Status == "running"; ar != br {
			if ar {
				return -1
			}
			return 1
		}
		return b.StartedAt.Compare(a.StartedAt)
	})
	if len(in.Runs) > limit {
		in.Runs = in.Runs[:limit]
	}
	for i := range in.Runs {
		v := &in.Runs[i]
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		resp, err := c.QueryWorkflow(qctx, v.WorkflowID, v.RunID, workflows.StateQuery)
		if err == nil {
			var st workflows.State
			if err = resp.Get(&st); err == nil {
				v.State = &st
				v.Journey, v.PlanHash = cmp.Or(v.Journey, st.Journey), cmp.Or(v.PlanHash, st.PlanHash)
			}
		}
		cancel()
		if err != nil {
			v.StateError = queryProblem(err)
		}
	}
	return in, nil
}

// AttachTasks adds to each run its staff tasks, with what staff did to
// them, from the database.
func (in *Inspection) AttachTasks(ctx context.Context, st *store.Store) {
	tasks, err := st.ListTasks(ctx, store.TaskFilter{CustomerID: in.CustomerID, Statuses: []string{
		store.TaskOpen, store.TaskClaimed, store.TaskCompleted, store.TaskOverdue, store.TaskCancelled}, Limit: 1000})
	if err != nil {
		in.TasksError = err.Error()
		return
	}
	for i := range in.Runs {
		for _, t := range tasks {
			if t.WorkflowID == in.Runs[i].WorkflowID {
				in.Runs[i].Tasks = append(in.Runs[i].Tasks, t)
			}
		}
	}
}

// queryProblem says why a run's state could not be read.
func queryProblem(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "no answer within 10s: is a worker running?"
	}
	return err.Error()
}

// keyword reads a keyword search attribute from a visibility record.
func keyword(sa *commonpb.SearchAttributes, name string) string {
	p, ok := sa.GetIndexedFields()[name]
	if !ok {
		return ""
	}
	var s string
	if err := converter.GetDefaultDataConverter().FromPayload(p, &s); err != nil {
		return ""
	}
	return s
}
