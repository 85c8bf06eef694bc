package workflows

import (
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
func revisionOf(ctx workflow.Context, input JourneyInput, newest int) int {
	v := workflow.GetVersion(ctx, RevisionChange, workflow.DefaultVersion, workflow.Version(newest))
	if v == workflow.DefaultVersion {
		return input.Revision
	}
	return int(v)
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
