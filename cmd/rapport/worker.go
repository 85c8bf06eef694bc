package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"

	"github.com/rapporthq/rapport/activities"
	"github.com/rapporthq/rapport/internal/channels"
	"github.com/rapporthq/rapport/internal/links"
	"github.com/rapporthq/rapport/internal/router"
	"github.com/rapporthq/rapport/internal/schedules"
	"github.com/rapporthq/rapport/internal/temporalsetup"
	"github.com/rapporthq/rapport/workflows"
)

// workerDrain is how long a stopping worker lets running activities
// finish by default (RAPPORT_WORKER_DRAIN).
const workerDrain = 30 * time.Second

// workerTuning is how a worker polls and how much it runs at once.
type workerTuning struct {
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
	// Drain is how long a stopping worker lets running activities finish.
	Drain time.Duration
	// OpsAddr serves /healthz, /readyz and /metrics ("" or "off": none).
	OpsAddr string
	// RetryBudget is how long an activity a journey run depends on is
	// retried before the run waits and tries again (0: 24h).
	RetryBudget time.Duration
	// PinRevision, above 0, makes runs starting on this worker record that
	// interpreter revision instead of the newest (the first phase of a
	// rolling deploy; see docs/development.md, "Changing the interpreter").
	PinRevision int
	// Bench makes this one of the worker processes of `rapport bench
	// --workers N` (the hidden --bench flag): it also runs the bench's
	// hand-written baselines and starts the journeys of audience runs on
	// the parked task queue, as the bench's in-process worker does.
	Bench bool
}

// options are the SDK worker options for this tuning.
func (t workerTuning) options(interceptors []interceptor.WorkerInterceptor) worker.Options {
	drain := t.Drain
	if drain <= 0 {
		drain = workerDrain
	}
	return worker.Options{
		MaxConcurrentActivityExecutionSize:     t.Activities,
		MaxConcurrentWorkflowTaskExecutionSize: t.WorkflowTasks,
		MaxConcurrentActivityTaskPollers:       t.Pollers,
		MaxConcurrentWorkflowTaskPollers:       t.Pollers,
		TaskQueueActivitiesPerSecond:           t.ActivitiesPerSecond,
		WorkerStopTimeout:                      drain,
		Interceptors:                           interceptors,
		PreferredVersionProvider:               workflows.PinRevision(t.PinRevision),
	}
}

// tuningFlags adds the tuning flags to cmd; their defaults come from the
// environment, read (and checked) by read.
func tuningFlags(cmd *cobra.Command) (read func() (workerTuning, error)) {
	t := workerTuning{Drain: workerDrain, OpsAddr: defaultOpsAddr, RetryBudget: workflows.DefaultRetryBudget}
	f := cmd.Flags()
	f.IntVar(&t.Activities, "max-activities", 0, "activities run at once by this worker, 0 for the SDK's default (RAPPORT_WORKER_ACTIVITIES)")
	f.IntVar(&t.WorkflowTasks, "max-workflow-tasks", 0, "workflow tasks run at once by this worker, 0 for the SDK's default (RAPPORT_WORKER_WORKFLOW_TASKS)")
	f.IntVar(&t.Pollers, "pollers", 0, "pollers per kind of task, 0 for the SDK's default (RAPPORT_WORKER_POLLERS)")
	f.Float64Var(&t.ActivitiesPerSecond, "activities-per-second", 0, "activities started per second on the task queue, all workers together, 0 for no cap (RAPPORT_TASK_QUEUE_ACTIVITIES_PER_SECOND)")
	f.DurationVar(&t.Drain, "drain", workerDrain, "on SIGTERM, how long running activities may take to finish (RAPPORT_WORKER_DRAIN)")
	f.StringVar(&t.OpsAddr, "ops-addr", t.OpsAddr, "address of /healthz, /readyz and /metrics, or off (RAPPORT_OPS_ADDR)")
	f.DurationVar(&t.RetryBudget, "retry-budget", t.RetryBudget, "how long a journey run retries a failing activity (the database down, say) before it waits an hour and tries again (RAPPORT_RETRY_BUDGET)")
	f.IntVar(&t.PinRevision, "pin-revision", 0, "record this interpreter revision in runs that start here instead of the newest, 0 for none: the first phase of a rolling deploy (RAPPORT_PIN_REVISION)")
	return func() (workerTuning, error) {
		for _, v := range []struct {
			flag, env string
			set       func(string) error
		}{
			{"max-activities", "RAPPORT_WORKER_ACTIVITIES", intSetter(&t.Activities)},
			{"max-workflow-tasks", "RAPPORT_WORKER_WORKFLOW_TASKS", intSetter(&t.WorkflowTasks)},
			{"pollers", "RAPPORT_WORKER_POLLERS", intSetter(&t.Pollers)},
			{"activities-per-second", "RAPPORT_TASK_QUEUE_ACTIVITIES_PER_SECOND", func(s string) (err error) {
				t.ActivitiesPerSecond, err = strconv.ParseFloat(s, 64)
				if err == nil && t.ActivitiesPerSecond < 0 {
					err = errors.New("must not be negative")
				}
				return err
			}},
			{"drain", "RAPPORT_WORKER_DRAIN", func(s string) (err error) {
				t.Drain, err = time.ParseDuration(s)
				if err == nil && t.Drain <= 0 {
					err = errors.New("must be positive, such as 30s")
				}
				return err
			}},
			{"ops-addr", "RAPPORT_OPS_ADDR", func(s string) error { t.OpsAddr = s; return nil }},
			{"retry-budget", "RAPPORT_RETRY_BUDGET", func(s string) (err error) {
				t.RetryBudget, err = time.ParseDuration(s)
				return err
			}},
			{"pin-revision", "RAPPORT_PIN_REVISION", intSetter(&t.PinRevision)},
		} {
			val, ok := os.LookupEnv(v.env)
			if cmd.Flags().Changed(v.flag) || !ok || val == "" {
				continue
			}
			if err := v.set(val); err != nil {
				return t, fmt.Errorf("%s=%q: %w", v.env, val, err)
			}
		}
		if t.Activities < 0 || t.WorkflowTasks < 0 || t.Pollers < 0 {
			return t, errors.New("--max-activities, --max-workflow-tasks and --pollers must not be negative")
		}
		if t.RetryBudget < time.Minute {
			return t, fmt.Errorf("--retry-budget %s is too short to outlast an outage; give at least 1m (hours are better: 24h is the default)", t.RetryBudget)
		}
		if t.PinRevision < 0 || t.PinRevision > workflows.CurrentRevision {
			return t, fmt.Errorf("--pin-revision %d: this release knows revisions 1 to %d", t.PinRevision, workflows.CurrentRevision)
		}
		return t, nil
	}
}

func intSetter(p *int) func(string) error {
	return func(s string) error {
		n, err := strconv.Atoi(s)
		if err == nil && n < 0 {
			err = errors.New("must not be negative")
		}
		*p = n
		return err
	}
}

func newWorkerCmd() *cobra.Command {
	journeysDir := env("RAPPORT_JOURNEYS", "journeys")
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run journey workflows and their activities",
		Long: `Worker polls Temporal for journey workflows and activities and runs them:
it sends email through SendGrid, SMS through Twilio and letters and
postcards through Lob, creates staff tasks, and keeps the outbox in
PostgreSQL. Run as many workers as you like; they share the work. It
migrates the database when it starts. On SIGTERM it drains: /readyz
fails, polling stops, and running activities get --drain to finish.
/healthz, /readyz and /metrics are served on --ops-addr.

Configured by the environment: DATABASE_URL, TEMPORAL_* (address,
namespace, TLS, API key, temporal.toml profile), RAPPORT_SECRET,
SENDGRID_*, TWILIO_*, LOB_* and RAPPORT_* (see docs/configuration.md, "Configuration
reference"). A channel without configuration is skipped.`,
	}
	cmd.Flags().StringVar(&journeysDir, "journeys", journeysDir, "folder of journey files and templates (RAPPORT_JOURNEYS)")
	benchWorker := benchWorkerFlag(cmd)
	tuning := tuningFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		t, err := tuning()
		if err != nil {
			return err
		}
		t.Bench = *benchWorker
		cfg, err := configFromEnv()
		if err != nil {
			return err
		}
		return runWorker(cmd.Context(), cfg, journeysDir, t, nil)
	}
	return cmd
}

// parkedTaskQueue is a task queue no worker polls: `rapport bench` starts
// audience journeys there, to measure starting them and nothing else.
const parkedTaskQueue = "rapport-bench-parked"

// runWorker runs a worker until ctx ends, then drains it. register, when
// set, adds workflows and activities (tests use it).
func runWorker(ctx context.Context, cfg config, journeysDir string, t workerTuning, register func(worker.Registry)) error {
	signer, err := cfg.signer()
	if err != nil {
		return err
	}
	svc, err := connect(ctx, cfg, journeysDir)
	if err != nil {
		return err
	}
	defer svc.Close()
	if err := checkSearchAttributes(ctx, svc.temporal, cfg.Temporal.Namespace, svc.log); err != nil {
		return err
	}
	email, sms, mail, err := cfg.senders(svc.log)
	if err != nil {
		return err
	}
	health := svc.health(false)
	opsSrv, err := startOps(t.OpsAddr, health, svc)
	if err != nil {
		return err
	}
	defer opsSrv.Stop()
	rt := newRouter(svc, 0, time.Time{})
	if t.Bench {
		rt.TaskQueue = parkedTaskQueue
	}
	acts := cfg.activities(svc, email, sms, mail, signer, rt)
	w := newWorker(svc.temporal, acts, svc.journeys, t)
	if t.Bench {
		registerBenchWorkflows(w)
	}
	if register != nil {
		register(w)
	}
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	health.Ready()
	syncSchedules(ctx, svc)
	syncRetention(ctx, svc, cfg.Retention)
	svc.log.Info("worker running", "task_queue", workflows.TaskQueue, "journeys", len(svc.journeys.catalog.Plans()),
		"max_activities", t.Activities, "activities_per_second", t.ActivitiesPerSecond, "retry_budget", t.RetryBudget, "pin_revision", t.PinRevision)
	<-ctx.Done()

	health.Drain()
	svc.log.Info("draining: polling stops; running activities may finish", "grace", t.Drain)
	w.Stop()
	svc.log.Info("worker stopped")
	return nil
}

// checkSearchAttributes refuses to start a worker on a namespace that
// lacks one of Rapport's search attributes (a run would fail its first
// workflow task recording it, over and over). Where the credentials may
// not list them (Temporal Cloud API keys without the right role), it
// warns and goes on.
func checkSearchAttributes(ctx context.Context, c client.Client, namespace string, log *slog.Logger) error {
	missing, err := temporalsetup.MissingSearchAttributes(ctx, c, namespace, searchAttributeTypes())
	switch {
	case grpcstatus.Code(err) == codes.PermissionDenied || grpcstatus.Code(err) == codes.Unimplemented:
		log.Warn("cannot list the namespace's search attributes; make sure Rapport's are registered (rapport setup temporal)", "namespace", namespace, "error", err)
		return nil
	case err != nil:
		return fmt.Errorf("namespace %s: %w", namespace, err)
	case len(missing) > 0:
		return fmt.Errorf("namespace %s lacks Rapport's search attributes %s (or has them with another type than Keyword): run `rapport setup temporal` before starting workers (docs/operating.md)",
			namespace, strings.Join(missing, ", "))
	}
	return nil
}

// newWorker builds a worker that runs the journey workflow and its
// activities.
func newWorker(c client.Client, acts *activities.Activities, js *journeySet, t workerTuning, interceptors ...interceptor.WorkerInterceptor) worker.Worker {
	w := worker.New(c, workflows.TaskQueue, t.options(interceptors))
	in := workflows.NewInterpreter(js.compiler.Env())
	in.RetryBudget = t.RetryBudget
	in.Register(w)
	acts.Register(w)
	w.RegisterWorkflowWithOptions(workflows.EraseWorkflow, workflow.RegisterOptions{Name: workflows.EraseWorkflowName})
	acts.RegisterErasure(w)
	w.RegisterWorkflowWithOptions(workflows.RetentionWorkflow, workflow.RegisterOptions{Name: workflows.RetentionWorkflowName})
	acts.RegisterRetention(w)
	return w
}

// activities wires the activities to the database, the providers and the
// configuration.
func (c config) activities(svc *services, email channels.EmailSender, sms channels.SMSSender, mail channels.MailSender, signer *links.Signer, rt *router.Router) *activities.Activities {
	return &activities.Activities{
		Store: svc.store, Templates: svc.journeys.templates,
		Email: email, SMS: sms, Mail: mail,
		Sender: c.Sender, ReturnAddress: c.ReturnAddress,
		Links: signer, PublicURL: c.PublicURL,
		Rules: c.Rules, UnsubscribeMailto: c.UnsubscribeMailto, DefaultCurrency: c.DefaultCurrency,
		Router: rt, Log: svc.log, Metrics: svc.metrics, InDoubt: c.InDoubt,
		Temporal: svc.temporal, Namespace: c.Temporal.Namespace,
	}
}

// syncSchedules makes the audience schedules match the journeys, as
// `rapport schedules sync` does. A failure is logged, not fatal: the
// worker still runs journeys, and the next start (or the command) syncs.
func syncSchedules(ctx context.Context, svc *services) {
	rep, err := schedules.Sync(ctx, svc.temporal, svc.journeys.catalog, svc.dataConverter)
	if err != nil {
		svc.log.Error("could not sync audience schedules; run `rapport schedules sync`", "error", err)
		return
	}
	svc.log.Info("audience schedules in sync", "created", rep.Created, "updated", rep.Updated, "unchanged", rep.Unchanged, "deleted", rep.Deleted)
}

// syncRetention creates, updates or removes the daily retention schedule
// to match RAPPORT_RETENTION_MESSAGES and RAPPORT_RETENTION_EVENTS. A
// failure is logged, not fatal: the next start tries again.
func syncRetention(ctx context.Context, svc *services, in workflows.RetentionInput) {
	did, err := schedules.SyncRetention(ctx, svc.temporal, in, svc.dataConverter)
	if err != nil {
		svc.log.Error("could not set up the retention schedule; old content is not being removed until a worker starts and succeeds", "error", err)
		return
	}
	svc.log.Info("retention schedule "+did, "schedule", workflows.RetentionScheduleID, "retention", in.String())
}
