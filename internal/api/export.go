package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/rapporthq/rapport/internal/api/wire"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

// exportJourneyLimit bounds the journeys an export lists from Temporal.
const exportJourneyLimit = 10_000

// exportStateLimit bounds the open journeys an export asks for their
// state, each within exportStateTimeout.
const (
	exportStateLimit   = 100
	exportStateTimeout = 5 * time.Second
)

// exportCustomer answers GET /v1/customers/{id}/export: everything
// Rapport holds about the customer named in the path, and no one else
// (GDPR art. 15 and 20), as one JSON document streamed from a snapshot of
// the database, with their journeys as Temporal knows them.
func (s *Server) exportCustomer(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	switch _, err := s.Store.GetCustomer(ctx, id); {
	case errors.Is(err, store.ErrNotFound):
		notFound(w, "customer", id)
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	journeys, problem := s.exportJourneys(ctx, id)
	extra := []store.ExportMember{{Name: "journeys", Value: journeys}}
	if problem != "" {
		extra = append(extra, store.ExportMember{Name: "journeys_error", Value: problem})
	}
	lw := &lazyWriter{w: w, filename: "customer-export.json"}
	if workflows.ValidIDPart(id) {
		lw.filename = "customer-" + id + "-export.json"
	}
	err := s.Store.ExportCustomer(ctx, lw, id, store.ExportOptions{Extra: extra})
	switch {
	case err == nil:
		s.log().Info("customer data exported", "customer_id", id, "key", keyName(r), "journeys", len(journeys))
	case !lw.wrote && errors.Is(err, store.ErrNotFound):
		notFound(w, "customer", id)
	case !lw.wrote:
		s.fail(w, r, err)
	default:
		// The answer is under way: cut the connection, so the client sees
		// an unfinished document rather than a shorter one that parses.
		s.log().Error("customer export cut short", "customer_id", id, "error", err)
		panic(http.ErrAbortHandler)
	}
}

// exportJourneys lists the customer's journey executions in Temporal by
// RapportCustomerId, asking the open ones for their state. problem says
// what could not be listed, if anything.
func (s *Server) exportJourneys(ctx context.Context, customerID string) (_ []wire.ExportJourney, problem string) {
	out := []wire.ExportJourney{}
	if s.Temporal == nil {
		return out, "this API has no Temporal connection; the journeys are not listed (journey_runs lists them as the database knows them)"
	}
	if !workflows.ValidIDPart(customerID) {
		return out, "the customer id cannot be searched for in Temporal; see journey_runs"
	}
	query := fmt.Sprintf("%s = '%s'", workflows.CustomerIDAttr.GetName(), customerID) // a valid id holds no quote
	var token []byte
	for {
		resp, err := s.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: query, NextPageToken: token, PageSize: 1000, // the client's namespace
		})
		if err != nil {
			return out, "could not list the customer's journeys in Temporal: " + err.Error()
		}
		for _, e := range resp.GetExecutions() {
			j := wire.ExportJourney{
				WorkflowID: e.GetExecution().GetWorkflowId(),
				RunID:      e.GetExecution().GetRunId(),
				Status:     strings.ToLower(strings.TrimPrefix(e.GetStatus().String(), "WORKFLOW_EXECUTION_STATUS_")),
				StartedAt:  e.GetStartTime().AsTime(),
				Journey:    keywordAttr(e.GetSearchAttributes(), workflows.JourneyAttr.GetName()),
				PlanHash:   keywordAttr(e.GetSearchAttributes(), workflows.PlanHashAttr.GetName()),
			}
			if e.GetCloseTime() != nil && e.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
				t := e.GetCloseTime().AsTime()
				j.ClosedAt = &t
			}
			out = append(out, j)
		}
		token = resp.GetNextPageToken()
		if len(token) == 0 {
			break
		}
		if len(out) >= exportJourneyLimit {
			problem = fmt.Sprintf("only the first %d journeys are listed", exportJourneyLimit)
			break
		}
	}
	asked := 0
	for i := range out {
		j := &out[i]
		if j.Status != "running" {
			continue
		}
		if asked++; asked > exportStateLimit {
			j.StateError = fmt.Sprintf("not asked: only the first %d running journeys are asked for their state", exportStateLimit)
			continue
		}
		qctx, cancel := context.WithTimeout(ctx, exportStateTimeout)
		resp, err := s.Temporal.QueryWorkflow(qctx, j.WorkflowID, j.RunID, workflows.StateQuery)
		if err == nil {
			var st workflows.State
			if err = resp.Get(&st); err == nil {
				if j.State, err = json.Marshal(&st); err == nil && j.Journey == "" {
					j.Journey = st.Journey
				}
			}
		}
		cancel()
		if err != nil {
			j.StateError = "could not ask for its state: " + err.Error()
			if errors.Is(err, context.DeadlineExceeded) {
				j.StateError = fmt.Sprintf("no answer to the state query within %s: is a worker running?", exportStateTimeout)
			}
		}
	}
	return out, problem
}

// keywordAttr reads a keyword search attribute from a visibility record.
func keywordAttr(sa *commonpb.SearchAttributes, name string) string {
	p, ok := sa.GetIndexedFields()[name]
	if !ok {
		return ""
	}
	var v string
	if err := converter.GetDefaultDataConverter().FromPayload(p, &v); err != nil {
		return ""
	}
	return v
}

// lazyWriter answers 200 with the export's headers on the first write, so
// that an error before anything was written can still answer otherwise.
type lazyWriter struct {
	w        http.ResponseWriter
	filename string
	wrote    bool
}

func (l *lazyWriter) Write(p []byte) (int, error) {
	if !l.wrote {
		l.wrote = true
		h := l.w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Content-Disposition", `attachment; filename="`+l.filename+`"`)
		h.Set("Cache-Control", "no-store") // personal data: no cache keeps a copy
		l.w.WriteHeader(http.StatusOK)
	}
	return l.w.Write(p)
}
