//go:build !production

package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/rapporthq/rapport/internal/schedules"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

// cliExport is the part of an export document these tests read.
type cliExport struct {
	Format     string         `json:"format"`
	CustomerID string         `json:"customer_id"`
	Customer   map[string]any `json:"customer"`
	Orders     []struct {
		ID    string `json:"id"`
		Items []struct {
			Name string `json:"name"`
		} `json:"items"`
	} `json:"orders"`
	Messages []map[string]any `json:"messages"`
	Journeys []struct {
		WorkflowID string           `json:"workflow_id"`
		Journey    string           `json:"journey"`
		Status     string           `json:"status"`
		ClosedAt   *time.Time       `json:"closed_at"`
		State      *workflows.State `json:"state"`
		StateError string           `json:"state_error"`
	} `json:"journeys"`
	JourneyRuns   []map[string]any `json:"journey_runs"`
	JourneysError string           `json:"journeys_error"`
}

func TestCustomersExportPrintsTheWholeRecord(t *testing.T) {
	s := startStack(t, "../../journeys")
	status, body := s.post("/v1/customers", customer("c_linus", "linus@example.com"))
	require.Equal(t, http.StatusCreated, status, body)
	status, body = s.post("/v1/events", orderPlaced("evt-linus-1", "c_linus", false))
	require.Equal(t, http.StatusAccepted, status, body)
	s.waitForRun("rapport/thank-you/c_linus/evt-linus-1")

	// Visibility catches up with the runs shortly after they start.
	var doc cliExport
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		out, errOut, err := run("customers", "export", "c_linus", "--api", s.APIURL, "--api-key", s.APIKey)
		if !assert.NoError(c, err, errOut) {
			return
		}
		doc = cliExport{}
		if !assert.NoError(c, json.Unmarshal([]byte(out), &doc), out) {
			return
		}
		assert.GreaterOrEqual(c, len(doc.Journeys), 2)
		// The thank-you completes within moments; visibility (what the
		// export lists journeys from) says so a little later.
		for _, j := range doc.Journeys {
			if j.Journey == "thank-you" {
				assert.Equal(c, "completed", j.Status)
			}
		}
	}, 30*time.Second, 300*time.Millisecond)

	assert.Equal(t, "rapport.customer-export/v1", doc.Format)
	assert.Equal(t, "c_linus", doc.CustomerID)
	assert.Equal(t, "linus@example.com", doc.Customer["email"])
	require.Len(t, doc.Orders, 1)
	require.Len(t, doc.Orders[0].Items, 2)
	assert.Equal(t, "Earl Grey tea", doc.Orders[0].Items[0].Name)
	require.NotEmpty(t, doc.Messages)
	assert.Equal(t, "Thank you for your order, Ada", doc.Messages[0]["subject"], "messages with their content")
	assert.Equal(t, "linus@example.com", doc.Messages[0]["recipient"])
	assert.Empty(t, doc.JourneysError)
	assert.NotEmpty(t, doc.JourneyRuns)

	byJourney := map[string]int{}
	for i, j := range doc.Journeys {
		byJourney[j.Journey] = i
	}
	require.Contains(t, byJourney, "thank-you")
	done := doc.Journeys[byJourney["thank-you"]]
	assert.Equal(t, "completed", done.Status)
	assert.NotNil(t, done.ClosedAt)
	assert.Equal(t, "rapport/thank-you/c_linus/evt-linus-1", done.WorkflowID)
	require.Contains(t, byJourney, "complementary-products")
	open := doc.Journeys[byJourney["complementary-products"]]
	assert.Equal(t, "running", open.Status)
	require.NotNil(t, open.State, "an open run's state is included: %s", open.StateError)
	assert.Equal(t, "wait_for_delivery", open.State.CurrentStep)

	// -o writes it to a file only its owner reads.
	file := filepath.Join(t.TempDir(), "linus.json")
	_, errOut, err := run("customers", "export", "c_linus", "--api", s.APIURL, "--api-key", s.APIKey, "-o", file)
	require.NoError(t, err, errOut)
	assert.Contains(t, errOut, "wrote the export of c_linus to "+file)
	info, err := os.Stat(file)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	raw, err := os.ReadFile(file)
	require.NoError(t, err)
	var fromFile cliExport
	require.NoError(t, json.Unmarshal(raw, &fromFile))
	assert.Equal(t, "c_linus", fromFile.CustomerID)

	// An unknown customer, and a key that is not one.
	_, _, err = run("customers", "export", "c_nobody", "--api", s.APIURL, "--api-key", s.APIKey)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no customer c_nobody")
	t.Setenv("RAPPORT_API_KEY", "rk_not-a-key")
	_, _, err = run("customers", "export", "c_linus", "--api", s.APIURL, "-o", filepath.Join(t.TempDir(), "x.json"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not valid")
}

func TestRetentionScheduleScrubsOldContent(t *testing.T) {
	t.Setenv("RAPPORT_RETENTION_MESSAGES", "400d")
	t.Setenv("RAPPORT_RETENTION_EVENTS", "30d")
	s := startStack(t, "../../journeys")
	ctx := context.Background()

	// The stack made the daily schedule at start-up.
	desc, err := s.client.ScheduleClient().GetHandle(ctx, workflows.RetentionScheduleID).Describe(ctx)
	require.NoError(t, err)
	require.Len(t, desc.Schedule.Spec.Calendars, 1, "daily, at %s", schedules.RetentionCron)
	cal := desc.Schedule.Spec.Calendars[0]
	assert.Equal(t, 3, cal.Hour[0].Start)
	assert.Equal(t, 17, cal.Minute[0].Start)
	action, ok := desc.Schedule.Action.(*client.ScheduleWorkflowAction)
	require.True(t, ok)
	assert.Equal(t, workflows.RetentionWorkflowName, action.Workflow)

	status, body := s.post("/v1/customers", customer("c_old", "old@example.com"))
	require.Equal(t, http.StatusCreated, status, body)
	status, body = s.post("/v1/events", orderPlaced("evt-old-1", "c_old", false))
	require.Equal(t, http.StatusAccepted, status, body)
	s.waitForRun("rapport/thank-you/c_old/evt-old-1")
	require.Eventually(t, func() bool {
		e, err := s.store.GetEvent(ctx, "evt-old-1")
		return err == nil && e.RoutedAt != nil
	}, patience, 100*time.Millisecond)
	// Make it all old.
	_, err = s.db().Exec(ctx, `UPDATE messages SET created_at = now() - interval '500 days' WHERE customer_id = 'c_old'`)
	require.NoError(t, err)
	_, err = s.db().Exec(ctx, `UPDATE events SET occurred_at = now() - interval '60 days' WHERE customer_id = 'c_old'`)
	require.NoError(t, err)
	// Fan-outs of events posted without a customer: done 40 days ago
	// (deleted), failed 40 days ago (kept for the operator), done now.
	_, err = s.db().Exec(ctx, `INSERT INTO fanouts (event_id, journey, type, occurred_at, received_at, done_at, claimed_until, error) VALUES
		('restock-old', 'back-in-stock', 'product.restocked', now() - interval '41 days', now() - interval '41 days', now() - interval '40 days', NULL, ''),
		('restock-failed', 'back-in-stock', 'product.restocked', now() - interval '41 days', now() - interval '41 days', now() - interval '40 days', 'infinity', 'temporal is down'),
		('restock-new', 'back-in-stock', 'product.restocked', now(), now(), now(), NULL, '')`)
	require.NoError(t, err)

	require.NoError(t, schedules.TriggerRetention(ctx, s.client))
	require.Eventually(t, func() bool {
		var left int
		err := s.db().QueryRow(ctx, `SELECT (SELECT count(*) FROM messages WHERE customer_id = 'c_old' AND content_removed_at IS NULL)
			+ (SELECT count(*) FROM events WHERE customer_id = 'c_old' AND data_removed_at IS NULL)
			+ (SELECT count(*) FROM fanouts WHERE event_id = 'restock-old')`).Scan(&left)
		return err == nil && left == 0
	}, patience, 200*time.Millisecond, "the scheduled run removes the old content")
	msgs, err := s.store.MessagesFor(ctx, "c_old")
	require.NoError(t, err)
	require.NotEmpty(t, msgs)
	for _, m := range msgs {
		assert.Empty(t, m.Recipient)
		assert.Empty(t, m.Subject)
		assert.Equal(t, store.MessageSent, m.Status, "the outcome stays")
		assert.NotNil(t, m.PolicyAt, "what caps count by stays")
	}
	e, err := s.store.GetEvent(ctx, "evt-old-1")
	require.NoError(t, err)
	assert.JSONEq(t, `{}`, string(e.Data))
	assert.Equal(t, "order.placed", e.Type)
	fanouts, err := s.store.ListFanouts(ctx, store.FanoutFilter{Limit: 10})
	require.NoError(t, err)
	var kept []string
	for _, f := range fanouts {
		kept = append(kept, f.EventID+" "+f.Status)
	}
	assert.ElementsMatch(t, []string{"restock-new done", "restock-failed failed"}, kept, "the old done fan-out went with the events' data")

	// A changed retention replaces the schedule; none removes it.
	did, err := schedules.SyncRetention(ctx, s.client, workflows.RetentionInput{Messages: "400d", Events: "30d"}, nil)
	require.NoError(t, err)
	assert.Equal(t, "unchanged", did)
	_, err = schedules.SyncRetention(ctx, s.client, workflows.RetentionInput{Messages: "2y"}, nil)
	require.Error(t, err, "a period that cannot be read never reaches the schedule")
	assert.Contains(t, err.Error(), "RAPPORT_RETENTION_MESSAGES")
	did, err = schedules.SyncRetention(ctx, s.client, workflows.RetentionInput{Messages: "730d"}, nil)
	require.NoError(t, err)
	assert.Equal(t, "updated", did)
	did, err = schedules.SyncRetention(ctx, s.client, workflows.RetentionInput{}, nil)
	require.NoError(t, err)
	assert.Equal(t, "deleted", did)
	_, err = s.client.ScheduleClient().GetHandle(ctx, workflows.RetentionScheduleID).Describe(ctx)
	require.Error(t, err, "no retention, no schedule")
	did, err = schedules.SyncRetention(ctx, s.client, workflows.RetentionInput{}, nil)
	require.NoError(t, err)
	assert.Equal(t, "none", did)
}
