package activities

import (
	"context"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/rapporthq/rapport/internal/router"
	"github.com/rapporthq/rapport/workflows"
)

// EnterAudience enters the journey's audience among the customers after
// the request's cursor, up to MaxRows of them, heartbeating its progress
// after each page; a retried attempt resumes from the last heartbeat.
func (a *Activities) EnterAudience(ctx context.Context, req workflows.AudienceStretchRequest) (workflows.AudienceStretch, error) {
	if a.Router == nil {
		return workflows.AudienceStretch{}, temporal.NewNonRetryableApplicationError("this worker cannot run audiences (no router)", workflows.ErrNoSuchJourney, nil)
	}
	plan, ok := a.Router.Catalog.Get(req.Journey)
	if !ok || !plan.Trigger.Scanned() {
		return workflows.AudienceStretch{}, temporal.NewNonRetryableApplicationError(
			"journey "+req.Journey+" is not in this worker's journeys, or has no trigger.audience or trigger.date", workflows.ErrNoSuchJourney, nil)
	}
	if req.MaxRows <= 0 {
		req.MaxRows = 50_000
	}
	// Resume where an earlier attempt got to.
	var done workflows.AudienceStretch
	if activity.HasHeartbeatDetails(ctx) {
		if err := activity.GetHeartbeatDetails(ctx, &done); err == nil {
			req.Cursor = done.Cursor
			req.MaxRows -= int(done.Scanned)
		}
	}
	run := router.AudienceRun{EntryKey: req.EntryKey, AsOf: req.AsOf, Cursor: req.Cursor, MaxRows: req.MaxRows}
	add := func(st workflows.AudienceStretch) workflows.AudienceStretch {
		st.Scanned += done.Scanned
		st.Matched += done.Matched
		st.Started += done.Started
		st.Skipped += done.Skipped
		st.ScanMillis += done.ScanMillis
		return st
	}
	st, err := a.Router.EnterAudience(ctx, plan, run, func(st workflows.AudienceStretch) {
		activity.RecordHeartbeat(ctx, add(st))
	})
	if err != nil {
		return add(st), err
	}
	return add(st), nil
}
