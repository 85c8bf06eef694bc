//go:build !production

package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"github.com/rapporthq/rapport/internal/app"
	"github.com/rapporthq/rapport/internal/audit"
	"github.com/rapporthq/rapport/internal/devstack/devmode"
	"github.com/rapporthq/rapport/internal/report"
	"github.com/rapporthq/rapport/internal/simulation"
	"github.com/rapporthq/rapport/internal/store"
)

// simulationResult is a simulated crowd's run and its checks.
type simulationResult struct {
	Summary simulation.Summary
	Runs    map[string]map[string]int
	Audit   audit.Report
	// Mismatches are differences between what the providers received (the
	// fakes) and what the outbox says was sent, and between each journey's
	// report and the registry and outbox it counts.
	Mismatches []string
	// Reports are the journeys' reports, by journey.
	Reports []*report.Report
}

// simulate plays a crowd against a running dev stack, then checks the
// outbox against what the providers received and audits every message
// against the customers' preference history.
func simulate(ctx context.Context, d *devStack, customers int, seed uint64, progress io.Writer) (simulationResult, error) {
	var res simulationResult
	sum, err := simulation.Run(ctx, simulation.Config{
		APIURL: d.APIURL, APIKey: d.APIKey, TwilioAuthToken: devTwilioToken, Customers: customers, Seed: seed, DayLength: d.opts.DayLength, Progress: progress,
		Running: func(ctx context.Context) (int, error) {
			counts, err := d.store.RunCounts(ctx)
			n := 0
			for _, byStatus := range counts {
				n += byStatus[store.RunRunning]
			}
			return n, err
		},
	})
	res.Summary = sum
	if err != nil {
		return res, err
	}
	if res.Runs, err = d.store.RunCounts(ctx); err != nil {
		return res, err
	}
	if res.Mismatches, err = crossCheck(ctx, d); err != nil {
		return res, err
	}
	if err := reports(ctx, d, &res); err != nil {
		return res, err
	}
	err = d.store.ReadOnly(ctx, func(q store.Querier) error {
		res.Audit, err = audit.Check(ctx, q, d.opts.Sender.Rules, audit.Options{})
		return err
	})
	return res, err
}

// reports builds every journey's report and holds each to the registry
// and the outbox (report.CrossCheck): a figure that differs is a mismatch.
func reports(ctx context.Context, d *devStack, res *simulationResult) error {
	js, err := app.LoadJourneys(d.opts.JourneysDir)
	if err != nil {
		return err
	}
	for _, p := range js.Catalog.Plans() {
		r, err := report.Build(ctx, d.store, p, report.Options{})
		if err != nil {
			return err
		}
		res.Reports = append(res.Reports, r)
		err = d.store.ReadOnly(ctx, func(q store.Querier) error {
			diffs, err := report.CrossCheck(ctx, q, r)
			for _, diff := range diffs {
				res.Mismatches = append(res.Mismatches, "report: "+diff)
			}
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// crossCheck compares what the fake providers accepted with the outbox:
// every message a provider received is a sent row with its provider id,
// and every sent row was received.
func crossCheck(ctx context.Context, d *devStack) ([]string, error) {
	var problems []string
	received := map[string]bool{}
	for _, m := range d.fakes.Recorder.Messages() {
		received[m.ProviderMessageID] = true
		if m.MessageID == "" {
			problems = append(problems, fmt.Sprintf("%s message %s to %s carries no outbox id", m.Channel, m.ProviderMessageID, m.To))
			continue
		}
		row, err := d.store.GetMessage(ctx, m.MessageID)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s message %s: no outbox row %s: %v", m.Channel, m.ProviderMessageID, m.MessageID, err))
			continue
		}
		if row.Status != store.MessageSent || row.ProviderMessageID != m.ProviderMessageID {
			problems = append(problems, fmt.Sprintf("%s message %s: the outbox row says %s, provider id %q", m.Channel, m.ProviderMessageID, row.Status, row.ProviderMessageID))
		}
	}
	err := d.store.ReadOnly(ctx, func(q store.Querier) error {
		rows, err := q.Query(ctx, `SELECT id::text, provider_message_id FROM messages WHERE status = 'sent'`)
		if err != nil {
			return err
		}
		var id, pid string
		_, err = pgx.ForEachRow(rows, []any{&id, &pid}, func() error {
			if !received[pid] {
				problems = append(problems, fmt.Sprintf("outbox row %s says sent (provider id %q) but no provider received it", id, pid))
			}
			return nil
		})
		return err
	})
	return problems, err
}

func (r simulationResult) print(w io.Writer) {
	s := r.Summary
	fmt.Fprintf(w, "\n%s (%d lapsed, %d entered the win-back; %s suppressed at sign-up) in %s\n",
		plural(s.Customers, "customer", "customers"), s.Lapsed, s.WinbackEntered, plural(s.SetupSuppressed, "address", "addresses"), s.Elapsed)
	fmt.Fprintf(w, "  orders %d, delivered %d, cancelled %d; %d survey answers; %d tasks completed by staff\n",
		s.Orders, s.Deliveries, s.Cancellations, s.SurveyAnswers, s.TasksCompleted)
	fmt.Fprintf(w, "  received by customers: %s\n", joinCounts(s.MessagesBy))
	fmt.Fprintf(w, "  changes of mind while journeys ran: %s\n", joinCounts(s.MidRunChanges))
	if s.Customers == 0 {
		return
	}
	for _, j := range slices.Sorted(keys(r.Runs)) {
		fmt.Fprintf(w, "  journey %s: %s\n", j, joinCounts(r.Runs[j]))
	}
	for _, rep := range r.Reports {
		fmt.Fprintf(w, "  report %s: %s\n", rep.Journey, rep.Summary())
	}
	a := r.Audit
	if a.ByStatus == nil {
		return // it stopped before the checks
	}
	fmt.Fprintf(w, "  outbox: %s; %s on record\n", joinCounts(a.ByStatus), plural(a.Holds, "hold", "holds"))
	if len(r.Mismatches) == 0 {
		fmt.Fprintln(w, "providers and outbox agree: every message received is a sent row, and every sent row was received; every report's figures agree with the registry and the outbox")
	} else {
		for _, m := range r.Mismatches {
			fmt.Fprintln(w, "mismatch:", m)
		}
	}
	for _, v := range a.Violations {
		fmt.Fprintln(w, "violation:", v)
	}
	if len(a.Violations) == 0 {
		fmt.Fprintf(w, "audit: %s to %s checked against their preference history: no message broke a rule\n",
			plural(a.Messages, "message", "messages"), plural(a.Customers, "customer", "customers"))
	} else {
		fmt.Fprintf(w, "audit: %s\n", plural(len(a.Violations), "violation", "violations"))
	}
}

func keys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func joinCounts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
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
			dbURL, cleanup, err := privateDatabase(ctx, stateDir, fmt.Sprintf("rapport_simulation_%d", seed))
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
			res.print(out)
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
