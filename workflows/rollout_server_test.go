//go:build !race

// Left out of -race builds: see continue_server_test.go.

package workflows

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/rapporthq/rapport/internal/devstack"
	"github.com/rapporthq/rapport/internal/fleet"
	"github.com/rapporthq/rapport/internal/journey"
)

// TestRolloutAndRollbackOnARealServer: on a Temporal server, workers of
// this release and of the release before (an interpreter that runs at
// most revision 3 and does not say so in its identity) poll one task
// queue. While both poll, every run records revision 3, whichever worker
// starts it; once the older worker is gone, runs record this release's
// revision; when an older worker polls again (a rollback), new runs go
// back to revision 3 while the runs already at the new revision carry on,
// on the workers that can run them. Every run completes; every history
// replays on this release, and those of revision 3 on the older release
// too.
func TestRolloutAndRollbackOnARealServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	attrs := map[string]enumspb.IndexedValueType{}
	for _, a := range SearchAttributes {
		attrs[a.GetName()] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
	}
	srv, err := devstack.StartTemporal(ctx, devstack.TemporalOptions{UIPort: -1, LogLevel: 100, SearchAttributes: attrs, Dynamic: map[string]any{
		// A stopped worker leaves the poller list after 30 s, not 5 min.
		// (8 s was too short on a starved machine: a live older worker
		// whose polls the CPU held back for 8 s left the list, and runs
		// recorded this release's revision while it still polled.)
		"matching.PollerHistoryTTL":           30 * time.Second,
		"matching.longPollExpirationInterval": time.Second,
	}})
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	c, err := client.Dial(client.Options{HostPort: srv.Address(), Namespace: srv.Namespace()})
	require.NoError(t, err)
	t.Cleanup(c.Close)

	comp, err := journey.NewCompiler(journey.Options{})
	require.NoError(t, err)
	plan, diags := comp.Compile("rollout.yaml", []byte(`
journey: rollout
purpose: transactional
trigger: {event: order.placed}
steps:
  - id: thanks
    send: {channel: email, template: thank-you}
  - id: pause
    wait: 1d
  - id: later
    send: {channel: email, template: thank-you}
`))
	require.False(t, diags.HasErrors(), diags.Error())

	const queue = "rollout-test"
	acts := &fakeActivities{answers: map[journey.Channel]SendStatus{}}
	start := func(identity string, newest int, revision func() int) worker.Worker {
		opts := worker.Options{Identity: identity}
		if revision != nil {
			opts.PreferredVersionProvider = RecordRevision(revision)
		}
		w := worker.New(c, queue, opts)
		in := NewInterpreter(comp.Env())
		in.Newest = newest
		in.Register(w)
		w.RegisterActivityWithOptions(acts.CustomerFacts, activity.RegisterOptions{Name: CustomerFactsActivity})
		w.RegisterActivityWithOptions(acts.SendMessage, activity.RegisterOptions{Name: SendMessageActivity})
		w.RegisterActivityWithOptions(acts.FinishRun, activity.RegisterOptions{Name: FinishRunActivity})
		w.RegisterActivityWithOptions(acts.RecordSteps, activity.RegisterOptions{Name: RecordStepsActivity})
		require.NoError(t, w.Start())
		return w
	}
	self := fleet.Identity("new@host", CurrentRevision)
	watch := &fleet.Watcher{Client: c, TaskQueue: queue, Own: CurrentRevision, Self: self, Interval: 200 * time.Millisecond, RaiseAfter: 2 * time.Second}
	go watch.Run(ctx)
	records := func(want int, why string) {
		t.Helper()
		require.Eventually(t, func() bool { return watch.Revision() == want }, 2*time.Minute, 100*time.Millisecond, "%s: %+v", why, watch.View())
	}

	runs := 0
	startRuns := func(n int, day time.Duration) []string {
		var ids []string
		for range n {
			runs++
			id := fmt.Sprintf("rapport/rollout/c_%d/k", runs)
			p := plan.Scaled(day, time.Now())
			_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue}, JourneyWorkflowName,
				JourneyInput{Plan: *p, CustomerID: fmt.Sprintf("c_%d", runs), EntryKey: "k", Trigger: trigger(journey.Order{}), Revision: Revision})
			require.NoError(t, err)
			ids = append(ids, id)
		}
		return ids
	}
	completes := func(ids []string) {
		t.Helper()
		for _, id := range ids {
			var res JourneyResult
			require.NoError(t, c.GetWorkflow(ctx, id, "").Get(ctx, &res), id)
			assert.Equal(t, Completed, res.Outcome, "%s: %s", id, res.Reason)
			assert.Equal(t, []string{"thanks", "pause", "later"}, res.StepsDone, id)
		}
	}
	recorded := func(ids []string, want int, why string) {
		t.Helper()
		for _, id := range ids {
			require.Eventually(t, func() bool { return recordedRevision(ctx, t, c, id) != 0 }, time.Minute, 100*time.Millisecond, "%s records a revision", id)
			assert.Equal(t, want, recordedRevision(ctx, t, c, id), "%s: %s", id, why)
		}
	}

	// Rollout: the release before and this one poll together.
	old := start("old@host@", LegacyRevisionForTest, nil)
	newer := start(self, CurrentRevision, watch.Revision)
	defer newer.Stop()
	// Until the server lists the older worker, the watcher cannot know of
	// it (and its cautious default before the first read is the same
	// revision): wait for the read that names it.
	require.Eventually(t, func() bool {
		v := watch.View()
		return v.Known && slices.ContainsFunc(v.Workers, func(w fleet.Worker) bool { return w.Identity == "old@host@" })
	}, 2*time.Minute, 100*time.Millisecond, "the older worker is listed: %+v", watch.View())
	records(LegacyRevisionForTest, "an older worker polls")
	mixed := startRuns(6, 2*time.Second)
	completes(mixed)
	recorded(mixed, LegacyRevisionForTest, "started while an older worker polled")

	// The last older worker is gone: runs record this release's revision.
	old.Stop()
	records(CurrentRevision, "every worker runs this release")
	current := startRuns(4, 6*time.Second)
	recorded(current, CurrentRevision, "started once every worker ran this release")

	// Rollback: an older worker polls again while runs at this revision
	// wait; new runs go back to revision 3, and every run completes.
	back := start("back@host@", LegacyRevisionForTest, nil)
	defer back.Stop()
	records(LegacyRevisionForTest, "an older worker polls again")
	rolledBack := startRuns(4, 2*time.Second)
	recorded(rolledBack, LegacyRevisionForTest, "started during the rollback")
	completes(current)
	completes(rolledBack)

	// Every history replays on this release; those of revision 3 on the
	// older release as well.
	older := NewInterpreter(comp.Env())
	older.Newest = LegacyRevisionForTest
	for _, id := range append(append(mixed, current...), rolledBack...) {
		h := fetchHistory(ctx, t, c, id)
		replay(t, NewInterpreter(comp.Env()), h, id+" on this release")
		if recordedRevision(ctx, t, c, id) == LegacyRevisionForTest {
			replay(t, older, h, id+" on the older release")
		}
	}
	replayAndRecord(t, c, NewInterpreter(comp.Env()), mixed[0], "", "rollout-mixed-fleet-r3.json")
	replayAndRecord(t, c, NewInterpreter(comp.Env()), current[0], "", fmt.Sprintf("rollout-r%d.json", CurrentRevision))
}

// LegacyRevisionForTest is the newest revision of the release before the
// fleet rule (fleet.LegacyRevision).
const LegacyRevisionForTest = fleet.LegacyRevision

// recordedRevision is the interpreter revision a run's history recorded
// (0: none yet).
func recordedRevision(ctx context.Context, t *testing.T, c client.Client, id string) int {
	t.Helper()
	for _, ev := range fetchHistory(ctx, t, c, id).GetEvents() {
		m := ev.GetMarkerRecordedEventAttributes()
		if m == nil || m.GetMarkerName() != "Version" {
			continue
		}
		var change string
		var version int
		if p := m.GetDetails()["change-id"].GetPayloads(); len(p) == 1 && json.Unmarshal(p[0].GetData(), &change) == nil && change == RevisionChange {
			if v := m.GetDetails()["version"].GetPayloads(); len(v) == 1 && json.Unmarshal(v[0].GetData(), &version) == nil {
				return version
			}
		}
	}
	return 0
}

func fetchHistory(ctx context.Context, t *testing.T, c client.Client, id string) *historypb.History {
	t.Helper()
	h := &historypb.History{}
	it := c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		h.Events = append(h.Events, ev)
	}
	return h
}

func replay(t *testing.T, in *Interpreter, h *historypb.History, what string) {
	t.Helper()
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflowWithOptions(in.JourneyWorkflow, workflow.RegisterOptions{Name: JourneyWorkflowName})
	require.NoError(t, r.ReplayWorkflowHistory(nil, h), "%s replays", what)
}
