//go:build !production

package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/rapporthq/rapport/internal/app"
	"github.com/rapporthq/rapport/internal/devstack/devmode"
	"github.com/rapporthq/rapport/internal/devstack/pglocal"
	"github.com/rapporthq/rapport/internal/simulation"
)

// simulate plays a crowd against a running dev stack and checks it
// (simulation.RunChecked).
func simulate(ctx context.Context, d *devStack, customers int, seed uint64, progress io.Writer) (simulation.Result, error) {
	js, err := app.LoadJourneys(d.Opts.JourneysDir)
	if err != nil {
		return simulation.Result{}, err
	}
	return simulation.RunChecked(ctx, simulation.Stack{APIURL: d.APIURL, APIKey: d.APIKey, TwilioAuthToken: devmode.TwilioToken,
		DayLength: d.Opts.DayLength, Store: d.Store, Received: d.Fakes.Recorder, Rules: d.Opts.Sender.Rules, Plans: js.Catalog.Plans()},
		customers, seed, progress)
}

func newSimulateCmd() *cobra.Command {
	var customers int
	var seed uint64
	var day, timeout time.Duration
	var journeysDir string
	var keep, verbose bool
	cmd := &cobra.Command{
		Use:   "simulate",
		Short: "Play a crowd of customers through the journeys and audit every message",
		Long: `Simulate starts a private Rapport (embedded Temporal, fake providers, a
fresh PostgreSQL database on the server rapport dev would use) on dev time,
and plays a crowd of customers through the journeys: they sign up with
random preferences, time zones and addresses, order, cancel, answer
surveys, and change their minds while journeys wait (opt out over the API,
one-click unsubscribe, STOP replies, quieter evenings, fewer messages);
staff work the tasks. When every journey has ended it checks that what the
providers received is what the outbox says was sent, and audits every
message against each customer's preference history (see rapport audit).

The exit status is 0 when nothing broke a rule and 1 otherwise. The
database is dropped afterwards unless --keep is given.`,
		Example: `  rapport simulate --customers 1000
  rapport simulate --customers 200 --day 100ms --seed 7 --keep`,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := configFromEnv()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			ctx := cmd.Context()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			stateDir, err := os.MkdirTemp("", "rapport-simulate-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(stateDir)
			dbURL, cleanup, err := pglocal.PrivateDatabase(ctx, stateDir, fmt.Sprintf("rapport_simulation_%d", seed))
			if err != nil {
				return err
			}
			defer cleanup(keep)
			if keep {
				fmt.Fprintf(out, "simulate: database %s (kept)\n", dbURL)
			}
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			if verbose {
				log = cfg.Logger()
			}
			fmt.Fprintf(out, "simulate: starting Rapport on dev time (a day lasts %s); seed %d\n", day, seed)
			d, err := startDev(ctx, devOptions{StateDir: stateDir, JourneysDir: journeysDir, IP: "127.0.0.1", UIPort: -1,
				DatabaseURL: dbURL, InMemory: true, NoDemo: true, DayLength: day, SweepInterval: time.Second, Sender: &cfg, Log: log, PublicLimit: devmode.CrowdLimit()})
			if err != nil {
				return err
			}
			defer d.Stop()
			res, err := simulate(ctx, d, customers, seed, out)
			res.Print(out)
			if err != nil {
				return err
			}
			if len(res.Audit.Violations) > 0 || len(res.Mismatches) > 0 {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&customers, "customers", 1000, "how many customers to simulate")
	f.Uint64Var(&seed, "seed", uint64(time.Now().Unix()), "seed of the crowd (the same seed makes the same customers)")
	f.DurationVar(&day, "day", 200*time.Millisecond, "how long a day of journey time lasts")
	f.DurationVar(&timeout, "timeout", 20*time.Minute, "give up after this long")
	f.StringVar(&journeysDir, "journeys", env("RAPPORT_JOURNEYS", "journeys"), "folder of journey files and templates")
	f.BoolVar(&keep, "keep", false, "keep the simulation's database (its URL is printed) to look at with rapport audit or SQL")
	f.BoolVar(&verbose, "verbose", false, "print the worker's and the server's logs")
	return cmd
}
