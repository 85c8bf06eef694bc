//go:build !production

package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/rapporthq/rapport/internal/store"
)

// thanks posts orders of (d)'s buyers through the API, a new buyer each,
// at a steady rate, and times their thank-you emails.
type thanks struct {
	b      *benchRun
	rate   float64
	buyers int // buyers generated
	sent   int // orders posted so far
	mu     sync.Mutex
	posted map[string]time.Time // when each buyer's order was posted
}

// timed runs post (which posts orders with t.post), then waits for the
// thank-you of every order it posted and returns them.
func (t *thanks) timed(ctx context.Context, post func(context.Context) error) ([]thankYou, error) {
	seq := len(t.b.d.fakes.Recorder.Messages())
	from := t.sent
	if err := post(ctx); err != nil {
		return nil, err
	}
	var ids []string
	for i := from; i < t.sent; i++ {
		ids = append(ids, lanesBuyer(i))
	}
	return t.emails(ctx, seq, ids)
}

// post posts up to n orders at the rate, each from its own goroutine (a
// slow answer does not hold up the next), until n are posted or ctx ends.
func (t *thanks) post(ctx context.Context, n int) error {
	tick := time.NewTicker(time.Duration(float64(time.Second) / t.rate))
	defer tick.Stop()
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	for range min(n, t.buyers-t.sent) {
		id := lanesBuyer(t.sent)
		t.sent++
		wg.Go(func() {
			if err := t.order(ctx, id); err != nil {
				select {
				case errs <- err:
				default:
				}
			}
		})
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
		if ctx.Err() != nil {
			break
		}
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// order posts the buyer's order.placed event through the API and notes
// when. An order posted as the audience's drain ends is still answered
// (and waited for).
func (t *thanks) order(ctx context.Context, customerID string) error {
	t.mu.Lock()
	t.posted[customerID] = time.Now()
	t.mu.Unlock()
	order := map[string]any{"id": "order-" + customerID, "total": 23.5, "currency": "GBP",
		"items": []map[string]any{{"product_id": "tea", "name": "Earl Grey tea", "quantity": 2, "price": 4.25}, {"product_id": "pot", "name": "Blue teapot", "quantity": 1, "price": 15}}}
	return t.b.postEvent(context.WithoutCancel(ctx), "order-"+customerID, "order.placed", customerID, map[string]any{"order": order})
}

// emails waits until the thank-you of each buyer's order is sent (its
// outbox row says so), then matches each with the email the SendGrid fake
// received (which names the row), checks there is exactly one, and reads
// from its run's history when the run started and got its first workflow
// task.
func (t *thanks) emails(ctx context.Context, seq int, buyers []string) ([]thankYou, error) {
	if err := t.waitSent(ctx, buyers); err != nil {
		return nil, err
	}
	received := map[string][]time.Time{} // by outbox message id
	for _, m := range t.b.d.fakes.Recorder.After(seq) {
		if m.Channel == "email" {
			received[m.MessageID] = append(received[m.MessageID], m.SentAt)
		}
	}
	out, err := t.matched(ctx, buyers, received)
	if err != nil {
		return nil, err
	}
	for i := range out {
		if out[i].started, out[i].task, err = t.b.runStart(ctx, out[i].workflowID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// waitSent waits until every buyer's thank-you is sent, for ten minutes
// at most.
func (t *thanks) waitSent(ctx context.Context, buyers []string) error {
	deadline := time.Now().Add(10 * time.Minute)
	for {
		var sent int
		err := t.b.d.store.ReadOnly(ctx, func(q store.Querier) error {
			return q.QueryRow(ctx, `SELECT count(*) FROM messages WHERE journey = 'thank-you' AND status = 'sent' AND customer_id = ANY($1)`, buyers).Scan(&sent)
		})
		switch {
		case err != nil:
			return fmt.Errorf("the thank-yous' outbox rows: %w", err)
		case sent == len(buyers):
			return nil
		case time.Now().After(deadline):
			return fmt.Errorf("%d of %d thank-yous sent after 10 minutes", sent, len(buyers))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// matched pairs the buyers' thank-you outbox rows with the emails
// received, by message id.
func (t *thanks) matched(ctx context.Context, buyers []string, received map[string][]time.Time) ([]thankYou, error) {
	var out []thankYou
	err := t.b.d.store.ReadOnly(ctx, func(q store.Querier) error {
		rows, err := q.Query(ctx, `SELECT customer_id, workflow_id, id::text FROM messages WHERE journey = 'thank-you' AND customer_id = ANY($1)`, buyers)
		if err != nil {
			return fmt.Errorf("the thank-yous' outbox rows: %w", err)
		}
		defer rows.Close()
		t.mu.Lock()
		defer t.mu.Unlock()
		for rows.Next() {
			var ty thankYou
			var messageID string
			if err := rows.Scan(&ty.customerID, &ty.workflowID, &messageID); err != nil {
				return err
			}
			sent := received[messageID]
			if len(sent) != 1 {
				return fmt.Errorf("%s: the SendGrid fake received %d thank-yous, not 1", ty.customerID, len(sent))
			}
			ty.posted, ty.email = t.posted[ty.customerID], sent[0]
			out = append(out, ty)
		}
		return rows.Err()
	})
	if err == nil && len(out) != len(buyers) {
		err = fmt.Errorf("%d of %d thank-yous have an outbox row", len(out), len(buyers))
	}
	return out, err
}

// runStart reads from a run's history when it started and when its first
// workflow task started.
func (b *benchRun) runStart(ctx context.Context, workflowID string) (started, task time.Time, err error) {
	it := b.d.client.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() && task.IsZero() {
		e, err := it.Next()
		if err != nil {
			return started, task, fmt.Errorf("the history of %s: %w", workflowID, err)
		}
		switch e.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
			started = e.GetEventTime().AsTime()
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED:
			task = e.GetEventTime().AsTime()
		}
	}
	if task.IsZero() {
		return started, task, fmt.Errorf("%s: no workflow task in its history", workflowID)
	}
	return started, task, nil
}
