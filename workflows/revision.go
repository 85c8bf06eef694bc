package workflows

import (
	"fmt"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// The workflow.GetVersion change ids the interpreter records, each once
// per execution at most. Every behaviour change since revision 2 is
// keyed on the revision the run records under RevisionChange (see
// CurrentRevision); the others are older, narrower changes, recorded
// where the run first meets them. changes lists them all, with what each
// changed.
const (
	// RevisionChange is the change id under which a run records the
	// interpreter revision it runs at.
	RevisionChange            = "interpreter-revision"
	continueAsNewChange       = "continue-as-new"
	settleChange              = "settle-in-doubt"
	sendWaitsOutOutagesChange = "send-waits-out-outages"
	customerGoneExitsChange   = "customer-gone-exits"
	taskConsentChange         = "task-consent"
)

// change is a change id and what a run that recorded it (version 1, or
// the revision for RevisionChange) does that a run without it does not.
type change struct {
	id      string
	changed string
}

// changes lists every change id the interpreter records, once. Each has a
// recorded history holding its marker in testdata (the replay test).
func changes() []change {
	return []change{
		{RevisionChange, "the interpreter revision the run runs at; behaviour changes from revision 2 on key on it (CurrentRevision says what each changed)"},
		{continueAsNewChange, "the run may continue as new at a rest (after ContinueAfterEvents events, or when Temporal suggests it); runs without it wait on in one execution"},
		{settleChange, "a send in doubt (the provider's answer lost) is settled inside the run, waiting for evidence; runs without it go on at once with the message unknown"},
		{sendWaitsOutOutagesChange, "a send failing past the retry budget (the database, or the provider of the step's last channel) is waited out and tried again; runs without it give the channel up"},
		{customerGoneExitsChange, "a run whose customer no longer exists (erased, deleted) exits; runs without it failed"},
		{taskConsentChange, "the run reads whether CreateTask created the task (a customer who opted out of calls gets none) and goes on without it; runs without it had no answer to read"},
	}
}

// MinRevision is the oldest interpreter revision this release runs: the
// branches of the interpreter for older revisions are gone. It rises
// only under the retirement rule of docs/development.md ("Retiring a
// revision"): no run of the revisions it drops is running, as `rapport
// runs revisions` shows, and their recorded histories have left
// testdata. A worker refuses a run of an older revision (revisionOf).
const MinRevision = 0

// revisionOf is the interpreter revision a run runs at. A run records it
// once, as the RevisionChange version marker, when it first executes; on
// replay the marker is read back. A history without the marker was
// started by a worker of an earlier release, which keyed its behaviour on
// the revision the starter stamped (input.Revision): the run keeps it.
// newest is the newest revision this worker can run (CurrentRevision,
// lower only in tests standing for an older release).
//
// Which revision a new run records is the worker's choice
// (worker.Options.PreferredVersionProvider, see RecordRevision): the
// newest revision every worker of the fleet can run (internal/fleet), so
// that no worker ever meets a run it cannot replay during a rollout or a
// rollback.
//
// The four cases of a rolling deploy across releases from before
// revisions (starters keep stamping the frozen Revision = 1; "old" is a
// release before this mechanism, "new" one with it):
//   - old starter, old worker: no marker; the new worker replays it at
//     input.Revision (1, or 0 before revisions), as it ran.
//   - old starter, new worker: the marker records the revision; the stamp
//     is ignored.
//   - new starter, old worker: the stamp is 1, so the old worker runs it
//     at revision 1 and records no marker; a new worker replaying it reads
//     input.Revision = 1: the same.
//   - new starter, new worker: as old starter, new worker.
//
// oldest is the oldest revision this worker runs (MinRevision, higher
// only in tests): a run of an older revision, whose branches this
// release no longer has, fails its workflow task (and waits, retried,
// for a worker that runs it) rather than run on without them.
func revisionOf(ctx workflow.Context, input JourneyInput, oldest, newest int) int {
	v := workflow.GetVersion(ctx, RevisionChange, oldestMarked(oldest), workflow.Version(newest))
	rev := int(v)
	if v == workflow.DefaultVersion {
		rev = input.Revision
	}
	if rev < oldest {
		panic(fmt.Sprintf("this run is at interpreter revision %d, which this release no longer runs (its oldest is %d): run it on a worker of an older release", rev, oldest))
	}
	return rev
}

// oldestMarked is the oldest version of the RevisionChange marker a
// worker running revisions from oldest on accepts: none at all (a run
// from before the marker) while it still runs revision 1.
func oldestMarked(oldest int) workflow.Version {
	if oldest < 2 {
		return workflow.DefaultVersion
	}
	return workflow.Version(oldest)
}

// RecordRevision is a worker option (worker.Options.PreferredVersionProvider)
// that makes runs starting on the worker record the revision revision()
// says (the newest the whole fleet can run, fleet.Watcher.Revision)
// rather than CurrentRevision. A value of 0 or below, or not below
// CurrentRevision, is no preference. Other GetVersion changes are not
// affected.
func RecordRevision(revision func() int) worker.PreferredVersionProvider {
	return func(in worker.PreferredVersionProviderInput) *worker.VersionPreference {
		if in.ChangeID != RevisionChange {
			return nil
		}
		rev := revision()
		if rev <= 0 || rev >= int(in.MaxSupported) {
			return nil
		}
		return &worker.VersionPreference{Version: workflow.Version(max(rev, int(in.MinSupported)))}
	}
}

// PinRevision is RecordRevision with a fixed revision rev: runs starting
// on the worker record rev instead of CurrentRevision (0 or below, or not
// below CurrentRevision, is no pin).
func PinRevision(rev int) worker.PreferredVersionProvider {
	if rev <= 0 || rev >= CurrentRevision {
		return nil
	}
	return RecordRevision(func() int { return rev })
}
