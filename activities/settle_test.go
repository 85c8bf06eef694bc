package activities

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/channels/sendgrid"
	"github.com/rapporthq/rapport/internal/channels/twilio"
	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

func (h *harness) settle(t *testing.T, res workflows.SendResult) workflows.SettleResult {
	t.Helper()
	v, err := h.env.ExecuteActivity(workflows.SettleSendActivity, workflows.SettleRequest{MessageID: res.MessageID, Channel: res.Channel})
	require.NoError(t, err)
	var out workflows.SettleResult
	require.NoError(t, v.Get(&out))
	return out
}

// smsThrough sends the harness's SMS through handler, which stands
// between the Twilio client and the fake.
func (h *harness) smsThrough(t *testing.T, handler http.HandlerFunc) {
	t.Helper()
	gw := httptest.NewServer(handler)
	t.Cleanup(gw.Close)
	sms, err := twilio.New(twilio.Config{AccountSID: twilioSID, AuthToken: "token", BaseURL: gw.URL, From: "+15005550006"})
	require.NoError(t, err)
	h.acts.SMS = sms
}

func (h *harness) smsTo(number string) int {
	n := 0
	for _, m := range h.fakes.Recorder.Messages() {
		if m.To == number {
			n++
		}
	}
	return n
}

// A gateway forwards the text to Twilio and answers 504: the message is in
// doubt. Too soon after the attempt the lookup is not trusted; later,
// Twilio's records have it, so it is settled as sent with Twilio's SID and
// never sent again.
func TestSettleFindsAnSMSInTwiliosRecords(t *testing.T) {
	h := newHarness(t)
	h.useTestTemplates(t)
	h.smsThrough(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			h.fakes.ServeHTTP(httptest.NewRecorder(), r)
			http.Error(w, "<html>504 Gateway Time-out</html>", http.StatusGatewayTimeout)
			return
		}
		h.fakes.ServeHTTP(w, r) // the lookup goes through
	})
	res, err := h.send(offer(journey.SMS))
	require.NoError(t, err)
	require.Equal(t, workflows.SendUnknown, res.Status)

	h.acts.InDoubt = InDoubtPolicy{LookupAfter: time.Hour}
	early := h.settle(t, res)
	assert.Equal(t, workflows.StillInDoubt, early.Settlement, "a request may still be on its way: no lookup yet")

	h.acts.InDoubt = InDoubtPolicy{LookupAfter: time.Nanosecond}
	got := h.settle(t, res)
	assert.Equal(t, workflows.Settled, got.Settlement)
	assert.Equal(t, workflows.SendSent, got.Send.Status)
	assert.Contains(t, got.Reason, "the provider's records")
	assert.Equal(t, h.fakes.Recorder.Messages()[0].ProviderMessageID, got.Send.ProviderMessageID)
	assert.Equal(t, 1, h.smsTo("+447911123456"))
	assert.Equal(t, 1.0, h.metric(t, "rapport_messages_in_doubt_settled_total", "channel", "sms", "how", "lookup", "result", "sent"))

	again := h.settle(t, res)
	assert.Equal(t, workflows.Settled, again.Settlement, "settling again reports the outcome")
	resend, err := h.send(offer(journey.SMS))
	require.NoError(t, err)
	assert.Equal(t, workflows.SendSent, resend.Status)
	assert.Equal(t, 1, h.smsTo("+447911123456"), "sent once")
}

// Twilio answers 500 without taking the text (the client cannot know): the
// lookup proves it was not sent, the row is pending again, and the next
// send sends it, once.
func TestSettleResendsAnSMSTwilioNeverTook(t *testing.T) {
	h := newHarness(t)
	h.useTestTemplates(t)
	h.fakes.Twilio.Failures.Add(500, 1)
	res, err := h.send(offer(journey.SMS))
	require.NoError(t, err)
	require.Equal(t, workflows.SendUnknown, res.Status, "a 500 from Twilio is in doubt")
	assert.Zero(t, h.smsTo("+447911123456"))

	h.acts.InDoubt = InDoubtPolicy{LookupAfter: time.Nanosecond}
	got := h.settle(t, res)
	assert.Equal(t, workflows.Resend, got.Settlement)
	assert.Contains(t, got.Reason, "proven not sent")
	m, err := h.store.GetMessage(t.Context(), res.MessageID)
	require.NoError(t, err)
	assert.Equal(t, store.MessagePending, m.Status)
	assert.Equal(t, 1.0, h.metric(t, "rapport_messages_in_doubt_settled_total", "channel", "sms", "how", "lookup", "result", "resent"))

	assert.Equal(t, workflows.Resend, h.settle(t, res).Settlement, "a retry of the activity finds the row reopened")
	sent, err := h.send(offer(journey.SMS))
	require.NoError(t, err)
	assert.Equal(t, workflows.SendSent, sent.Status)
	assert.Equal(t, res.MessageID, sent.MessageID, "the same outbox row")
	assert.Equal(t, 1, h.smsTo("+447911123456"), "sent once")
}

// Email cannot be looked up: without a webhook it stays in doubt until
// the deadline, then is left unknown (at most once, the default) or sent
// again where the owner chose at-least-once.
func TestSettleEmailAtTheDeadline(t *testing.T) {
	for _, tc := range []struct {
		name        string
		atLeastOnce []journey.Channel
		want        workflows.Settlement
		received    int
	}{
		{"at most once", nil, workflows.GaveUp, 0},
		{"at least once", []journey.Channel{journey.Email}, workflows.Resend, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			lost := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "<html>502 Bad Gateway</html>", http.StatusBadGateway) // never reached SendGrid
			}))
			t.Cleanup(lost.Close)
			h.acts.Email = sendgrid.New(sendgrid.Config{APIKey: "SG.test", BaseURL: lost.URL})
			res, err := h.send(request())
			require.NoError(t, err)
			require.Equal(t, workflows.SendUnknown, res.Status)

			h.acts.InDoubt = InDoubtPolicy{Deadline: time.Hour, AtLeastOnce: tc.atLeastOnce}
			assert.Equal(t, workflows.StillInDoubt, h.settle(t, res).Settlement, "before the deadline")

			h.acts.InDoubt.Deadline = time.Nanosecond
			got := h.settle(t, res)
			assert.Equal(t, tc.want, got.Settlement)
			h.acts.Email = sendgrid.New(sendgrid.Config{APIKey: "SG.test", BaseURL: h.fakesURL})
			again, err := h.send(request())
			require.NoError(t, err)
			assert.Len(t, h.fakes.Recorder.Messages(), tc.received)
			if tc.want == workflows.GaveUp {
				assert.Equal(t, workflows.SendUnknown, again.Status)
				assert.Contains(t, again.Reason, "at-most-once")
				assert.Equal(t, 1.0, h.metric(t, "rapport_messages_in_doubt_settled_total", "channel", "email", "how", "deadline", "result", "expired"))
			} else {
				assert.Equal(t, workflows.SendSent, again.Status)
				assert.Equal(t, 1.0, h.metric(t, "rapport_messages_in_doubt_settled_total", "channel", "email", "how", "deadline", "result", "resent"))
			}
		})
	}
}
