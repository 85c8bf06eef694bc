package report_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/money"
	"github.com/rapporthq/rapport/internal/report"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/store/storetest"
)

const nudge = `
journey: nudge
topic: offers
trigger: {event: order.delivered}
goal: {when: event.type == "order.placed", within: 14d}
holdout: 20%
steps:
  - id: hello
    send: {channel: [sms, email], template: nudge}
  - id: pause
    wait: 3d
  - id: pick
    split:
      - path: a
        weight: 50
        steps: [{id: offer_a, send: {channel: email, template: offer-a}}]
      - path: b
        weight: 50
        steps: [{id: offer_b, send: {channel: email, template: offer-b}}]
`

// TestReportCountsWhatHappened plays a seeded crowd into the registry and
// the outbox as runs would (entries through the real entry rules and
// control-group assignment, steps, messages, exits, splits, conversions),
// keeping its own tally; the report must say the same, per step and per
// arm, and CrossCheck must find it true to the data (and catch a report
// that is not).
func TestReportCountsWhatHappened(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	s, url := storetest.New(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer conn.Close(ctx)
	comp, err := journey.NewCompiler(journey.Options{})
	require.NoError(t, err)
	plan, diags := comp.Compile("nudge.yaml", []byte(nudge))
	require.False(t, diags.HasErrors(), "%v", diags)

	type tally struct{ entrants, conversions int }
	arms := map[string]*tally{report.ArmTreatment: {}, report.ArmHoldout: {}}
	var held, running, completed, exited, sentHello, skippedHello, reachedPause, sentA, sentB int
	paths := map[string]*tally{"a": {}, "b": {}}
	revenue := map[string]money.Amount{}
	msg := 0
	message := func(wf, step, channel, status, reason string) {
		msg++
		_, err := conn.Exec(ctx, `INSERT INTO messages (idempotency_key, workflow_id, journey, step_id, customer_id, channel, template, purpose, status, reason, sent_at)
			VALUES ($1, $2, 'nudge', $3, 'c', $4, 'nudge', 'marketing', $5, $6, CASE WHEN $5 = 'sent' THEN now() END)`,
			fmt.Sprintf("k-%d", msg), wf, step, channel, status, reason)
		require.NoError(t, err)
	}
	const n = 300
	for i := range n {
		id := fmt.Sprintf("c_%d", i)
		_, err := s.UpsertCustomer(ctx, store.Customer{ID: id})
		require.NoError(t, err)
		wf := "nudge-" + id
		got, err := s.EnterRun(ctx, store.Entry{Run: store.Run{WorkflowID: wf, Journey: "nudge", CustomerID: id, PlanHash: plan.Hash, EntryKey: id, Goal: plan.Goal}, Holdout: plan.Holdout})
		require.NoError(t, err)
		arm, path := report.ArmTreatment, ""
		if got.HeldOut {
			arm = report.ArmHoldout
			held++
		} else {
			require.True(t, got.Start)
			steps := []store.StepReached{{Step: "hello", At: time.Now()}}
			if rng.IntN(3) == 0 {
				message(wf, "hello", "sms", "skipped", "not sent: no phone number")
				skippedHello++
			}
			message(wf, "hello", "email", "sent", "")
			sentHello++
			switch rng.IntN(4) {
			case 0: // still in the pause
				steps = append(steps, store.StepReached{Step: "pause", At: time.Now()})
				reachedPause++
				running++
			case 1: // a purchase ended it
				steps = append(steps, store.StepReached{Step: "pause", At: time.Now()})
				reachedPause++
				require.NoError(t, s.FinishRun(ctx, wf, store.RunExited, fmt.Sprintf("exit_when matched order.placed event evt-%d", i)))
				exited++
			default: // through the split
				steps = append(steps, store.StepReached{Step: "pause", At: time.Now()}, store.StepReached{Step: "pick", At: time.Now()})
				reachedPause++
				path = "a"
				if rng.IntN(2) == 0 {
					path = "b"
				}
				require.NoError(t, s.RecordSplit(ctx, store.SplitAssignment{WorkflowID: wf, StepID: "pick", Journey: "nudge", CustomerID: id, Path: path}))
				paths[path].entrants++
				steps = append(steps, store.StepReached{Step: "offer_" + path, At: time.Now()})
				message(wf, "offer_"+path, "email", "sent", "")
				if path == "a" {
					sentA++
				} else {
					sentB++
				}
				require.NoError(t, s.FinishRun(ctx, wf, store.RunCompleted, ""))
				completed++
			}
			require.NoError(t, s.RecordSteps(ctx, wf, steps))
			if path != "" && rng.Float64() < 0.12 {
				paths[path].conversions++
				convert(t, s, wf, id, "EUR", "10.00", rng, revenue, arm)
				arms[arm].conversions++
				arms[arm].entrants++
				continue
			}
		}
		arms[arm].entrants++
		p := 0.08
		if arm == report.ArmTreatment {
			p = 0.12
		}
		if rng.Float64() < p {
			convert(t, s, wf, id, "EUR", fmt.Sprintf("%d.50", 5+rng.IntN(20)), rng, revenue, arm)
			arms[arm].conversions++
			if path != "" {
				paths[path].conversions++
			}
		}
	}

	r, err := report.Build(ctx, s, plan, report.Options{})
	require.NoError(t, err)
	f := r.Funnel
	assert.Equal(t, n, f.Entered)
	assert.Equal(t, held, f.HeldOut)
	assert.Equal(t, running, f.Running)
	assert.Equal(t, completed, f.Completed)
	assert.Equal(t, exited, f.Exited)
	if exited > 0 {
		assert.Equal(t, []report.Count{{Reason: "exit_when matched order.placed event", N: exited}}, f.ExitReasons, "ids of events are not reasons")
	}
	step := func(id string) report.Step {
		for _, st := range f.Steps {
			if st.ID == id {
				return st
			}
		}
		t.Fatalf("no step %s in %+v", id, f.Steps)
		return report.Step{}
	}
	assert.Equal(t, n-held, step("hello").Reached)
	assert.Equal(t, sentHello, step("hello").Sent)
	if skippedHello > 0 {
		assert.Equal(t, []report.Count{{Reason: "not sent: no phone number", N: skippedHello}}, step("hello").Skipped)
	}
	assert.Equal(t, reachedPause, step("pause").Reached)
	assert.Equal(t, sentA, step("offer_a").Sent)
	assert.Equal(t, sentB, step("offer_b").Sent)
	assert.Equal(t, 1, step("offer_a").Depth)
	assert.Equal(t, "path a", step("offer_a").Under)
	assert.Equal(t, "send sms or email nudge", step("hello").Label)

	require.Len(t, r.Arms, 2)
	for _, a := range r.Arms {
		assert.Equal(t, arms[a.Name].entrants, a.Entrants, a.Name)
		assert.Equal(t, arms[a.Name].conversions, a.Conversions, a.Name)
		if a.Conversions > 0 {
			require.Len(t, a.Revenue, 1)
			assert.Equal(t, revenue[a.Name].String(), a.Revenue[0].Total, a.Name)
			assert.LessOrEqual(t, a.Revenue[0].PerEntrant.Low, a.Revenue[0].PerEntrant.Value)
		}
	}
	assert.True(t, r.Arms[1].Control, "the holdout is the control")
	require.NotNil(t, r.Lift)
	require.Len(t, r.Splits, 1)
	for _, a := range r.Splits[0].Arms {
		assert.Equal(t, paths[a.Name].entrants, a.Entrants, "path %s", a.Name)
		assert.Equal(t, paths[a.Name].conversions, a.Conversions, "path %s", a.Name)
	}
	require.NotEmpty(t, r.Days)
	assert.Contains(t, r.Notes[0], "still inside their goal window")

	err = s.ReadOnly(ctx, func(q store.Querier) error {
		diffs, err := report.CrossCheck(ctx, q, r)
		require.NoError(t, err)
		assert.Empty(t, diffs)
		wrong := *r
		wrong.Funnel.Steps = append([]report.Step(nil), r.Funnel.Steps...)
		wrong.Funnel.Steps[0].Sent++
		wrong.Funnel.Converted--
		diffs, err = report.CrossCheck(ctx, q, &wrong)
		require.NoError(t, err)
		assert.Len(t, diffs, 2, "a wrong report is caught: %v", diffs)
		return nil
	})
	require.NoError(t, err)

	// --plan with another hash counts nothing; --since in the future too.
	none, err := report.Build(ctx, s, plan, report.Options{Plan: "0000000"})
	require.NoError(t, err)
	assert.Zero(t, none.Funnel.Entered)
	later, err := report.Build(ctx, s, plan, report.Options{Since: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	assert.Zero(t, later.Funnel.Entered)
}

func convert(t *testing.T, s *store.Store, wf, customer, currency, amount string, rng *rand.Rand, revenue map[string]money.Amount, arm string) {
	t.Helper()
	a := money.MustParse(amount)
	require.NoError(t, s.RecordConversion(context.Background(), store.Conversion{WorkflowID: wf, Journey: "nudge", CustomerID: customer,
		EventID: fmt.Sprintf("evt-%d", rng.Int()), EventType: "order.placed", ConvertedAt: time.Now(), OrderID: "o", Revenue: &a, Currency: currency}))
	revenue[arm] = revenue[arm].Add(a)
}

func TestReasonsAreCountable(t *testing.T) {
	assert.Equal(t, "exit_when matched order.placed event", report.Reason("exit_when matched order.placed event evt-123"))
	assert.Equal(t, "converted: order.placed event met the goal", report.Reason("converted: order.placed event o-1 met the goal"))
	assert.Equal(t, "the journey ended before it was sent", report.Reason("the journey ended (exited: declined) before it was sent"))
	assert.Equal(t, "no reason given", report.Reason(""))
}
