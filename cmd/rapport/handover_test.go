//go:build !production

package main

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

// withPinRevision makes the stack's worker record at most revision rev
// in the runs it starts: a fleet of an older release.
func withPinRevision(rev int) option {
	return func(o *devOptions) { o.PinRevision = rev }
}

// withRunRecordTimeout lets the API wait as long as the test's patience
// for a run to record a change of its task, so that a busy machine does
// not make the answer say "did not answer".
func withRunRecordTimeout() option {
	return func(o *devOptions) { o.RunRecordTimeout = patience }
}

// startCallback starts the callback journey for c_1 and waits until its
// run waits for its task; it returns the run's id and the task.
func (s *stack) startCallback() (string, store.Task) {
	s.t.Helper()
	status, body := s.post("/v1/customers", customer("c_1", "ada@example.com"))
	require.Equal(s.t, http.StatusCreated, status, body)
	status, body = s.post("/v1/events", map[string]any{"id": "evt-1", "type": "callback.requested", "customer_id": "c_1"})
	require.Equal(s.t, http.StatusAccepted, status, body)
	id := "rapport/callback/c_1/evt-1"
	s.waitForStep(id, "follow_up")
	tasks := s.tasks("queue=care")
	require.Len(s.t, tasks, 1)
	return id, tasks[0]
}

// runState is the run's state query's answer.
func (s *stack) runState(id string) workflows.State {
	s.t.Helper()
	v, err := s.client.QueryWorkflow(context.Background(), id, "", workflows.StateQuery)
	require.NoError(s.t, err)
	var st workflows.State
	require.NoError(s.t, v.Get(&st))
	return st
}

// TestTaskHandoversReachTheRun: on the real stack, a task of a real run
// is claimed (twice, by the same person), assigned, unclaimed and noted
// through the API; each answer says the run recorded it, and the run's
// state query, its current details in the Temporal UI and rapport
// inspect show the four changes, in order, with who did them (inspect
// once each). A note after the task is done
// changes the task, and the answer says why the run did not record it.
func TestTaskHandoversReachTheRun(t *testing.T) {
	s := startStack(t, "testdata/handover", withRunRecordTimeout())
	t.Setenv("TEMPORAL_ADDRESS", s.TemporalAddress)
	t.Setenv("DATABASE_URL", s.DatabaseURL)
	id, task := s.startCallback()
	path := "/v1/tasks/" + task.ID

	for _, c := range []struct {
		verb string
		body map[string]any
	}{
		{"claim", map[string]any{"assignee": "sam"}},
		{"claim", map[string]any{"assignee": "sam"}}, // again: the task records it once, and so does the run
		{"assign", map[string]any{"assignee": "alex", "by": "kim"}},
		{"unclaim", map[string]any{"by": "alex"}},
		{"notes", map[string]any{"note": "Wants a call after 6pm.\nMobile only.", "by": "alex"}},
	} {
		status, body := s.post(path+"/"+c.verb, c.body)
		require.Equal(t, http.StatusOK, status, "%s: %v", c.verb, body)
		assert.Equal(t, true, body["run_recorded"], "%s: %v", c.verb, body)
		assert.Equal(t, task.ID, body["id"])
	}

	type seen struct{ Kind, By, Reason, Step string }
	var got []seen
	for _, a := range s.runState(id).Actions {
		got = append(got, seen{a.Kind, a.By, a.Reason, a.Step})
	}
	const key = " (key dev-admin)" // the stack's admin key
	require.Equal(t, []seen{
		{"claim", "sam" + key, "to sam", "follow_up"},
		{"assign", "kim" + key, "to alex (from sam)", "follow_up"},
		{"unclaim", "alex" + key, "from alex", "follow_up"},
		{"note", "alex" + key, "Wants a call after 6pm. Mobile only.", "follow_up"},
	}, got, "the run's staff actions, in order")

	v := s.uiView(id)
	for _, want := range []string{"claim by sam" + key + " at follow_up: to sam", "assign by kim" + key + " at follow_up: to alex (from sam)",
		"unclaim by alex" + key + " at follow_up: from alex", "note by alex" + key + " at follow_up: Wants a call after 6pm. Mobile only."} {
		assert.Contains(t, v.details, want, "the current details in the Temporal UI")
	}
	assert.Less(t, strings.Index(v.details, "claim by sam"), strings.Index(v.details, "note by alex"), "in order")

	out, errOut, err := run("inspect", "c_1")
	require.NoError(t, err, errOut)
	for _, want := range []string{"  task claim by sam" + key + " at follow_up, ", ": to sam\n",
		"  task assign by kim" + key + " at follow_up, ", ": to alex (from sam)\n",
		"  task unclaim by alex" + key + " at follow_up, ", ": from alex\n",
		"  task note by alex" + key + " at follow_up, ", ": Wants a call after 6pm. Mobile only.\n"} {
		assert.Equal(t, 1, strings.Count(out, want), "once in rapport inspect: %q\n%s", want, out)
	}

	// Done: the run goes on; a later note changes the task alone.
	status, body := s.post(path+"/complete", map[string]any{"outcome": "answered", "by": "alex"})
	require.Equal(t, http.StatusOK, status, body)
	s.waitForStep(id, "settle")
	status, body = s.post(path+"/notes", map[string]any{"note": "Customer wrote to say thanks.", "by": "sam"})
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, false, body["run_recorded"])
	assert.Equal(t, "the journey run refused it: "+workflows.NotWaitingForTask, body["run_reason"])
	actions := body["actions"].([]any)
	assert.Equal(t, "Customer wrote to say thanks.", actions[len(actions)-1].(map[string]any)["note"], "the task keeps it")
	assert.Len(t, s.runState(id).Actions, 5, "the four hand-overs and the completion")
	out, errOut, err = run("inspect", "c_1")
	require.NoError(t, err, errOut)
	assert.Contains(t, out, "  task note by sam"+key+" at follow_up, ", "the note the run did not record, from the database")
}

// TestTaskHandoversOfAnOlderRevisionRun: a run that recorded interpreter
// revision 5 (the worker pinned to it, as a fleet of the release before
// would) knows no task-handover update. A claim and a note still change
// the task; the answers say the run did not record them, and why.
func TestTaskHandoversOfAnOlderRevisionRun(t *testing.T) {
	s := startStack(t, "testdata/handover", withPinRevision(5), withRunRecordTimeout())
	id, task := s.startCallback()

	for _, c := range []struct {
		verb string
		body map[string]any
	}{
		{"claim", map[string]any{"assignee": "sam"}},
		{"notes", map[string]any{"note": "Left a voicemail.", "by": "sam"}},
	} {
		status, body := s.post("/v1/tasks/"+task.ID+"/"+c.verb, c.body)
		require.Equal(t, http.StatusOK, status, "%s: %v", c.verb, body)
		assert.Equal(t, false, body["run_recorded"], c.verb)
		assert.Equal(t, "the journey run started before runs recorded task changes (interpreter revision 6)", body["run_reason"], c.verb)
	}
	got, err := s.store.GetTask(context.Background(), task.ID)
	require.NoError(t, err)
	assert.Equal(t, "sam", got.Assignee, "the task changed all the same")
	require.Len(t, got.Actions, 2)
	assert.Equal(t, store.TaskNote, got.Actions[1].Kind)
	assert.Empty(t, s.runState(id).Actions, "the run recorded nothing")

	// It still takes the completion, and goes on.
	status, body := s.post("/v1/tasks/"+task.ID+"/complete", map[string]any{"outcome": "answered", "by": "sam"})
	require.Equal(t, http.StatusOK, status, body)
	s.waitForStep(id, "settle")
}
