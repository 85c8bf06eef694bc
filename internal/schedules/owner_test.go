package schedules

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/store/storetest"
	"github.com/rapporthq/rapport/workflows"
)

// Only the newest journey folder writes the schedules, against a real
// Temporal server and database. An old worker that starts after a release
// added a journey leaves that journey's schedule (and the retention
// schedule) alone; a release that removes a journey on purpose deletes its
// schedule when its first worker starts; an edited journey counts as newer;
// `rapport schedules sync` (a claim) writes whatever was seen, which is
// how a rollback on purpose takes the schedules back, after which the
// rolled-back-from release's pods write nothing.
func TestOnlyTheNewestFolderWritesSchedules(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := startTemporal(t, ctx, nil)
	st, _ := storetest.New(t)
	catalog := func(plans ...*journey.Plan) *journey.Catalog {
		cat, err := journey.NewCatalog(plans...)
		require.NoError(t, err)
		return cat
	}
	ids := func() []string {
		ids, err := List(ctx, c)
		require.NoError(t, err)
		return ids
	}
	winback, weekly := audiencePlan(t, "winback", "0 9 * * *"), audiencePlan(t, "weekly", "0 8 * * 1")
	release1 := catalog(winback)
	release2 := catalog(winback, weekly) // adds weekly
	worker := func(cat *journey.Catalog, retention *workflows.RetentionInput) Owned {
		t.Helper()
		o, err := SyncOwned(ctx, c, st, cat, OwnOptions{Retention: retention})
		require.NoError(t, err)
		return o
	}

	o := worker(release1, &workflows.RetentionInput{Messages: "400d"})
	require.True(t, o.Owner)
	assert.Empty(t, o.TookOver, "the first folder seen took over from none")
	assert.Equal(t, []string{ID("winback")}, o.Audience.Created)
	assert.Equal(t, "created", o.Retention)

	o = worker(release2, &workflows.RetentionInput{Messages: "400d"})
	require.True(t, o.Owner, "a journey added: the folder is newer")
	assert.Equal(t, CatalogHash(release1), o.TookOver, "it took over from the release before")
	assert.Equal(t, []string{ID("weekly")}, o.Audience.Created)
	assert.Equal(t, CatalogHash(release2), o.Catalog)

	// An old pod (rolled back by hand, crash-looping mid-rollout) starts
	// after the new release's worker, with another retention setting.
	o = worker(release1, nil)
	assert.False(t, o.Owner)
	assert.Equal(t, CatalogHash(release1), o.Catalog)
	assert.Equal(t, CatalogHash(release2), o.Newest)
	assert.Equal(t, []string{"weekly"}, o.Missing, "it says what it would have undone")
	assert.Empty(t, o.Audience.Deleted)
	o = worker(release1, &workflows.RetentionInput{})
	assert.False(t, o.Owner)
	assert.Empty(t, o.Retention)
	assert.Equal(t, []string{ID("weekly"), ID("winback")}, ids(), "the new journey's schedule is left alone")
	assert.NotNil(t, retentionSchedule(t, ctx, c), "and so is retention")

	// An edited journey counts as newer.
	weekly2 := audiencePlan(t, "weekly", "0 7 * * 1")
	release3 := catalog(winback, weekly2)
	o = worker(release3, nil)
	require.True(t, o.Owner)
	assert.Equal(t, []string{ID("weekly")}, o.Audience.Updated)
	o = worker(release2, nil)
	assert.False(t, o.Owner)
	assert.Equal(t, []string{"weekly"}, o.Changed)

	// A release removes winback on purpose: its first worker deletes the
	// schedule.
	release4 := catalog(weekly2)
	o = worker(release4, nil)
	require.True(t, o.Owner)
	assert.Equal(t, []string{ID("winback")}, o.Audience.Deleted)
	assert.Equal(t, []string{ID("weekly")}, ids())
	o = worker(release3, nil)
	assert.False(t, o.Owner, "a pod of the release before does not bring it back")
	assert.Equal(t, []string{"winback"}, o.Extra)
	assert.Equal(t, []string{ID("weekly")}, ids())

	// The deploy rolls back to release 1 on purpose and runs `rapport
	// schedules sync`: it writes, and from then on release 1 is the newest.
	o, err := SyncOwned(ctx, c, st, release1, OwnOptions{Claim: true})
	require.NoError(t, err)
	require.True(t, o.Owner)
	assert.Equal(t, CatalogHash(release4), o.TookOver, "it says whose schedules it took")
	assert.Equal(t, []string{ID("winback")}, o.Audience.Created)
	assert.Equal(t, []string{ID("weekly")}, o.Audience.Deleted)
	o = worker(release4, nil)
	assert.False(t, o.Owner, "a pod of the release rolled back from writes nothing")
	o = worker(release1, &workflows.RetentionInput{Messages: "30d"})
	require.True(t, o.Owner, "the workers of the release rolled back to own the schedules again")
	assert.Equal(t, "updated", o.Retention)
	assert.Equal(t, []string{ID("winback")}, ids())
}
