//go:build !production

package main

import (
	"github.com/spf13/cobra"
	"go.temporal.io/sdk/worker"

	"github.com/rapporthq/rapport/internal/bench"
)

// buildNote ends the root command's help in the default (dev) build.
const buildNote = `Start everything on one machine with:  rapport dev`

// devCommands are the commands only the default build holds: they run the
// embedded Temporal server, the fake providers and the measuring tools.
// The production build (devcommands_production.go) has none.
func devCommands() []*cobra.Command {
	return []*cobra.Command{
		newDevCmd(),
		newBenchCmd(),
		newSimulateCmd(),
		newChaosCmd(),
		newPreviewCmd(),
	}
}

// benchWorkerFlag adds the worker's hidden --bench flag, which makes the
// process one of the workers of `rapport bench --workers N`.
func benchWorkerFlag(cmd *cobra.Command) *bool {
	var on bool
	cmd.Flags().BoolVar(&on, "bench", false, "run as a worker process of rapport bench --workers")
	_ = cmd.Flags().MarkHidden("bench")
	return &on
}

// registerBenchWorkflows registers the bench's hand-written baselines on a
// bench worker.
func registerBenchWorkflows(w worker.Registry) { bench.Register(w) }
