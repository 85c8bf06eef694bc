package main

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"

	"github.com/rapporthq/rapport/activities"
	"github.com/rapporthq/rapport/internal/channels"
	"github.com/rapporthq/rapport/internal/channels/sendgrid"
	"github.com/rapporthq/rapport/internal/store"
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
it sends email through SendGrid and keeps the outbox in PostgreSQL. Run as
many workers as you like; they share the work. It migrates the database
when it starts and stops cleanly on SIGTERM, letting running activities
finish.

Configured by the environment: DATABASE_URL, TEMPORAL_ADDRESS,
TEMPORAL_NAMESPACE, SENDGRID_API_KEY, SENDGRID_BASE_URL and RAPPORT_*
(see README.md).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := configFromEnv()
			if err != nil {
				return err
			}
			if cfg.SendGridAPIKey == "" {
				return errors.New("SENDGRID_API_KEY is not set; email cannot be sent without it")
			}
			ctx := cmd.Context()
			svc, err := connect(ctx, cfg, journeysDir)
			if err != nil {
				return err
			}
			defer svc.Close()
			email := sendgrid.New(sendgrid.Config{APIKey: cfg.SendGridAPIKey, BaseURL: cfg.SendGridBaseURL})
			w := newWorker(svc.temporal, svc.store, svc.journeys, email, cfg.Sender, svc.log)
			if err := w.Start(); err != nil {
				return fmt.Errorf("start worker: %w", err)
			}
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
func newWorker(c client.Client, s *store.Store, js *journeySet, email channels.EmailSender, sender activities.Sender, log *slog.Logger, interceptors ...interceptor.WorkerInterceptor) worker.Worker {
	w := worker.New(c, workflows.TaskQueue, worker.Options{WorkerStopTimeout: workerDrain, Interceptors: interceptors})
	workflows.NewInterpreter(js.compiler.Env()).Register(w)
	acts := &activities.Activities{Store: s, Email: email, Templates: js.templates, Sender: sender, Log: log}
	acts.Register(w)
	return w
}
