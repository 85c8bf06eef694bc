package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/rapporthq/rapport/internal/journey"
)

// WaitInDoubt is the wait of a run whose message is in doubt (the
// provider's answer was lost): it asks for evidence when the wait ends.
const WaitInDoubt WaitKind = "in-doubt"

// Settling's pace: the first look comes soon (a delivery webhook usually
// has arrived by then), later ones back off to a look every ten minutes
// (every two from revision 4, so that emails of a provider outage go out
// soon after it ends, once evidence proves them unsent). The settle
// activity ends the wait when its deadline for evidence passes;
// maxSettleLooks bounds the loop should it not, before revision 4 (from
// it, the deadline alone ends it: a bound on looks cut a wait whose
// looks came every 30 s short of the deadline, and the run continues as
// new when its history grows long).
const (
	settleFirstWait = 30 * time.Second
	settleMaxWait   = 10 * time.Minute
	settleMaxWaitR4 = 2 * time.Minute
	maxSettleLooks  = 300
)

// settle waits for evidence about a message whose send is in doubt
// before the journey goes on: a delivery webhook or the provider's own
// records that it was sent (the message counts as sent), or proof that the
// provider never took it (it is sent again, on the same outbox row, so
// never twice), or the end of the wait for evidence (the channel's policy:
// at most once leaves it unknown, at least once sends it again). The
// run shows what it waits for meanwhile, and never sends blindly.
func (r *run) settle(ctx workflow.Context, step journey.Step, ch journey.Channel, result SendResult) (SendResult, error) {
	if result.MessageID == "" || !r.took(ctx, settleChange) {
		return result, nil
	}
	record := func(res SendResult) {
		r.addSend(SendRecord{Step: step.ID, Template: step.Send.Template, SendResult: res, At: workflow.Now(ctx)})
	}
	record(result)
	wait, maxWait := settleFirstWait, settleMaxWait
	if r.revision >= 4 {
		maxWait = settleMaxWaitR4
	}
	for looks := 0; r.revision >= 4 || looks < maxSettleLooks; looks++ {
		if err := r.continueMidStep(ctx); err != nil {
			return result, err // the next execution sends again (the outbox says unknown) and settles it
		}
		r.state.PendingWait = &PendingWait{Step: step.ID, Kind: WaitInDoubt, Until: workflow.Now(ctx).Add(wait),
			Why: fmt.Sprintf("%s %s in doubt (the provider's answer was lost): waiting for evidence that it was or was not sent", ch, step.Send.Template)}
		r.describe(ctx)
		err := workflow.NewTimerWithOptions(ctx, wait, workflow.TimerOptions{Summary: fmt.Sprintf("%s %s in doubt", ch, step.Send.Template)}).Get(ctx, nil)
		r.state.PendingWait = nil
		if err != nil {
			return result, err // the run is exiting
		}
		wait = min(2*wait, maxWait)

		var found SettleResult
		err = r.patiently(ctx, "the database (settling a message in doubt)", func(budget time.Duration) error {
			actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
				StartToCloseTimeout:    sendStartToClose,
				ScheduleToCloseTimeout: budget,
				RetryPolicy:            retryPolicy(retryMaxInterval),
				Summary:                fmt.Sprintf("settle %s %s", ch, step.Send.Template),
			})
			return workflow.ExecuteActivity(actx, SettleSendActivity, SettleRequest{MessageID: result.MessageID, Channel: ch}).Get(ctx, &found)
		})
		if err != nil {
			return result, err
		}
		if r.revision >= 4 && found.Settlement == StillInDoubt && found.LookAgainIn > 0 {
			wait = min(found.LookAgainIn, maxWait)
		}
		switch found.Settlement {
		case Settled, GaveUp:
			r.note(fmt.Sprintf("%s: %s %s was in doubt: %s", step.ID, ch, step.Send.Template, found.Reason))
			return found.Send, nil
		case Resend:
			r.note(fmt.Sprintf("%s: %s %s was in doubt: %s; sending it again", step.ID, ch, step.Send.Template, found.Reason))
			if result, err = r.sendPatiently(ctx, step, ch, false); err != nil || result.Status != SendUnknown {
				return result, err
			}
			record(result)
			wait = settleFirstWait
		}
	}
	r.note(fmt.Sprintf("%s: %s %s still in doubt after %d looks; the journey goes on", step.ID, ch, step.Send.Template, maxSettleLooks))
	return result, nil
}
