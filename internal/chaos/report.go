package chaos

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rapporthq/rapport/internal/fakes"
	"github.com/rapporthq/rapport/internal/store"
)

// Report is what a run counted.
type Report struct {
	Customers int
	// PerChannel holds a line per channel of Channels.
	PerChannel map[string]*ChannelCount
	// Runs by outcome: completed, exited, failed (in Temporal or in the
	// database), still running when the settle time ran out, never started.
	Completed, Exited, Failed, Running, NotStarted int
	// Faults injected.
	Kills, Outages int
	Proxy          Counts
	Seed           uint64
	// SendGridOutages counts the times SendGrid was taken down; Resent
	// the emails first attempted while it was down that went again after
	// it; TransactionalFirst whether every transactional one of those went
	// before the first marketing one (true when there was no outage).
	SendGridOutages    int
	Resent             int
	TransactionalFirst bool
	// ResentWithin is how long after the outage's end the last of those
	// went.
	ResentWithin time.Duration
}

// ChannelCount is one channel's line of the report.
type ChannelCount struct {
	// Expected sends; Sent of them the provider received at least once;
	// Lost never received; Duplicated extra receipts (a Lob repeat with
	// one Idempotency-Key is no receipt); Unsettled outbox rows still
	// "unknown"; Settled rows that were in doubt and evidence (a delivery
	// webhook, the provider's records) settled as sent.
	Expected, Sent, Lost, Duplicated, Unsettled, Settled int
}

// Totals sums the channels: sends expected, lost, duplicated, unsettled.
func (r *Report) Totals() (sends, lost, dup, unsettled int) {
	for _, c := range r.PerChannel {
		sends += c.Expected
		lost += c.Lost
		dup += c.Duplicated
		unsettled += c.Unsettled
	}
	return
}

// FailedRuns are the runs that failed or never ended.
func (r *Report) FailedRuns() int { return r.Failed + r.Running }

// Clean reports whether nothing was lost, duplicated, failed or left in
// doubt, and the transactional emails of a SendGrid outage went first.
func (r *Report) Clean() bool {
	_, l, d, u := r.Totals()
	return l == 0 && d == 0 && u == 0 && r.FailedRuns() == 0 && r.TransactionalFirst
}

// Summary is the report's last line.
func (r *Report) Summary() string {
	sends, l, d, u := r.Totals()
	return fmt.Sprintf("chaos: %d customers, %d sends: %d lost, %d duplicated, %d failed runs, %d unsettled", r.Customers, sends, l, d, r.FailedRuns(), u)
}

// Print writes the report: a line per channel, the runs, the faults, and
// the summary line last.
func (r *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "\n%-6s %9s %6s %6s %11s %10s %19s\n", "", "expected", "sent", "lost", "duplicated", "unsettled", "in doubt, settled")
	for _, ch := range Channels {
		c := r.PerChannel[ch]
		fmt.Fprintf(w, "%-6s %9d %6d %6d %11d %10d %19d\n", ch, c.Expected, c.Sent, c.Lost, c.Duplicated, c.Unsettled, c.Settled)
	}
	fmt.Fprintf(w, "runs: %d completed, %d exited, %d failed, %d still running, %d never started\n", r.Completed, r.Exited, r.Failed, r.Running, r.NotStarted)
	fmt.Fprintf(w, "faults: %d worker kills, %d PostgreSQL outages, %d SendGrid outages (%d requests answered 503), %d 5xx after accepting, %d hangs, %d 429s (seed %d)\n",
		r.Kills, r.Outages, r.SendGridOutages, r.Proxy.Refused, r.Proxy.AfterAccept, r.Proxy.Hung, r.Proxy.Throttled, r.Seed)
	if r.SendGridOutages > 0 {
		first := "transactional first"
		if !r.TransactionalFirst {
			first = "NOT transactional first"
		}
		fmt.Fprintf(w, "SendGrid outage: %d emails first tried while it was down went again after it, within %s of its end, %s\n",
			r.Resent, r.ResentWithin.Round(time.Second), first)
	}
	fmt.Fprintln(w, r.Summary())
}

// report counts what the fakes received against what the journey meant
// to send, and the runs' outcomes.
func (r *run) report(ctx context.Context) (*Report, error) {
	rep := &Report{Customers: r.o.Profile.Customers, PerChannel: map[string]*ChannelCount{}, Kills: r.kills, Outages: r.outages, Proxy: r.proxy.Counts(), Seed: r.o.Seed,
		TransactionalFirst: true}
	for _, ch := range Channels {
		rep.PerChannel[ch] = &ChannelCount{}
	}
	// Make sure the database answers (the last outage may have just ended).
	if err := waitDB(ctx, r.store, time.Minute); err != nil {
		return nil, err
	}
	msgs := r.fakes.Recorder.Messages()
	// An SMS carries only Rapport's outbox id: find its customer and step.
	var ids []string
	for _, m := range msgs {
		if m.MessageID != "" {
			ids = append(ids, m.MessageID)
		}
	}
	owner := map[string][2]string{}
	type outcome struct{ unknown, settled int }
	outcomes := map[string]outcome{} // by channel
	err := r.store.ReadOnly(ctx, func(q store.Querier) error {
		rows, err := q.Query(ctx, "SELECT id::text, customer_id, step_id FROM messages WHERE id::text = ANY($1)", ids)
		if err != nil {
			return err
		}
		var id, c, s string
		if _, err := pgx.ForEachRow(rows, []any{&id, &c, &s}, func() error {
			owner[id] = [2]string{c, s}
			return nil
		}); err != nil {
			return err
		}
		rows, err = q.Query(ctx, `SELECT channel, count(*) FILTER (WHERE status = 'unknown'),
				count(*) FILTER (WHERE status = 'sent' AND reason LIKE '%settled as sent by%')
			FROM messages WHERE journey = ANY($1) GROUP BY channel`, r.o.Profile.Journeys)
		if err != nil {
			return err
		}
		var ch string
		var o outcome
		_, err = pgx.ForEachRow(rows, []any{&ch, &o.unknown, &o.settled}, func() error {
			outcomes[ch] = o
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	received := map[string]int{} // channel/customer/step -> receipts
	seenLob := map[string]bool{}
	unmatched := map[string]int{}
	for _, m := range msgs {
		if m.Provider == "lob" {
			if seenLob[m.ProviderMessageID] {
				continue // one piece, answered again for its Idempotency-Key
			}
			seenLob[m.ProviderMessageID] = true
		}
		cust, step := m.CustomerID, m.Step
		if o, ok := owner[m.MessageID]; ok {
			cust, step = o[0], o[1]
		}
		if cust == "" || step == "" {
			unmatched[m.Channel]++
			continue
		}
		received[m.Channel+"/"+cust+"/"+step]++
	}
	for i := range r.o.Profile.Customers {
		for _, s := range sendsOf(r.o.Profile) {
			c := rep.PerChannel[s.channel]
			c.Expected++
			n := received[s.channel+"/"+customerID(i)+"/"+s.step]
			if n == 0 {
				c.Lost++
				continue
			}
			c.Sent++
			c.Duplicated += n - 1
		}
	}
	for ch, n := range unmatched {
		if c, ok := rep.PerChannel[ch]; ok {
			c.Duplicated += n // received, yet no send of the journey asked for it
		}
	}
	for ch, o := range outcomes {
		if c, ok := rep.PerChannel[ch]; ok {
			c.Unsettled += o.unknown
			c.Settled += o.settled
		}
	}

	runs, err := r.runs(ctx)
	if err != nil {
		return nil, err
	}
	for _, s := range runs {
		switch {
		case s.temporal == "Running" || s.temporal == "":
			if s.db == "failed" {
				rep.Failed++
			} else {
				rep.Running++
			}
		case s.temporal == "Completed" && s.db == "exited":
			rep.Exited++
		case s.temporal == "Completed" && s.db != "failed":
			rep.Completed++
		default: // Failed, Terminated, TimedOut, Canceled, or failed in the database
			rep.Failed++
		}
	}
	rep.NotStarted = max(0, r.expectedRuns()-len(runs))
	if err := r.outageOrder(ctx, rep, msgs); err != nil {
		return nil, err
	}
	return rep, nil
}

// outageOrder counts the emails first tried while SendGrid was down that
// went again after it, and whether every transactional one went before
// the first marketing one (by when the fake took them).
func (r *run) outageOrder(ctx context.Context, rep *Report, msgs []fakes.Message) error {
	r.sgMu.Lock()
	windows := slices.Clone(r.sgDown)
	r.sgMu.Unlock()
	rep.SendGridOutages = len(windows)
	if len(windows) == 0 {
		return nil
	}
	purpose := map[string]string{} // outbox id -> purpose, of the emails first tried in an outage
	err := r.store.ReadOnly(ctx, func(q store.Querier) error {
		for _, w := range windows {
			rows, err := q.Query(ctx, `SELECT id::text, purpose FROM messages
				WHERE channel = 'email' AND journey = ANY($1) AND created_at >= $2 AND created_at < $3 AND attempts >= 2`,
				r.o.Profile.Journeys, w[0], w[1])
			if err != nil {
				return err
			}
			var id, p string
			if _, err := pgx.ForEachRow(rows, []any{&id, &p}, func() error {
				purpose[id] = p
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	var lastTransactional, firstMarketing, last time.Time
	for _, m := range msgs {
		p, ok := purpose[m.MessageID]
		if !ok || m.Channel != "email" {
			continue
		}
		rep.Resent++
		if m.SentAt.After(last) {
			last = m.SentAt
		}
		switch {
		case p == "transactional" && m.SentAt.After(lastTransactional):
			lastTransactional = m.SentAt
		case p == "marketing" && (firstMarketing.IsZero() || m.SentAt.Before(firstMarketing)):
			firstMarketing = m.SentAt
		}
	}
	rep.TransactionalFirst = firstMarketing.IsZero() || !firstMarketing.Before(lastTransactional)
	if !last.IsZero() {
		rep.ResentWithin = max(0, last.Sub(windows[len(windows)-1][1]))
	}
	return nil
}
