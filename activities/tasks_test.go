package activities

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

func (h *harness) createTask(t *testing.T, req workflows.CreateTaskRequest) workflows.CreateTaskResult {
	t.Helper()
	v, err := h.env.ExecuteActivity(workflows.CreateTaskActivity, req)
	require.NoError(t, err)
	var res workflows.CreateTaskResult
	require.NoError(t, v.Get(&res))
	return res
}

// TestMarketingCallsHonourPhoneConsent: a win-back call is marketing by
// phone, so it needs the customer's opt-in (the default rules), their
// topic, and a number that is not suppressed; a call about an order needs
// only that they did not opt out.
func TestMarketingCallsHonourPhoneConsent(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	c, err := h.store.GetCustomer(ctx, "c_1")
	require.NoError(t, err)
	c.PhoneE164, c.TimeZone = "+447911123456", "Europe/London"
	_, err = h.store.UpsertCustomer(ctx, c)
	require.NoError(t, err)
	call := func(id string, purpose journey.Purpose) workflows.CreateTaskRequest {
		return workflows.CreateTaskRequest{TaskID: id, WorkflowID: "rapport/lapse-winback/c_1/" + id, Journey: "lapse-winback", StepID: "call",
			CustomerID: "c_1", Kind: "phone_call", Queue: "retention", Purpose: purpose, Topic: "offers", DueAt: time.Now().Add(time.Hour)}
	}

	res := h.createTask(t, call("t1", journey.Marketing))
	assert.False(t, res.Created)
	assert.Equal(t, "no call: marketing by phone needs an explicit opt-in, and there is none", res.Reason)
	assert.True(t, h.createTask(t, call("t2", journey.Transactional)).Created, "a call about an order needs no opt-in")

	_, err = h.store.RecordConsent(ctx, "c_1", "phone", "opted_in", "checkout", store.Evidence{})
	require.NoError(t, err)
	assert.True(t, h.createTask(t, call("t3", journey.Marketing)).Created)
	task, err := h.store.GetTask(ctx, "t3")
	require.NoError(t, err)
	assert.Equal(t, "08:00-21:00 Europe/London (their time)", task.Context["call_window"], "staff see when they may call")

	_, err = h.store.RecordTopic(ctx, "c_1", "offers", false, "unsubscribe", store.Evidence{})
	require.NoError(t, err)
	assert.Equal(t, "no call: unsubscribed from offers", h.createTask(t, call("t4", journey.Marketing)).Reason)

	err = h.store.Suppress(ctx, store.Suppression{Channel: "phone", Address: "+447911123456", Reason: "manual: asked not to be called", Source: "support"})
	require.NoError(t, err)
	assert.Equal(t, "no call: the phone address is suppressed: manual: asked not to be called", h.createTask(t, call("t5", journey.Transactional)).Reason)
}
