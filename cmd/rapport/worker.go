package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"

	"github.com/rapporthq/rapport/activities"
	"github.com/rapporthq/rapport/internal/channels"
	"github.com/rapporthq/rapport/internal/links"
	"github.com/rapporthq/rapport/internal/router"
	"github.com/rapporthq/rapport/internal/schedules"
	"github.com/rapporthq/rapport/workflows"
)

// workerDrain is how long a stopping worker lets running activities finish.
const workerDrain = 30 * time.Second

func newWorkerCmd() *cobra.Command {
	journeysDir := env("RAPPORT_JOURNEYS", "journeys")
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run journey workflows and their activities",
		Long: `Worker polls Temporal for journey workflows and activities and runs them:
it sends email through SendGrid, SMS through Twilio and letters and
postcards through Lob, creates staff tasks, and keeps the outbox in
PostgreSQL. Run as
many workers as you like; they share the work. It migrates the database
when it starts and stops cleanly on SIGTERM, letting running activities
finish.

Configured by the environment: DATABASE_URL, TEMPORAL_ADDRESS,
TEMPORAL_NAMESPACE, RAPPORT_SECRET, SENDGRID_*, TWILIO_*, LOB_* and
RAPPORT_* (see README.md). A channel without configuration is skipped.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := configFromEnv()
			if err != nil {
				return err
			}
			signer, err := cfg.signer()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			svc, err := connect(ctx, cfg, journeysDir)
			if err != nil {
				return err
			}
			defer svc.Close()
			email, sms, mail, err := cfg.senders(svc.log)
			if err != nil {
				return err
			}
			acts := cfg.activities(svc, email, sms, mail, signer, newRouter(svc, 0, time.Time{}))
			w := newWorker(svc.temporal, acts, svc.journeys)
			if err := w.Start(); err != nil {
				return fmt.Errorf("start worker: %w", err)
			}
			syncSchedules(ctx, svc)
			svc.log.Info("worker running", "task_queue", workflows.TaskQueue, "journeys", len(svc.journeys.catalog.Plans()))
			<-ctx.Done()
			svc.log.Info("stopping worker; letting running activities finish", "grace", workerDrain)
			w.Stop()
			return nil
		},
	}
	cmd.Flags().StringVar(&journeysDir, "journeys", journeysDir, "folder of journey files and templates (RAPPORT_JOURNEYS)")
	return cmd
}

// newWorker builds a worker that runs the journey workflow and its
// activities.
func newWorker(c client.Client, acts *activities.Activities, js *journeySet, interceptors ...interceptor.WorkerInterceptor) worker.Worker {
	w := worker.New(c, workflows.TaskQueue, worker.Options{WorkerStopTimeout: workerDrain, Interceptors: interceptors})
	workflows.NewInterpreter(js.compiler.Env()).Register(w)
	acts.Register(w)
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
		Router: rt, Log: svc.log,
	}
}

// syncSchedules makes the audience schedules match the journeys, as
// `rapport schedules sync` does. A failure is logged, not fatal: the
// worker still runs journeys, and the next start (or the command) syncs.
func syncSchedules(ctx context.Context, svc *services) {
	rep, err := schedules.Sync(ctx, svc.temporal, svc.journeys.catalog)
	if err != nil {
		svc.log.Error("could not sync audience schedules; run `rapport schedules sync`", "error", err)
		return
	}
	svc.log.Info("audience schedules in sync", "created", rep.Created, "updated", rep.Updated, "unchanged", rep.Unchanged, "deleted", rep.Deleted)
}
