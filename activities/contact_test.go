package activities

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

func marketingOffer(ch journey.Channel, wf string) workflows.SendRequest {
	r := offer(ch)
	r.Purpose, r.Topic, r.WorkflowID = journey.Marketing, "offers", wf
	return r
}

func TestOptedOutCustomerIsNotContacted(t *testing.T) {
	h := newHarness(t)
	h.useTestTemplates(t)
	ctx := context.Background()
	_, err := h.store.RecordConsent(ctx, "c_1", "email", "opted_out", "preference_center", store.Evidence{IP: "203.0.113.9"})
	require.NoError(t, err)
	res, err := h.send(marketingOffer(journey.Email, "w1"))
	require.NoError(t, err)
	assert.Equal(t, workflows.SendSkipped, res.Status)
	assert.Contains(t, res.Reason, "opted out of email (preference center")

	// Even a transactional message honours the opt-out from the channel.
	tr := offer(journey.Email)
	res, err = h.send(tr)
	require.NoError(t, err)
	assert.Equal(t, workflows.SendSkipped, res.Status)

	// Leaving a topic stops marketing on that topic, not transactional mail.
	_, err = h.store.RecordConsent(ctx, "c_1", "email", "opted_in", "api", store.Evidence{})
	require.NoError(t, err)
	_, err = h.store.RecordTopic(ctx, "c_1", "offers", false, "unsubscribe", store.Evidence{})
	require.NoError(t, err)
	res, err = h.send(marketingOffer(journey.Email, "w2"))
	require.NoError(t, err)
	assert.Equal(t, "unsubscribed from offers", res.Reason)
	tr.WorkflowID = "w3"
	res, err = h.send(tr)
	require.NoError(t, err)
	assert.Equal(t, workflows.SendSent, res.Status, res.Reason)
	assert.Empty(t, h.fakes.Recorder.Messages()[0].Headers["List-Unsubscribe"], "transactional mail has no unsubscribe header")
	assert.Equal(t, 2.0, h.metric(t, "rapport_messages_held_total", "channel", "email", "reason", "consent"))
	assert.Equal(t, 1.0, h.metric(t, "rapport_messages_held_total", "channel", "email", "reason", "topic"))
	assert.Equal(t, 3.0, h.metric(t, "rapport_messages_total", "channel", "email", "journey", "thank-you", "status", "skipped"))
}

func TestQuietHoursHoldAText(t *testing.T) {
	h := newHarness(t)
	h.useTestTemplates(t)
	_, err := h.store.RecordConsent(context.Background(), "c_1", "sms", "opted_in", "api", store.Evidence{})
	require.NoError(t, err)
	req := marketingOffer(journey.SMS, "w1")
	req.PolicyAt = time.Date(2026, 11, 22, 23, 15, 0, 0, time.UTC) // 23:15 in London
	res, err := h.send(req)
	require.NoError(t, err)
	assert.Equal(t, workflows.SendHeld, res.Status)
	assert.Equal(t, time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC), res.HeldUntil)
	assert.Equal(t, "quiet hours (21:00-08:00) until Mon 23 Nov 08:00 Europe/London", res.Reason)
	rows, _ := h.store.MessagesFor(context.Background(), "c_1")
	assert.Equal(t, store.MessageHeld, rows[0].Status, "held, with the reason on record")
	assert.Contains(t, rows[0].Reason, "quiet hours")
	assert.Empty(t, h.fakes.Recorder.Messages())
	assert.Equal(t, 1.0, h.metric(t, "rapport_messages_held_total", "channel", "sms", "reason", "quiet_hours"))
	assert.Equal(t, 1.0, h.metric(t, "rapport_messages_total", "channel", "sms", "journey", "thank-you", "status", "held"))

	req.PolicyAt = res.HeldUntil
	res, err = h.send(req)
	require.NoError(t, err)
	assert.Equal(t, workflows.SendSent, res.Status)
	assert.Equal(t, 1.0, h.metric(t, "rapport_messages_total", "channel", "sms", "journey", "thank-you", "status", "sent"))
	assert.Equal(t, 1.0, h.metric(t, "rapport_provider_request_duration_seconds", "provider", "twilio", "operation", "send", "outcome", "ok"))
	assert.Regexp(t, `^Teapot & Co: hello Choose what we send: https://rapport\.example/preferences/[\w-]+\.[0-9a-z]+\.[\w-]{16} Reply STOP to opt out\.$`,
		h.fakes.Recorder.Messages()[0].Text, "a marketing text links the preference center, briefly, and says how to stop")
}

func TestMarketingSMSNeedsOptIn(t *testing.T) {
	h := newHarness(t)
	h.useTestTemplates(t)
	res, err := h.send(marketingOffer(journey.SMS, "w1"))
	require.NoError(t, err)
	assert.Equal(t, workflows.SendSkipped, res.Status)
	assert.Equal(t, "marketing by sms needs an explicit opt-in, and there is none", res.Reason)
}

func TestMarketingEmailCarriesUnsubscribe(t *testing.T) {
	h := newHarness(t)
	h.useTestTemplates(t)
	h.acts.UnsubscribeMailto = "unsubscribe@shop.example"
	_, err := h.send(marketingOffer(journey.Email, "w1"))
	require.NoError(t, err)
	m := h.fakes.Recorder.Messages()[0]
	assert.Regexp(t, `^<https://rapport\.example/unsubscribe/\S+>, <mailto:unsubscribe@shop\.example\?subject=unsubscribe%20[0-9a-f-]{36}>$`, m.Headers["List-Unsubscribe"])
	assert.Equal(t, "List-Unsubscribe=One-Click", m.Headers["List-Unsubscribe-Post"])
	assert.Contains(t, m.Text, "Choose what we send you, and how often: https://rapport.example/preferences/")
	assert.Contains(t, m.Text, "Unsubscribe: https://rapport.example/unsubscribe/")
}

func TestFrequencyCapOnCapSkip(t *testing.T) {
	h := newHarness(t)
	h.useTestTemplates(t)
	at := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	first := marketingOffer(journey.Email, "w1")
	first.PolicyAt = at
	res, err := h.send(first)
	require.NoError(t, err)
	require.Equal(t, workflows.SendSent, res.Status)

	second := marketingOffer(journey.Email, "w2")
	second.PolicyAt = at.Add(time.Hour)
	require.NoError(t, h.store.RegisterRun(context.Background(), store.Run{WorkflowID: "w2", Journey: "thank-you", CustomerID: "c_1", PlanHash: "h"}), "its run is running")
	res, err = h.send(second)
	require.NoError(t, err)
	assert.Equal(t, workflows.SendHeld, res.Status, "the daily cap holds it")
	assert.Equal(t, at.Add(24*time.Hour), res.HeldUntil)

	third := marketingOffer(journey.Email, "w3")
	third.PolicyAt, third.OnCap = at.Add(time.Hour), "skip"
	res, err = h.send(third)
	require.NoError(t, err)
	assert.Equal(t, workflows.SendSkipped, res.Status)
	assert.Contains(t, res.Reason, "on_cap: skip")

	fourth := marketingOffer(journey.Email, "w4")
	fourth.PolicyAt = at.Add(25 * time.Hour)
	fourth.Caps = []journey.FrequencyCap{{Max: 1, Per: journey.Duration{D: 7 * 24 * time.Hour, Text: "7d"}}}
	res, err = h.send(fourth)
	require.NoError(t, err)
	assert.Equal(t, workflows.SendHeld, res.Status, "the journey's own weekly cap is tighter")
	// The second message, held since an hour after the first, takes the
	// next free slot (at+25h); this one then waits a week after it.
	assert.Equal(t, at.Add(8*24*time.Hour+time.Hour), res.HeldUntil)
	assert.Contains(t, res.Reason, "behind thank-you")
	assert.Equal(t, 3.0, h.metric(t, "rapport_messages_held_total", "channel", "email", "reason", "frequency_cap"), "two held, one skipped")
	assert.Equal(t, 2.0, h.metric(t, "rapport_messages_total", "channel", "email", "journey", "thank-you", "status", "held"))
	assert.Equal(t, 1.0, h.metric(t, "rapport_messages_total", "channel", "email", "journey", "thank-you", "status", "skipped"))
}

// TestCapsHoldUnderConcurrency: twenty journeys try to send the same
// customer a marketing email at the same moment; the daily cap lets one
// through.
func TestCapsHoldUnderConcurrency(t *testing.T) {
	h := newHarness(t)
	h.useTestTemplates(t)
	at := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[workflows.SendStatus]int{}
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := marketingOffer(journey.Email, fmt.Sprintf("w%d", i))
			req.PolicyAt = at
			var ts testsuite.WorkflowTestSuite
			env := ts.NewTestActivityEnvironment() // one per attempt, as on separate workers
			h.acts.Register(env)
			v, err := env.ExecuteActivity(workflows.SendMessageActivity, req)
			if !assert.NoError(t, err) {
				return
			}
			var res workflows.SendResult
			require.NoError(t, v.Get(&res))
			mu.Lock()
			statuses[res.Status]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	assert.Equal(t, map[workflows.SendStatus]int{workflows.SendSent: 1, workflows.SendHeld: 19}, statuses)
	assert.Len(t, h.fakes.Recorder.Messages(), 1)
	assert.Equal(t, 1.0, h.metric(t, "rapport_messages_total", "channel", "email", "journey", "thank-you", "status", "sent"))
	assert.Equal(t, 19.0, h.metric(t, "rapport_messages_total", "channel", "email", "journey", "thank-you", "status", "held"))
	assert.Equal(t, 19.0, h.metric(t, "rapport_messages_held_total", "channel", "email", "reason", "frequency_cap"))
}

// TestLastAskSkipsRatherThanHolds: when the journey asks for the last time
// (SkipIfHeld), a message the rules hold again is skipped, saying so, and
// no longer goes first when the cap frees a slot.
func TestLastAskSkipsRatherThanHolds(t *testing.T) {
	h := newHarness(t)
	h.useTestTemplates(t)
	ctx := context.Background()
	at := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	first := marketingOffer(journey.Email, "w1")
	first.PolicyAt = at
	res, err := h.send(first)
	require.NoError(t, err)
	require.Equal(t, workflows.SendSent, res.Status)

	for _, id := range []string{"w2", "w3"} {
		require.NoError(t, h.store.RegisterRun(ctx, store.Run{WorkflowID: id, Journey: "thank-you", CustomerID: "c_1", PlanHash: "h"}))
	}
	second := marketingOffer(journey.Email, "w2")
	second.PolicyAt = at.Add(time.Hour)
	res, err = h.send(second)
	require.NoError(t, err)
	require.Equal(t, workflows.SendHeld, res.Status, "the daily cap holds it")

	second.PolicyAt = at.Add(2 * time.Hour)
	second.SkipIfHeld = "held back 50 times in a row; given up"
	res, err = h.send(second)
	require.NoError(t, err)
	assert.Equal(t, workflows.SendSkipped, res.Status)
	assert.Contains(t, res.Reason, "held back 50 times in a row; given up (")
	msgs, err := h.store.MessagesOfWorkflow(ctx, "w2")
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	assert.Equal(t, store.MessageSkipped, msgs[0].Status, "the outbox says so too")

	// A later message is not held behind the one given up.
	third := marketingOffer(journey.Email, "w3")
	third.PolicyAt = at.Add(25 * time.Hour)
	res, err = h.send(third)
	require.NoError(t, err)
	assert.Equal(t, workflows.SendSent, res.Status)
}
