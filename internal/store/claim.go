package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ClaimWithGate records the intent to send before the provider is called,
// and decides, in the same transaction, whether the contact rules let the
// message go.
//
// The invariant it holds: a message reaches the sending state only here,
// only once per attempt that may reach the provider, and only when the
// contact rules, applied under the customer's and the address's locks
// (see locks.go) to every message being sent to the customer at this
// moment, let it go. Two journeys sending at once therefore cannot
// together exceed a frequency cap, and no message is sent twice unless
// the provider deduplicates it (resumable).
//
// It does so in four steps, one transaction:
//
//  1. insert: the first call for an idempotency key inserts the row
//     (pending); every call then locks and reads it.
//  2. settled: a row that cannot be taken is answered as it is, or
//     settled by the evidence at hand: one in sending belongs to an
//     attempt interrupted after it may have called the provider, and is
//     taken again only when resumable (the provider then returns the
//     first piece), else marked sent (a delivery report came) or unknown;
//     one already reported by the provider's webhook is sent.
//  3. ended: an attempt that outlived its run (a retry the run no longer
//     waits for) is skipped.
//  4. gate inputs and verdict: under the locks, the customer's
//     preferences, the address's suppression, their recent marketing
//     sends and the held messages ahead of this one go to gate, at
//     policyAt (or the customer's latest policy time, when later: policy
//     time never runs backwards). The verdict takes the attempt (sending),
//     holds the message with its reason, or skips it.
//
// An erased customer's message is never inserted.
func (s *Store) ClaimWithGate(ctx context.Context, m Message, resumable bool, policyAt time.Time, gate func(GateInput) Gate) (Claim, Gate, error) {
	var claim Claim
	var verdict Gate
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) (err error) {
		claim, verdict, err = s.claimIn(ctx, tx, m, resumable, policyAt, gate)
		return err
	})
	if err != nil {
		return Claim{}, Gate{}, fmt.Errorf("outbox: claim %s: %w", m.IdempotencyKey, err)
	}
	return claim, verdict, nil
}

// claimIn is ClaimWithGate's transaction, step by step.
func (s *Store) claimIn(ctx context.Context, tx pgx.Tx, m Message, resumable bool, policyAt time.Time, gate func(GateInput) Gate) (Claim, Gate, error) {
	if erased, err := s.erased(ctx, tx, m.CustomerID); err != nil || erased { // nothing to, or about, an erased customer
		return erasedClaim(m), Gate{Reason: "the customer was erased"}, err
	}
	current, err := insertIntent(ctx, tx, m)
	if err != nil {
		return Claim{}, Gate{}, err
	}
	if settled, done, err := settleUnclaimable(ctx, tx, current, resumable); done || err != nil {
		return Claim{Message: settled}, Gate{}, err
	}
	if current.Status != MessageSending {
		if skipped, ended, err := s.skipIfRunEnded(ctx, tx, m); ended || err != nil {
			return Claim{Message: skipped}, Gate{}, err
		}
	}
	in, err := s.gateInputs(ctx, tx, m, current, policyAt)
	if err != nil {
		return Claim{}, Gate{}, err
	}
	verdict := gate(in)
	claim, err := s.applyVerdict(ctx, tx, m, verdict, in.At)
	return claim, verdict, err
}

// insertIntent inserts the message as pending the first time its
// idempotency key is seen, and locks and reads the row as it is now.
func insertIntent(ctx context.Context, tx pgx.Tx, m Message) (Message, error) {
	_, err := tx.Exec(ctx, `
		INSERT INTO messages (idempotency_key, workflow_id, journey, step_id, customer_id, channel, template, purpose, topic, status, recipient, subject, details, priority, contacts_customer)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', $10, $11, $12, $13, NOT $14)
		ON CONFLICT (idempotency_key) DO NOTHING`,
		m.IdempotencyKey, m.WorkflowID, m.Journey, m.StepID, m.CustomerID, m.Channel, m.Template, m.Purpose, m.Topic, m.Recipient, m.Subject, detailsOf(m), m.Priority, m.NoContact)
	if err != nil {
		return Message{}, err
	}
	return scanMessage(tx.QueryRow(ctx, `SELECT `+messageColumns+` FROM messages WHERE idempotency_key = $1 FOR UPDATE`, m.IdempotencyKey))
}

// settleUnclaimable answers a row this attempt cannot take (done), after
// settling what the evidence settles: a row proven unsent and reopened
// that the provider's webhook has reported since is sent; a row in
// sending (an interrupted attempt) that is not resumable is sent when a
// delivery report came meanwhile, else unknown. Rows already decided
// (sent, skipped, failed, unknown) are answered as they are.
func settleUnclaimable(ctx context.Context, tx pgx.Tx, current Message, resumable bool) (Message, bool, error) {
	if current.Status == MessagePending && current.DeliveryStatus != "" {
		// Proven unsent and reopened, yet the provider's webhook has
		// reported it since (a post retried late): it was taken after
		// all, and is not sent again.
		m, err := scanMessage(tx.QueryRow(ctx, `
			UPDATE messages SET status = 'sent', sent_at = coalesce(sent_at, now()), updated_at = now(),
				reason = 'was proven not sent, but the provider''s webhook reported it (' || delivery_status || ') before it went again: not sent again'
			WHERE idempotency_key = $1 RETURNING `+messageColumns, current.IdempotencyKey))
		return m, true, err
	}
	switch {
	case current.Status == MessagePending, current.Status == MessageHeld, current.Status == MessageSending && resumable:
		return Message{}, false, nil // claimable
	case current.Status == MessageSending:
		// A delivery report that came meanwhile proves the provider took
		// it: sent, not in doubt.
		m, err := scanMessage(tx.QueryRow(ctx, `
			UPDATE messages SET updated_at = now(),
				status = CASE WHEN delivery_status <> '' THEN 'sent' ELSE 'unknown' END,
				sent_at = CASE WHEN delivery_status <> '' THEN now() END,
				reason = CASE WHEN delivery_status <> ''
					THEN 'an earlier attempt was interrupted after calling the provider; settled as sent by the provider''s delivery webhook (' || delivery_status || ')'
					ELSE 'an earlier attempt was interrupted after calling the provider; not sent again to avoid a duplicate' END
			WHERE idempotency_key = $1 RETURNING `+messageColumns, current.IdempotencyKey))
		return m, true, err
	default:
		return current, true, nil
	}
}

// skipIfRunEnded skips the message of an attempt that outlived its run (a
// retry the run no longer waits for): the run's end settled the rest of
// its messages, and this one with them. It returns the skipped message
// and true, or false when the run goes on. (An attempt interrupted mid-call, in
// sending, is never asked: the provider may have it.) A run given up as
// not found in Temporal may still start under its id (see RunNotFound):
// its sends go on.
func (s *Store) skipIfRunEnded(ctx context.Context, tx pgx.Tx, m Message) (Message, bool, error) {
	var ended bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM journey_runs WHERE workflow_id = $1
		AND (status IN ('completed', 'exited') OR (status = 'failed' AND outcome <> $2)))`, m.WorkflowID, RunNotFound).Scan(&ended); err != nil || !ended {
		return Message{}, false, err
	}
	skipped, err := scanMessage(tx.QueryRow(ctx, `
		UPDATE messages SET status = 'skipped', reason = $2, claimed_at = coalesce($3, clock_timestamp()), updated_at = now()
		WHERE idempotency_key = $1 RETURNING `+messageColumns, m.IdempotencyKey, JourneyEndedReason, s.now()))
	return skipped, true, err
}

// gateInputs takes the customer's and the address's locks, one decision
// at a time per customer and address, none while what it reads is
// changing (see locks.go), and reads what the contact rules need.
func (s *Store) gateInputs(ctx context.Context, tx pgx.Tx, m Message, current Message, policyAt time.Time) (GateInput, error) {
	if err := lockCustomer(ctx, tx, m.CustomerID); err != nil {
		return GateInput{}, err
	}
	if m.Recipient != "" {
		if err := lockAddress(ctx, tx, m.Channel, AddressKey(m.Channel, m.Recipient)); err != nil {
			return GateInput{}, err
		}
	}
	// Policy time never runs backwards for a customer: a decision taken
	// at an earlier moment than one already sent (a workflow that
	// computed its time a little before another's claim won the lock) is
	// taken at the later one, so caps count every send.
	var latest *time.Time
	if err := tx.QueryRow(ctx, `SELECT max(policy_at) FROM messages WHERE customer_id = $1 AND status IN ('sending', 'sent', 'unknown') AND contacts_customer`,
		m.CustomerID).Scan(&latest); err != nil {
		return GateInput{}, err
	}
	if latest != nil && latest.After(policyAt) {
		policyAt = *latest
	}
	in := GateInput{At: policyAt}
	var err error
	if in.Preferences, err = getPreferences(ctx, tx, m.CustomerID); err != nil {
		return GateInput{}, err
	}
	if m.Recipient != "" {
		err := tx.QueryRow(ctx, `SELECT reason FROM suppressions WHERE channel = $1 AND address = ANY($2) LIMIT 1`, m.Channel, s.addressForms(m.Channel, m.Recipient)).Scan(&in.Suppression)
		if err != nil && err != pgx.ErrNoRows {
			return GateInput{}, err
		}
	}
	rows, err := tx.Query(ctx, `SELECT channel, policy_at FROM messages
		WHERE customer_id = $1 AND purpose = 'marketing' AND status IN ('sending', 'sent', 'unknown') AND contacts_customer
		  AND policy_at > $2::timestamptz - interval '60 days' AND idempotency_key <> $3`, m.CustomerID, policyAt, m.IdempotencyKey)
	if err != nil {
		return GateInput{}, err
	}
	if in.Recent, err = pgx.CollectRows(rows, pgx.RowToStructByPos[RecentSend]); err != nil {
		return GateInput{}, err
	}
	if current.Purpose != "marketing" {
		return in, nil
	}
	// The customer's marketing messages held back that go first when a
	// cap frees a slot: a higher priority, or the same and held longer
	// (created earlier), of runs still running (a run that ended leaves
	// no message to wait behind).
	rows, err = tx.Query(ctx, `SELECT channel, journey, step_id, priority FROM messages
		WHERE customer_id = $1 AND purpose = 'marketing' AND status = 'held' AND contacts_customer AND idempotency_key <> $2
		  AND (priority > $3 OR (priority = $3 AND (created_at, id) < ($4, $5::uuid)))
		  AND EXISTS (SELECT 1 FROM journey_runs r WHERE r.workflow_id = messages.workflow_id AND r.status = 'running')
		ORDER BY priority DESC, created_at, id LIMIT 100`, m.CustomerID, m.IdempotencyKey, current.Priority, current.CreatedAt, current.ID)
	if err != nil {
		return GateInput{}, err
	}
	in.Ahead, err = pgx.CollectRows(rows, pgx.RowToStructByPos[HeldMessage])
	return in, err
}

// applyVerdict records the contact rules' verdict at policyAt: the
// attempt taken (sending), the message held with its reason (and the
// hold in message_holds), or skipped with it.
func (s *Store) applyVerdict(ctx context.Context, tx pgx.Tx, m Message, verdict Gate, policyAt time.Time) (Claim, error) {
	switch {
	case verdict.Allow:
		sending, err := scanMessage(tx.QueryRow(ctx, `
			UPDATE messages SET status = 'sending', attempts = attempts + 1, recipient = $2, subject = $3, details = $4,
				reason = '', policy_at = $5, claimed_at = coalesce($7, clock_timestamp()), updated_at = now(), body_digest = $6,
				contacts_customer = NOT $8
			WHERE idempotency_key = $1 RETURNING `+messageColumns, m.IdempotencyKey, m.Recipient, m.Subject, detailsOf(m), policyAt, m.BodyDigest, s.now(), m.NoContact))
		return Claim{Message: sending, Send: err == nil}, err
	case verdict.Hold:
		held, err := scanMessage(tx.QueryRow(ctx, `
			UPDATE messages SET status = 'held', reason = $2, recipient = $3, policy_at = $4, updated_at = now()
			WHERE idempotency_key = $1 RETURNING `+messageColumns, m.IdempotencyKey, verdict.Reason, m.Recipient, policyAt))
		if err != nil {
			return Claim{}, err
		}
		_, err = tx.Exec(ctx, `INSERT INTO message_holds (message_id, policy_at, held_until, reason) VALUES ($1, $2, $3, $4)`,
			held.ID, policyAt, verdict.Until, verdict.Reason)
		return Claim{Message: held}, err
	default:
		skipped, err := scanMessage(tx.QueryRow(ctx, `
			UPDATE messages SET status = 'skipped', reason = $2, recipient = $3, policy_at = $4, claimed_at = coalesce($5, clock_timestamp()), updated_at = now()
			WHERE idempotency_key = $1 RETURNING `+messageColumns, m.IdempotencyKey, verdict.Reason, m.Recipient, policyAt, s.now()))
		return Claim{Message: skipped}, err
	}
}
