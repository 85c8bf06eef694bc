package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// MessageStatus is where a message stands in the outbox.
type MessageStatus string

// Outbox statuses. A message moves pending -> sending -> sent | failed, or
// back to pending after a retryable provider error. skipped means it was
// never attempted (no address on that channel, say); unknown means an
// attempt was interrupted after the provider was called, so whether it went
// out is not known and it is not sent again. held means the contact rules
// hold it back for now (quiet hours, a frequency cap): it is decided again
// later.
const (
	MessagePending MessageStatus = "pending"
	MessageHeld    MessageStatus = "held"
	MessageSending MessageStatus = "sending"
	MessageSent    MessageStatus = "sent"
	MessageFailed  MessageStatus = "failed"
	MessageSkipped MessageStatus = "skipped"
	MessageUnknown MessageStatus = "unknown"
)

// Final reports whether the status is an outcome that must not change by
// sending again.
func (s MessageStatus) Final() bool {
	return s == MessageSent || s == MessageFailed || s == MessageSkipped || s == MessageUnknown
}

// Message is one row of the outbox.
type Message struct {
	ID                string        `json:"id"`
	IdempotencyKey    string        `json:"idempotency_key"`
	WorkflowID        string        `json:"workflow_id"`
	Journey           string        `json:"journey"`
	StepID            string        `json:"step_id"`
	CustomerID        string        `json:"customer_id"`
	Channel           string        `json:"channel"`
	Template          string        `json:"template"`
	Purpose           string        `json:"purpose"`
	Topic             string        `json:"topic"`
	Status            MessageStatus `json:"status"`
	Reason            string        `json:"reason,omitempty"`
	Provider          string        `json:"provider,omitempty"`
	ProviderMessageID string        `json:"provider_message_id,omitempty"`
	Recipient         string        `json:"recipient,omitempty"`
	Subject           string        `json:"subject,omitempty"`
	Attempts          int           `json:"attempts"`
	CreatedAt         time.Time     `json:"created_at"`
	UpdatedAt         time.Time     `json:"updated_at"`
	SentAt            *time.Time    `json:"sent_at,omitempty"`
	PolicyAt          *time.Time    `json:"policy_at,omitempty"`
	ClaimedAt         *time.Time    `json:"claimed_at,omitempty"`
	DeliveryStatus    string        `json:"delivery_status,omitempty"`
	// BodyDigest is the SHA-256 (hex) of what the provider was asked to
	// send (an SMS's body), recorded with the claim: a message in doubt is
	// looked up by it. Not exported: it is no one's business but the
	// reconciler's.
	BodyDigest string `json:"-"`
	// Priority orders the message under frequency caps: high 1, normal
	// 0, low -1 (journey.Priority.Rank).
	Priority int `json:"-"`
	// Details holds what was chosen for the message: the voucher code, the
	// recommended products.
	Details map[string]any `json:"details,omitempty"`
	// NoContact marks a message that does not reach the customer (a
	// webhook to an endpoint with contacts_customer false): recorded with
	// its claim, it counts towards no frequency cap and the audit does not
	// check it against the contact rules.
	NoContact bool `json:"-"`
}

const messageColumns = `id::text, idempotency_key, workflow_id, journey, step_id, customer_id, channel, template,
	purpose, topic, status, reason, provider, provider_message_id, recipient, subject, attempts, created_at, updated_at, sent_at, details,
	policy_at, claimed_at, delivery_status, body_digest, priority`

func scanMessage(row pgx.Row) (Message, error) {
	var m Message
	err := row.Scan(&m.ID, &m.IdempotencyKey, &m.WorkflowID, &m.Journey, &m.StepID, &m.CustomerID, &m.Channel, &m.Template,
		&m.Purpose, &m.Topic, &m.Status, &m.Reason, &m.Provider, &m.ProviderMessageID, &m.Recipient, &m.Subject,
		&m.Attempts, &m.CreatedAt, &m.UpdatedAt, &m.SentAt, &m.Details, &m.PolicyAt, &m.ClaimedAt, &m.DeliveryStatus, &m.BodyDigest, &m.Priority)
	return m, notFound(err)
}

// Claim is what ClaimWithGate found.
type Claim struct {
	Message Message
	// Send is true when the caller now owns the attempt and must call the
	// provider, then FinishSend. When false, Message holds the outcome of an
	// earlier attempt (sent, failed, skipped or unknown) and nothing may be
	// sent.
	Send bool
}

// GateInput is what the contact rules need, read in the claim's
// transaction: the customer's preferences, the suppression of the address,
// and their marketing messages in the last 60 days (the policy time of
// each), not counting this one.
type GateInput struct {
	// At is the moment to decide at: the policy time asked for, or the
	// latest one already used for the customer when that is later.
	At          time.Time
	Preferences Preferences
	// Suppression is the address's suppression reason, or "".
	Suppression string
	Recent      []RecentSend
	// Ahead are the customer's held marketing messages that take the next
	// free slots before this one, in order.
	Ahead []HeldMessage
}

// HeldMessage is a marketing message held back that goes before the one
// being decided.
type HeldMessage struct {
	Channel  string
	Journey  string
	Step     string
	Priority int
}

// RecentSend is a marketing message sent (or being sent) to the customer.
type RecentSend struct {
	Channel string
	At      time.Time
}

// Gate is the contact rules' verdict on a message.
type Gate struct {
	// Allow lets the message go now.
	Allow bool
	// Hold keeps it for later (Until), with Reason; else, when not
	// allowed, it is skipped for Reason.
	Hold   bool
	Until  time.Time
	Reason string
}

// ClaimWithGate records the intent to send before the provider is called,
// and decides, in the same transaction, whether the contact rules let the
// message go. The first call for an idempotency key inserts the row; a
// call then takes the attempt (pending or held -> sending) only if no
// earlier attempt reached the provider and gate allows it. A row found in
// sending belongs to an attempt that was interrupted after it may have
// called the provider: unless the provider deduplicates requests by
// idempotency key (resumable), it is marked unknown and not sent again; if
// it does, the attempt is taken again and the provider returns the first
// piece.
//
// The rules are applied under per-customer and per-address locks (see
// locks.go): they see every message being sent to the customer at this
// moment, so two journeys sending at once cannot together exceed a
// frequency cap. policyAt is the moment the rules are applied at; it is
// recorded with the message and is what later decisions count by. A held
// message is left held with the reason; a denied one is skipped with it.
// This is the only way a message can reach the sending state.
func (s *Store) ClaimWithGate(ctx context.Context, m Message, resumable bool, policyAt time.Time, gate func(GateInput) Gate) (Claim, Gate, error) {
	var claim Claim
	var verdict Gate
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if erased, err := s.erased(ctx, tx, m.CustomerID); err != nil || erased { // nothing to, or about, an erased customer
			claim, verdict.Reason = erasedClaim(m), "the customer was erased"
			return err
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO messages (idempotency_key, workflow_id, journey, step_id, customer_id, channel, template, purpose, topic, status, recipient, subject, details, priority, contacts_customer)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', $10, $11, $12, $13, NOT $14)
			ON CONFLICT (idempotency_key) DO NOTHING`,
			m.IdempotencyKey, m.WorkflowID, m.Journey, m.StepID, m.CustomerID, m.Channel, m.Template, m.Purpose, m.Topic, m.Recipient, m.Subject, detailsOf(m), m.Priority, m.NoContact)
		if err != nil {
			return err
		}
		current, err := scanMessage(tx.QueryRow(ctx, `SELECT `+messageColumns+` FROM messages WHERE idempotency_key = $1 FOR UPDATE`, m.IdempotencyKey))
		if err != nil {
			return err
		}
		if current.Status == MessagePending && current.DeliveryStatus != "" {
			// Proven unsent and reopened, yet the provider's webhook has
			// reported it since (a post retried late): it was taken after
			// all, and is not sent again.
			claim.Message, err = scanMessage(tx.QueryRow(ctx, `
				UPDATE messages SET status = 'sent', sent_at = coalesce(sent_at, now()), updated_at = now(),
					reason = 'was proven not sent, but the provider''s webhook reported it (' || delivery_status || ') before it went again: not sent again'
				WHERE idempotency_key = $1 RETURNING `+messageColumns, m.IdempotencyKey))
			return err
		}
		claimable := current.Status == MessagePending || current.Status == MessageHeld || (current.Status == MessageSending && resumable)
		if !claimable {
			if current.Status == MessageSending {
				// A delivery report that came meanwhile proves the
				// provider took it: sent, not in doubt.
				claim.Message, err = scanMessage(tx.QueryRow(ctx, `
					UPDATE messages SET updated_at = now(),
						status = CASE WHEN delivery_status <> '' THEN 'sent' ELSE 'unknown' END,
						sent_at = CASE WHEN delivery_status <> '' THEN now() END,
						reason = CASE WHEN delivery_status <> ''
							THEN 'an earlier attempt was interrupted after calling the provider; settled as sent by the provider''s delivery webhook (' || delivery_status || ')'
							ELSE 'an earlier attempt was interrupted after calling the provider; not sent again to avoid a duplicate' END
					WHERE idempotency_key = $1 RETURNING `+messageColumns, m.IdempotencyKey))
				return err
			}
			claim.Message = current
			return nil
		}
		// An attempt that outlived its run (a retry the run no longer
		// waits for) neither sends nor leaves the message held: the run's
		// end settled the rest of its messages, and this one with them.
		// An attempt interrupted mid-call (sending) is resumed as before:
		// the provider may have it.
		var ended bool
		if current.Status != MessageSending {
			// A run given up as not found in Temporal may still start
			// under its id (see RunNotFound): its sends go on.
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM journey_runs WHERE workflow_id = $1
				AND (status IN ('completed', 'exited') OR (status = 'failed' AND outcome <> $2)))`, m.WorkflowID, RunNotFound).Scan(&ended); err != nil {
				return err
			}
		}
		if ended {
			claim.Message, err = scanMessage(tx.QueryRow(ctx, `
				UPDATE messages SET status = 'skipped', reason = $2, claimed_at = coalesce($3, clock_timestamp()), updated_at = now()
				WHERE idempotency_key = $1 RETURNING `+messageColumns, m.IdempotencyKey, JourneyEndedReason, s.now()))
			return err
		}
		// One decision at a time per customer and address, none while
		// what it reads is changing (see locks.go).
		if err := lockCustomer(ctx, tx, m.CustomerID); err != nil {
			return err
		}
		if m.Recipient != "" {
			if err := lockAddress(ctx, tx, m.Channel, AddressKey(m.Channel, m.Recipient)); err != nil {
				return err
			}
		}
		// Policy time never runs backwards for a customer: a decision
		// taken at an earlier moment than one already sent (a workflow
		// that computed its time a little before another's claim won the
		// lock) is taken at the later one, so caps count every send.
		var latest *time.Time
		if err := tx.QueryRow(ctx, `SELECT max(policy_at) FROM messages WHERE customer_id = $1 AND status IN ('sending', 'sent', 'unknown') AND contacts_customer`,
			m.CustomerID).Scan(&latest); err != nil {
			return err
		}
		if latest != nil && latest.After(policyAt) {
			policyAt = *latest
		}
		in := GateInput{At: policyAt}
		if in.Preferences, err = getPreferences(ctx, tx, m.CustomerID); err != nil {
			return err
		}
		if m.Recipient != "" {
			err := tx.QueryRow(ctx, `SELECT reason FROM suppressions WHERE channel = $1 AND address = ANY($2) LIMIT 1`, m.Channel, s.addressForms(m.Channel, m.Recipient)).Scan(&in.Suppression)
			if err != nil && err != pgx.ErrNoRows {
				return err
			}
		}
		rows, err := tx.Query(ctx, `SELECT channel, policy_at FROM messages
			WHERE customer_id = $1 AND purpose = 'marketing' AND status IN ('sending', 'sent', 'unknown') AND contacts_customer
			  AND policy_at > $2::timestamptz - interval '60 days' AND idempotency_key <> $3`, m.CustomerID, policyAt, m.IdempotencyKey)
		if err != nil {
			return err
		}
		if in.Recent, err = pgx.CollectRows(rows, pgx.RowToStructByPos[RecentSend]); err != nil {
			return err
		}
		// The customer's marketing messages held back that go first when
		// a cap frees a slot: a higher priority, or the same and held
		// longer (created earlier), of runs still running (a run that
		// ended leaves no message to wait behind).
		if current.Purpose == "marketing" {
			rows, err = tx.Query(ctx, `SELECT channel, journey, step_id, priority FROM messages
				WHERE customer_id = $1 AND purpose = 'marketing' AND status = 'held' AND contacts_customer AND idempotency_key <> $2
				  AND (priority > $3 OR (priority = $3 AND (created_at, id) < ($4, $5::uuid)))
				  AND EXISTS (SELECT 1 FROM journey_runs r WHERE r.workflow_id = messages.workflow_id AND r.status = 'running')
				ORDER BY priority DESC, created_at, id LIMIT 100`, m.CustomerID, m.IdempotencyKey, current.Priority, current.CreatedAt, current.ID)
			if err != nil {
				return err
			}
			if in.Ahead, err = pgx.CollectRows(rows, pgx.RowToStructByPos[HeldMessage]); err != nil {
				return err
			}
		}
		verdict = gate(in)
		switch {
		case verdict.Allow:
			claim.Send = true
			claim.Message, err = scanMessage(tx.QueryRow(ctx, `
				UPDATE messages SET status = 'sending', attempts = attempts + 1, recipient = $2, subject = $3, details = $4,
					reason = '', policy_at = $5, claimed_at = coalesce($7, clock_timestamp()), updated_at = now(), body_digest = $6,
					contacts_customer = NOT $8
				WHERE idempotency_key = $1 RETURNING `+messageColumns, m.IdempotencyKey, m.Recipient, m.Subject, detailsOf(m), policyAt, m.BodyDigest, s.now(), m.NoContact))
		case verdict.Hold:
			claim.Message, err = scanMessage(tx.QueryRow(ctx, `
				UPDATE messages SET status = 'held', reason = $2, recipient = $3, policy_at = $4, updated_at = now()
				WHERE idempotency_key = $1 RETURNING `+messageColumns, m.IdempotencyKey, verdict.Reason, m.Recipient, policyAt))
			if err == nil {
				_, err = tx.Exec(ctx, `INSERT INTO message_holds (message_id, policy_at, held_until, reason) VALUES ($1, $2, $3, $4)`,
					claim.Message.ID, policyAt, verdict.Until, verdict.Reason)
			}
		default:
			claim.Message, err = scanMessage(tx.QueryRow(ctx, `
				UPDATE messages SET status = 'skipped', reason = $2, recipient = $3, policy_at = $4, claimed_at = coalesce($5, clock_timestamp()), updated_at = now()
				WHERE idempotency_key = $1 RETURNING `+messageColumns, m.IdempotencyKey, verdict.Reason, m.Recipient, policyAt, s.now()))
		}
		return err
	})
	if err != nil {
		return Claim{}, Gate{}, fmt.Errorf("outbox: claim %s: %w", m.IdempotencyKey, err)
	}
	return claim, verdict, nil
}

// JourneyEndedReason is why a message an attempt claims after its run
// ended is skipped.
const JourneyEndedReason = "the journey ended before it was sent"

// Outcome is the result of a provider call, for FinishSend.
type Outcome struct {
	Status            MessageStatus // sent, failed, or pending (retryable error: try again)
	Reason            string
	Provider          string
	ProviderMessageID string
}

// FinishSend records the outcome of the attempt BeginSend handed out. It
// only changes a row still in sending, so a late, superseded attempt cannot
// overwrite a newer outcome. An outcome in doubt (unknown) for a message a
// provider's webhook already reported on (it came before the answer) is
// recorded as sent: the report proves the provider took it.
func (s *Store) FinishSend(ctx context.Context, key string, o Outcome) (Message, error) {
	m, err := scanMessage(s.pool.QueryRow(ctx, `
		UPDATE messages SET
			status = CASE WHEN $2 = 'unknown' AND delivery_status <> '' THEN 'sent' ELSE $2 END,
			reason = CASE WHEN $2 = 'unknown' AND delivery_status <> '' THEN 'was in doubt; settled as sent by the provider''s delivery webhook (' || delivery_status || '), which came first' ELSE $3 END,
			provider = $4, provider_message_id = $5,
			sent_at = CASE WHEN $2 = 'sent' OR ($2 = 'unknown' AND delivery_status <> '') THEN now() END, updated_at = now()
		WHERE idempotency_key = $1 AND status IN ('sending', 'unknown')
		RETURNING `+messageColumns, key, o.Status, o.Reason, o.Provider, o.ProviderMessageID))
	if err != nil {
		return m, fmt.Errorf("outbox: finish send %s: %w", key, err)
	}
	return m, nil
}

// SkipSend records a message that is not attempted at all, with the reason.
// A row that already has an outcome keeps it; the row as it stands is
// returned.
func (s *Store) SkipSend(ctx context.Context, m Message, reason string) (Message, error) {
	return s.settleUnsent(ctx, m, MessageSkipped, reason)
}

// FailUnsent records a message that cannot be sent on its channel at all
// (an invalid number, a template that does not render), without calling
// the provider. Like SkipSend, it leaves a row that has an outcome alone.
func (s *Store) FailUnsent(ctx context.Context, m Message, reason string) (Message, error) {
	return s.settleUnsent(ctx, m, MessageFailed, reason)
}

func (s *Store) settleUnsent(ctx context.Context, m Message, status MessageStatus, reason string) (Message, error) {
	var out Message
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			INSERT INTO messages (idempotency_key, workflow_id, journey, step_id, customer_id, channel, template, purpose, topic, status, reason, recipient, details, attempts)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $13, $10, $11, $12, CASE WHEN $13 = 'failed' THEN 1 ELSE 0 END)
			ON CONFLICT (idempotency_key) DO UPDATE SET status = EXCLUDED.status, reason = EXCLUDED.reason,
				attempts = messages.attempts + EXCLUDED.attempts, updated_at = now()
				WHERE messages.status IN ('pending', 'held')`,
			m.IdempotencyKey, m.WorkflowID, m.Journey, m.StepID, m.CustomerID, m.Channel, m.Template, m.Purpose, m.Topic, reason, m.Recipient, detailsOf(m), status)
		if err != nil {
			return err
		}
		out, err = scanMessage(tx.QueryRow(ctx, `SELECT `+messageColumns+` FROM messages WHERE idempotency_key = $1`, m.IdempotencyKey))
		return err
	})
	if err != nil {
		return out, fmt.Errorf("outbox: %s %s: %w", status, m.IdempotencyKey, err)
	}
	return out, nil
}

// GetMessage returns an outbox row by its id, or ErrNotFound.
func (s *Store) GetMessage(ctx context.Context, id string) (Message, error) {
	m, err := scanMessage(s.pool.QueryRow(ctx, `SELECT `+messageColumns+` FROM messages WHERE id = rapport_uuid($1)`, id))
	if err != nil {
		return m, fmt.Errorf("get message %s: %w", id, err)
	}
	return m, nil
}

// MessagesFor lists a customer's messages, oldest first.
func (s *Store) MessagesFor(ctx context.Context, customerID string) ([]Message, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+messageColumns+` FROM messages WHERE customer_id = $1 ORDER BY created_at, id`, customerID)
	if err != nil {
		return nil, fmt.Errorf("messages for %s: %w", customerID, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Message, error) { return scanMessage(r) })
}

// MessagesOfWorkflow lists a journey run's messages, oldest first.
func (s *Store) MessagesOfWorkflow(ctx context.Context, workflowID string) ([]Message, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+messageColumns+` FROM messages WHERE workflow_id = $1 ORDER BY created_at, id`, workflowID)
	if err != nil {
		return nil, fmt.Errorf("messages of %s: %w", workflowID, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Message, error) { return scanMessage(r) })
}

func detailsOf(m Message) map[string]any {
	if m.Details == nil {
		return map[string]any{}
	}
	return m.Details
}

// SettleInDoubt turns an unknown message into sent on evidence that the
// provider took it (a delivery webhook about it, a lookup that found it),
// noting how in the reason; providerMessageID, when not empty, is the
// provider's id for it (a lookup learns it). It reports whether the row
// was unknown and is now sent; a row in any other state is left alone.
func (s *Store) SettleInDoubt(ctx context.Context, messageID, evidence, providerMessageID string) (Message, bool, error) {
	m, err := scanMessage(s.pool.QueryRow(ctx, `
		UPDATE messages SET status = 'sent', sent_at = coalesce(sent_at, now()), updated_at = now(),
			reason = 'was in doubt; settled as sent by ' || $2,
			provider_message_id = CASE WHEN $3 = '' THEN provider_message_id ELSE $3 END
		WHERE id = rapport_uuid($1) AND status = 'unknown'
		RETURNING `+messageColumns, messageID, evidence, providerMessageID))
	if errors.Is(err, ErrNotFound) {
		return Message{}, false, nil
	}
	if err != nil {
		return m, false, fmt.Errorf("outbox: settle %s: %w", messageID, err)
	}
	return m, true, nil
}

// ReopenInDoubt puts an unknown message back to pending, on evidence that
// the provider did not take it (a lookup that does not find it) or, for a
// channel whose owner prefers at-least-once, when the wait for evidence is
// over: the next claim sends it again. It reports whether the row was
// unknown; a row in any other state is left alone.
func (s *Store) ReopenInDoubt(ctx context.Context, messageID, evidence string) (Message, bool, error) {
	m, err := scanMessage(s.pool.QueryRow(ctx, `
		UPDATE messages SET status = 'pending', updated_at = now(), reason = 'was in doubt; sent again: ' || $2
		WHERE id = rapport_uuid($1) AND status = 'unknown'
		RETURNING `+messageColumns, messageID, evidence))
	if errors.Is(err, ErrNotFound) {
		return Message{}, false, nil
	}
	if err != nil {
		return m, false, fmt.Errorf("outbox: reopen %s: %w", messageID, err)
	}
	return m, true, nil
}

// NoteInDoubt keeps a message unknown and says why in its reason (the
// wait for evidence is over and its channel is at-most-once). It reports
// whether the row was still unknown.
func (s *Store) NoteInDoubt(ctx context.Context, messageID, reason string) (Message, bool, error) {
	m, err := scanMessage(s.pool.QueryRow(ctx, `
		UPDATE messages SET updated_at = now(), reason = $2
		WHERE id = rapport_uuid($1) AND status = 'unknown'
		RETURNING `+messageColumns, messageID, reason))
	if errors.Is(err, ErrNotFound) {
		return Message{}, false, nil
	}
	if err != nil {
		return m, false, fmt.Errorf("outbox: note %s: %w", messageID, err)
	}
	return m, true, nil
}

// LatestUnsent returns the latest limit messages that were not handed to
// a provider, or not yet (failed, skipped, held, pending, in doubt),
// newest first: the dev outbox shows them with their reasons.
func (s *Store) LatestUnsent(ctx context.Context, limit int) ([]Message, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+messageColumns+` FROM messages
		WHERE status IN ('failed', 'skipped', 'held', 'pending', 'unknown')
		ORDER BY updated_at DESC, id LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("latest unsent messages: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Message, error) { return scanMessage(r) })
}

// OpenSMS returns the latest text message sent to a customer at a number
// in the last week whose journey is still running: the message a reply
// from that number most likely answers. ok is false when there is none.
func (s *Store) OpenSMS(ctx context.Context, customerID, number string) (m Message, ok bool, err error) {
	m, err = scanMessage(s.pool.QueryRow(ctx, `SELECT `+prefixed("m.", messageColumns)+` FROM messages m
		JOIN journey_runs r ON r.workflow_id = m.workflow_id AND r.status = 'running'
		WHERE m.customer_id = $1 AND m.channel = 'sms' AND m.status = 'sent' AND m.recipient = $2
		  AND m.sent_at > now() - interval '7 days'
		ORDER BY m.sent_at DESC LIMIT 1`, customerID, number))
	if errors.Is(err, ErrNotFound) {
		return m, false, nil
	}
	if err != nil {
		return m, false, fmt.Errorf("open text messages of %s: %w", customerID, err)
	}
	return m, true, nil
}

// prefixed qualifies each column of a list with a table alias.
func prefixed(alias, columns string) string {
	parts := strings.Split(columns, ",")
	for i, p := range parts {
		parts[i] = alias + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// RecentMarketing lists a customer's marketing messages sent (or being
// sent) since a moment, at their policy time, as the contact rules count
// them.
func (s *Store) RecentMarketing(ctx context.Context, customerID string, since time.Time) ([]RecentSend, error) {
	rows, err := s.pool.Query(ctx, `SELECT channel, policy_at FROM messages
		WHERE customer_id = $1 AND purpose = 'marketing' AND status IN ('sending', 'sent', 'unknown') AND contacts_customer AND policy_at > $2`, customerID, since)
	if err != nil {
		return nil, fmt.Errorf("recent marketing of %s: %w", customerID, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[RecentSend])
	if err != nil {
		return nil, fmt.Errorf("recent marketing of %s: %w", customerID, err)
	}
	return out, nil
}
