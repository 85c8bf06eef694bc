package workflows

import (
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

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
