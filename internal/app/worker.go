package app

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/rapporthq/rapport/activities"
	"github.com/rapporthq/rapport/internal/fleet"
	"github.com/rapporthq/rapport/internal/links"
	"github.com/rapporthq/rapport/internal/onedit"
	"github.com/rapporthq/rapport/internal/router"
	"github.com/rapporthq/rapport/internal/schedules"
	"github.com/rapporthq/rapport/workflows"
)

// DefaultWorkerDrain is how long a stopping worker lets running
// activities finish by default (RAPPORT_WORKER_DRAIN).
const DefaultWorkerDrain = 30 * time.Second

// ParkedTaskQueue is a task queue no worker polls: `rapport bench` starts
// audience journeys there, to measure starting them and nothing else.
const ParkedTaskQueue = "rapport-bench-parked"

// WorkerTuning is how a worker polls and how much it runs at once.
type WorkerTuning struct {
	// Activities and WorkflowTasks bound what runs at once (0: the SDK's
	// defaults, 1,000 each).
	Activities    int
	WorkflowTasks int
	// Pollers is the number of pollers per kind of task (0: the SDK's).
	Pollers int
	// ActivitiesPerSecond caps activities started per second across the
	// task queue, all workers together (0: no cap), to stay inside the
	// providers' rate limits.
	ActivitiesPerSecond float64
	// Drain is how long a stopping worker lets running activities finish
	// (0: DefaultWorkerDrain).
	Drain time.Duration
	// OpsAddr serves /healthz, /readyz and /metrics ("" or "off": none).
	OpsAddr string
	// RetryBudget is how long an activity a journey run depends on is
	// retried before the run waits and tries again (0: 24h).
	RetryBudget time.Duration
	// PinRevision, above 0, caps the interpreter revision runs starting
	// on this worker record (RAPPORT_PIN_REVISION). Rollouts do not need
	// it: Revision already keeps to what the whole fleet runs.
	PinRevision int
	// Revision, when set, says which interpreter revision runs starting
	// on this worker record: the newest every worker of the fleet can run
	// (fleet.Watcher.Revision, which RunWorker sets). Unset (dev mode,
	// tests: one release), runs record CurrentRevision, or PinRevision.
	Revision func() int
	// ParkAudienceJourneys makes the journeys that audience runs start go
	// to ParkedTaskQueue, which no worker polls, instead of the journeys'
	// task queue. The worker processes of `rapport bench --workers N` (the
	// worker's hidden --bench flag) do, as the bench's in-process worker
	// does: the bench measures starts, not journeys.
	ParkAudienceJourneys bool
	// TaskQueue is the task queue the worker polls (empty:
	// workflows.TaskQueue); `rapport bench` runs a second worker on a
	// lane's own queue (router.Router.LaneQueue).
	TaskQueue string
}

// Options are the SDK worker options for this tuning.
func (t WorkerTuning) Options(interceptors []interceptor.WorkerInterceptor) worker.Options {
	drain := t.Drain
	if drain <= 0 {
		drain = DefaultWorkerDrain
	}
	return worker.Options{
		MaxConcurrentActivityExecutionSize:     t.Activities,
		MaxConcurrentWorkflowTaskExecutionSize: t.WorkflowTasks,
		MaxConcurrentActivityTaskPollers:       t.Pollers,
		MaxConcurrentWorkflowTaskPollers:       t.Pollers,
		TaskQueueActivitiesPerSecond:           t.ActivitiesPerSecond,
		WorkerStopTimeout:                      drain,
		Interceptors:                           interceptors,
		Identity:                               WorkerIdentity(),
		PreferredVersionProvider:               t.versionProvider(),
	}
}

func (t WorkerTuning) versionProvider() worker.PreferredVersionProvider {
	if t.Revision != nil {
		return workflows.RecordRevision(t.Revision)
	}
	return workflows.PinRevision(t.PinRevision)
}

// WorkerIdentity is this process's Temporal identity as a worker: the
// SDK's pid@host, with the newest interpreter revision it can run, which
// the other workers read (internal/fleet).
func WorkerIdentity() string {
	host, _ := os.Hostname()
	return fleet.Identity(fmt.Sprintf("%d@%s", os.Getpid(), host), workflows.CurrentRevision)
}

// RunWorker runs a worker of the journeys in journeysDir until ctx ends,
// then drains it: /readyz fails, polling stops, and running activities
// get t.Drain to finish. It refuses a namespace without Rapport's search
// attributes, and, with a provider key set, the demo's public URL and
// sender identity (Config.CheckNoDemoDefaults). register, when set, adds
// workflows and activities (the bench's baselines, tests' own).
func RunWorker(ctx context.Context, cfg Config, journeysDir string, t WorkerTuning, register func(worker.Registry)) error {
	if err := cfg.CheckNoDemoDefaults(); err != nil {
		return err
	}
	signer, err := cfg.Signer()
	if err != nil {
		return err
	}
	svc, err := Connect(ctx, cfg, journeysDir)
	if err != nil {
		return err
	}
	defer svc.Close()
	if err := CheckSearchAttributes(ctx, svc.Temporal, cfg.Temporal.Namespace, svc.Log); err != nil {
		return err
	}
	senders, err := cfg.Senders(svc.Log)
	if err != nil {
		return err
	}
	if err := CheckWebhookEndpoints(svc.Journeys, cfg.WebhookEndpointNames()); err != nil {
		return err
	}
	health := svc.Health(false)
	opsSrv, err := StartOps(t.OpsAddr, health, svc)
	if err != nil {
		return err
	}
	defer opsSrv.Stop()
	rt := svc.NewRouter(0, time.Time{})
	if t.ParkAudienceJourneys {
		rt.TaskQueue = ParkedTaskQueue
	}
	acts := cfg.Activities(svc, senders, signer, rt)
	watch := &fleet.Watcher{Client: svc.Temporal, TaskQueue: workflows.TaskQueue, Own: workflows.CurrentRevision,
		Pin: t.PinRevision, Self: WorkerIdentity(), Log: svc.Log}
	t.Revision = watch.Revision
	health.Detail("interpreter revision", func(context.Context) string {
		v := watch.View()
		return fmt.Sprintf("new runs record revision %d: %s", v.Record, v.Why)
	})
	if senders.Email != nil {
		health.Detail("sendgrid event webhook", everyMinute(func(ctx context.Context) string {
			return EmailWebhookDetail(ctx, svc, cfg.SendGridWebhookKey != "")
		}))
	}
	w := NewWorker(svc.Temporal, acts, svc.Journeys, t)
	if register != nil {
		register(w)
	}
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	go watch.Run(ctx)
	health.Ready()
	SyncSchedules(ctx, svc, cfg.Retention, false)
	// rapport_audience_run_overdue_seconds: audience runs older than
	// their period.
	go schedules.Watch(ctx, svc.Temporal, cfg.Temporal.Namespace, svc.DataConverter, svc.Metrics, 0, svc.Log)
	// Runs move to new plans only once every worker of the fleet runs this
	// release: workers of the release before know no moves, and would
	// take the tasks of moved runs (the move-plan update).
	SeePlans(ctx, svc)
	go func() {
		if watch.WaitFor(ctx, workflows.CurrentRevision) == nil {
			MoveRuns(ctx, svc)
		}
	}()
	svc.Log.Info("worker running", "task_queue", workflows.TaskQueue, "journeys", len(svc.Journeys.Catalog.Plans()),
		"max_activities", t.Activities, "activities_per_second", t.ActivitiesPerSecond, "retry_budget", t.RetryBudget, "pin_revision", t.PinRevision)
	<-ctx.Done()

	health.Drain()
	svc.Log.Info("draining: polling stops; running activities may finish", "grace", t.Drain)
	w.Stop()
	svc.Log.Info("worker stopped")
	return nil
}

// NewWorker builds a worker that runs the journey workflow and its
// activities, and the erasure, retention and Shopify shop redaction
// workflows, on the journeys' task queue (or t.TaskQueue).
func NewWorker(c client.Client, acts *activities.Activities, js *Journeys, t WorkerTuning, interceptors ...interceptor.WorkerInterceptor) worker.Worker {
	w := worker.New(c, cmp.Or(t.TaskQueue, workflows.TaskQueue), t.Options(interceptors))
	in := workflows.NewInterpreter(js.Compiler.Env())
	in.RetryBudget = t.RetryBudget
	in.Register(w)
	acts.Register(w)
	w.RegisterWorkflowWithOptions(workflows.EraseWorkflow, workflow.RegisterOptions{Name: workflows.EraseWorkflowName})
	acts.RegisterErasure(w)
	w.RegisterWorkflowWithOptions(workflows.RetentionWorkflow, workflow.RegisterOptions{Name: workflows.RetentionWorkflowName})
	acts.RegisterRetention(w)
	w.RegisterWorkflowWithOptions(workflows.ShopRedactWorkflow, workflow.RegisterOptions{Name: workflows.ShopRedactWorkflowName})
	acts.RegisterShopRedaction(w)
	return w
}

// Activities wires the activities to the database, the providers and the
// configuration; rt starts the journeys of audience runs.
func (c Config) Activities(svc *Services, s Senders, signer *links.Signer, rt *router.Router) *activities.Activities {
	return &activities.Activities{
		Store: svc.Store, Templates: svc.Journeys.Templates,
		Email: s.Email, SMS: s.SMS, Mail: s.Mail, Webhook: s.Webhook,
		Sender: c.Sender, ReturnAddress: c.ReturnAddress,
		Links: signer, PublicURL: c.PublicURL,
		Rules: c.Rules, UnsubscribeMailto: c.UnsubscribeMailto, DefaultCurrency: c.DefaultCurrency,
		Router: rt, Log: svc.Log, Metrics: svc.Metrics, InDoubt: c.InDoubt,
		Temporal: svc.Temporal, Namespace: c.Temporal.Namespace,
	}
}

// SyncSchedulesTimeout bounds how long a worker's start spends on the
// schedules, lock included.
const SyncSchedulesTimeout = 2 * time.Minute

// SyncSchedules makes Rapport's schedules match this worker's journeys
// (an audience schedule per scheduled journey, as `rapport schedules
// sync` does) and retention (RAPPORT_RETENTION_MESSAGES and
// RAPPORT_RETENTION_EVENTS), if its journey folder owns them: it is the
// newest seen, or claim is set (dev mode, which owns its own). A worker
// whose journeys are older than the newest seen (rolled back by hand, an
// old pod restarting mid-rollout) leaves them alone and says so. A
// failure is logged, not returned: the worker still runs journeys, and
// the next start (or the command) syncs.
func SyncSchedules(ctx context.Context, svc *Services, retention workflows.RetentionInput, claim bool) {
	ctx, cancel := context.WithTimeout(ctx, SyncSchedulesTimeout)
	defer cancel()
	o, err := schedules.SyncOwned(ctx, svc.Temporal, svc.Store, svc.Journeys.Catalog, schedules.OwnOptions{Claim: claim, Retention: &retention, DataConverter: svc.DataConverter})
	switch {
	case err != nil && o.Owner:
		svc.Log.Error("could not sync the audience and retention schedules; the next worker start tries again, or run `rapport schedules sync`", "error", err)
	case err != nil:
		svc.Log.Error("could not tell whether this worker's journeys own the schedules; the next worker start tries again, or run `rapport schedules sync`", "error", err)
	case !o.Owner:
		svc.Log.Warn("audience and retention schedules left alone: this worker's journeys are older than the newest seen (a rollback, or an old pod restarting mid-rollout); the newest release's workers own them, or run `rapport schedules sync` from these journeys to take them back",
			"catalog", o.Catalog, "newest", o.Newest, "newest_since", o.NewestSince, "missing", o.Missing, "extra", o.Extra, "changed", o.Changed)
	default:
		svc.Log.Info("audience schedules in sync", "catalog", o.Catalog, "took_over_from", o.TookOver, "created", o.Audience.Created, "updated", o.Audience.Updated, "unchanged", o.Audience.Unchanged, "deleted", o.Audience.Deleted)
		svc.Log.Info("retention schedule "+o.Retention, "schedule", workflows.RetentionScheduleID, "retention", retention.String())
	}
}

// MoveRuns moves the runs in flight of the journeys that say on_edit:
// restart-at-step to their plan in this catalog, as `rapport runs move`
// does. It logs what became of them; a failure is logged, not returned:
// the next start (or the command) asks again.
func MoveRuns(ctx context.Context, svc *Services) {
	m := &onedit.Mover{Store: svc.Store, Temporal: svc.Temporal, Env: svc.Journeys.Compiler.Env(), By: "rapport (on_edit)", Log: svc.Log}
	rep, err := m.Move(ctx, svc.Journeys.Catalog, "")
	if err != nil {
		svc.Log.Error("could not move runs in flight to their journey's new plan; run `rapport runs move`", "error", err)
		return
	}
	for _, j := range rep.Journeys {
		if j.Moved+j.AtNextWait+j.Kept+j.Ended+j.Failed == 0 {
			continue
		}
		args := []any{"journey", j.Journey, "plan", j.Plan[:min(7, len(j.Plan))], "moved", j.Moved, "at_next_wait", j.AtNextWait, "kept", j.Kept, "ended", j.Ended, "failed", j.Failed}
		if len(j.Reasons) > 0 {
			args = append(args, "kept_because", j.Reasons[0].Reason)
		}
		if j.FirstError != "" {
			args = append(args, "first_error", j.FirstError)
		}
		svc.Log.Info("runs in flight moved to the new plan (on_edit: restart-at-step)", args...)
	}
}

// SeePlans records the journeys' plans as seen now (see onedit.Mover.See).
func SeePlans(ctx context.Context, svc *Services) {
	m := &onedit.Mover{Store: svc.Store}
	if err := m.See(ctx, svc.Journeys.Catalog); err != nil {
		svc.Log.Error("could not record the journeys' plans", "error", err)
	}
}

// EmailWebhookDetail says, for /readyz, whether SendGrid's event webhook
// demonstrably reports the emails SendGrid accepts: what proves an email
// in doubt sent, or unsent.
func EmailWebhookDetail(ctx context.Context, svc *Services, configured bool) string {
	h, err := svc.Store.EmailWebhookHealth(ctx, time.Hour)
	if err != nil {
		return "unknown: the outbox cannot be read now"
	}
	var s string
	switch {
	case h.Sent == 0:
		s = "no email accepted in the last hour to judge by"
	case h.Reported == 0:
		s = fmt.Sprintf("no report on the %d emails SendGrid accepted in the last hour: check the event webhook; emails in doubt cannot be proven sent or unsent", h.Sent)
	default:
		s = fmt.Sprintf("reported %d of the %d emails SendGrid accepted in the last hour", h.Reported, h.Sent)
	}
	if h.LastReport != nil {
		s += fmt.Sprintf(", the last report %s ago", time.Since(*h.LastReport).Round(time.Second))
	}
	if !configured {
		s = "SENDGRID_WEBHOOK_PUBLIC_KEY is not set on this worker (is it on the API?); " + s
	}
	return s
}

// everyMinute keeps what text said for a minute: a readiness probe every
// few seconds reads the outbox once a minute.
func everyMinute(text func(ctx context.Context) string) func(ctx context.Context) string {
	var mu sync.Mutex
	var at time.Time
	var last string
	return func(ctx context.Context) string {
		mu.Lock()
		defer mu.Unlock()
		if at.IsZero() || time.Since(at) >= time.Minute {
			last, at = text(ctx), time.Now()
		}
		return last
	}
}
