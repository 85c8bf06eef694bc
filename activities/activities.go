// Package activities holds the journey workflow's activities: thin
// functions that each do one piece of I/O through a port (the store, an
// email provider) and make no journey decisions.
package activities

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/rapporthq/rapport/internal/channels"
	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/links"
	"github.com/rapporthq/rapport/internal/metrics"
	"github.com/rapporthq/rapport/internal/policy"
	"github.com/rapporthq/rapport/internal/router"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/templates"
	"github.com/rapporthq/rapport/workflows"
)

// Sender is who messages come from.
type Sender struct {
	EmailFrom     string
	EmailFromName string
	ReplyTo       string
	Shop          templates.Shop
}

// Activities are the journey workflow's activities. A nil sender means
// that channel is not configured: its messages are skipped with that
// reason.
type Activities struct {
	Store *store.Store
	Email channels.EmailSender
	SMS   channels.SMSSender
	Mail  channels.MailSender
	// Webhook posts to the configured webhook endpoints
	// (RAPPORT_WEBHOOK_ENDPOINTS).
	Webhook   channels.WebhookSender
	Templates *templates.Set
	Sender    Sender
	// ReturnAddress is printed mail's sender.
	ReturnAddress channels.PostalAddress
	// Links signs the links put in messages (the survey); PublicURL is
	// where the API is reached from outside, for those links and for
	// provider callbacks.
	Links     *links.Signer
	PublicURL string
	// Rules are the contact rules where a customer has not chosen
	// (quiet hours, frequency caps, opt-in, the default time zone).
	Rules policy.Rules
	// UnsubscribeMailto is the address of the mailto List-Unsubscribe.
	UnsubscribeMailto string
	// DefaultCurrency is for amount vouchers when neither the journey nor
	// an order says.
	DefaultCurrency string
	// Router enters audiences (the audience workflow's activity); nil on a
	// worker that runs no audiences.
	Router *router.Router
	// Metrics counts what the send activity does with messages and times
	// provider calls; nil records nothing.
	Metrics *metrics.Metrics
	Log     *slog.Logger
	// InDoubt says how messages whose send is in doubt are settled.
	InDoubt InDoubtPolicy
	// Temporal and Namespace are where the erasure activities exit a
	// customer's runs and delete their executions; nil on a worker that
	// erases nobody.
	Temporal  client.Client
	Namespace string

	// Clock is the time the activities decide at (nil: the real time);
	// tests that skip time set Temporal's test clock, and the store's
	// (store.WithClock).
	Clock func() time.Time

	// pinned caches template versions read from the store, by hash.
	pinned sync.Map
	// awaiting caches how many transactional emails wait to go again
	// after an outage (transactionalAwaiting).
	awaiting struct {
		sync.Mutex
		at time.Time
		n  int
	}
}

// now is the activities' time.
func (a *Activities) now() time.Time {
	if a.Clock != nil {
		return a.Clock()
	}
	return time.Now()
}

// Registry is where activities are registered: a worker, or a test
// environment.
type Registry interface {
	RegisterActivityWithOptions(a any, options activity.RegisterOptions)
}

// Register adds the activities to a worker under the names the workflow
// uses.
func (a *Activities) Register(w Registry) {
	w.RegisterActivityWithOptions(a.CustomerFacts, activity.RegisterOptions{Name: workflows.CustomerFactsActivity})
	w.RegisterActivityWithOptions(a.SendMessage, activity.RegisterOptions{Name: workflows.SendMessageActivity})
	w.RegisterActivityWithOptions(a.FinishRun, activity.RegisterOptions{Name: workflows.FinishRunActivity})
	w.RegisterActivityWithOptions(a.MoveRun, activity.RegisterOptions{Name: workflows.MoveRunActivity})
	w.RegisterActivityWithOptions(a.CreateTask, activity.RegisterOptions{Name: workflows.CreateTaskActivity})
	w.RegisterActivityWithOptions(a.UpdateTask, activity.RegisterOptions{Name: workflows.UpdateTaskActivity})
	w.RegisterActivityWithOptions(a.RecordSplit, activity.RegisterOptions{Name: workflows.RecordSplitActivity})
	w.RegisterActivityWithOptions(a.NextLocalTime, activity.RegisterOptions{Name: workflows.NextLocalTimeActivity})
	w.RegisterActivityWithOptions(a.EnterAudience, activity.RegisterOptions{Name: workflows.EnterAudienceActivity})
	w.RegisterActivityWithOptions(a.SettleSend, activity.RegisterOptions{Name: workflows.SettleSendActivity})
	w.RegisterActivityWithOptions(a.RecordAnswer, activity.RegisterOptions{Name: workflows.RecordAnswerActivity})
	w.RegisterActivityWithOptions(a.RecordSteps, activity.RegisterOptions{Name: workflows.RecordStepsActivity})
	w.RegisterActivityWithOptions(a.EmitEvent, activity.RegisterOptions{Name: workflows.EmitEventActivity})
}

// CustomerFacts loads what the journey may know about the customer now.
func (a *Activities) CustomerFacts(ctx context.Context, customerID string) (journey.Customer, error) {
	began := time.Now()
	facts, err := a.Store.CustomerFacts(ctx, customerID, began)
	a.Metrics.ObservePhase(metrics.PhaseFacts, time.Since(began))
	loc, _ := policy.ResolveZone(facts.TimeZone, facts.Country, a.Rules.DefaultZone)
	facts.Zone = loc.String()
	if errors.Is(err, store.ErrNotFound) {
		return facts, temporal.NewNonRetryableApplicationError("customer "+customerID+" does not exist", workflows.ErrCustomerNotFound, err)
	}
	return facts, err
}

// FinishRun records in the run registry how a journey run ended.
func (a *Activities) FinishRun(ctx context.Context, req workflows.FinishRunRequest) error {
	status := store.RunCompleted
	switch req.Outcome {
	case workflows.Exited:
		status = store.RunExited
	case workflows.Failed:
		status = store.RunFailed
	}
	if err := a.storeSteps(ctx, req.WorkflowID, req.Steps); err != nil {
		return err
	}
	return a.Store.FinishRun(ctx, req.WorkflowID, status, req.Reason)
}

// RecordSteps records the steps a run reached, for its journey's funnel.
func (a *Activities) RecordSteps(ctx context.Context, req workflows.RecordStepsRequest) error {
	return a.storeSteps(ctx, req.WorkflowID, req.Steps)
}

// recordSteps records the steps of an activity's Record (revision 7), and
// says whether it did (false for none).
func (a *Activities) recordSteps(ctx context.Context, workflowID string, rec *workflows.Record) (bool, error) {
	if rec == nil || len(rec.Steps) == 0 {
		return false, nil
	}
	if err := a.storeSteps(ctx, workflowID, rec.Steps); err != nil {
		return false, err
	}
	return true, nil
}

// recordEnd records the run's end an activity's Record carries (revision
// 7), once the activity's step came to its end, and says whether it did
// (false for none).
func (a *Activities) recordEnd(ctx context.Context, rec *workflows.Record) (bool, error) {
	if rec == nil || rec.End == nil {
		return false, nil
	}
	if err := a.FinishRun(ctx, *rec.End); err != nil {
		return false, fmt.Errorf("record the end of the run: %w", err)
	}
	return true, nil
}

func (a *Activities) storeSteps(ctx context.Context, workflowID string, steps []workflows.StepReached) error {
	out := make([]store.StepReached, len(steps))
	for i, st := range steps {
		out[i] = store.StepReached{Step: st.Step, At: st.At}
	}
	return a.Store.RecordSteps(ctx, workflowID, out)
}

// MoveRun records in the run registry that a run moved to a new plan, so
// the router delivers the events that plan listens for.
func (a *Activities) MoveRun(ctx context.Context, req workflows.MoveRunRequest) error {
	_, err := a.Store.MoveRun(ctx, req.WorkflowID, req.PlanHash, req.Listens, req.ListensFor)
	return err
}

func (a *Activities) logger(ctx context.Context) *slog.Logger {
	l := a.Log
	if l == nil {
		l = slog.Default()
	}
	info := activity.GetInfo(ctx)
	return l.With("workflow_id", info.WorkflowExecution.ID, "activity_id", info.ActivityID, "attempt", info.Attempt)
}

// retryable wraps a provider failure the activity should be retried for,
// honouring the provider's requested delay.
func retryable(err error, after time.Duration) error {
	return temporal.NewApplicationErrorWithOptions(err.Error(), workflows.ErrProviderUnavailable, temporal.ApplicationErrorOptions{
		NextRetryDelay: after,
		Cause:          err,
	})
}
