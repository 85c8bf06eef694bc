package api

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/rapporthq/rapport/internal/api/wire"
	"github.com/rapporthq/rapport/internal/failfast"
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
	s.answerHandover(w, r, t, err)
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
	s.answerHandover(w, r, t, err)
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
	s.answerHandover(w, r, t, err)
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
	s.answerHandover(w, r, t, err)
}

// answerHandover answers a claim, an assignment, an unclaim or a note:
// 404 or 409 when the task row did not change; otherwise the task, once
// the change went to the task's journey run (recordInRun), with whether
// the run recorded it.
func (s *Server) answerHandover(w http.ResponseWriter, r *http.Request, t store.Task, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		notFound(w, "task", r.PathValue("id"))
	case errors.Is(err, store.ErrConflict):
		s.fail(w, r, &apiError{Status: http.StatusConflict, Message: conflictMessage(err)})
	case err != nil:
		s.fail(w, r, err)
	default:
		why := s.recordInRun(r.Context(), t)
		writeJSON(w, http.StatusOK, wire.TaskChange{Task: taskBody(t), RunRecorded: why == "", RunReason: why})
	}
}

// DefaultRunRecordTimeout is how long the answer to a change of a task
// waits for the task's run to record it, unless Server.RunRecordTimeout
// says otherwise: long enough for a Temporal that answers, however busy.
const DefaultRunRecordTimeout = 5 * time.Second

// recordInRun sends the change the task row just recorded (its latest
// action: the row is the record) to the task's journey run, the
// task-handover update, for the run's staff actions. It returns why the
// run did not record it, or "" when it did. It waits at most
// RunRecordTimeout, and not at all on a Temporal that cannot be reached
// (failfast); a run that is not yet waiting for its task (it records
// creating it a moment after the row appears) is asked again meanwhile.
// The update's id names the action, so a request repeated after a change
// that altered nothing (a second claim by the holder) is recorded once.
func (s *Server) recordInRun(ctx context.Context, t store.Task) string {
	if len(t.Actions) == 0 {
		return "the task records no change to send"
	}
	a := t.Actions[len(t.Actions)-1]
	h := workflows.TaskHandover{TaskID: t.ID, Kind: a.Kind, By: a.By, To: a.Assignee, From: a.From,
		Note: cutRunes(a.Note, workflows.MaxHandoverNote)}
	updateID := fmt.Sprintf("%s/%s/%d", workflows.TaskHandoverUpdate, t.ID, a.At.UnixMicro())
	ctx, cancelFast := failfast.WithContext(ctx)
	defer cancelFast()
	ctx, cancel := context.WithTimeout(ctx, cmp.Or(s.RunRecordTimeout, DefaultRunRecordTimeout))
	defer cancel()
	err := s.sendHandover(ctx, t.WorkflowID, updateID, h)
	waiting := t.Status == store.TaskOpen || t.Status == store.TaskClaimed
	for wait := 100 * time.Millisecond; err != nil && waiting && isRejection(err) &&
		strings.Contains(rejectionMessage(err), workflows.NotWaitingForTask); wait = min(2*wait, time.Second) {
		select {
		case <-ctx.Done():
			return s.notRecorded(ctx, t, err)
		case <-time.After(wait):
		}
		err = s.sendHandover(ctx, t.WorkflowID, updateID, h)
	}
	return s.notRecorded(ctx, t, err)
}

// sendHandover sends the task-handover update and waits for its result.
func (s *Server) sendHandover(ctx context.Context, workflowID, updateID string, h workflows.TaskHandover) error {
	handle, err := s.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   workflowID,
		UpdateID:     updateID,
		UpdateName:   workflows.TaskHandoverUpdate,
		Args:         []any{h},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return err
	}
	return handle.Get(ctx, nil)
}

// notRecorded says in words why the run did not record a change of its
// task ("" when it did).
func (s *Server) notRecorded(ctx context.Context, t store.Task, err error) string {
	var nf *serviceerror.NotFound
	switch {
	case err == nil:
		return ""
	case failfast.Unreachable(ctx):
		return "Temporal cannot be reached just now"
	case errors.As(err, &nf):
		return "the journey run that asked for the task has ended"
	case isRejection(err) && strings.Contains(err.Error(), "unknown update "+workflows.TaskHandoverUpdate):
		return "the journey run started before runs recorded task changes (interpreter revision 6)"
	case isRejection(err):
		return "the journey run refused it: " + rejectionMessage(err)
	case ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.As(err, new(*serviceerror.DeadlineExceeded)):
		return fmt.Sprintf("the journey run did not answer within %s (it may record it yet)", cmp.Or(s.RunRecordTimeout, DefaultRunRecordTimeout))
	case temporalBusy(err):
		return "Temporal cannot take it just now (unavailable or busy)"
	}
	s.log().Warn("a task change was not sent to its run", "task_id", t.ID, "error", err)
	return "it could not be sent to the journey run"
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
	if errors.Is(err, store.ErrConflict) {
		// The run took the outcome, then ended otherwise before the row
		// said so (an exit_when event, staff): the row says how.
		s.fail(w, r, &apiError{Status: http.StatusConflict, Message: fmt.Sprintf("task %s: %s", t.ID, conflictMessage(err))})
		return
	}
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

// cutRunes shortens s to at most n characters, ending a cut one with "…".
func cutRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
