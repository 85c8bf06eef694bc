package report

import (
	"context"
	"fmt"

	"github.com/rapporthq/rapport/internal/store"
)

// CrossCheck holds a journey's report (over all its runs: no since, until
// or plan) to what the run registry and the outbox hold, counted again
// here by plain queries of their own, as `rapport audit` holds messages
// to the contact rules. It returns each figure that differs, in words;
// none when the report is true to the data.
func CrossCheck(ctx context.Context, db store.Querier, r *Report) ([]string, error) {
	var out []string
	differ := func(what string, report, data int) {
		if report != data {
			out = append(out, fmt.Sprintf("%s: %s: the report says %d, the data %d", r.Journey, what, report, data))
		}
	}
	var entered, heldOut, running, completed, exited, failed, converted int
	err := db.QueryRow(ctx, `SELECT count(*),
			count(*) FILTER (WHERE arm = 'holdout'),
			count(*) FILTER (WHERE status = 'running' AND arm <> 'holdout'),
			count(*) FILTER (WHERE status = 'completed' AND arm <> 'holdout'),
			count(*) FILTER (WHERE status = 'exited' AND arm <> 'holdout'),
			count(*) FILTER (WHERE status = 'failed' AND arm <> 'holdout'),
			(SELECT count(*) FROM journey_conversions c WHERE c.journey = $1
				AND EXISTS (SELECT 1 FROM journey_runs x WHERE x.workflow_id = c.workflow_id))
		FROM journey_runs WHERE journey = $1`, r.Journey).
		Scan(&entered, &heldOut, &running, &completed, &exited, &failed, &converted)
	if err != nil {
		return nil, fmt.Errorf("cross-check %s: %w", r.Journey, err)
	}
	differ("entered", r.Funnel.Entered, entered)
	differ("held out", r.Funnel.HeldOut, heldOut)
	differ("running", r.Funnel.Running, running)
	differ("completed", r.Funnel.Completed, completed)
	differ("exited", r.Funnel.Exited, exited)
	differ("failed", r.Funnel.Failed, failed)
	differ("converted", r.Funnel.Converted, converted)
	exitSum := 0
	for _, c := range r.Funnel.ExitReasons {
		exitSum += c.N
	}
	differ("exit reasons, together", exitSum, exited)
	armSum, convSum := 0, 0
	for _, a := range r.Arms {
		armSum += a.Entrants
		convSum += a.Conversions
	}
	differ("entrants of the arms, together", armSum, entered)
	differ("conversions of the arms, together", convSum, converted)

	rows, err := db.Query(ctx, `SELECT m.step_id, count(*) FILTER (WHERE m.status = 'sent'), count(*) FILTER (WHERE m.status = 'skipped'),
			count(*) FILTER (WHERE m.status = 'failed'), count(*) FILTER (WHERE m.status = 'unknown')
		FROM messages m WHERE m.journey = $1 AND m.workflow_id IN (SELECT workflow_id FROM journey_runs WHERE journey = $1)
		GROUP BY m.step_id`, r.Journey)
	if err != nil {
		return nil, fmt.Errorf("cross-check %s messages: %w", r.Journey, err)
	}
	defer rows.Close()
	steps := map[string]Step{}
	for _, s := range r.Funnel.Steps {
		steps[s.ID] = s
	}
	for rows.Next() {
		var step string
		var sent, skipped, failedMsgs, unknown int
		if err := rows.Scan(&step, &sent, &skipped, &failedMsgs, &unknown); err != nil {
			return nil, fmt.Errorf("cross-check %s messages: %w", r.Journey, err)
		}
		s := steps[step]
		differ("step "+step+": sent", s.Sent, sent)
		differ("step "+step+": skipped", sum(s.Skipped), skipped)
		differ("step "+step+": failed", sum(s.Failed), failedMsgs)
		differ("step "+step+": unknown", s.Unknown, unknown)
		if s.Reached < sent {
			out = append(out, fmt.Sprintf("%s: step %s: %d runs reached it but %d messages were sent there", r.Journey, step, s.Reached, sent))
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cross-check %s messages: %w", r.Journey, err)
	}
	return out, nil
}

func sum(cs []Count) int {
	n := 0
	for _, c := range cs {
		n += c.N
	}
	return n
}
