//go:build !production

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rapporthq/rapport/internal/app"
	"github.com/rapporthq/rapport/internal/chaos"
	"github.com/rapporthq/rapport/internal/devstack"
)

func newChaosCmd() *cobra.Command {
	var profile string
	var seed uint64
	var shared, keep bool
	cmd := &cobra.Command{
		Use:   "chaos [--profile short|full|outage]",
		Short: "Run the production topology on this machine and inject faults; count lost and duplicated sends",
		Long: `Chaos runs Rapport as production does, on this machine: a Temporal server
in its own process with PostgreSQL persistence, a private PostgreSQL
cluster for Rapport, two or more ` + "`rapport worker`" + ` processes and a ` + "`rapport api`" + `,
and the fake SendGrid, Twilio and Lob behind a fault proxy. It drives
customers through a transactional journey of four sends on three
channels (and, but for the short profile, a marketing email) while it
kills workers with SIGKILL, stops PostgreSQL for 30 seconds and more,
takes SendGrid down, and makes the providers answer 5xx after accepting,
hang past the client's timeout and answer 429 bursts. Then it waits for
every run to end and prints, per channel, the sends expected, sent,
lost, duplicated and still in doubt (outbox rows "unknown"), and the
runs that failed; after a SendGrid outage, whether its transactional
emails went again before its marketing ones.

The last line is
  chaos: N customers, M sends: L lost, D duplicated, F failed runs, U unsettled
and the exit status is 1 unless all four are 0 (and, after a SendGrid
outage, the transactional emails went first). --profile short takes a
few minutes (CI; it settles emails in doubt at least once after 2
minutes); full drives 300 customers through 3 worker kills and 2
PostgreSQL outages of 35s, and outage 150 customers through a 3-minute
SendGrid outage (503 to every request), both with the default settings.
Needs the PostgreSQL server binaries (initdb).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, ok := chaos.Profiles[profile]
			if !ok {
				return fmt.Errorf("--profile: %q is not a profile; use short, full or outage", profile)
			}
			bin, err := os.Executable()
			if err != nil {
				return fmt.Errorf("find the rapport executable: %w", err)
			}
			rep, err := chaos.Run(cmd.Context(), chaos.Options{Binary: bin, Profile: p, Seed: seed, SharedPostgres: shared, KeepDir: keep, Out: cmd.OutOrStdout()})
			if errors.Is(err, context.Canceled) && cmd.Context().Err() != nil {
				return errors.New("chaos: interrupted; the processes and folders it made are gone")
			}
			if err != nil {
				return err
			}
			rep.Print(cmd.OutOrStdout())
			if !rep.Clean() {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	names := make([]string, 0, len(chaos.Profiles))
	for n := range chaos.Profiles {
		names = append(names, n)
	}
	slices.Sort(names)
	f := cmd.Flags()
	f.StringVar(&profile, "profile", "short", "how big and how long: "+strings.Join(names, ", "))
	f.Uint64Var(&seed, "seed", 0, "seed of the provider faults, to repeat a run (0: a random one, printed)")
	f.BoolVar(&shared, "shared-postgres", false, "keep Temporal's persistence on the PostgreSQL that is stopped too (by default it has a cluster of its own that stays up)")
	f.BoolVar(&keep, "keep", false, "keep the work folder (process logs, data) afterwards")
	cmd.AddCommand(newChaosTemporalCmd())
	return cmd
}

// newChaosTemporalCmd is the Temporal server process `rapport chaos`
// starts: the embedded server with PostgreSQL persistence, until SIGTERM.
func newChaosTemporalCmd() *cobra.Command {
	var db, ip string
	var port int
	cmd := &cobra.Command{
		Use:    "temporal-server --db postgres://.../temporal --port N",
		Short:  "Run a Temporal server with PostgreSQL persistence (for rapport chaos)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if db == "" || port <= 0 {
				return errors.New("--db and --port are required")
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			t, err := devstack.StartTemporal(cmd.Context(), devstack.TemporalOptions{
				IP: ip, FrontendPort: port, UIPort: -1, Namespace: "default", PostgresURL: db,
				SearchAttributes: app.SearchAttributeTypes(), Logger: log, LogLevel: slog.LevelWarn,
			})
			if err != nil {
				return err
			}
			log.Warn("temporal server running", "address", t.Address())
			<-cmd.Context().Done()
			t.Stop()
			return nil
		},
	}
	cmd.Flags().StringVar(&db, "db", "", "PostgreSQL URL of the server's database (visibility goes to the same name with _visibility)")
	cmd.Flags().IntVar(&port, "port", 0, "frontend gRPC port")
	cmd.Flags().StringVar(&ip, "ip", "127.0.0.1", "address to listen on")
	return cmd
}
