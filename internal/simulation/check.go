package simulation

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rapporthq/rapport/internal/audit"
	"github.com/rapporthq/rapport/internal/fakes"
	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/policy"
	"github.com/rapporthq/rapport/internal/report"
	"github.com/rapporthq/rapport/internal/store"
)

// Stack is the running Rapport a checked simulation plays against, and
// what the checks read: its API (with an admin key), its database, what
// the fake providers received, the contact rules its workers apply and
// its journeys.
type Stack struct {
	APIURL, APIKey string
	// TwilioAuthToken signs the simulated SMS replies.
	TwilioAuthToken string
	// DayLength is how long a day of journey time lasts.
	DayLength time.Duration
	Store     *store.Store
	Received  *fakes.Recorder
	Rules     policy.Rules
	Plans     []*journey.Plan
}

// Result is a simulated crowd's run and its checks.
type Result struct {
	Summary Summary
	Runs    map[string]map[string]int
	Audit   audit.Report
	// Mismatches are differences between what the providers received (the
	// fakes) and what the outbox says was sent, and between each journey's
	// report and the registry and outbox it counts.
	Mismatches []string
	// Reports are the journeys' reports, by journey.
	Reports []*report.Report
}

// RunChecked plays a crowd against a running stack, then checks the
// outbox against what the providers received, holds each journey's
// report to the registry and the outbox, and audits every message
// against the customers' preference history.
func RunChecked(ctx context.Context, d Stack, customers int, seed uint64, progress io.Writer) (Result, error) {
	var res Result
	sum, err := Run(ctx, Config{
		APIURL: d.APIURL, APIKey: d.APIKey, TwilioAuthToken: d.TwilioAuthToken, Customers: customers, Seed: seed, DayLength: d.DayLength, Progress: progress,
		Running: func(ctx context.Context) (int, error) {
			counts, err := d.Store.RunCounts(ctx)
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
	if res.Runs, err = d.Store.RunCounts(ctx); err != nil {
		return res, err
	}
	if res.Mismatches, err = crossCheck(ctx, d); err != nil {
		return res, err
	}
	if err := reports(ctx, d, &res); err != nil {
		return res, err
	}
	err = d.Store.ReadOnly(ctx, func(q store.Querier) error {
		res.Audit, err = audit.Check(ctx, q, d.Rules, audit.Options{})
		return err
	})
	return res, err
}

// reports builds every journey's report and holds each to the registry
// and the outbox (report.CrossCheck): a figure that differs is a mismatch.
func reports(ctx context.Context, d Stack, res *Result) error {
	for _, p := range d.Plans {
		r, err := report.Build(ctx, d.Store, p, report.Options{})
		if err != nil {
			return err
		}
		res.Reports = append(res.Reports, r)
		err = d.Store.ReadOnly(ctx, func(q store.Querier) error {
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
func crossCheck(ctx context.Context, d Stack) ([]string, error) {
	var problems []string
	received := map[string]bool{}
	for _, m := range d.Received.Messages() {
		received[m.ProviderMessageID] = true
		if m.MessageID == "" {
			problems = append(problems, fmt.Sprintf("%s message %s to %s carries no outbox id", m.Channel, m.ProviderMessageID, m.To))
			continue
		}
		row, err := d.Store.GetMessage(ctx, m.MessageID)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s message %s: no outbox row %s: %v", m.Channel, m.ProviderMessageID, m.MessageID, err))
			continue
		}
		if row.Status != store.MessageSent || row.ProviderMessageID != m.ProviderMessageID {
			problems = append(problems, fmt.Sprintf("%s message %s: the outbox row says %s, provider id %q", m.Channel, m.ProviderMessageID, row.Status, row.ProviderMessageID))
		}
	}
	err := d.Store.ReadOnly(ctx, func(q store.Querier) error {
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

// Print writes the run and its checks for people to read.
func (r Result) Print(w io.Writer) {
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
	for _, j := range slices.Sorted(maps.Keys(r.Runs)) {
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

// joinCounts writes counts by key, sorted.
func joinCounts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// plural is n and the word for it: one or many.
func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
