package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/money"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/store/storetest"
)

// heldOutCustomer finds a customer id the journey holds out at share pct,
// and one it treats.
func heldOutCustomer(t *testing.T, journeyName string, pct int) (held, treated string) {
	t.Helper()
	for i := 0; held == "" || treated == ""; i++ {
		id := fmt.Sprintf("c_%d", i)
		if journey.HeldOut(journeyName, id, pct) {
			held = id
		} else {
			treated = id
		}
	}
	return held, treated
}

func TestHoldoutEntersAndEndsWithoutAWorkflow(t *testing.T) {
	t.Parallel()
	s, _ := storetest.New(t)
	ctx := context.Background()
	held, treated := heldOutCustomer(t, "winback", 10)
	goal := &journey.Goal{When: `event.type == "order.placed"`, Within: journey.Duration{D: 14 * 24 * time.Hour, Text: "14d"}}
	for _, c := range []string{held, treated} {
		_, err := s.UpsertCustomer(ctx, store.Customer{ID: c})
		require.NoError(t, err)
	}

	enter := func(id, customer string) store.Entered {
		e := store.Entry{Run: store.Run{WorkflowID: id, Journey: "winback", CustomerID: customer, PlanHash: "h", EntryKey: id, Goal: goal}, Holdout: 10, MaxActive: 1}
		got, err := s.EnterRun(ctx, e)
		require.NoError(t, err)
		return got
	}
	got := enter("winback-h1", held)
	assert.True(t, got.HeldOut)
	assert.False(t, got.Start, "no workflow for the control group")
	run, err := s.GetRun(ctx, "winback-h1")
	require.NoError(t, err)
	assert.Equal(t, store.ArmHoldout, run.Arm)
	assert.Equal(t, store.RunExited, run.Status)
	assert.Equal(t, store.HeldOutOutcome, run.Outcome)
	require.NotNil(t, run.EndedAt)
	require.NotNil(t, run.Goal)
	assert.Equal(t, goal.When, run.Goal.When)
	require.NotNil(t, run.GoalUntil)
	assert.WithinDuration(t, run.StartedAt.Add(14*24*time.Hour), *run.GoalUntil, time.Second)

	// The control group's run keeps the customer "in" the journey for
	// max_active until its window ends, as a treated run would.
	got = enter("winback-h2", held)
	assert.False(t, got.Start)
	assert.False(t, got.HeldOut)
	assert.Contains(t, got.Refused, "max_active")

	got = enter("winback-t1", treated)
	assert.True(t, got.Start)
	assert.False(t, got.HeldOut)
	run, err = s.GetRun(ctx, "winback-t1")
	require.NoError(t, err)
	assert.Equal(t, store.ArmTreatment, run.Arm)
	assert.Equal(t, store.RunRunning, run.Status)

	// A journey without a holdout has no arm.
	got, err = s.EnterRun(ctx, store.Entry{Run: store.Run{WorkflowID: "thanks-1", Journey: "thanks", CustomerID: held, PlanHash: "h", EntryKey: "thanks-1"}})
	require.NoError(t, err)
	assert.True(t, got.Start)
	run, err = s.GetRun(ctx, "thanks-1")
	require.NoError(t, err)
	assert.Equal(t, "", run.Arm)
	assert.Nil(t, run.Goal)
	assert.Nil(t, run.GoalUntil)
}

func TestGoalCandidatesAndConversions(t *testing.T) {
	t.Parallel()
	s, _ := storetest.New(t)
	ctx := context.Background()
	_, err := s.UpsertCustomer(ctx, store.Customer{ID: "c_1"})
	require.NoError(t, err)
	record := func(id, typ string, at time.Time, data any) store.Event {
		raw, err := json.Marshal(data)
		require.NoError(t, err)
		e, _, err := s.RecordEvent(ctx, store.Event{ID: id, Type: typ, CustomerID: "c_1", OccurredAt: at, Data: raw}, nil)
		require.NoError(t, err)
		return e
	}
	now := time.Now().UTC()
	before := record("e-before", "page.viewed", now.Add(-time.Minute), map[string]any{})
	entry := func(id string, goal *journey.Goal) {
		_, err := s.EnterRun(ctx, store.Entry{Run: store.Run{WorkflowID: id, Journey: "j", CustomerID: "c_1", PlanHash: "h", EntryKey: id,
			TriggerEventID: "e-before", FromSeq: before.Seq, Goal: goal}})
		require.NoError(t, err)
	}
	fromEntry := &journey.Goal{When: "true", Within: journey.Duration{D: time.Hour}}
	fromMessage := &journey.Goal{When: "true", Within: journey.Duration{D: time.Hour}, From: journey.GoalFromLastMessage}
	entry("run-entry", fromEntry)
	entry("run-message", fromMessage)
	entry("run-nogoal", nil)

	// The trigger itself, and an event stored before entry, convert nothing.
	cands, err := s.GoalCandidates(ctx, before)
	require.NoError(t, err)
	assert.Empty(t, cands)

	later := record("e-later", "order.placed", time.Now().UTC().Add(time.Second), map[string]any{})
	cands, err = s.GoalCandidates(ctx, later)
	require.NoError(t, err)
	ids := []string{}
	for _, c := range cands {
		ids = append(ids, c.WorkflowID)
		assert.Nil(t, c.LastSentAt, "no message sent")
	}
	assert.ElementsMatch(t, []string{"run-entry", "run-message"}, ids)

	// Past an entry window the run is no candidate; a window from the
	// last message is for the caller to check.
	late := record("e-late", "order.placed", time.Now().UTC().Add(2*time.Hour), map[string]any{})
	cands, err = s.GoalCandidates(ctx, late)
	require.NoError(t, err)
	require.Len(t, cands, 1)
	assert.Equal(t, "run-message", cands[0].WorkflowID)

	// The earliest goal event stands, whatever order they are recorded in.
	amount := money.MustParse("42.50")
	require.NoError(t, s.RecordConversion(ctx, store.Conversion{WorkflowID: "run-entry", Journey: "j", CustomerID: "c_1", EventID: "e-late",
		EventType: "order.placed", ConvertedAt: late.OccurredAt}))
	require.NoError(t, s.RecordConversion(ctx, store.Conversion{WorkflowID: "run-entry", Journey: "j", CustomerID: "c_1", EventID: "e-later",
		EventType: "order.placed", ConvertedAt: later.OccurredAt, OrderID: "o-1", Revenue: &amount, Currency: "EUR"}))
	require.NoError(t, s.RecordConversion(ctx, store.Conversion{WorkflowID: "run-entry", Journey: "j", CustomerID: "c_1", EventID: "e-late",
		EventType: "order.placed", ConvertedAt: late.OccurredAt}))
	convs, err := s.Conversions(ctx, "j")
	require.NoError(t, err)
	require.Len(t, convs, 1)
	assert.Equal(t, "e-later", convs[0].EventID)
	require.NotNil(t, convs[0].Revenue)
	assert.Equal(t, "42.50", convs[0].Revenue.String())
	assert.Equal(t, "EUR", convs[0].Currency)

	// A converted run is no candidate again.
	cands, err = s.GoalCandidates(ctx, later)
	require.NoError(t, err)
	require.Len(t, cands, 1)
	assert.Equal(t, "run-message", cands[0].WorkflowID)
}

func TestRecordSteps(t *testing.T) {
	t.Parallel()
	s, _ := storetest.New(t)
	ctx := context.Background()
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	require.NoError(t, s.RecordSteps(ctx, "run-1", []store.StepReached{{Step: "ask", At: t0}, {Step: "wait", At: t0.Add(time.Minute)}}))
	require.NoError(t, s.RecordSteps(ctx, "run-1", []store.StepReached{{Step: "wait", At: t0.Add(time.Hour)}, {Step: "thank", At: t0.Add(2 * time.Hour)}}))
	require.NoError(t, s.RecordSteps(ctx, "run-1", nil))
	steps, err := s.RunSteps(ctx, "run-1")
	require.NoError(t, err)
	var got []string
	for _, st := range steps {
		got = append(got, fmt.Sprintf("%s@%s", st.Step, st.At.UTC().Format("15:04")))
	}
	assert.Equal(t, []string{"ask@09:00", "wait@09:01", "thank@11:00"}, got, "a step keeps the first time it was reached")
}
