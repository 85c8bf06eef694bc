//go:build !production

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/rapporthq/rapport/internal/app"
	"github.com/rapporthq/rapport/internal/inspect"
	"github.com/rapporthq/rapport/workflows"
)

// uiView is what staff see of a run in the Temporal UI: its search
// attributes, summary and current details.
type uiView struct {
	attrs   map[string]string
	summary string
	details string
}

func (s *stack) uiView(id string) uiView {
	s.t.Helper()
	ctx := context.Background()
	desc, err := s.client.DescribeWorkflow(ctx, id, "")
	require.NoError(s.t, err)
	v := uiView{attrs: map[string]string{}}
	for _, key := range workflows.SearchAttributes {
		if val, ok := desc.TypedSearchAttributes.GetKeyword(key); ok {
			v.attrs[key.GetName()] = val
		}
	}
	v.summary, err = desc.GetStaticSummary()
	require.NoError(s.t, err)
	q, err := s.client.QueryWorkflow(ctx, id, "", "__temporal_workflow_metadata")
	require.NoError(s.t, err)
	var meta sdkpb.WorkflowMetadata
	require.NoError(s.t, q.Get(&meta))
	v.details = meta.GetCurrentDetails()
	return v
}

// waitForStep waits until a run rests on a step: RapportStep shows it,
// and the run waits there (its state; a run's start shows its first step
// before the run gets there).
func (s *stack) waitForStep(id, step string) uiView {
	s.t.Helper()
	var v uiView
	s.waitFor(id+" at "+step, func() bool {
		v = s.uiView(id)
		return v.attrs["RapportStep"] == step && s.restsAt(id, step, "")
	})
	return v
}

// restsAt reports whether a run waits at a step, for a wait of the kind
// given (any when empty), by its state.
func (s *stack) restsAt(id, step string, kind workflows.WaitKind) bool {
	q, err := s.client.QueryWorkflow(context.Background(), id, "", workflows.StateQuery)
	if err != nil {
		return false // not started yet
	}
	var st workflows.State
	require.NoError(s.t, q.Get(&st))
	w := st.PendingWait
	return w != nil && w.Step == step && (kind == "" || w.Kind == kind)
}

// TestStaffReadAndSteerJourneys: staff find a customer's journeys by
// RapportCustomerId, read where each stands in the current details, skip a
// wait and end a journey with updates (bad ones refused), and rapport
// inspect shows both journeys.
func TestStaffReadAndSteerJourneys(t *testing.T) {
	s := startStack(t, "testdata/staff")
	ctx := context.Background()
	t.Setenv("TEMPORAL_ADDRESS", s.TemporalAddress)
	t.Setenv("USER", "")
	resp, err := s.http.Get(s.OpsURL + "/readyz")
	require.NoError(t, err)
	ready, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.JSONEq(t, `{"ready": true, "checks": {"database": "ok", "temporal": "ok"}}`, string(ready))
	status, body := s.post("/v1/customers", customer("c_1", "ada@example.com"))
	require.Equal(t, http.StatusCreated, status, body)
	s.post("/v1/events", orderPlaced("evt-1", "c_1", false))
	s.post("/v1/events", map[string]any{"id": "evt-2", "type": "customer.signed_up", "customer_id": "c_1"})
	care, welcome := "rapport/care/c_1/evt-1", "rapport/welcome/c_1/evt-2"
	js, err := app.LoadJourneys("testdata/staff")
	require.NoError(t, err)
	carePlan, ok := js.Catalog.Get("care")
	require.True(t, ok)

	// After the thank-you, the run rests on its week-long wait.
	v := s.waitForStep(care, "settle_in")
	assert.Equal(t, map[string]string{
		"RapportCustomerId": "c_1", "RapportJourney": "care", "RapportStep": "settle_in",
		"RapportPlanHash": carePlan.Hash, "RapportStatus": "running",
	}, v.attrs)
	assert.Equal(t, "care for customer c_1, plan "+carePlan.ShortHash(), v.summary)
	assert.Contains(t, v.details, "Now at step **settle_in**. Next wake-up: **")
	assert.Contains(t, v.details, "(wait 7d). Staff can end this wait with the `skip-wait` update.")
	assert.Contains(t, v.details, "thanks: email care-thanks sent")
	assert.NotContains(t, v.details, "ada@example.com", "no contact details in the UI")

	// Staff find both journeys by customer id.
	s.waitFor("both runs visible by customer id", func() bool {
		resp, err := s.client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: "RapportCustomerId = 'c_1'"})
		require.NoError(t, err)
		return len(resp.Executions) == 2
	})

	// Bad updates are refused, with words that say why.
	_, _, err = run("runs", "exit", welcome)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "give a reason")
	_, _, err = run("runs", "skip-wait", care, "--step=wait_for_answer")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "this journey waits at step settle_in, not wait_for_answer")
	_, _, err = run("runs", "exit", "rapport/care/c_1/nope", "--reason=x")
	require.Error(t, err, "no such run")

	// skip-wait moves the run on to its check-in and next wait.
	out, _, err := run("runs", "skip-wait", care, "--step=settle_in", "--reason=customer called; ask now", "--by=sam")
	require.NoError(t, err)
	assert.Equal(t, care+": now at step check_in\n", out, "the update answers as the run leaves the wait")
	v = s.waitForStep(care, "wait_for_answer")
	assert.Contains(t, v.details, "check_in: email care-check-in sent")
	assert.Contains(t, v.details, "skip-wait by sam at settle_in: customer called; ask now")
	assert.Contains(t, v.details, "or sooner on an event where `event.type == \"survey.answered\"`")

	// exit ends the welcome at once; a second exit is refused.
	out, _, err = run("runs", "exit", welcome, "--reason=duplicate account", "--by=sam")
	require.NoError(t, err)
	assert.Equal(t, welcome+": exited (exited by sam: duplicate account)\n", out)
	v = s.uiView(welcome)
	assert.Equal(t, "exited", v.attrs["RapportStatus"])
	assert.Equal(t, "exited", v.attrs["RapportOutcome"])
	assert.Equal(t, "get_to_know", v.attrs["RapportStep"])
	assert.Contains(t, v.details, "Ended: exited by sam: duplicate account.")
	_, _, err = run("runs", "exit", welcome, "--reason=again")
	require.Error(t, err, "the run has ended")
	rec, err := s.store.GetRun(ctx, welcome)
	require.NoError(t, err)
	assert.Equal(t, "exited by sam: duplicate account", rec.Outcome)

	// rapport inspect shows both, the running one first.
	s.waitFor("visibility shows the exit", func() bool {
		resp, err := s.client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: "RapportCustomerId = 'c_1' AND ExecutionStatus = 'Completed'"})
		require.NoError(t, err)
		return len(resp.Executions) == 1
	})
	out, errOut, err := run("inspect", "c_1")
	require.NoError(t, err, errOut)
	for _, want := range []string{
		"customer c_1: 2 journeys (1 running)",
		"care  RUNNING  " + care,
		"plan " + carePlan.Hash[:6] + ", started ",
		"now at step wait_for_answer; next wake-up ",
		"(wait 14d or until event.type == \"survey.answered\"), or sooner on an event where event.type == \"survey.answered\"",
		"thanks  email care-thanks  sent",
		"check_in  email care-check-in  sent",
		"skip-wait by sam at settle_in",
		"welcome  EXITED  " + welcome, // Temporal's Completed, in Rapport's words
		"outcome: exited (exited by sam: duplicate account)",
		"messages: none yet",
		"exit by sam at get_to_know",
		"  what happened:\n",
		"    settle_in: wait skipped by staff\n",
	} {
		assert.Contains(t, out, want)
	}
	assert.Less(t, strings.Index(out, "care  RUNNING"), strings.Index(out, "welcome  EXITED"))

	out, _, err = run("inspect", "c_1", "--json")
	require.NoError(t, err)
	var in inspect.Inspection
	require.NoError(t, json.Unmarshal([]byte(out), &in))
	require.Len(t, in.Runs, 2)
	assert.Equal(t, care, in.Runs[0].WorkflowID)
	require.NotNil(t, in.Runs[0].State)
	assert.Equal(t, "wait_for_answer", in.Runs[0].State.CurrentStep)
	assert.Equal(t, workflows.WaitStep, in.Runs[0].State.PendingWait.Kind)
	assert.Len(t, in.Runs[0].State.Sends, 2)
	assert.Equal(t, "exited", in.Runs[1].State.Status)
	assert.Equal(t, "exited", in.Runs[1].Outcome)

	_, _, err = run("inspect", "ada@example.com")
	require.ErrorContains(t, err, "is not a customer id")

	// runs list counts the runs of a journey on a plan.
	out, errOut, err = run("runs", "list", "--journey", "care", "--plan", carePlan.Hash[:7])
	require.NoError(t, err, errOut)
	assert.Contains(t, out, "1 run (RapportJourney = 'care' AND RapportPlanHash STARTS_WITH '"+carePlan.Hash[:7]+"' AND ExecutionStatus = 'Running')\n")
	assert.Regexp(t, `(?m)^`+regexp.QuoteMeta(care)+` +`+carePlan.Hash[:7]+` +wait_for_answer +running +`, out)
	out, _, err = run("runs", "list", "--journey", "care", "--plan", "0000000")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(out, "0 runs ("), out)
	out, _, err = run("runs", "list", "--status", "ended", "--limit", "0")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(out, "1 run ("), "the exited welcome: %s", out)
	var listed inspect.RunList
	out, _, err = run("runs", "list", "--plan", carePlan.Hash, "--json")
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal([]byte(out), &listed))
	assert.Equal(t, int64(1), listed.Count)
	require.Len(t, listed.Runs, 1)
	assert.Equal(t, care, listed.Runs[0].WorkflowID)
	for _, bad := range [][]string{{"--plan", "xyz"}, {"--journey", "Care'"}, {"--status", "done"}} {
		_, _, err = run(append([]string{"runs", "list"}, bad...)...)
		assert.Error(t, err, "%v", bad)
	}
}

// TestEncryptedPayloads: with --encrypt, the Temporal server stores only
// ciphertext (no email address in the history, though the event carried
// one), the worker and rapport inspect read plaintext, and the codec server
// decodes for whoever holds the token.
func TestEncryptedPayloads(t *testing.T) {
	s := startStack(t, "testdata/staff", func(o *devOptions) { o.Encrypt = true })
	ctx := context.Background()
	t.Setenv("TEMPORAL_ADDRESS", s.TemporalAddress)
	t.Setenv("RAPPORT_CODEC_KEYS_FILE", filepath.Join(s.opts.StateDir, "codec-keys"))
	s.post("/v1/customers", customer("c_1", "ada@example.com"))
	ev := orderPlaced("evt-1", "c_1", false)
	ev["data"].(map[string]any)["contact_email"] = "ada@example.com" // shops send such things
	status, body := s.post("/v1/events", ev)
	require.Equal(t, http.StatusAccepted, status, body)
	care := "rapport/care/c_1/evt-1"
	s.waitForStep(care, "settle_in")
	require.Contains(t, s.outbox()[0].To, "ada@example.com", "the worker decrypted its input and sent")

	// What the server keeps, read without the keys.
	plain, err := client.Dial(client.Options{HostPort: s.TemporalAddress})
	require.NoError(t, err)
	defer plain.Close()
	hist := plain.GetWorkflowHistory(ctx, care, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var input *commonpb.Payload
	events := 0
	for hist.HasNext() {
		e, err := hist.Next()
		require.NoError(t, err)
		events++
		raw, err := proto.Marshal(e)
		require.NoError(t, err)
		assert.NotContains(t, string(raw), "ada@example.com", "event %d (%s) holds the address in plaintext", e.GetEventId(), e.GetEventType())
		if a := e.GetWorkflowExecutionStartedEventAttributes(); a != nil {
			input = a.GetInput().GetPayloads()[0]
		}
	}
	require.Greater(t, events, 5)
	require.NotNil(t, input)
	assert.Equal(t, "binary/encrypted", string(input.GetMetadata()["encoding"]))
	q, err := plain.QueryWorkflow(ctx, care, "", workflows.StateQuery)
	require.NoError(t, err)
	var st workflows.State
	require.Error(t, q.Get(&st), "a client without the keys cannot read the state")

	// The codec server decodes it for the holder of the token.
	token, err := os.ReadFile(filepath.Join(s.opts.StateDir, "codec-token"))
	require.NoError(t, err)
	req, err := protojson.Marshal(&commonpb.Payloads{Payloads: []*commonpb.Payload{input}})
	require.NoError(t, err)
	decode := func(path, bearer string) (int, []byte) {
		r, err := http.NewRequest(http.MethodPost, s.CodecURL+path, bytes.NewReader(req))
		require.NoError(t, err)
		r.Header.Set("Content-Type", "application/json")
		if bearer != "" {
			r.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(r)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	code, _ := decode("/decode", "")
	assert.Equal(t, http.StatusUnauthorized, code)
	code, _ = decode("/decode", "not-the-token-0123456789")
	assert.Equal(t, http.StatusUnauthorized, code)
	for _, way := range []struct{ path, bearer string }{{"/decode", string(token)}, {"/t/" + string(token) + "/decode", ""}} {
		code, out := decode(way.path, way.bearer)
		require.Equal(t, http.StatusOK, code, string(out))
		var decoded commonpb.Payloads
		require.NoError(t, protojson.Unmarshal(out, &decoded))
		require.Len(t, decoded.Payloads, 1)
		assert.Equal(t, "json/plain", string(decoded.Payloads[0].GetMetadata()["encoding"]))
		assert.Contains(t, string(decoded.Payloads[0].GetData()), `"contact_email":"ada@example.com"`)
	}

	// Staff tools with the keys read plaintext state.
	out, errOut, err := run("inspect", "c_1")
	require.NoError(t, err, errOut)
	assert.Contains(t, out, "thanks  email care-thanks  sent")
	// Search attributes and workflow ids hold no personal data either way.
	v := s.uiView(care)
	for name, val := range v.attrs {
		assert.NotContains(t, val, "@", name)
	}
}
