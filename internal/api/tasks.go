package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/rapporthq/rapport/internal/api/wire"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

// listTasks: GET /v1/tasks?queue=&status=&customer_id= (status: open,
// claimed, completed, overdue, cancelled, comma-separated, or all; the
// default is what is still to do: open and claimed).
func (s *Server) listTasks(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for _, err := range []error{text("queue", q.Get("queue"), maxName, true), text("status", q.Get("status"), maxName, true)} {
		if err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if c := q.Get("customer_id"); c != "" && !workflows.ValidIDPart(c) {
		s.fail(w, r, badField("customer_id", "must be 1-128 letters, digits, _ . : or -"))
		return
	}
	statuses, err := store.ParseTaskStatuses(q.Get("status"))
	if err != nil {
		s.fail(w, r, badField("status", "%v", err))
		return
	}
	tasks, err := s.Store.ListTasks(r.Context(), store.TaskFilter{Queue: q.Get("queue"), CustomerID: q.Get("customer_id"), Statuses: statuses})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.TaskList{Tasks: taskBodies(tasks)})
}

func (s *Server) getTask(w http.ResponseWriter, r *http.Request) {
	t, err := s.Store.GetTask(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		notFound(w, "task", r.PathValue("id"))
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, taskBody(t))
}

func (s *Server) claimTask(w http.ResponseWriter, r *http.Request) {
	var req wire.ClaimRequest
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := text("assignee", req.Assignee, maxName, true); err != nil {
		s.fail(w, r, err)
		return
	}
	if strings.TrimSpace(req.Assignee) == "" {
		s.fail(w, r, badField("assignee", "is required: who takes the task"))
		return
	}
	t, err := s.Store.ClaimTask(r.Context(), r.PathValue("id"), req.Assignee, actor(r, req.Assignee), keyName(r))
	s.answerTask(w, r, t, err)
}

// assignTask gives a task to a person, also over the head of whoever
// claimed it: an explicit assignment, recorded with who made it.
func (s *Server) assignTask(w http.ResponseWriter, r *http.Request) {
	var req wire.AssignRequest
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	for _, err := range []error{text("assignee", req.Assignee, maxName, true), text("by", req.By, maxName, true)} {
		if err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if strings.TrimSpace(req.Assignee) == "" {
		s.fail(w, r, badField("assignee", "is required: who gets the task"))
		return
	}
	t, err := s.Store.AssignTask(r.Context(), r.PathValue("id"), req.Assignee, actor(r, req.By), keyName(r))
	s.answerTask(w, r, t, err)
}

// unclaimTask puts a task back in its queue, whoever held it.
func (s *Server) unclaimTask(w http.ResponseWriter, r *http.Request) {
	var req wire.UnclaimRequest
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := text("by", req.By, maxName, true); err != nil {
		s.fail(w, r, err)
		return
	}
	t, err := s.Store.UnclaimTask(r.Context(), r.PathValue("id"), actor(r, req.By), keyName(r))
	s.answerTask(w, r, t, err)
}

// noteTask adds a note to a task, for whoever works on it next.
func (s *Server) noteTask(w http.ResponseWriter, r *http.Request) {
	var req wire.NoteRequest
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	for _, err := range []error{text("note", req.Note, maxTaskNote, false), text("by", req.By, maxName, true)} {
		if err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if strings.TrimSpace(req.Note) == "" {
		s.fail(w, r, badField("note", "is required: the words to keep with the task"))
		return
	}
	t, err := s.Store.NoteTask(r.Context(), r.PathValue("id"), req.Note, actor(r, req.By), keyName(r))
	s.answerTask(w, r, t, err)
}

// answerTask answers a change to a task: the task, 404 or 409.
func (s *Server) answerTask(w http.ResponseWriter, r *http.Request, t store.Task, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		notFound(w, "task", r.PathValue("id"))
	case errors.Is(err, store.ErrConflict):
		s.fail(w, r, &apiError{Status: http.StatusConflict, Message: conflictMessage(err)})
	case err != nil:
		s.fail(w, r, err)
	default:
		writeJSON(w, http.StatusOK, taskBody(t))
	}
}

// completeTask reports a task's outcome to the journey that asked for it
// (a Temporal update, whose validator has the last word), then records it.
func (s *Server) completeTask(w http.ResponseWriter, r *http.Request) {
	var req wire.CompleteRequest
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	for _, err := range []error{text("outcome", req.Outcome, maxOutcome, true), text("notes", req.Notes, maxNotes, false), text("by", req.By, maxName, true)} {
		if err != nil {
			s.fail(w, r, err)
			return
		}
	}
	t, err := s.Store.GetTask(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		notFound(w, "task", r.PathValue("id"))
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	switch {
	case t.Status == store.TaskCompleted:
		s.fail(w, r, &apiError{Status: http.StatusConflict, Message: fmt.Sprintf("task %s is already completed (outcome %s)", t.ID, t.Outcome)})
		return
	case t.Status == store.TaskCancelled:
		s.fail(w, r, &apiError{Status: http.StatusConflict, Message: fmt.Sprintf("task %s was cancelled: the journey no longer needs it", t.ID)})
		return
	case !slices.Contains(t.Outcomes, req.Outcome):
		s.fail(w, r, badField("outcome", "%q is not one of this task's outcomes: %s", req.Outcome, strings.Join(t.Outcomes, ", ")))
		return
	}
	update := workflows.CompleteTask{TaskID: t.ID, Outcome: req.Outcome, Notes: req.Notes, By: actor(r, req.By)}
	err = s.sendTaskCompletion(r.Context(), t.WorkflowID, update)
	// The task row is written by the run's activity a moment before the
	// run records it and waits: a completion in that moment is refused as
	// "not waiting"; it is sent again for a few seconds before the
	// refusal stands.
	for wait, waited := 100*time.Millisecond, time.Duration(0); err != nil && isRejection(err) &&
		strings.Contains(rejectionMessage(err), workflows.NotWaitingForTask) && waited < taskWaitGrace; wait = min(2*wait, time.Second) {
		select {
		case <-r.Context().Done():
			s.fail(w, r, r.Context().Err())
			return
		case <-time.After(wait):
		}
		waited += wait
		err = s.sendTaskCompletion(r.Context(), t.WorkflowID, update)
	}
	var nf *serviceerror.NotFound
	switch {
	case errors.As(err, &nf):
		s.fail(w, r, &apiError{Status: http.StatusConflict, Message: fmt.Sprintf("task %s: the journey that asked for it has ended", t.ID)})
		return
	case err != nil && isRejection(err):
		s.fail(w, r, &apiError{Status: http.StatusConflict, Message: fmt.Sprintf("task %s: %s", t.ID, rejectionMessage(err))})
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	done, err := s.Store.CompleteTask(r.Context(), t.ID, req.Outcome, req.Notes, keyName(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, taskBody(done))
}

// taskWaitGrace is how long a completion refused because the run is not
// yet waiting for its task is sent again.
const taskWaitGrace = 10 * time.Second

// sendTaskCompletion sends the complete-task update and waits for its
// result.
func (s *Server) sendTaskCompletion(ctx context.Context, workflowID string, c workflows.CompleteTask) error {
	handle, err := s.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   workflowID,
		UpdateName:   workflows.CompleteTaskUpdate,
		Args:         []any{c},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return err
	}
	return handle.Get(ctx, nil)
}

// isRejection tells an update validator's refusal from a failure to reach
// Temporal.
func isRejection(err error) bool {
	var sErr serviceerror.ServiceError
	return !errors.As(err, &sErr) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled)
}

func rejectionMessage(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 && strings.Contains(msg, "(type: ") {
		msg = msg[:strings.Index(msg, " (type: ")]
	}
	return msg
}

func conflictMessage(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "conflict: "); i >= 0 {
		return msg[i+len("conflict: "):]
	}
	return msg
}
