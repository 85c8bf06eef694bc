package workflows

import (
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/worker"

	"github.com/rapporthq/rapport/internal/journey"
)

// withBudget replaces the suite's environment with one whose interpreter
// has the given retry budget, and whose worker pins the revision when pin
// is above zero.
func (s *JourneySuite) withBudget(budget time.Duration, pin int) {
	s.env = s.NewTestWorkflowEnvironment()
	if pin > 0 {
		s.env.SetWorkerOptions(worker.Options{PreferredVersionProvider: PinRevision(pin)})
	}
	in := NewInterpreter(s.comp.Env())
	in.RetryBudget = budget
	in.Register(s.env)
	s.env.RegisterActivityWithOptions(s.acts.CustomerFacts, activity.RegisterOptions{Name: CustomerFactsActivity})
	s.env.RegisterActivityWithOptions(s.acts.SendMessage, activity.RegisterOptions{Name: SendMessageActivity})
	s.env.RegisterActivityWithOptions(s.acts.FinishRun, activity.RegisterOptions{Name: FinishRunActivity})
	s.env.RegisterActivityWithOptions(s.acts.RecordSteps, activity.RegisterOptions{Name: RecordStepsActivity})
	s.env.RegisterActivityWithOptions(s.acts.NextLocalTime, activity.RegisterOptions{Name: NextLocalTimeActivity})
	s.env.RegisterActivityWithOptions(s.acts.SettleSend, activity.RegisterOptions{Name: SettleSendActivity})
}

// downFor makes the fake database fail for d from now (test time).
func (s *JourneySuite) downFor(d time.Duration) time.Time {
	start := s.env.Now()
	s.acts.down = func() bool { return s.env.Now().Before(start.Add(d)) }
	return start
}

func (s *JourneySuite) TestDatabaseDownForTwoHoursTheRunGoesOn() {
	start := s.downFor(2 * time.Hour)
	res := s.run(s.plan(thankYouReadingFacts), journey.Order{})

	s.Equal(Completed, res.Outcome, res.Reason)
	s.Equal([]string{"thanks"}, s.acts.sentSteps())
	s.GreaterOrEqual(s.env.Now().Sub(start), 2*time.Hour, "it sent once the database was back")
	// The test environment gives an activity ten attempts where the
	// server retries it for the budget, so here the run also waits
	// between tries (continuingRetryPause); on a server it tries at least
	// once a minute (retryMaxInterval).
	s.Less(s.env.Now().Sub(start), 2*time.Hour+continuingRetryPause+2*time.Minute, "it resumes soon after the database is back")
	s.Greater(s.acts.factsCalls, 5, "retried past five attempts")
	s.Less(s.acts.factsCalls, 2*60+30, "at most about once a minute")
}

func (s *JourneySuite) TestRevisionThreeKeepsItsPace() {
	s.withBudget(0, 3)
	start := s.downFor(2 * time.Hour)
	res := s.run(s.plan(thankYouReadingFacts), journey.Order{})

	s.Equal(Completed, res.Outcome, res.Reason)
	s.GreaterOrEqual(s.env.Now().Sub(start), 2*time.Hour)
	s.Less(s.acts.factsCalls, 60, "a local activity with exponential backoff up to five minutes")
	for _, n := range s.state().Notes {
		s.NotContains(n, "retry budget", "two hours is inside the default budget")
	}
}

func (s *JourneySuite) TestBudgetSpentTheRunWaitsAndResumes() {
	s.withBudget(10*time.Minute, 0)
	start := s.downFor(3 * time.Hour)
	var during State
	s.env.RegisterDelayedCallback(func() { during = s.state() }, time.Hour)
	res := s.run(s.plan(thankYouReadingFacts), journey.Order{})

	s.Equal(Completed, res.Outcome, res.Reason)
	s.Equal([]string{"thanks"}, s.acts.sentSteps())
	s.GreaterOrEqual(s.env.Now().Sub(start), 3*time.Hour)
	s.Less(s.env.Now().Sub(start), 3*time.Hour+15*time.Minute, "it waits at most the budget between tries")

	s.Equal("running", during.Status, "an outage does not fail the run")
	s.Require().NotNil(during.PendingWait)
	s.Equal(WaitRetry, during.PendingWait.Kind)
	s.Contains(during.PendingWait.Why, "waiting for the database (customer facts): retrying at ")
	s.Contains(during.PendingWait.Why, "connection refused")

	notes := strings.Join(s.state().Notes, "\n")
	s.Contains(notes, "the database (customer facts) failed past the retry budget of 10m0s")
	s.Contains(notes, "the database (customer facts) is back after")
	s.Len(s.acts.finished, 1)
	s.Equal(Completed, s.acts.finished[0].Outcome)
}

func (s *JourneySuite) TestStaffCanExitARunWaitingForTheDatabase() {
	s.withBudget(time.Minute, 0)
	s.downFor(1000 * time.Hour)
	exit := s.updateAt(5*time.Hour, ExitUpdate, Exit{Reason: "the database is gone for good", By: "sam"})
	res := s.run(s.plan(thankYouReadingFacts), journey.Order{})

	s.True(exit.done)
	s.NoError(exit.err)
	s.Equal(Exited, res.Outcome)
	s.Equal("exited by sam: the database is gone for good", res.Reason)
	s.Empty(s.acts.sends)
}

func (s *JourneySuite) TestATimedWaitWaitsForTheDatabaseToo() {
	s.withBudget(10*time.Minute, 0)
	p := s.plan(`
journey: timed
purpose: transactional
trigger: {event: order.placed}
exit_when: event.type == "customer.erased" && customer.orders_count >= 0
steps:
  - {id: morning, wait: {until: "10:00"}}
  - {id: thanks, send: {channel: email, template: thank-you}}
`)
	s.acts.nextAt = time.Hour
	// The facts load before the outage; the time zone lookup meets it.
	start, first := s.env.Now(), true
	s.acts.down = func() bool {
		if first {
			first = false
			return false
		}
		return s.env.Now().Before(start.Add(3 * time.Hour))
	}
	res := s.run(p, journey.Order{})
	s.Equal(Completed, res.Outcome, res.Reason)
	s.Equal([]string{"thanks"}, s.acts.sentSteps())
	s.Contains(strings.Join(s.state().Notes, "\n"), "morning: the database (the customer's time zone) failed past the retry budget")
}

func (s *JourneySuite) TestPinnedToRevisionOneAnOutageFailsTheRunAsBefore() {
	s.withBudget(10*time.Minute, 1)
	s.downFor(3 * time.Hour)
	res := s.run(s.plan(thankYouReadingFacts), journey.Order{})
	s.Equal(Failed, res.Outcome, "revision 1 behaviour, for the first phase of a rolling deploy")
	s.Contains(res.Reason, "load customer c_1")
	s.Empty(s.acts.sends)
}
