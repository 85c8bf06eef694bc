// Command rapport is the customer journey engine: one binary whose
// subcommands run the worker, the API, the all-in-one dev mode, and the
// tools marketers and operators use (validate, graph, migrate).
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

Start everything on one machine with:  rapport dev`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newDevCmd(),
		newWorkerCmd(),
		newAPICmd(),
		newValidateCmd(),
		newGraphCmd(),
		newMigrateCmd(),
		newTasksCmd(),
		newCatalogCmd(),
		newImportCmd(),
		newAudienceCmd(),
		newEventsCmd(),
		newSchedulesCmd(),
		newBenchCmd(),
		newCustomersCmd(),
		newKeysCmd(),
		newAuditCmd(),
		newSimulateCmd(),
		newInspectCmd(),
		newRunsCmd(),
		newSetupCmd(),
		newHealthCmd(),
		newCodecServerCmd(),
		newChaosCmd(),
	)
	return root
}
