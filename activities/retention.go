package activities

import (
	"context"
	"fmt"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

// RegisterRetention adds the retention activity to a worker under the
// name the retention workflow uses.
func (a *Activities) RegisterRetention(w Registry) {
	w.RegisterActivityWithOptions(a.ScrubOldContent, activity.RegisterOptions{Name: workflows.ScrubOldContentActivity})
}

// ScrubOldContent removes the content of messages created (or the data of
// events that occurred) before req.Before, a batch at a time until none is
// left, heartbeating the count so far after each batch. With the events'
// data go the fan-outs (events posted without a customer) done before
// req.Before: deleted, counted in Fanouts. It is idempotent: a retry
// carries on from the rows still to do, and its count starts from the
// last heartbeat's.
func (a *Activities) ScrubOldContent(ctx context.Context, req workflows.ScrubRequest) (workflows.ScrubResult, error) {
	var scrub func(context.Context, int) (int64, error)
	switch req.Kind {
	case workflows.ScrubMessages:
		scrub = func(ctx context.Context, batch int) (int64, error) {
			return a.Store.ScrubOldMessages(ctx, req.Before, batch)
		}
	case workflows.ScrubEvents:
		scrub = func(ctx context.Context, batch int) (int64, error) {
			return a.Store.ScrubOldEvents(ctx, req.Before, batch)
		}
	default:
		return workflows.ScrubResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("retention: %q is neither %s nor %s", req.Kind, workflows.ScrubMessages, workflows.ScrubEvents), workflows.ErrBadRetention, nil)
	}
	batch := req.Batch
	if batch <= 0 {
		batch = store.DefaultRetentionBatch
	}
	var res workflows.ScrubResult
	if activity.HasHeartbeatDetails(ctx) {
		_ = activity.GetHeartbeatDetails(ctx, &res) // a count to carry on from; none is fine too
	}
	if err := inBatches(ctx, batch, scrub, &res, &res.Rows); err != nil {
		return res, err
	}
	if req.Kind == workflows.ScrubEvents {
		deleteFanouts := func(ctx context.Context, batch int) (int64, error) {
			return a.Store.DeleteOldFanouts(ctx, req.Before, batch)
		}
		if err := inBatches(ctx, batch, deleteFanouts, &res, &res.Fanouts); err != nil {
			return res, err
		}
	}
	a.logger(ctx).Info("retention: old content removed", "kind", req.Kind, "before", req.Before, "rows", res.Rows, "fanouts", res.Fanouts, "batches", res.Batches)
	return res, nil
}

// inBatches calls do until a batch changes fewer than batch rows, adding
// them to *rows and heartbeating res after each batch.
func inBatches(ctx context.Context, batch int, do func(context.Context, int) (int64, error), res *workflows.ScrubResult, rows *int64) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := do(ctx, batch)
		if err != nil {
			return err
		}
		*rows += n
		res.Batches++
		activity.RecordHeartbeat(ctx, *res)
		if n < int64(batch) {
			return nil
		}
	}
}
