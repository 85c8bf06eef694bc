package activities

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/store/storetest"
	"github.com/rapporthq/rapport/workflows"
)

func TestScrubOldContentWorksInBatchesUntilNoneIsLeft(t *testing.T) {
	t.Parallel()
	s, url := storetest.New(t)
	db := storetest.DB(t, url)
	ctx := context.Background()
	_, err := s.UpsertCustomer(ctx, store.Customer{ID: "c_1", Email: "ada@example.com"})
	require.NoError(t, err)
	for i := range 5 {
		_, err := s.SkipSend(ctx, store.Message{IdempotencyKey: fmt.Sprintf("k%d", i), WorkflowID: "w", Journey: "j", StepID: fmt.Sprintf("s%d", i),
			CustomerID: "c_1", Channel: "email", Template: "t", Purpose: "marketing", Recipient: "ada@example.com"}, "quiet")
		require.NoError(t, err)
	}
	_, err = db.Exec(ctx, `UPDATE messages SET created_at = now() - interval '500 days' WHERE step_id <> 's4'`)
	require.NoError(t, err)

	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	(&Activities{Store: s}).RegisterRetention(env)
	req := workflows.ScrubRequest{Kind: workflows.ScrubMessages, Before: time.Now().Add(-400 * 24 * time.Hour), Batch: 3}
	v, err := env.ExecuteActivity(workflows.ScrubOldContentActivity, req)
	require.NoError(t, err)
	var res workflows.ScrubResult
	require.NoError(t, v.Get(&res))
	assert.Equal(t, workflows.ScrubResult{Rows: 4, Batches: 2}, res, "3, then 1 and done")
	var left int
	require.NoError(t, db.QueryRow(ctx, `SELECT count(*) FROM messages WHERE recipient <> ''`).Scan(&left))
	assert.Equal(t, 1, left, "the recent message keeps its recipient")

	// A retry carries on from its last heartbeat's count.
	env = ts.NewTestActivityEnvironment()
	(&Activities{Store: s}).RegisterRetention(env)
	env.SetHeartbeatDetails(workflows.ScrubResult{Rows: 4, Batches: 2})
	v, err = env.ExecuteActivity(workflows.ScrubOldContentActivity, req)
	require.NoError(t, err)
	require.NoError(t, v.Get(&res))
	assert.Equal(t, workflows.ScrubResult{Rows: 4, Batches: 3}, res, "nothing left; the count is the whole run's")

	_, err = env.ExecuteActivity(workflows.ScrubOldContentActivity, workflows.ScrubRequest{Kind: "customers", Before: time.Now()})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"customers" is neither messages nor events`)
}

// With the events' data go the fan-outs done before the cutoff; the
// failed one stays for the operator, the recent and the pending ones stay.
func TestScrubOldEventsDeletesOldFanouts(t *testing.T) {
	t.Parallel()
	s, url := storetest.New(t)
	db := storetest.DB(t, url)
	ctx := context.Background()
	for _, id := range []string{"old1", "old2", "old3", "old_failed", "recent", "pending"} {
		_, err := s.RecordFanout(ctx, store.Event{ID: id, Type: "product.restocked", OccurredAt: time.Now(), Data: []byte(`{}`)}, []string{"back-in-stock"})
		require.NoError(t, err)
	}
	_, err := db.Exec(ctx, `UPDATE fanouts SET done_at = now() - interval '500 days' WHERE event_id LIKE 'old%'`)
	require.NoError(t, err)
	_, err = db.Exec(ctx, `UPDATE fanouts SET done_at = now() WHERE event_id = 'recent'`)
	require.NoError(t, err)
	_, err = db.Exec(ctx, `UPDATE fanouts SET claimed_until = 'infinity', error = 'temporal is down' WHERE event_id = 'old_failed'`)
	require.NoError(t, err)

	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	(&Activities{Store: s}).RegisterRetention(env)
	v, err := env.ExecuteActivity(workflows.ScrubOldContentActivity, workflows.ScrubRequest{Kind: workflows.ScrubEvents, Before: time.Now().Add(-400 * 24 * time.Hour), Batch: 2})
	require.NoError(t, err)
	var res workflows.ScrubResult
	require.NoError(t, v.Get(&res))
	assert.Equal(t, workflows.ScrubResult{Rows: 0, Fanouts: 3, Batches: 3}, res, "no event; the fan-outs 2, then 1 and done")
	fs, err := s.ListFanouts(ctx, store.FanoutFilter{Limit: 10})
	require.NoError(t, err)
	var left []string
	for _, f := range fs {
		left = append(left, f.EventID+" "+f.Status)
	}
	assert.ElementsMatch(t, []string{"old_failed failed", "recent done", "pending pending"}, left)
}
