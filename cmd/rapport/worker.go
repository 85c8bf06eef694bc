package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/worker"

	"github.com/rapporthq/rapport/internal/app"
	"github.com/rapporthq/rapport/workflows"
)

// tuningFlags adds the tuning flags to cmd; their defaults come from the
// environment, read (and checked) by read.
func tuningFlags(cmd *cobra.Command) (read func() (app.WorkerTuning, error)) {
	t := app.WorkerTuning{Drain: app.DefaultWorkerDrain, OpsAddr: app.DefaultOpsAddr, RetryBudget: workflows.DefaultRetryBudget}
	f := cmd.Flags()
	f.IntVar(&t.Activities, "max-activities", 0, "activities run at once by this worker, 0 for the SDK's default (RAPPORT_WORKER_ACTIVITIES)")
	f.IntVar(&t.WorkflowTasks, "max-workflow-tasks", 0, "workflow tasks run at once by this worker, 0 for the SDK's default (RAPPORT_WORKER_WORKFLOW_TASKS)")
	f.IntVar(&t.Pollers, "pollers", 0, "pollers per kind of task, 0 for the SDK's default (RAPPORT_WORKER_POLLERS)")
	f.Float64Var(&t.ActivitiesPerSecond, "activities-per-second", 0, "activities started per second on the task queue, all workers together, 0 for no cap (RAPPORT_TASK_QUEUE_ACTIVITIES_PER_SECOND)")
	f.DurationVar(&t.Drain, "drain", app.DefaultWorkerDrain, "on SIGTERM, how long running activities may take to finish (RAPPORT_WORKER_DRAIN)")
	f.StringVar(&t.OpsAddr, "ops-addr", t.OpsAddr, "address of /healthz, /readyz and /metrics, or off (RAPPORT_OPS_ADDR)")
	f.DurationVar(&t.RetryBudget, "retry-budget", t.RetryBudget, "how long a journey run retries a failing activity (the database down, say) before it waits between tries for as long as it takes (RAPPORT_RETRY_BUDGET)")
	f.IntVar(&t.PinRevision, "pin-revision", 0, "record at most this interpreter revision in runs that start here, 0 for no cap; rollouts do not need it: workers record the newest revision the whole fleet runs (RAPPORT_PIN_REVISION)")
	return func() (app.WorkerTuning, error) {
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
		var register func(worker.Registry)
		if *benchWorker {
			// One of the worker processes of `rapport bench --workers N`:
			// it runs the bench's baselines too and parks the journeys of
			// audience runs, as the bench's in-process worker does.
			t.ParkAudienceJourneys = true
			register = registerBenchWorkflows
		}
		cfg, err := configFromEnv()
		if err != nil {
			return err
		}
		return app.RunWorker(cmd.Context(), cfg, journeysDir, t, register)
	}
	return cmd
}
