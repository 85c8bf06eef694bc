//go:build production

package main

import (
	"github.com/spf13/cobra"
	"go.temporal.io/sdk/worker"
)

// buildNote ends the root command's help in the production build.
const buildNote = `This is the production build (-tags production): the dev-only commands
(dev, bench, simulate, chaos) are left out. Run them from the source:
go run ./cmd/rapport dev (or bench, simulate, chaos).`

// devCommands is empty in the production build: the dev-only commands and
// what they link (the embedded Temporal server, SQLite, the fakes) are
// left out. See devcommands.go for the default build's.
func devCommands() []*cobra.Command { return nil }

// benchWorkerFlag adds no flag in the production build (there is no
// `rapport bench` to serve), so a worker is never a bench worker.
func benchWorkerFlag(*cobra.Command) *bool { return new(bool) }

// registerBenchWorkflows is never called in the production build, where
// no worker is a bench worker; it registers nothing.
func registerBenchWorkflows(worker.Registry) {}
