package store

import (
	"context"
	"fmt"
	"time"
)

// EmailEvidence is what SendGrid's event webhook says about the emails
// claimed after one whose send is in doubt.
type EmailEvidence struct {
	// Age is how long ago the email in doubt was claimed (attempted).
	Age time.Duration
	// Later counts the first emails claimed after it (at least gap after,
	// and at least slack before now) that SendGrid accepted; Reported how
	// many of those its event webhook has reported on (processed,
	// delivered, deferred, bounced...).
	Later, Reported int
}

// EmailWebhookEvidence reads what the event webhook says about the emails
// claimed after the email in doubt with id: the first n that SendGrid
// accepted among those claimed more than gap after it and more than
// slack ago. When every one of them was reported and it was not, the
// webhook, demonstrably delivering reports for what SendGrid takes, has
// reported nothing on it: SendGrid did not take it.
func (s *Store) EmailWebhookEvidence(ctx context.Context, id string, gap, slack time.Duration, n int) (EmailEvidence, error) {
	var e EmailEvidence
	var age float64
	err := s.pool.QueryRow(ctx, `
		WITH m AS (SELECT claimed_at FROM messages WHERE id::text = $1 AND claimed_at IS NOT NULL),
			clock AS (SELECT coalesce($2::timestamptz, now()) AS now),
			later AS (
				SELECT e.reported_at FROM messages e, m, clock
				WHERE e.channel = 'email' AND e.status = 'sent'
				  AND e.claimed_at > m.claimed_at + $3::bigint * interval '1 microsecond'
				  AND e.claimed_at <= clock.now - $4::bigint * interval '1 microsecond'
				ORDER BY e.claimed_at LIMIT $5)
		SELECT extract(epoch FROM clock.now - m.claimed_at)::float8, (SELECT count(*) FROM later), (SELECT count(reported_at) FROM later)
		FROM m, clock`, id, s.now(), gap.Microseconds(), slack.Microseconds(), n).Scan(&age, &e.Later, &e.Reported)
	if err != nil {
		return e, fmt.Errorf("outbox: webhook evidence for %s: %w", id, err)
	}
	e.Age = time.Duration(age * float64(time.Second))
	return e, nil
}

// TransactionalEmailsAwaitingResend counts the transactional emails, of
// runs that have not ended, that wait to go again after a provider
// outage: in doubt (claimed within the last within), or proven unsent
// and pending again. Marketing emails proven unsent wait for them.
func (s *Store) TransactionalEmailsAwaitingResend(ctx context.Context, within time.Duration) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `
		SELECT count(*) FROM messages m
		WHERE m.channel = 'email' AND m.purpose = 'transactional' AND m.status IN ('unknown', 'pending')
		  AND (m.status = 'unknown' OR m.attempts > 0)
		  AND m.claimed_at > coalesce($1::timestamptz, now()) - $2::bigint * interval '1 microsecond'
		  AND NOT EXISTS (SELECT 1 FROM journey_runs r WHERE r.workflow_id = m.workflow_id AND r.status <> 'running')`,
		s.now(), within.Microseconds()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("outbox: transactional emails awaiting resend: %w", err)
	}
	return n, nil
}

// WebhookHealth is what the outbox says about a provider's webhook over
// a recent period.
type WebhookHealth struct {
	// Sent counts the channel's messages the provider accepted in the
	// period, claimed more than a few minutes ago; Reported how many of
	// them its webhook reported on.
	Sent, Reported int
	// LastReport is when the webhook last reported on any of the
	// channel's messages (nil: never).
	LastReport *time.Time
}

// ChannelWebhookHealth reads how the webhook of channel's provider has
// reported on the messages accepted in the last period (leaving out the
// last five minutes, whose reports may still be on their way).
func (s *Store) ChannelWebhookHealth(ctx context.Context, channel string, period time.Duration) (WebhookHealth, error) {
	var h WebhookHealth
	err := s.pool.QueryRow(ctx, `
		SELECT count(*), count(reported_at),
			(SELECT max(reported_at) FROM messages WHERE channel = $1 AND reported_at IS NOT NULL
			   AND claimed_at > coalesce($2::timestamptz, now()) - $3::bigint * interval '1 microsecond')
		FROM messages
		WHERE channel = $1 AND status = 'sent'
		  AND claimed_at > coalesce($2::timestamptz, now()) - $3::bigint * interval '1 microsecond'
		  AND claimed_at <= coalesce($2::timestamptz, now()) - interval '5 minutes'`,
		channel, s.now(), period.Microseconds()).Scan(&h.Sent, &h.Reported, &h.LastReport)
	if err != nil {
		return h, fmt.Errorf("outbox: %s webhook health: %w", channel, err)
	}
	return h, nil
}
