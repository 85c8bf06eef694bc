package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"
)

// The journey clock of a scaled plan (dev mode's --day). Each timer fires
// a little late, and each activity takes real time: at --day=1s, 0.5 s is
// half a day. Runs from revision 3 keep a cursor, the journey time the
// run has reached by its own schedule: a wait of 14d ends 14 journey days
// after the previous step's time, not after its late start, so lateness
// does not pile up step after step; the contact rules and time-of-day
// waits decide at that time. Real time (Scale 0) is unchanged.

// startDevClock sets the cursor at the run's start, for a scaled plan.
func (r *run) startDevClock(ctx workflow.Context) {
	if r.plan.Scale > 0 && !r.plan.ScaleEpoch.IsZero() && r.revision >= 3 {
		r.devClock = true
		r.devAt = r.plan.DevTime(workflow.Now(ctx))
	}
}

// journeyNow is the journey time the run is at: the cursor of a scaled
// plan, else the workflow's time (the dev clock for older scaled runs).
func (r *run) journeyNow(ctx workflow.Context) time.Time {
	if r.devClock {
		return r.devAt
	}
	return r.plan.DevTime(workflow.Now(ctx))
}

// wallUntil is how long to wait, in real time, for the journey to reach
// target: from where the dev clock is now, so an earlier step's lateness
// is taken off (never below zero).
func (r *run) wallUntil(ctx workflow.Context, target time.Time) time.Duration {
	return max(r.plan.WallDuration(target.Sub(r.plan.DevTime(workflow.Now(ctx)))), 0)
}

// reached moves the cursor to a journey time the run has reached (a wait
// that ran its course, a hold that ended), or, when it was woken early (an
// event, staff) or waited on something else (a staff task), to the dev
// clock's time.
func (r *run) reached(ctx workflow.Context, target time.Time, early bool) {
	if !r.devClock {
		return
	}
	if early {
		target = r.plan.DevTime(workflow.Now(ctx))
	}
	if target.After(r.devAt) {
		r.devAt = target
	}
}
