package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/store/storetest"
)

// TestRunsOnOlderPlans: runs move only to a plan seen after theirs: from
// plan a (seen first) to b; never from b back to a, nor from a plan never
// seen; ended runs and other journeys stay out; pages follow the
// workflow id; a plan never seen takes no runs.
func TestRunsOnOlderPlans(t *testing.T) {
	t.Parallel()
	s, _ := storetest.New(t)
	ctx := context.Background()
	register := func(id, journeyName, hash string) {
		require.NoError(t, s.RegisterRun(ctx, store.Run{WorkflowID: id, Journey: journeyName, CustomerID: "c_" + id, PlanHash: hash}))
	}
	for i := range 3 {
		register(fmt.Sprintf("a%d", i), "j", "aaaa")
	}
	register("b0", "j", "bbbb")
	register("u0", "j", "uuuu") // a plan no worker has seen (an API started it)
	register("o0", "other", "aaaa")
	register("e0", "j", "aaaa")
	require.NoError(t, s.FinishRun(ctx, "e0", store.RunCompleted, ""))

	none, err := s.RunsOnOlderPlans(ctx, "j", "bbbb", "", 10)
	require.NoError(t, err)
	assert.Empty(t, none, "a plan never seen takes no runs")

	require.NoError(t, s.SeePlans(ctx, []store.PlanSeen{{Journey: "j", PlanHash: "aaaa"}, {Journey: "other", PlanHash: "aaaa"}}))
	require.NoError(t, s.SeePlans(ctx, []store.PlanSeen{{Journey: "j", PlanHash: "bbbb"}}))
	require.NoError(t, s.SeePlans(ctx, []store.PlanSeen{{Journey: "j", PlanHash: "aaaa"}}), "seen again: keeps its first time")

	ids := func(hash, after string, limit int) []string {
		runs, err := s.RunsOnOlderPlans(ctx, "j", hash, after, limit)
		require.NoError(t, err)
		var out []string
		for _, r := range runs {
			out = append(out, r.WorkflowID)
		}
		return out
	}
	assert.Equal(t, []string{"a0", "a1", "a2"}, ids("bbbb", "", 10), "u0's plan, never seen, is not older")
	assert.Equal(t, []string{"a0", "a1"}, ids("bbbb", "", 2))
	assert.Equal(t, []string{"a2"}, ids("bbbb", "a1", 2))
	assert.Empty(t, ids("aaaa", "", 10), "b was seen after a: its runs do not go back")

	moved, err := s.MoveRun(ctx, "a0", "bbbb", true, []string{"order.placed"})
	require.NoError(t, err)
	assert.True(t, moved)
	r, err := s.GetRun(ctx, "a0")
	require.NoError(t, err)
	assert.Equal(t, "bbbb", r.PlanHash)
	assert.Equal(t, []string{"order.placed"}, r.ListensFor)
	moved, err = s.MoveRun(ctx, "e0", "bbbb", true, nil)
	require.NoError(t, err)
	assert.False(t, moved, "an ended run is not moved")
}
