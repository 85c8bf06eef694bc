package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/money"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/store/storetest"
)

func TestTaskLifecycle(t *testing.T) {
	t.Parallel()
	s, _ := storetest.New(t)
	ctx := context.Background()
	due := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Second)
	task := store.Task{ID: "task_1", WorkflowID: "w", Journey: "lapse-winback", StepID: "call", CustomerID: "c_1", Kind: "phone_call",
		Queue: "retention", Brief: "Call them", Outcomes: []string{"reached", "declined"}, DueAt: due,
		Context: map[string]any{"customer": map[string]any{"name": "Ada"}}}
	created, err := s.CreateTask(ctx, task)
	require.NoError(t, err)
	assert.Equal(t, store.TaskOpen, created.Status)
	assert.Equal(t, []string{"reached", "declined"}, created.Outcomes)
	assert.Equal(t, "Ada", created.Context["customer"].(map[string]any)["name"])
	task.Brief = "changed"
	again, err := s.CreateTask(ctx, task)
	require.NoError(t, err)
	assert.Equal(t, "Call them", again.Brief, "creating twice keeps the first")

	list, err := s.ListTasks(ctx, store.TaskFilter{Queue: "retention"})
	require.NoError(t, err)
	assert.Len(t, list, 1)
	list, _ = s.ListTasks(ctx, store.TaskFilter{Queue: "care"})
	assert.Empty(t, list)

	claimed, err := s.ClaimTask(ctx, "task_1", "sam", "sam", "support-desk")
	require.NoError(t, err)
	assert.Equal(t, store.TaskClaimed, claimed.Status)
	assert.Equal(t, "support-desk", claimed.ClaimedByKey, "the claim records the key it came with")
	_, err = s.ClaimTask(ctx, "task_1", "sam", "sam", "support-desk")
	assert.NoError(t, err, "claiming again is harmless")
	_, err = s.ClaimTask(ctx, "task_1", "kim", "kim", "support-desk")
	assert.ErrorIs(t, err, store.ErrConflict)

	done, err := s.CompleteTask(ctx, "task_1", "reached", "happy now", "support-desk")
	require.NoError(t, err)
	assert.Equal(t, store.TaskCompleted, done.Status)
	assert.NotNil(t, done.CompletedAt)
	assert.Equal(t, "support-desk", done.CompletedByKey)
	_, err = s.CompleteTask(ctx, "task_1", "reached", "again", "support-desk")
	assert.NoError(t, err, "the same completion twice is harmless")
	_, err = s.CompleteTask(ctx, "task_1", "declined", "", "support-desk")
	assert.ErrorIs(t, err, store.ErrConflict)
	_, err = s.ClaimTask(ctx, "task_1", "sam", "sam", "support-desk")
	assert.ErrorIs(t, err, store.ErrConflict)
	list, _ = s.ListTasks(ctx, store.TaskFilter{Statuses: []string{store.TaskCompleted}})
	assert.Len(t, list, 1)

	task2 := task
	task2.ID, task2.StepID = "task_2", "call2"
	_, err = s.CreateTask(ctx, task2)
	require.NoError(t, err)
	esc, err := s.EscalateTask(ctx, "task_2", "leads", due.Add(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, "leads", esc.Queue)
	assert.Equal(t, 1, esc.Escalations)
	over, err := s.SetTaskStatus(ctx, "task_2", store.TaskOverdue)
	require.NoError(t, err)
	assert.Equal(t, store.TaskOverdue, over.Status)

	// The run ends (it went on past the overdue task): the task leaves
	// staff lists; the completed one stays completed.
	require.NoError(t, s.FinishRun(ctx, "w", "completed", ""))
	ended, err := s.GetTask(ctx, "task_2")
	require.NoError(t, err)
	assert.Equal(t, store.TaskCancelled, ended.Status, "nobody can complete a task of an ended run")
	first, err := s.GetTask(ctx, "task_1")
	require.NoError(t, err)
	assert.Equal(t, store.TaskCompleted, first.Status)
	_, err = s.GetTask(ctx, "nope")
	assert.True(t, errors.Is(err, store.ErrNotFound))

	statuses, err := store.ParseTaskStatuses("open,completed")
	require.NoError(t, err)
	assert.Equal(t, []string{"open", "completed"}, statuses)
	_, err = store.ParseTaskStatuses("done")
	assert.Error(t, err)
}

func TestVouchersIssueOnceAndRedeemOnce(t *testing.T) {
	t.Parallel()
	s, _ := storetest.New(t)
	ctx := context.Background()
	now := time.Now()
	v, err := s.IssueVoucher(ctx, store.Voucher{Code: "AAAA-BBBB", CustomerID: "c_1", WorkflowID: "w", StepID: "offer", Kind: "percent", Value: money.MustParse("15"), ExpiresAt: now.Add(time.Hour)})
	require.NoError(t, err)
	again, err := s.IssueVoucher(ctx, store.Voucher{Code: "CCCC-DDDD", CustomerID: "c_1", WorkflowID: "w", StepID: "offer", Kind: "percent", Value: money.MustParse("15"), ExpiresAt: now.Add(time.Hour)})
	require.NoError(t, err)
	assert.Equal(t, "AAAA-BBBB", again.Code, "one voucher per run and step")

	r, err := s.RedeemVoucher(ctx, v.Code, "o-9", now, "till-3")
	require.NoError(t, err)
	assert.Equal(t, "o-9", r.RedeemedOrderID)
	assert.Equal(t, "till-3", r.RedeemedByKey)
	_, err = s.RedeemVoucher(ctx, v.Code, "o-10", now, "till-3")
	assert.ErrorIs(t, err, store.ErrConflict)

	old, err := s.IssueVoucher(ctx, store.Voucher{Code: "EEEE", CustomerID: "c_1", WorkflowID: "w", StepID: "old", Kind: "amount", Value: money.MustParse("5"), Currency: "GBP", ExpiresAt: now.Add(-time.Minute)})
	require.NoError(t, err)
	_, err = s.RedeemVoucher(ctx, old.Code, "", now, "till-3")
	assert.ErrorIs(t, err, store.ErrExpired)
	_, err = s.RedeemVoucher(ctx, "NOPE", "", now, "till-3")
	assert.ErrorIs(t, err, store.ErrNotFound)
}

func TestRecommendComplementsOfWhatTheyLike(t *testing.T) {
	t.Parallel()
	s, _ := storetest.New(t)
	ctx := context.Background()
	p := func(id string, comps map[string]float64) store.Product {
		return store.Product{ID: id, Name: id, Price: money.MustParse("5"), Currency: "GBP", Active: true, Complements: comps}
	}
	require.NoError(t, s.UpsertProducts(ctx, []store.Product{
		p("tea", map[string]float64{"pot": 0.9, "cup": 0.5, "honey": 0.4}),
		p("pot", map[string]float64{"cosy": 0.8, "cup": 0.6}),
		p("cup", nil), p("honey", nil), p("cosy", nil),
		p("toy", map[string]float64{"battery": 0.9}), p("battery", nil),
	}))
	_, err := s.UpsertCustomer(ctx, store.Customer{ID: "c_1"})
	require.NoError(t, err)
	order := func(id string, gift bool, when time.Time, items ...string) {
		o := store.Order{ID: id, CustomerID: "c_1", Total: money.MustParse("5"), Currency: "GBP", Gift: gift, PlacedAt: when}
		for _, it := range items {
			o.Items = append(o.Items, store.Item{ProductID: it, Name: it, Quantity: 1, Price: money.MustParse("5")})
		}
		_, err := s.RecordOrder(ctx, o)
		require.NoError(t, err)
	}
	now := time.Now()
	order("o1", false, now.Add(-48*time.Hour), "tea", "honey")
	order("o2", true, now, "toy") // a present for a nephew

	basis, err := s.TasteBasis(ctx, "c_1", "o1")
	require.NoError(t, err)
	assert.Equal(t, []string{"honey", "tea"}, basis)
	recs, err := s.Recommend(ctx, "c_1", basis, 3)
	require.NoError(t, err)
	var ids []string
	for _, r := range recs {
		ids = append(ids, r.ID)
	}
	assert.Equal(t, []string{"pot", "cup"}, ids, "best match first; honey already bought")

	basis, err = s.TasteBasis(ctx, "c_1", "o2")
	require.NoError(t, err)
	assert.Equal(t, []string{"honey", "tea"}, basis, "a gift order says nothing about their taste")

	require.NoError(t, s.UpsertProducts(ctx, []store.Product{{ID: "pot", Name: "pot", Active: false, Complements: map[string]float64{}}}))
	recs, err = s.Recommend(ctx, "c_1", []string{"tea"}, 3)
	require.NoError(t, err)
	assert.Len(t, recs, 1, "inactive products are not recommended")

	inserted, err := s.RecordOrder(ctx, store.Order{ID: "o1", CustomerID: "c_1", Currency: "GBP", PlacedAt: now})
	require.NoError(t, err)
	assert.False(t, inserted)
	recent, err := s.RecentOrders(ctx, "c_1", 5)
	require.NoError(t, err)
	require.Len(t, recent, 2)
	assert.Equal(t, "o2", recent[0].ID)
}

func TestSurveysSplitsSuppressions(t *testing.T) {
	t.Parallel()
	s, _ := storetest.New(t)
	ctx := context.Background()
	a, inserted, err := s.AnswerSurvey(ctx, store.SurveyAnswer{SurveyID: "sv1", CustomerID: "c_1", WorkflowID: "w", StepID: "ask", Score: 2, Comment: "late"})
	require.NoError(t, err)
	assert.True(t, inserted)
	_, inserted, err = s.AnswerSurvey(ctx, store.SurveyAnswer{SurveyID: "sv1", CustomerID: "c_1", WorkflowID: "w", StepID: "ask", Score: 5})
	require.NoError(t, err)
	assert.False(t, inserted)
	got, err := s.GetSurveyAnswer(ctx, "sv1")
	require.NoError(t, err)
	assert.Equal(t, a.Score, got.Score, "the first answer stands")

	for i, path := range []string{"a", "a", "b"} {
		require.NoError(t, s.RecordSplit(ctx, store.SplitAssignment{WorkflowID: string(rune('x' + i)), StepID: "s", Journey: "j", CustomerID: "c", Path: path}))
	}
	counts, err := s.SplitCounts(ctx, "j", "s")
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"a": 2, "b": 1}, counts)

	_, err = s.Suppressed(ctx, "sms", "+447700900123")
	assert.ErrorIs(t, err, store.ErrNotFound)
	require.NoError(t, s.Suppress(ctx, store.Suppression{Channel: "sms", Address: "+447700900123", Reason: "replied STOP", Source: "twilio 21610"}))
	require.NoError(t, s.Suppress(ctx, store.Suppression{Channel: "sms", Address: "+447700900123", Reason: "other"}))
	sup, err := s.Suppressed(ctx, "sms", "+447700900123")
	require.NoError(t, err)
	assert.Equal(t, "replied STOP", sup.Reason)
}

// TestTasksChangeHands: a task is claimed, assigned to someone else over
// the holder's head, unclaimed and noted; each is kept in its actions,
// with who did it and the key it came with, and the bounds hold.
func TestTasksChangeHands(t *testing.T) {
	t.Parallel()
	s, _ := storetest.New(t)
	ctx := context.Background()
	_, err := s.CreateTask(ctx, store.Task{ID: "task_h", WorkflowID: "w_h", Journey: "lapse-winback", StepID: "call", CustomerID: "c_1",
		Kind: "phone_call", Queue: "retention", Outcomes: []string{"reached"}, DueAt: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	_, err = s.AssignTask(ctx, "task_nope", "alex", "kim", "desk")
	assert.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.UnclaimTask(ctx, "task_h", "kim", "desk")
	assert.ErrorIs(t, err, store.ErrConflict, "nobody holds it")

	_, err = s.ClaimTask(ctx, "task_h", "sam", "sam (key desk)", "desk")
	require.NoError(t, err)
	got, err := s.AssignTask(ctx, "task_h", "alex", "kim (key lead)", "lead")
	require.NoError(t, err)
	assert.Equal(t, store.TaskClaimed, got.Status)
	assert.Equal(t, "alex", got.Assignee)
	assert.Equal(t, "lead", got.ClaimedByKey)
	same, err := s.AssignTask(ctx, "task_h", "alex", "kim (key lead)", "lead")
	require.NoError(t, err)
	assert.Len(t, same.Actions, 2, "assigning to the holder records nothing")
	got, err = s.UnclaimTask(ctx, "task_h", "alex (key desk)", "desk")
	require.NoError(t, err)
	assert.Equal(t, store.TaskOpen, got.Status)
	assert.Empty(t, got.Assignee)
	assert.Nil(t, got.ClaimedAt)
	got, err = s.NoteTask(ctx, "task_h", "Asked to be called after 6pm.\nMobile only.", "alex (key desk)", "desk")
	require.NoError(t, err)
	require.Len(t, got.Actions, 4)
	kinds := []string{}
	for _, a := range got.Actions {
		kinds = append(kinds, a.Kind+" "+a.By+" "+a.From+">"+a.Assignee)
		assert.WithinDuration(t, time.Now(), a.At, time.Minute, "the database's time")
	}
	assert.Equal(t, []string{"claim sam (key desk) >sam", "assign kim (key lead) sam>alex", "unclaim alex (key desk) alex>", "note alex (key desk) >"}, kinds)
	assert.Equal(t, "Asked to be called after 6pm.\nMobile only.", got.Actions[3].Note)
	assert.Equal(t, "lead", got.Actions[1].Key)

	// Notes are bounded; past the bound, a conflict. Actions keep the
	// latest MaxTaskActions.
	for i := 1; i < store.MaxTaskNotes; i++ {
		_, err = s.NoteTask(ctx, "task_h", "n", "alex", "desk")
		require.NoError(t, err)
	}
	_, err = s.NoteTask(ctx, "task_h", "one too many", "alex", "desk")
	assert.ErrorIs(t, err, store.ErrConflict)
	for i := range store.MaxTaskActions {
		who := []string{"sam", "kim"}[i%2]
		got, err = s.AssignTask(ctx, "task_h", who, "lead", "lead")
		require.NoError(t, err)
	}
	assert.Len(t, got.Actions, store.MaxTaskActions)
	assert.Equal(t, store.TaskAssign, got.Actions[len(got.Actions)-1].Kind)
	assert.NotEqual(t, store.TaskClaim, got.Actions[0].Kind, "the oldest was dropped")

	// A finished task changes hands no more.
	_, err = s.CompleteTask(ctx, "task_h", "reached", "", "desk")
	require.NoError(t, err)
	_, err = s.AssignTask(ctx, "task_h", "alex", "kim", "lead")
	assert.ErrorIs(t, err, store.ErrConflict)
	_, err = s.UnclaimTask(ctx, "task_h", "kim", "lead")
	assert.ErrorIs(t, err, store.ErrConflict)
}
