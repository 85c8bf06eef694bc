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
//
// The four cases of a rolling deploy (starters keep stamping the frozen
// Revision = 1; "old" is a release before this mechanism, "new" one with
// it):
//   - old starter, old worker: no marker; the new worker replays it at
//     input.Revision (1, or 0 before revisions), as it ran.
//   - old starter, new worker: the marker records CurrentRevision (or the
//     pinned revision); the stamp is ignored.
//   - new starter, old worker: the stamp is 1, so the old worker runs it
//     at revision 1 and records no marker; a new worker replaying it reads
//     input.Revision = 1: the same.
//   - new starter, new worker: as old starter, new worker.
//
// Old workers skip the version marker (and its TemporalChangeVersion
// upsert) when they replay a run a new worker started; they run it at
// input.Revision (1). That is safe while the new revision's changes have
// not shown in the run; pin the recorded revision to the old one during a
// rollout (PinRevision) to be safe throughout.
func revisionOf(ctx workflow.Context, input JourneyInput) int {
	v := workflow.GetVersion(ctx, RevisionChange, workflow.DefaultVersion, CurrentRevision)
	if v == workflow.DefaultVersion {
		return input.Revision
	}
	return int(v)
}

// PinRevision is a worker option (worker.Options.PreferredVersionProvider)
// that makes runs starting on the worker record revision rev instead of
// CurrentRevision: the first phase of a rolling deploy of a release that
// raises CurrentRevision pins the revision of the release it replaces, so
// workers of either release can run every run; the second phase, once no
// old worker is left, removes the pin. rev 0 or below, or above
// CurrentRevision, is no pin. Other GetVersion changes are not affected.
func PinRevision(rev int) worker.PreferredVersionProvider {
	if rev <= 0 || rev >= CurrentRevision {
		return nil
	}
	return func(in worker.PreferredVersionProviderInput) *worker.VersionPreference {
		if in.ChangeID != RevisionChange {
			return nil
		}
		return &worker.VersionPreference{Version: workflow.Version(rev)}
	}
}
