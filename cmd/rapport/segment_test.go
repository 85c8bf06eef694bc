//go:build !production

package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/rapporthq/rapport/internal/apikey"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

// TestSegmentOrderCompletedStartsAJourney: Segment-spec calls, sent as
// Segment's HTTP API clients send them (the key as the Basic auth user
// name), reach a journey on the dev stack: a batch identifies a new
// customer, and their Order Completed starts order-care as an
// order.placed event does, a run of the real Temporal server; sent
// again it is a duplicate that starts nothing.
func TestSegmentOrderCompletedStartsAJourney(t *testing.T) {
	s := startStack(t, "testdata/triggers")
	post := segmentPoster(t, s)

	status, body := post("/v1/segment/batch", map[string]any{"batch": []any{
		map[string]any{"type": "identify", "messageId": "seg-id-1", "userId": "c_seg",
			"traits":  map[string]any{"email": "grace@example.com", "name": "Grace Hopper"},
			"context": map[string]any{"locale": "en-US", "timezone": "America/New_York"}},
		map[string]any{"type": "page", "messageId": "seg-page-1", "userId": "c_seg", "name": "Checkout"},
	}, "sentAt": time.Now().UTC().Format(time.RFC3339)})
	require.Equal(t, http.StatusOK, status, body)
	require.EqualValues(t, 2, body["accepted"], body)
	c, err := s.store.GetCustomer(context.Background(), "c_seg")
	require.NoError(t, err)
	assert.Equal(t, "grace@example.com", c.Email)
	assert.Equal(t, "America/New_York", c.TimeZone)

	order := map[string]any{"type": "track", "event": "Order Completed", "messageId": "seg-order-1", "userId": "c_seg",
		"timestamp": time.Now().UTC().Format(time.RFC3339Nano),
		"properties": map[string]any{"order_id": "o-seg-1", "total": json.Number("30.10"), "currency": "USD",
			"products": []any{map[string]any{"product_id": "mug", "sku": "MUG-1", "name": "Mug", "price": json.Number("15.05"), "quantity": 2, "category": "Kitchen"}}}}
	status, body = post("/v1/segment", order)
	require.Equal(t, http.StatusAccepted, status, body)
	assert.Equal(t, "order.placed", body["event"])
	assert.Equal(t, "done", body["routing"])
	const run = "rapport/order-care/c_seg/o-seg-1"
	require.Equal(t, []any{run}, body["started"], body)

	// The run is Temporal's, running, and the store knows it.
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	desc, err := s.client.DescribeWorkflowExecution(ctx, run, "")
	require.NoError(t, err)
	assert.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, desc.GetWorkflowExecutionInfo().GetStatus())
	s.waitFor("the run registered", func() bool {
		r, err := s.store.GetRun(context.Background(), run)
		return err == nil && r.Status == store.RunRunning
	})
	o, err := s.store.GetOrder(context.Background(), "o-seg-1")
	require.NoError(t, err)
	assert.Equal(t, "30.10", o.Total.String())

	// Segment retries: a duplicate, starting nothing.
	status, body = post("/v1/segment/track", order)
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, "duplicate", body["status"])
	assert.Empty(t, body["started"])
}

// segmentPoster posts Segment-spec calls to the stack as Segment's HTTP
// API clients do, with a key holding only segment:write.
func segmentPoster(t *testing.T, s *stack) func(path string, body any) (int, map[string]any) {
	t.Helper()
	_, key, err := s.store.CreateAPIKey(context.Background(), "segment-source", []apikey.Scope{apikey.SegmentWrite})
	require.NoError(t, err)
	return func(path string, body any) (int, map[string]any) {
		t.Helper()
		b, err := json.Marshal(body)
		require.NoError(t, err)
		req, err := http.NewRequest(http.MethodPost, s.APIURL+path, bytes.NewReader(b))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(key+":")))
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var out map[string]any
		require.NoError(t, json.Unmarshal(raw, &out), string(raw))
		return resp.StatusCode, out
	}
}

// segmentOrder is an Order Completed call of one mug.
func segmentOrder(messageID, userID, orderID string) map[string]any {
	return map[string]any{"type": "track", "event": "Order Completed", "messageId": messageID, "userId": userID,
		"timestamp": time.Now().UTC().Format(time.RFC3339Nano),
		"properties": map[string]any{"order_id": orderID, "total": json.Number("15.05"), "currency": "USD",
			"products": []any{map[string]any{"product_id": "mug", "name": "Blue mug", "price": json.Number("15.05")}}}}
}

// TestSegmentOrderAheadOfIdentify: an Order Completed for a userId
// Rapport does not know yet (the track raced ahead of the identify) is
// kept: the customer is registered by their id alone and the thank-you
// journey runs on the real Temporal server, where its email is skipped,
// recorded as "no email address", and the run goes on to its end. The
// identify that follows fills in the address, and the next order's
// thank-you reaches it.
func TestSegmentOrderAheadOfIdentify(t *testing.T) {
	s := startStack(t, "../../journeys")
	post := segmentPoster(t, s)
	const customerID = "c_seg_early"

	status, body := post("/v1/segment/track", segmentOrder("seg-early-order", customerID, "o-seg-early"))
	require.Equal(t, http.StatusAccepted, status, body)
	assert.Equal(t, "created", body["customer"], body)
	assert.Equal(t, "order.placed", body["event"], body)
	c, err := s.store.GetCustomer(context.Background(), customerID)
	require.NoError(t, err)
	assert.Empty(t, c.Email, "registered by the id alone")

	wid := workflows.WorkflowID("thank-you", customerID, "segment:seg-early-order")
	res := s.waitForRun(wid)
	assert.Equal(t, workflows.Completed, res.Outcome, "a send with no address does not end the journey")
	var msgStatus, reason string
	require.NoError(t, s.db().QueryRow(context.Background(),
		`SELECT status, reason FROM messages WHERE workflow_id = $1 AND channel = 'email'`, wid).Scan(&msgStatus, &reason))
	assert.Equal(t, "skipped", msgStatus)
	assert.Equal(t, "no email address", reason)
	assert.Empty(t, s.messagesTo(customerID), "nothing was sent")

	status, body = post("/v1/segment/identify", map[string]any{"type": "identify", "messageId": "seg-early-id", "userId": customerID,
		"traits": map[string]any{"email": "early@example.com", "name": "Eve Early"}})
	require.Equal(t, http.StatusAccepted, status, body)
	assert.Equal(t, "updated", body["customer"], body)

	status, body = post("/v1/segment/track", segmentOrder("seg-early-order-2", customerID, "o-seg-early-2"))
	require.Equal(t, http.StatusAccepted, status, body)
	assert.Nil(t, body["customer"], body)
	s.waitFor("the second order's thank-you", func() bool { return len(s.messagesTo(customerID)) > 0 })
	msgs := s.messagesTo(customerID)
	require.Len(t, msgs, 1)
	assert.Equal(t, "early@example.com", msgs[0].To)
	assert.Equal(t, "thank-you", msgs[0].Journey)
}
