package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/store/storetest"
)

// A fan-out's status follows its life: pending, running, pending again
// until its next attempt after a failure, done, or failed. The listing
// filters by event and status, newest first; only a failed one is
// retried. Retention deletes the done ones older than its cutoff and
// keeps the failed ones for the operator.
func TestFanoutStatusesListingAndRetention(t *testing.T) {
	t.Parallel()
	s, url := storetest.New(t)
	db := storetest.DB(t, url)
	ctx := context.Background()
	// Received in this order, oldest first: the order runners claim them.
	ids := []string{"x1", "d1", "b1", "r1", "p1"}
	for i, id := range ids {
		_, err := s.RecordFanout(ctx, store.Event{ID: id, Type: "product.restocked", OccurredAt: time.Now(), Data: []byte(`{"product_id": "teapot"}`)},
			[]string{"back-in-stock"})
		require.NoError(t, err)
		_, err = db.Exec(ctx, `UPDATE fanouts SET received_at = now() - make_interval(mins => $2) WHERE event_id = $1`, id, 50-10*i)
		require.NoError(t, err)
	}
	claim := func(want string) store.Fanout {
		t.Helper()
		f, err := s.ClaimFanout(ctx, time.Minute)
		require.NoError(t, err)
		require.NotNil(t, f)
		require.Equal(t, want, f.EventID)
		assert.Equal(t, store.FanoutRunning, f.Status)
		assert.Equal(t, 1, f.Attempts)
		assert.JSONEq(t, `{"product_id": "teapot"}`, string(f.Data))
		return *f
	}
	x := claim("x1")
	x.Cursor, x.Scanned, x.Matched, x.Started = "c_9", 40, 4, 3
	require.NoError(t, s.FailFanout(ctx, x, "temporal is down"))
	require.NoError(t, s.FinishFanout(ctx, claim("d1"), ""))
	require.NoError(t, s.RetryFanout(ctx, claim("b1"), time.Hour, "temporal is down"))
	claim("r1")

	list := func(f store.FanoutFilter) map[string]store.Fanout {
		t.Helper()
		if f.Limit == 0 {
			f.Limit = 10
		}
		fs, err := s.ListFanouts(ctx, f)
		require.NoError(t, err)
		out := map[string]store.Fanout{}
		var order []string
		for _, f := range fs {
			out[f.EventID] = f
			order = append(order, f.EventID)
			assert.Nil(t, f.Data, "a listing leaves the data out")
		}
		t.Logf("%+v: %v", f, order)
		return out
	}
	fs, err := s.ListFanouts(ctx, store.FanoutFilter{Limit: 10})
	require.NoError(t, err)
	var order, statuses []string
	for _, f := range fs {
		order, statuses = append(order, f.EventID), append(statuses, f.Status)
	}
	assert.Equal(t, []string{"p1", "r1", "b1", "d1", "x1"}, order, "the latest received first")
	assert.Equal(t, []string{"pending", "running", "pending", "done", "failed"}, statuses)
	all := list(store.FanoutFilter{})
	require.NotNil(t, all["b1"].NextAttemptAt, "a pending fan-out after a failure says when it is tried again")
	assert.WithinDuration(t, time.Now().Add(time.Hour), *all["b1"].NextAttemptAt, 5*time.Minute)
	assert.Equal(t, "temporal is down", all["b1"].Error)
	assert.Nil(t, all["p1"].NextAttemptAt)
	assert.Nil(t, all["r1"].NextAttemptAt)
	failed := all["x1"]
	require.NotNil(t, failed.DoneAt, "when it was given up")
	assert.Equal(t, "temporal is down", failed.Error)
	assert.Equal(t, []any{"c_9", int64(40), int64(4), int64(3), 1}, []any{failed.Cursor, failed.Scanned, failed.Matched, failed.Started, failed.Attempts})

	assert.Len(t, list(store.FanoutFilter{Statuses: []string{store.FanoutPending}}), 2)
	assert.Contains(t, list(store.FanoutFilter{Statuses: []string{store.FanoutFailed, store.FanoutDone}}), "x1")
	assert.Equal(t, []string{"d1"}, sortedKeys(list(store.FanoutFilter{EventID: "d1"})))
	assert.Empty(t, list(store.FanoutFilter{EventID: "d1", Statuses: []string{store.FanoutFailed}}))
	assert.Equal(t, []string{"p1", "r1"}, sortedKeys(list(store.FanoutFilter{Limit: 2})), "the two latest")
	n, err := s.CountFailedFanouts(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)

	// Nobody claims the failed one, nor the one waiting for its next attempt.
	f, err := s.ClaimFanout(ctx, time.Minute)
	require.NoError(t, err)
	require.NotNil(t, f)
	assert.Equal(t, "p1", f.EventID)
	f, err = s.ClaimFanout(ctx, time.Minute)
	require.NoError(t, err)
	assert.Nil(t, f)

	_, err = s.RetryFailedFanout(ctx, "d1", "back-in-stock")
	assert.ErrorIs(t, err, store.ErrConflict, "done, not failed")
	_, err = s.RetryFailedFanout(ctx, "nope", "back-in-stock")
	assert.ErrorIs(t, err, store.ErrNotFound)

	// Retention: done and failed ten days ago, the cutoff a day ago.
	_, err = db.Exec(ctx, `UPDATE fanouts SET done_at = now() - interval '10 days' WHERE done_at IS NOT NULL`)
	require.NoError(t, err)
	deleted, err := s.DeleteOldFanouts(ctx, time.Now().Add(-24*time.Hour), 10)
	require.NoError(t, err)
	assert.Equal(t, int64(1), deleted)
	assert.Equal(t, []string{"b1", "p1", "r1", "x1"}, sortedKeys(list(store.FanoutFilter{})), "the done one went; the failed one waits for the operator")
	deleted, err = s.DeleteOldFanouts(ctx, time.Now().Add(-24*time.Hour), 10)
	require.NoError(t, err)
	assert.Zero(t, deleted)
	retried, err := s.RetryFailedFanout(ctx, "x1", "back-in-stock")
	require.NoError(t, err)
	assert.Equal(t, store.FanoutPending, retried.Status)
	assert.Equal(t, 0, retried.Attempts)
	assert.Equal(t, "c_9", retried.Cursor)
	n, err = s.CountFailedFanouts(ctx)
	require.NoError(t, err)
	assert.Zero(t, n)
	f, err = s.ClaimFanout(ctx, time.Minute)
	require.NoError(t, err)
	require.NotNil(t, f, "the retried fan-out is due at once")
	assert.Equal(t, "x1", f.EventID)
	assert.Empty(t, f.Error, "a claim clears the last error")
}

// sortedKeys are the event ids of a listing, sorted.
func sortedKeys(m map[string]store.Fanout) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
