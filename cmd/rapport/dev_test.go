//go:build !production

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/rapporthq/rapport/internal/devstack/devmode"
	"github.com/rapporthq/rapport/internal/fakes"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/store/storetest"
	"github.com/rapporthq/rapport/workflows"
)

// These integration tests run the stack `rapport dev` runs, in process: the
// embedded Temporal server, a real PostgreSQL database of their own, the
// SendGrid fake over HTTP with the real sendgrid-go client, the worker and
// the API, driven through HTTP as a shop would.

type stack struct {
	*devStack
	t *testing.T
	// http sends the stack's admin key with every /v1 request, as the
	// shop's systems do.
	http *http.Client

	sqlOnce sync.Once
	sql     *pgxpool.Pool
}

// db is a connection pool of the test's own on the stack's database, for
// rows no store method reaches (backdating them, counting them); made
// once, closed when the test ends.
func (s *stack) db() *pgxpool.Pool {
	s.sqlOnce.Do(func() { s.sql = storetest.DB(s.t, s.DatabaseURL) })
	return s.sql
}

// withKey adds "Authorization: Bearer key" to requests for /v1.
type withKey struct {
	key  string
	next http.RoundTripper
}

func (k withKey) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasPrefix(r.URL.Path, "/v1/") && r.Header.Get("Authorization") == "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+k.key)
	}
	return k.next.RoundTrip(r)
}

// option changes how a test stack runs.
type option func(*devOptions)

func withInterceptors(i ...interceptor.WorkerInterceptor) option {
	return func(o *devOptions) { o.Interceptors = i }
}

// withDay makes journeys run fast: a day lasts d.
func withDay(d time.Duration) option {
	return func(o *devOptions) { o.DayLength = d }
}

func startStack(t *testing.T, journeysDir string, opts ...option) *stack {
	t.Helper()
	_, dbURL := storetest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	o := devOptions{
		StateDir: t.TempDir(), JourneysDir: journeysDir, IP: "127.0.0.1",
		UIPort: -1, DatabaseURL: dbURL, InMemory: true, NoDemo: true,
		SweepInterval: 300 * time.Millisecond,
		// Every request of a test comes from 127.0.0.1; the limits are
		// tested in internal/api.
		PublicLimit: devmode.CrowdLimit(),
	}
	for _, opt := range opts {
		opt(&o)
	}
	d, err := startDev(ctx, o)
	require.NoError(t, err)
	t.Cleanup(d.Stop)
	return &stack{devStack: d, t: t, http: &http.Client{Transport: withKey{key: d.APIKey, next: http.DefaultTransport}}}
}

func (s *stack) post(path string, body any) (int, map[string]any) {
	s.t.Helper()
	b, err := json.Marshal(body)
	require.NoError(s.t, err)
	resp, err := s.http.Post(s.APIURL+path, "application/json", bytes.NewReader(b))
	require.NoError(s.t, err)
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	require.NoError(s.t, json.Unmarshal(raw, &out), string(raw))
	return resp.StatusCode, out
}

func (s *stack) outbox() []fakes.Message {
	s.t.Helper()
	resp, err := s.http.Get(s.APIURL + "/dev/outbox.json")
	require.NoError(s.t, err)
	defer resp.Body.Close()
	var msgs []fakes.Message
	require.NoError(s.t, json.NewDecoder(resp.Body).Decode(&msgs))
	return msgs
}

// waitForRun waits until a journey run has ended and returns its result;
// it fails the test when the run has not ended after patience.
func (s *stack) waitForRun(workflowID string) workflows.JourneyResult {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	var res workflows.JourneyResult
	require.NoError(s.t, s.client.GetWorkflow(ctx, workflowID, "").Get(ctx, &res))
	return res
}

func customer(id, email string) map[string]any {
	return map[string]any{"id": id, "email": email, "name": "Ada Lovelace", "locale": "en-GB", "time_zone": "Europe/London"}
}

func orderPlaced(id, customerID string, gift bool) map[string]any {
	return map[string]any{"id": id, "type": "order.placed", "customer_id": customerID,
		"data": map[string]any{"order": map[string]any{"id": "o-" + id, "total": 23.5, "currency": "GBP", "gift": gift,
			"items": []any{
				map[string]any{"product_id": "tea", "name": "Earl Grey tea", "quantity": 2, "price": 4.25},
				map[string]any{"product_id": "pot", "name": "Blue teapot", "quantity": 1, "price": 15},
			}}}}
}

func TestThankYouEndToEnd(t *testing.T) {
	s := startStack(t, "../../journeys")

	status, body := s.post("/v1/customers", customer("c_1", "ada@example.com"))
	require.Equal(t, http.StatusCreated, status, body)
	status, body = s.post("/v1/events", orderPlaced("evt-1", "c_1", true))
	require.Equal(t, http.StatusAccepted, status, body)
	assert.Equal(t, "accepted", body["status"])
	assert.Contains(t, body["started"], "rapport/thank-you/c_1/evt-1")

	res := s.waitForRun("rapport/thank-you/c_1/evt-1")
	assert.Equal(t, workflows.Completed, res.Outcome)

	msgs := s.outbox()
	require.Len(t, msgs, 1, "exactly one email")
	m := msgs[0]
	assert.Equal(t, "ada@example.com", m.To)
	assert.Equal(t, "Thank you for your order, Ada", m.Subject)
	assert.Contains(t, m.Text, "Hi Ada,")
	assert.Contains(t, m.Text, "Thank you for ordering Earl Grey tea and Blue teapot")
	assert.Contains(t, m.Text, "this one is a gift")
	assert.Contains(t, m.Text, "£23.50")
	assert.Contains(t, m.HTML, "Blue teapot")
	assert.Equal(t, "c_1", m.CustomerID)
	assert.Equal(t, "thank-you", m.Journey)
	assert.Equal(t, "thank_you", m.Step)

	// The same event again: acknowledged, nothing more sent.
	status, body = s.post("/v1/events", orderPlaced("evt-1", "c_1", true))
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "duplicate", body["status"])
	assert.Empty(t, body["started"], "a repeated event starts nothing")
	assert.Len(t, s.outbox(), 1, "a repeated event sends nothing")

	// Support staff can find and read the run.
	ctx := context.Background()
	desc, err := s.client.DescribeWorkflowExecution(ctx, "rapport/thank-you/c_1/evt-1", "")
	require.NoError(t, err)
	attrs := desc.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()
	for name, want := range map[string]string{"RapportCustomerId": "c_1", "RapportJourney": "thank-you", "RapportStep": "thank_you", "RapportStatus": "completed", "RapportOutcome": "completed"} {
		var got string
		require.Contains(t, attrs, name)
		require.NoError(t, converter.GetDefaultDataConverter().FromPayload(attrs[name], &got))
		assert.Equal(t, want, got, name)
	}
	list, err := s.client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: "RapportCustomerId = 'c_1' AND RapportJourney = 'thank-you'"})
	require.NoError(t, err)
	assert.Len(t, list.GetExecutions(), 1)
	v, err := s.client.QueryWorkflow(ctx, "rapport/thank-you/c_1/evt-1", "", workflows.StateQuery)
	require.NoError(t, err)
	var st workflows.State
	require.NoError(t, v.Get(&st))
	assert.Equal(t, "completed", st.Status)
	assert.Equal(t, []string{"thank_you"}, st.StepsDone)
	require.Len(t, st.Sends, 1)
	assert.Equal(t, workflows.SendSent, st.Sends[0].Status)

	rows, err := s.store.MessagesFor(ctx, "c_1")
	require.NoError(t, err)
	require.Len(t, rows, 1)
	assert.Equal(t, store.MessageSent, rows[0].Status)
	assert.Equal(t, m.ProviderMessageID, rows[0].ProviderMessageID)
	// Right after the order: the contact rules never held it, and the
	// first attempt sent it.
	assert.Equal(t, 1, rows[0].Attempts)
	var holds int
	require.NoError(t, s.db().QueryRow(ctx, `SELECT count(*) FROM message_holds WHERE message_id = $1`, rows[0].ID).Scan(&holds))
	assert.Zero(t, holds, "the contact rules held the thank-you")

	// The outbox page shows it too.
	resp, err := s.http.Get(s.APIURL + "/dev/outbox")
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Contains(t, string(page), "Thank you for your order, Ada")

	recordHistory(t, s.client, "rapport/thank-you/c_1/evt-1", revisionFile("thank-you"))
}

func TestRateLimitThenSuccessSendsOnce(t *testing.T) {
	s := startStack(t, "../../journeys")
	s.fakes.SendGrid.Failures.Add(http.StatusTooManyRequests, 1)
	s.post("/v1/customers", customer("c_1", "ada@example.com"))
	s.post("/v1/events", orderPlaced("evt-1", "c_1", false))
	assert.Equal(t, workflows.Completed, s.waitForRun("rapport/thank-you/c_1/evt-1").Outcome)
	assert.Len(t, s.outbox(), 1)
	rows, err := s.store.MessagesFor(context.Background(), "c_1")
	require.NoError(t, err)
	require.Len(t, rows, 1)
	assert.Equal(t, store.MessageSent, rows[0].Status)
	assert.Equal(t, 2, rows[0].Attempts)
}

func TestRejectedEmailIsRecordedNotSent(t *testing.T) {
	s := startStack(t, "../../journeys")
	s.fakes.SendGrid.Failures.Add(http.StatusBadRequest, 1)
	s.post("/v1/customers", customer("c_1", "ada@example.com"))
	s.post("/v1/events", orderPlaced("evt-1", "c_1", false))
	assert.Equal(t, workflows.Completed, s.waitForRun("rapport/thank-you/c_1/evt-1").Outcome)
	assert.Empty(t, s.outbox())
	rows, err := s.store.MessagesFor(context.Background(), "c_1")
	require.NoError(t, err)
	require.Len(t, rows, 1)
	assert.Equal(t, store.MessageFailed, rows[0].Status)
	assert.Contains(t, rows[0].Reason, "sendgrid answered 400")
	assert.Equal(t, 1, rows[0].Attempts)
}

// crashAfterSend lets the first attempt of the send activity do its work,
// then fails it as a worker that died before reporting back would.
type crashAfterSend struct {
	interceptor.WorkerInterceptorBase
}

func (*crashAfterSend) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &crashingActivity{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}}
}

type crashingActivity struct {
	interceptor.ActivityInboundInterceptorBase
}

func (c *crashingActivity) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	out, err := c.Next.ExecuteActivity(ctx, in)
	info := activity.GetInfo(ctx)
	if err == nil && info.ActivityType.Name == workflows.SendMessageActivity && info.Attempt == 1 {
		return nil, fmt.Errorf("worker lost before reporting the result")
	}
	return out, err
}

func TestRetryAfterTheProviderAcceptedSendsOnce(t *testing.T) {
	s := startStack(t, "../../journeys", withInterceptors(&crashAfterSend{}))
	s.post("/v1/customers", customer("c_1", "ada@example.com"))
	s.post("/v1/events", orderPlaced("evt-1", "c_1", false))
	assert.Equal(t, workflows.Completed, s.waitForRun("rapport/thank-you/c_1/evt-1").Outcome)
	assert.Len(t, s.outbox(), 1, "the retried activity found the message sent")

	ctx := context.Background()
	iter := s.client.GetWorkflowHistory(ctx, "rapport/thank-you/c_1/evt-1", "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	attempts := int32(0)
	for iter.HasNext() {
		ev, err := iter.Next()
		require.NoError(t, err)
		if a := ev.GetActivityTaskStartedEventAttributes(); a != nil {
			attempts = max(attempts, a.GetAttempt())
		}
	}
	assert.Equal(t, int32(2), attempts, "the send activity really ran twice")
}

func TestEventsReachRunningJourneys(t *testing.T) {
	s := startStack(t, "testdata/journeys")
	s.post("/v1/customers", customer("c_1", "ada@example.com"))
	s.post("/v1/customers", customer("c_2", "grace@example.com"))

	// c_1's order is delivered: the waiting journey asks for a review.
	_, body := s.post("/v1/events", orderPlaced("evt-1", "c_1", false))
	require.Equal(t, []any{"rapport/review-request/c_1/evt-1"}, body["started"])
	// A type the journey does not listen for reaches no run.
	listening, err := s.store.GetRun(context.Background(), "rapport/review-request/c_1/evt-1")
	require.NoError(t, err)
	assert.NotContains(t, listening.ListensFor, "page.viewed")
	assert.NotEmpty(t, listening.ListensFor)
	status, body := s.post("/v1/events", map[string]any{"id": "evt-1b", "type": "page.viewed", "customer_id": "c_1"})
	require.Equal(t, http.StatusAccepted, status, body)
	assert.Empty(t, body["delivered"], "a run hears only the event types it listens for")
	status, body = s.post("/v1/events", map[string]any{"id": "evt-2", "type": "order.delivered", "customer_id": "c_1", "data": map[string]any{"order_id": "o-evt-1"}})
	require.Equal(t, http.StatusAccepted, status, body)
	assert.Equal(t, []any{"rapport/review-request/c_1/evt-1"}, body["delivered"])
	assert.Equal(t, workflows.Completed, s.waitForRun("rapport/review-request/c_1/evt-1").Outcome)

	// c_2 cancels: exit_when ends the journey at once, nothing is sent.
	s.post("/v1/events", orderPlaced("evt-3", "c_2", false))
	s.post("/v1/events", map[string]any{"id": "evt-4", "type": "order.cancelled", "customer_id": "c_2"})
	res := s.waitForRun("rapport/review-request/c_2/evt-3")
	assert.Equal(t, workflows.Exited, res.Outcome)
	assert.Equal(t, "exit_when matched order.cancelled event evt-4", res.Reason)

	msgs := s.outbox()
	require.Len(t, msgs, 1)
	assert.Equal(t, "ada@example.com", msgs[0].To)
	assert.Equal(t, "How is your Earl Grey tea?", msgs[0].Subject)

	run, err := s.store.GetRun(context.Background(), "rapport/review-request/c_2/evt-3")
	require.NoError(t, err)
	assert.Equal(t, store.RunExited, run.Status)
	runs, err := s.store.RunningListeners(context.Background(), "c_1", "")
	require.NoError(t, err)
	assert.Empty(t, runs, "finished runs leave the registry")

	recordHistory(t, s.client, "rapport/review-request/c_1/evt-1", revisionFile("review-request-delivered"))
	recordHistory(t, s.client, "rapport/review-request/c_2/evt-3", revisionFile("review-request-cancelled"))
}

// TestRoutingRetriesUntilDelivered: a run registered a moment ago but not
// yet known to Temporal may still be starting, so routing is retried (the
// event is stored and acknowledged meanwhile); once the run is clearly gone
// it is marked so, and the sweeper finishes routing.
func TestRoutingRetriesUntilDelivered(t *testing.T) {
	s := startStack(t, "testdata/journeys")
	ctx := context.Background()
	s.post("/v1/customers", customer("c_1", "ada@example.com"))
	require.NoError(t, s.store.RegisterRun(ctx, store.Run{WorkflowID: "rapport/review-request/c_1/lost", Journey: "review-request", CustomerID: "c_1", PlanHash: "x", Listens: true}))

	status, body := s.post("/v1/events", map[string]any{"id": "evt-1", "type": "order.delivered", "customer_id": "c_1"})
	require.Equal(t, http.StatusAccepted, status)
	assert.Equal(t, "pending", body["routing"])
	e, err := s.store.GetEvent(ctx, "evt-1")
	require.NoError(t, err)
	assert.Nil(t, e.RoutedAt)

	_, err = s.db().Exec(ctx, "UPDATE journey_runs SET started_at = now() - interval '1 hour' WHERE workflow_id = 'rapport/review-request/c_1/lost'")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		e, err := s.store.GetEvent(ctx, "evt-1")
		return err == nil && e.RoutedAt != nil
	}, patience, 100*time.Millisecond, "the sweeper routes the event")
	run, err := s.store.GetRun(ctx, "rapport/review-request/c_1/lost")
	require.NoError(t, err)
	assert.Equal(t, store.RunFailed, run.Status)
	assert.Equal(t, "workflow not found in Temporal", run.Outcome)
}

func TestAPIRejectsBadInput(t *testing.T) {
	s := startStack(t, "../../journeys")
	s.post("/v1/customers", customer("c_1", "ada@example.com"))
	for _, tc := range []struct {
		path  string
		body  any
		code  int
		field string
	}{
		{"/v1/customers", map[string]any{"email": "a@example.com"}, 400, "id"},
		{"/v1/customers", map[string]any{"id": "ada@example.com"}, 400, "id"},
		{"/v1/customers", map[string]any{"id": "c_2", "emial": "a@example.com"}, 400, "emial"},
		{"/v1/customers", map[string]any{"id": "c_2", "email": "not-an-address"}, 400, "email"},
		{"/v1/customers", map[string]any{"id": "c_2", "time_zone": "Mars/Olympus"}, 400, "time_zone"},
		{"/v1/customers", map[string]any{"id": "c_2", "address": map[string]any{"city": 12}}, 400, "address.city"},
		{"/v1/events", map[string]any{"type": "order.placed", "customer_id": "c_1"}, 400, "id"},
		{"/v1/events", map[string]any{"id": "e", "type": "review.posted", "customer_id": "c_9"}, 422, "customer_id"},
		{"/v1/events", map[string]any{"id": "e", "type": "order.placed", "customer_id": "c_1"}, 400, "data.order"},
		{"/v1/events", map[string]any{"id": "e", "type": "order.placed", "customer_id": "c_1", "data": map[string]any{"order": map[string]any{"id": "o", "total": 1, "currency": "GBP", "items": []any{}}}}, 400, "data.order.items"},
		{"/v1/events", map[string]any{"id": "e", "type": "order.placed", "customer_id": "c_1", "data": map[string]any{"order": map[string]any{"id": "o", "total": 1, "currency": "GBP", "items": []any{map[string]any{"product_id": "p", "name": "n", "quantity": 0.5, "price": 1}}}}}, 400, "data.order.items[0].quantity"},
		{"/v1/events", map[string]any{"id": "e", "type": "Order Placed", "customer_id": "c_1"}, 400, "type"},
	} {
		code, body := s.post(tc.path, tc.body)
		assert.Equal(t, tc.code, code, "%v", tc.body)
		assert.Equal(t, tc.field, body["field"], "%v", body)
		assert.Contains(t, body["error"], tc.field, "the message names the field")
	}
	resp, err := s.http.Post(s.APIURL+"/v1/events", "application/json", strings.NewReader(`{"id": "e",`))
	require.NoError(t, err)
	assert.Equal(t, 400, resp.StatusCode)
	resp.Body.Close()

	events, err := s.store.UnroutedEvents(context.Background(), time.Now().Add(time.Hour), 10)
	require.NoError(t, err)
	assert.Empty(t, events, "nothing half-written")
	assert.Empty(t, s.outbox())
}

// revisionFile names a recorded history of the current interpreter
// revision: name-r<revision>.json. Recording with a new revision adds a
// file next to the older ones, which stay for the replay test.
func revisionFile(name string) string {
	return fmt.Sprintf("%s-r%d.json", name, workflows.CurrentRevision)
}

// recordHistory writes a run's history to workflows/testdata when
// RAPPORT_RECORD_HISTORIES is set, for the replay test there. Histories
// already recorded are kept (they are what runs in flight look like),
// unless it is set to "overwrite".
func recordHistory(t *testing.T, c client.Client, workflowID, file string) {
	mode := os.Getenv("RAPPORT_RECORD_HISTORIES")
	path := filepath.Join("../../workflows/testdata", file)
	if _, err := os.Stat(path); mode == "" || (err == nil && mode != "overwrite") {
		return
	}
	ctx := context.Background()
	iter := c.GetWorkflowHistory(ctx, workflowID, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	hist := &historypb.History{}
	for iter.HasNext() {
		ev, err := iter.Next()
		require.NoError(t, err)
		hist.Events = append(hist.Events, ev)
	}
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(hist)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, b, 0o644))
	t.Logf("recorded %s", file)
}
