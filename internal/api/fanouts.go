package api

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/rapporthq/rapport/internal/api/wire"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

// Bounds of GET /v1/fanouts: how many fan-outs it answers by default
// and at most.
const (
	defaultFanoutLimit = 50
	maxFanoutLimit     = 500
)

// listFanouts: GET /v1/fanouts?event_id=&status=&limit= (status: pending,
// running, done, failed, comma-separated, or all, the default): the most
// recently received first.
func (s *Server) listFanouts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	filter, err := fanoutFilter(q.Get("event_id"), q.Get("status"), q.Get("limit"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	fs, err := s.Store.ListFanouts(r.Context(), filter)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.FanoutList{Fanouts: fanoutBodies(fs)})
}

// fanoutFilter reads the query of GET /v1/fanouts, naming the parameter
// at fault.
func fanoutFilter(eventID, status, limit string) (store.FanoutFilter, error) {
	f := store.FanoutFilter{EventID: eventID, Limit: defaultFanoutLimit}
	if eventID != "" && !workflows.ValidIDPart(eventID) {
		return f, badField("event_id", "must be 1-128 letters, digits, _ . : or -")
	}
	if err := text("status", status, maxName, true); err != nil {
		return f, err
	}
	if status != "" && status != "all" {
		for _, st := range strings.Split(status, ",") {
			st = strings.TrimSpace(st)
			if !slices.Contains(store.FanoutStatuses, st) {
				return f, badField("status", "%q is not a fan-out status: give %s (comma-separated) or all", st, strings.Join(store.FanoutStatuses, ", "))
			}
			if !slices.Contains(f.Statuses, st) {
				f.Statuses = append(f.Statuses, st)
			}
		}
	}
	if limit != "" {
		n, err := strconv.Atoi(limit)
		if err != nil || n < 1 || n > maxFanoutLimit {
			return f, badField("limit", "must be a number from 1 to %d", maxFanoutLimit)
		}
		f.Limit = n
	}
	return f, nil
}

// retryFanout: POST /v1/fanouts/{event_id}/{journey}/retry hands a failed
// fan-out back to the runners with a fresh count of attempts; it resumes
// after the last customer it scanned. 404 when there is no such fan-out,
// 409 when it is not failed.
func (s *Server) retryFanout(w http.ResponseWriter, r *http.Request) {
	eventID, journeyName := r.PathValue("event_id"), r.PathValue("journey")
	if !workflows.ValidIDPart(eventID) {
		s.fail(w, r, badField("event_id", "must be 1-128 letters, digits, _ . : or -"))
		return
	}
	f, err := s.Store.RetryFailedFanout(r.Context(), eventID, journeyName)
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeJSON(w, http.StatusNotFound, wire.Error{Message: fmt.Sprintf("no fan-out of event %s to journey %s", eventID, journeyName)})
		return
	case errors.Is(err, store.ErrConflict):
		s.fail(w, r, &apiError{Status: http.StatusConflict, Message: conflictMessage(err)})
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	if s.Router != nil {
		s.Router.NudgeFanouts()
	}
	writeJSON(w, http.StatusOK, fanoutBody(f))
}
