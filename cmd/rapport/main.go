// Command rapport is the customer journey engine: one binary whose
// subcommands run the worker, the API, the all-in-one dev mode, and the
// tools marketers and operators use (validate, graph, migrate).
//
// The default build holds everything, including the dev-only commands
// (dev, bench, simulate, chaos) and what they link: the embedded Temporal
// server and its web UI, SQLite, the fake providers. Built with the
// production tag,
//
//	go build -tags production ./cmd/rapport
//
// it leaves those out (the files that hold them are marked
// //go:build !production, and devCommands has one implementation per
// build); the Dockerfile builds it that way.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := newRootCmd().ExecuteContext(ctx)
	var exit *exitError
	switch {
	case errors.As(err, &exit):
		os.Exit(exit.code)
	case err != nil:
		fmt.Fprintln(os.Stderr, "rapport:", err)
		os.Exit(1)
	}
}

// exitError ends the program with a code after its output was printed.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "rapport",
		Short: "Rapport turns YAML customer journeys into durable Temporal workflows",
		Long: `Rapport lets marketers describe, in YAML, how a relationship with a customer
should unfold, and runs each journey as a durable Temporal workflow that
honours what the customer asked for.

` + buildNote,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newWorkerCmd(),
		newAPICmd(),
		newValidateCmd(),
		newSchemaCmd(),
		newDiffCmd(),
		newGraphCmd(),
		newMigrateCmd(),
		newTasksCmd(),
		newCatalogCmd(),
		newImportCmd(),
		newAudienceCmd(),
		newEventsCmd(),
		newFanoutsCmd(),
		newSchedulesCmd(),
		newCustomersCmd(),
		newKeysCmd(),
		newAuditCmd(),
		newReportCmd(),
		newInspectCmd(),
		newRunsCmd(),
		newSetupCmd(),
		newHealthCmd(),
		newCodecServerCmd(),
	)
	root.AddCommand(devCommands()...)
	return root
}
