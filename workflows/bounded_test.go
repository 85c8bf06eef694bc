package workflows

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/rapporthq/rapport/internal/journey"
)

// Revision 4 keeps a run bounded in the middle of a step: the open-ended
// loops inside a step (a message the contact rules keep holding, a send
// in doubt, an activity failing past its budget, learning about the
// customer) continue as new when Temporal suggests it, and the next
// execution walks the step again from its start.

func compileTest(t *testing.T, src string) journey.Plan {
	t.Helper()
	comp, err := journey.NewCompiler(journey.Options{})
	require.NoError(t, err)
	p, diags := comp.Compile("test.yaml", []byte(src))
	require.False(t, diags.HasErrors(), diags.Error())
	return *p
}

func newChain(t *testing.T, acts *fakeActivities) *chain {
	t.Helper()
	comp, err := journey.NewCompiler(journey.Options{})
	require.NoError(t, err)
	return &chain{t: t, acts: acts, env: comp.Env(), start: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
}

func firstOnly(exec int) bool { return exec == 1 }

const twoSends = `
journey: two-sends
purpose: transactional
trigger: {event: order.placed}
steps:
  - {id: text, send: {channel: sms, template: t}}
  - {id: after, send: {channel: email, template: e}}
`

func TestHeldMessageContinuesAsNewMidStep(t *testing.T) {
	c := newChain(t, &fakeActivities{answers: map[journey.Channel]SendStatus{},
		holds: map[journey.Channel][]time.Duration{journey.SMS: {10 * time.Hour, 10 * time.Hour, 2 * time.Hour}}})
	c.suggest = firstOnly
	plan := compileTest(t, twoSends)
	p := plan.Scaled(12*time.Hour, c.start)
	res, st := c.run(JourneyInput{Plan: *p, CustomerID: "c_1", EntryKey: "k", Trigger: trigger(journey.Order{}), Revision: Revision})

	assert.Equal(t, Completed, res.Outcome, res.Reason)
	assert.Equal(t, []string{"text", "after"}, res.StepsDone)
	require.Equal(t, 2, c.execs, "continued as new once, while held")
	next := c.inputs[0].Resume
	assert.True(t, next.Restart, "walks the held step again")
	assert.True(t, next.Fresh, "so a worker before Restart does not take the next wait for a rest")
	assert.Equal(t, []int{0}, next.Path, "at the send step")

	var asks []string
	for _, s := range c.acts.sends {
		if s.StepID == "text" {
			asks = append(asks, s.IdempotencyKey())
		}
	}
	require.Len(t, asks, 4, "held; asked again in the next execution and held twice more; then sent")
	for _, k := range asks {
		assert.Equal(t, asks[0], k, "one outbox key: the message is never sent twice")
	}
	var held, sent int
	for _, s := range st.Sends {
		switch s.Status {
		case SendHeld:
			held++
		case SendSent:
			sent++
		}
	}
	assert.Equal(t, 1, held, "repeated holds of one message keep one record")
	assert.Equal(t, 2, sent)
}

func TestSendInDoubtContinuesAsNewWhileSettling(t *testing.T) {
	acts := &fakeActivities{answers: map[journey.Channel]SendStatus{journey.SMS: SendUnknown},
		settles: []Settlement{StillInDoubt, StillInDoubt, Settled}}
	c := newChain(t, acts)
	c.suggest = firstOnly
	res, st := c.run(JourneyInput{Plan: compileTest(t, twoSends), CustomerID: "c_1", EntryKey: "k", Trigger: trigger(journey.Order{}), Revision: Revision})

	assert.Equal(t, Completed, res.Outcome, res.Reason)
	require.Equal(t, 2, c.execs)
	assert.True(t, c.inputs[0].Resume.Restart)
	require.GreaterOrEqual(t, len(acts.sends), 3)
	assert.Equal(t, acts.sends[0].IdempotencyKey(), acts.sends[1].IdempotencyKey(), "the next execution asks the outbox again under the same key: it finds the message in doubt, it does not send it")
	assert.Equal(t, journey.Email, acts.sends[len(acts.sends)-1].Channel, "no fallback from a text in doubt")
	assert.Contains(t, strings.Join(st.Notes, "\n"), "text: sms t was in doubt: was in doubt; settled as sent")
}

func TestOutageContinuesAsNewWhileWaiting(t *testing.T) {
	acts := &fakeActivities{answers: map[journey.Channel]SendStatus{}}
	c := newChain(t, acts)
	c.budget = time.Hour
	c.suggest = firstOnly
	outageEnds := c.start.Add(30 * time.Hour)
	var now func() time.Time
	acts.sendDown = func() bool { return now().Before(outageEnds) }
	c.feed = func(env *testsuite.TestWorkflowEnvironment) { now = env.Now }
	res, _ := c.run(JourneyInput{Plan: compileTest(t, twoSends), CustomerID: "c_1", EntryKey: "k", Trigger: trigger(journey.Order{}), Revision: Revision})

	assert.Equal(t, Completed, res.Outcome, res.Reason)
	require.Equal(t, 2, c.execs, "continued as new while waiting for the provider")
	assert.True(t, c.inputs[0].Resume.Restart)
	assert.Contains(t, strings.Join(c.inputs[0].Resume.State.Notes, "\n"), "text: the sms provider or the database (sms t) failed past the retry budget of 1h0m0s", "it was waiting out the outage")
	assert.Greater(t, len(acts.sends), 2, "tried during the outage in both executions")
	assert.Equal(t, "after", acts.sends[len(acts.sends)-1].StepID, "and sent after it")
}

func TestLearningContinuesAsNewKeepingTheBacklog(t *testing.T) {
	acts := &fakeActivities{answers: map[journey.Channel]SendStatus{}}
	c := newChain(t, acts)
	c.budget = time.Hour
	c.suggest = firstOnly
	outageEnds := c.start.Add(5 * time.Hour)
	var now func() time.Time
	acts.down = func() bool { return now().Before(outageEnds) }
	c.feed = func(env *testsuite.TestWorkflowEnvironment) { now = env.Now }
	plan := compileTest(t, `
journey: winback
topic: offers
trigger: {event: customer.lapsed}
exit_when: event.type == "order.placed" && customer.orders_count >= 0
steps:
  - {id: offer, send: {channel: email, template: winback-offer}}
`)
	purchase := journey.Event{ID: "order-1", Type: "order.placed", CustomerID: "c_1", OccurredAt: c.start}
	res, _ := c.run(JourneyInput{Plan: plan, CustomerID: "c_1", EntryKey: "k", Revision: Revision,
		Trigger: journey.Event{ID: "evt_lapsed", Type: "customer.lapsed", CustomerID: "c_1"}, Backlog: []journey.Event{purchase}})

	require.Equal(t, 2, c.execs, "continued as new while the database was down, before the first step")
	assert.Equal(t, []journey.Event{purchase}, c.inputs[0].Backlog, "the start backlog, not yet taken in, goes along")
	assert.Equal(t, Exited, res.Outcome, "the purchase in the backlog still ends the win-back before it sends")
	assert.Empty(t, acts.sends)
}

func TestSendRecordsStayBounded(t *testing.T) {
	r := &run{revision: 4}
	for i := range 500 {
		r.addSend(SendRecord{Step: "s", SendResult: SendResult{Channel: journey.Email, Status: SendHeld, Reason: strings.Repeat("x", 2000)}})
		r.addSend(SendRecord{Step: fmt.Sprintf("s%d", i), SendResult: SendResult{Channel: journey.Email, Status: SendUnknown}})
	}
	assert.LessOrEqual(t, len(r.state.Sends), maxSends)
	for _, s := range r.state.Sends {
		assert.LessOrEqual(t, len([]rune(s.Reason)), maxNoteRunes)
	}
	old := &run{revision: 3}
	for range 3 {
		old.addSend(SendRecord{Step: "s", SendResult: SendResult{Channel: journey.Email, Status: SendHeld}})
	}
	assert.Len(t, old.state.Sends, 3, "revision 3 keeps every record, as it did")
}

func TestKeptEventsStayUnderTheirBytes(t *testing.T) {
	r := &run{revision: 4, seen: map[string]bool{}, plan: &journey.Plan{}}
	big := strings.Repeat("y", 32<<10)
	for i := range 40 {
		r.receive(journey.Event{ID: fmt.Sprintf("e%d", i), Type: "page.viewed", Data: map[string]any{"blob": big}}, func() {})
	}
	total := 0
	for _, ev := range r.inbox {
		total += eventBytes(ev)
	}
	assert.LessOrEqual(t, total, maxInboxBytes)
	assert.Greater(t, len(r.inbox), 3)
	assert.Equal(t, "e39", r.inbox[len(r.inbox)-1].ID, "the newest are kept")
}

func TestFitInputShedsWhatMattersLeast(t *testing.T) {
	big := strings.Repeat("z", 32<<10)
	res := &Resume{}
	for i := range 100 {
		res.Inbox = append(res.Inbox, journey.Event{ID: fmt.Sprintf("e%d", i), Data: map[string]any{"blob": big}})
	}
	for i := range maxSeen {
		res.Seen = append(res.Seen, fmt.Sprintf("%0128d", i))
	}
	for i := range maxNotes {
		res.State.Notes = append(res.State.Notes, fmt.Sprintf("%d %s", i, strings.Repeat("n", 490)))
	}
	in := JourneyInput{Resume: res}
	shed := fitInput(&in, 1<<20)
	b, err := json.Marshal(in)
	require.NoError(t, err)
	assert.LessOrEqual(t, len(b), 1<<20)
	assert.Contains(t, shed, "kept events")
	assert.Equal(t, "e99", res.Inbox[len(res.Inbox)-1].ID, "the newest events stay")

	small := JourneyInput{Resume: &Resume{Seen: []string{"a"}}}
	assert.Empty(t, fitInput(&small, 1<<20), "nothing to shed under the limit")
}

const threeSteps = `
journey: three
purpose: transactional
trigger: {event: order.placed}
steps:
  - {id: first, send: {channel: sms, template: t}}
  - {id: pause, wait: 1d}
  - {id: after, send: {channel: email, template: e}}
`

// TestContinuedRunKeepsItsPlaceWhenLearningContinues: a continued run
// whose next execution waits out the database before its walk starts,
// and continues as new while it does, keeps where it rested: it sends
// nothing again and its wait still ends a day after it began.
func TestContinuedRunKeepsItsPlaceWhenLearningContinues(t *testing.T) {
	acts := &fakeActivities{answers: map[journey.Channel]SendStatus{}}
	c := newChain(t, acts)
	c.budget = time.Hour
	c.suggest = func(exec int) bool { return exec <= 2 }
	outageEnds := c.start.Add(5 * time.Hour)
	var now func() time.Time
	acts.down = func() bool { return c.execs >= 2 && now().Before(outageEnds) }
	c.feed = func(env *testsuite.TestWorkflowEnvironment) { now = env.Now }
	res, st := c.run(JourneyInput{Plan: compileTest(t, threeSteps), CustomerID: "c_1", EntryKey: "k", Trigger: trigger(journey.Order{}), Revision: Revision})

	assert.Equal(t, Completed, res.Outcome, res.Reason)
	assert.Equal(t, []string{"first", "pause", "after"}, res.StepsDone)
	require.GreaterOrEqual(t, len(c.inputs), 2)
	assert.Equal(t, c.inputs[0].Resume.Path, c.inputs[1].Resume.Path, "the second continue-as-new keeps the run's place")
	assert.Equal(t, c.inputs[0].Resume.Until, c.inputs[1].Resume.Until, "and its wait's deadline")
	first := 0
	for _, s := range acts.sends {
		if s.StepID == "first" {
			first++
		}
	}
	assert.Equal(t, 1, first, "the first step is not walked again")
	last := st.Sends[len(st.Sends)-1]
	assert.Equal(t, "after", last.Step)
	assert.LessOrEqual(t, last.At.Sub(c.start), 24*time.Hour+time.Minute, "the day's wait is not waited again")
}

// TestGatedSendWaitsPastThreeHundredLooks: a marketing email proven
// unsent waits for transactional ones (the settle activity says look
// again in 30 s) for more than 300 looks: the run keeps looking until the
// evidence settles it, rather than give it up.
func TestGatedSendWaitsPastThreeHundredLooks(t *testing.T) {
	acts := &fakeActivities{answers: map[journey.Channel]SendStatus{journey.Email: SendUnknown}, lookAgain: 30 * time.Second}
	for range 350 {
		acts.settles = append(acts.settles, StillInDoubt)
	}
	acts.settles = append(acts.settles, Settled)
	c := newChain(t, acts)
	res, st := c.run(JourneyInput{Plan: compileTest(t, `
journey: promo
topic: offers
trigger: {event: order.placed}
steps:
  - {id: offer, send: {channel: email, template: e}}
`), CustomerID: "c_1", EntryKey: "k", Trigger: trigger(journey.Order{}), Revision: Revision})

	assert.Equal(t, Completed, res.Outcome, res.Reason)
	assert.Len(t, acts.settleCalls, 351, "it looked until the evidence came")
	notes := strings.Join(st.Notes, "\n")
	assert.NotContains(t, notes, "still in doubt after")
	assert.Contains(t, notes, "settled as sent")
	assert.Equal(t, SendSent, st.Sends[len(st.Sends)-1].Status)
}

// TestMoveAcceptedWhileHeldSurvivesMidStepContinue: a run that accepts a
// move while the contact rules hold its message ("moves at its next
// wait") does not lose the move by continuing as new in the middle of the
// send step: it moves at its next wait.
func TestMoveAcceptedWhileHeldSurvivesMidStepContinue(t *testing.T) {
	comp, err := journey.NewCompiler(journey.Options{})
	require.NoError(t, err)
	old := compileMoving(t, comp, `
  - {id: offer, send: {channel: email, template: winback-offer}}
  - {id: wait_for_return, wait: 14d}
  - {id: postcard, send: {channel: mail, template: winback-postcard}}
`)
	updated := compileMoving(t, comp, `
  - {id: offer, send: {channel: email, template: winback-offer}}
  - {id: wait_for_return, wait: 10d}
  - {id: nudge, send: {channel: email, template: winback-nudge}}
  - {id: postcard, send: {channel: mail, template: winback-postcard-2}}
`)
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	acts := &fakeActivities{answers: map[journey.Channel]SendStatus{}, holds: map[journey.Channel][]time.Duration{journey.Email: {10 * time.Hour, 10 * time.Hour}}}
	c := &chain{t: t, acts: acts, env: comp.Env(), start: start, after: 1}
	var mv *moveResult
	c.feed = func(env *testsuite.TestWorkflowEnvironment) {
		if c.execs != 1 {
			return
		}
		mv = moveAt(env, time.Hour, "move", Move{Plan: *updated, Listens: true, By: "rapport"})
		env.RegisterDelayedCallback(func() {
			env.SignalWorkflow(EventSignal, journey.Event{ID: "e1", Type: "page.viewed", CustomerID: "c_1"})
		}, 2*time.Hour)
	}
	p := old.Scaled(12*time.Hour, start)
	res, st := c.run(JourneyInput{Plan: *p, CustomerID: "c_1", EntryKey: "k", Trigger: journey.Event{ID: "evt_lapsed", Type: "customer.lapsed", CustomerID: "c_1"}, Revision: Revision})
	require.True(t, mv.sent)
	require.NoError(t, mv.rejected)
	assert.Equal(t, Completed, res.Outcome, res.Reason)
	assert.Equal(t, updated.Hash, st.PlanHash, "the accepted move happened")
}

// TestRestartGoesOnFromTheChannelItFellBackTo: a step that fell back from
// mail (Lob unavailable past the budget) to email, whose send is in
// doubt, continues as new while settling it; the next execution goes on
// with the email, not from mail again, so the customer does not get the
// postcard as well as an email SendGrid may have.
func TestRestartGoesOnFromTheChannelItFellBackTo(t *testing.T) {
	acts := &fakeActivities{answers: map[journey.Channel]SendStatus{journey.Email: SendUnknown}, downOnly: journey.Mail,
		settles: []Settlement{StillInDoubt, StillInDoubt, Settled}}
	c := newChain(t, acts)
	c.budget = time.Hour
	c.suggest = firstOnly
	outageEnds := c.start.Add(6 * time.Minute)
	var now func() time.Time
	acts.sendDown = func() bool { return now().Before(outageEnds) }
	c.feed = func(env *testsuite.TestWorkflowEnvironment) { now = env.Now }
	res, st := c.run(JourneyInput{Plan: compileTest(t, `
journey: fallback
purpose: transactional
trigger: {event: order.placed}
steps:
  - {id: note, send: {channel: [mail, email], template: t}}
`), CustomerID: "c_1", EntryKey: "k", Trigger: trigger(journey.Order{}), Revision: Revision})

	assert.Equal(t, Completed, res.Outcome, res.Reason)
	require.Equal(t, 2, c.execs, "continued as new while settling the email")
	require.NotNil(t, c.inputs[0].Resume.Sending)
	assert.Equal(t, journey.Email, c.inputs[0].Resume.Sending.Channel)
	for _, s := range st.Sends {
		assert.False(t, s.Channel == journey.Mail && s.Status == SendSent, "no postcard after the email went out in doubt")
	}
	last := acts.sends[len(acts.sends)-1]
	assert.Equal(t, journey.Email, last.Channel, "the next execution asked about the email")
	require.NotNil(t, last.Fallback, "still saying why it is on email")
	assert.Equal(t, journey.Mail, last.Fallback.From)
}
