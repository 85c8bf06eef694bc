package workflows

import (
	"strings"
	"time"

	"github.com/rapporthq/rapport/internal/journey"
)

// A text, falling back to email, whose send ends in doubt and a minute
// later is found in the provider's records: the run waits for the
// evidence, counts the text as sent and does not fall back to email.
const inDoubtJourney = `
journey: in-doubt
purpose: transactional
trigger: {event: order.placed}
steps:
  - id: shipped
    send: {channel: [sms, email], template: shipped}
  - id: after
    send: {channel: email, template: thank-you}
`

func (s *JourneySuite) TestInDoubtSendIsSettledByEvidence() {
	s.acts.answers[journey.SMS] = SendUnknown
	s.acts.settles = []Settlement{StillInDoubt, Settled}
	var during State
	s.env.RegisterDelayedCallback(func() { during = s.state() }, 10*time.Second)
	start := s.env.Now()
	res := s.run(s.plan(inDoubtJourney), journey.Order{})

	s.Equal(Completed, res.Outcome, res.Reason)
	s.Require().Len(s.acts.sends, 2, "the text once, no fallback, then the next step")
	s.Equal(journey.SMS, s.acts.sends[0].Channel)
	s.Equal("after", s.acts.sends[1].StepID)
	s.Len(s.acts.settleCalls, 2)
	s.Equal(s.acts.sends[0].IdempotencyKey(), s.acts.settleCalls[0].MessageID)
	s.GreaterOrEqual(s.env.Now().Sub(start), settleFirstWait+2*settleFirstWait, "it looked after 30s, then a minute later")

	s.Require().NotNil(during.PendingWait)
	s.Equal(WaitInDoubt, during.PendingWait.Kind)
	s.Contains(during.PendingWait.Why, "sms shipped in doubt")
	st := s.state()
	s.Equal(SendUnknown, st.Sends[0].Status, "the attempt in doubt is on record")
	s.Equal(SendSent, st.Sends[1].Status, "and then what settled it")
	s.Contains(strings.Join(st.Notes, "\n"), "shipped: sms shipped was in doubt: was in doubt; settled as sent")
}

// The provider proves it never took the text: the run sends it again
// (the same outbox row) and goes on; nothing is sent blindly before.
func (s *JourneySuite) TestInDoubtSendProvenNotSentIsSentAgain() {
	s.acts.answers[journey.SMS] = SendUnknown
	s.acts.settles = []Settlement{StillInDoubt, StillInDoubt, Resend}
	res := s.run(s.plan(inDoubtJourney), journey.Order{})

	s.Equal(Completed, res.Outcome, res.Reason)
	s.Require().Len(s.acts.sends, 3)
	s.Equal(journey.SMS, s.acts.sends[0].Channel)
	s.Equal(journey.SMS, s.acts.sends[1].Channel, "sent again on proof")
	s.Equal(s.acts.sends[0].IdempotencyKey(), s.acts.sends[1].IdempotencyKey())
	s.Equal("after", s.acts.sends[2].StepID)
	s.Len(s.acts.settleCalls, 3)
	s.Contains(strings.Join(s.state().Notes, "\n"), "proven not sent); sending it again")
}

// At the deadline an at-most-once channel gives up: the message stays
// unknown, is not sent again, and the journey does not fall back to
// another channel (the customer may have it).
func (s *JourneySuite) TestInDoubtSendGivenUpStaysUnknown() {
	s.acts.answers[journey.SMS] = SendUnknown
	s.acts.settles = []Settlement{GaveUp}
	res := s.run(s.plan(inDoubtJourney), journey.Order{})

	s.Equal(Completed, res.Outcome, res.Reason)
	s.Require().Len(s.acts.sends, 2)
	s.Equal(journey.SMS, s.acts.sends[0].Channel)
	s.Equal("after", s.acts.sends[1].StepID)
	st := s.state()
	s.Equal(SendUnknown, st.Sends[len(st.Sends)-2].Status)
	s.Contains(strings.Join(st.Notes, "\n"), "not sent again")
}

// A send that fails past the retry budget (the provider down for longer)
// waits and tries again on the same channel, rather than giving it up.
func (s *JourneySuite) TestSendPastTheBudgetWaitsAndTriesAgain() {
	s.withBudget(10*time.Minute, 0)
	start := s.env.Now()
	s.acts.sendDown = func() bool { return s.env.Now().Before(start.Add(3 * time.Hour)) }
	var during State
	s.env.RegisterDelayedCallback(func() { during = s.state() }, time.Hour)
	res := s.run(s.plan(inDoubtJourney), journey.Order{})

	s.Equal(Completed, res.Outcome, res.Reason)
	n := len(s.acts.sends)
	s.Require().Greater(n, 20, "retried with backoff")
	s.Equal("shipped", s.acts.sends[n-2].StepID, "sent once the provider was back")
	s.Equal("after", s.acts.sends[n-1].StepID)
	for _, req := range s.acts.sends {
		if req.StepID == "shipped" {
			s.Equal(journey.SMS, req.Channel, "the text was not given up for email")
		}
	}
	s.GreaterOrEqual(s.env.Now().Sub(start), 3*time.Hour)
	s.Require().NotNil(during.PendingWait)
	s.Equal(WaitRetry, during.PendingWait.Kind)
	s.Contains(during.PendingWait.Why, "waiting for the sms provider or the database")
}

// The step's last channel is not given up when its provider stays
// unavailable past the budget: the run waits and sends it then.
func (s *JourneySuite) TestLastChannelPastTheBudgetWaits() {
	s.withBudget(10*time.Minute, 0)
	start := s.env.Now()
	s.acts.sendDown = func() bool { return s.env.Now().Before(start.Add(2 * time.Hour)) }
	res := s.run(s.plan(`
journey: postcard
purpose: transactional
trigger: {event: order.placed}
steps:
  - {id: card, send: {channel: mail, template: postcard}}
`), journey.Order{})

	s.Equal(Completed, res.Outcome, res.Reason)
	n := len(s.acts.sends)
	s.Require().Greater(n, 5)
	s.GreaterOrEqual(s.env.Now().Sub(start), 2*time.Hour, "sent once the provider was back")
	st := s.state()
	s.Equal(SendSent, st.Sends[len(st.Sends)-1].Status)
	s.Contains(strings.Join(st.Notes, "\n"), "the mail provider or the database (mail postcard) failed past the retry budget")
}
