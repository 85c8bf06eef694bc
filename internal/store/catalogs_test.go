package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/store/storetest"
)

// TestOwnSchedules: the newest journey folder seen owns the schedules. A
// folder seen before a newer one never writes again, until a claim (the
// deploy's `rapport schedules sync`) makes it the newest; a failed write
// still records the folder; and two writers take turns.
func TestOwnSchedules(t *testing.T) {
	t.Parallel()
	s, dbURL := storetest.New(t)
	ctx := context.Background()
	own := func(hash string, claim bool, werr error) (store.ScheduleOwnership, bool, error) {
		wrote := false
		o, err := s.OwnSchedules(ctx, hash, map[string]string{"winback": "p-" + hash}, claim, func(context.Context) error {
			wrote = true
			return werr
		})
		return o, wrote, err
	}

	_, ok, err := s.NewestCatalog(ctx)
	require.NoError(t, err)
	assert.False(t, ok, "none seen yet")

	o, wrote, err := own("old", false, nil)
	require.NoError(t, err)
	assert.True(t, o.Owner && wrote, "the first folder seen is the newest")
	assert.Empty(t, o.Before.Hash, "none before it")
	assert.Equal(t, map[string]string{"winback": "p-old"}, o.Mine.Plans)
	assert.True(t, o.Mine.ClaimedAt.IsZero())

	o, wrote, err = own("new", false, nil)
	require.NoError(t, err)
	assert.True(t, o.Owner && wrote, "a folder never seen is newer")

	o, wrote, err = own("old", false, nil)
	require.NoError(t, err)
	assert.False(t, o.Owner || wrote, "seen before the newest: it leaves the schedules alone")
	assert.Equal(t, "new", o.Newest.Hash)
	assert.True(t, o.Mine.FirstSeen.Before(o.Newest.FirstSeen))
	assert.True(t, o.Mine.LastSeen.After(o.Newest.LastSeen), "seen again: its last time is now")
	o, wrote, err = own("new", false, nil)
	require.NoError(t, err)
	assert.True(t, o.Owner && wrote, "seen again, still the newest")

	// The deploy rolls back on purpose: its claim makes old the newest.
	o, wrote, err = own("old", true, nil)
	require.NoError(t, err)
	assert.True(t, o.Owner && wrote)
	assert.Equal(t, "new", o.Before.Hash, "it takes over from new")
	assert.False(t, o.Mine.ClaimedAt.IsZero())
	assert.True(t, o.Mine.NewestAt.After(o.Mine.FirstSeen))
	o, wrote, err = own("new", false, nil)
	require.NoError(t, err)
	assert.False(t, o.Owner || wrote, "a pod of the release rolled back from writes nothing")
	assert.Equal(t, "old", o.Newest.Hash)
	newest, ok, err := s.NewestCatalog(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "old", newest.Hash)
	all, err := s.Catalogs(ctx, 10)
	require.NoError(t, err)
	require.Len(t, all, 2)
	assert.Equal(t, []string{"old", "new"}, []string{all[0].Hash, all[1].Hash}, "the newest first")

	// A failed write is returned; the folder was seen all the same.
	boom := errors.New("temporal is down")
	o, wrote, err = own("third", false, boom)
	require.ErrorIs(t, err, boom)
	assert.True(t, o.Owner && wrote)
	o, _, err = own("old", false, nil)
	require.NoError(t, err)
	assert.Equal(t, "third", o.Newest.Hash)

	// Two writers take turns: one recorded while another writes waits for
	// it, then finds itself the newest.
	inside, release := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		_, err := s.OwnSchedules(ctx, "fourth", nil, false, func(context.Context) error {
			close(inside)
			<-release
			return nil
		})
		first <- err
	}()
	<-inside
	second := make(chan store.ScheduleOwnership, 1)
	go func() {
		o, err := s.OwnSchedules(ctx, "fifth", nil, false, func(context.Context) error { return nil })
		assert.NoError(t, err)
		second <- o
	}()
	db := storetest.DB(t, dbURL)
	require.Eventually(t, func() bool {
		var waiting int
		err := db.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = 'advisory'`).Scan(&waiting)
		return err == nil && waiting == 1
	}, time.Minute, 10*time.Millisecond, "the second writer waits for the lock")
	select {
	case <-second:
		t.Fatal("the second writer did not wait for the first")
	default:
	}
	close(release)
	require.NoError(t, <-first)
	o = <-second
	assert.True(t, o.Owner, "recorded after the first wrote: the newest")
}
