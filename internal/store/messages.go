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
