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
	// Later counts the latest emails SendGrid accepted that were claimed
	// at least gap after it and at least slack before now (at most the
	// number asked for); Processed how many of those its webhook reported
	// processed.
	Later, Processed int
	// FailedSince says when the API last failed to take a post of the
	// webhook, if it did since the email in doubt was claimed: a post
	// SendGrid will make again, which may hold the report about it.
	FailedSince *time.Time
}

// Proves reports whether the evidence proves the email in doubt was not
// taken by SendGrid: SendGrid's webhook reported processed for each of
// the latest emails it accepted after it (so it reports what SendGrid
// takes, now), and the API has not failed to take one of its posts since
// the email was attempted unless that was more than retryWait ago (time
// for SendGrid's retries of that post).
func (e EmailEvidence) Proves(now time.Time, retryWait time.Duration) bool {
	if e.Later == 0 || e.Processed < e.Later {
		return false
	}
	return e.FailedSince == nil || now.Sub(*e.FailedSince) > retryWait
}

// EmailWebhookEvidence reads what the event webhook says about the emails
// claimed after the email in doubt with id: the latest n that SendGrid
// accepted among those claimed more than gap after it and more than
// slack ago, how many of them it reported processed, and whether the API
// failed to take a post of the webhook since. Only processed reports
// count: SendGrid sends one as soon as it takes an email, so a webhook
// that reports processed for the emails after one, and nothing on it,
// says SendGrid did not take it (a webhook without processed events,
// whose reports may come hours later, proves nothing).
func (s *Store) EmailWebhookEvidence(ctx context.Context, id string, gap, slack time.Duration, n int) (EmailEvidence, error) {
	var e EmailEvidence
	var age float64
	err := s.pool.QueryRow(ctx, `
		WITH m AS (SELECT claimed_at FROM messages WHERE id = rapport_uuid($1) AND claimed_at IS NOT NULL),
			clock AS (SELECT coalesce($2::timestamptz, now()) AS now),
			later AS (
				SELECT e.processed_at FROM messages e, m, clock
				WHERE e.channel = 'email' AND e.status = 'sent'
				  AND e.claimed_at > m.claimed_at + $3::bigint * interval '1 microsecond'
				  AND e.claimed_at <= clock.now - $4::bigint * interval '1 microsecond'
				ORDER BY e.claimed_at DESC LIMIT $5)
		SELECT extract(epoch FROM clock.now - m.claimed_at)::float8, (SELECT count(*) FROM later), (SELECT count(processed_at) FROM later),
			(SELECT last_failed_at FROM webhook_failures WHERE provider = 'sendgrid' AND last_failed_at >= m.claimed_at - interval '1 minute')
		FROM m, clock`, id, s.now(), gap.Microseconds(), slack.Microseconds(), n).Scan(&age, &e.Later, &e.Processed, &e.FailedSince)
	if err != nil {
		return e, fmt.Errorf("outbox: webhook evidence for %s: %w", id, err)
	}
	e.Age = time.Duration(age * float64(time.Second))
	return e, nil
}

// RecordWebhookFailure notes that the API failed to take a post of a
// provider's webhook at at (it answered other than 2xx after the
// signature verified): the provider will post it again.
func (s *Store) RecordWebhookFailure(ctx context.Context, provider string, at time.Time) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO webhook_failures (provider, last_failed_at) VALUES ($1, $2)
		ON CONFLICT (provider) DO UPDATE SET last_failed_at = greatest(webhook_failures.last_failed_at, excluded.last_failed_at)`, provider, at)
	if err != nil {
		return fmt.Errorf("record %s webhook failure: %w", provider, err)
	}
	return nil
}

// TransactionalEmailsAwaitingResend counts the transactional emails, of
// runs that have not ended, that wait to go again after a provider
// outage: in doubt (claimed within the last within), or proven unsent and
// pending again since less than ten minutes (a row pending longer is not
// about to go: a provider throttling, a run gone elsewhere). Marketing
// emails proven unsent wait for them.
func (s *Store) TransactionalEmailsAwaitingResend(ctx context.Context, within time.Duration) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `
		SELECT count(*) FROM messages m
		WHERE m.channel = 'email' AND m.purpose = 'transactional' AND m.status IN ('unknown', 'pending')
		  AND ((m.status = 'unknown' AND m.claimed_at > coalesce($1::timestamptz, now()) - $2::bigint * interval '1 microsecond')
		    OR (m.status = 'pending' AND m.attempts > 0 AND m.updated_at > now() - interval '10 minutes'))
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
	// LastReport is when the webhook last reported on one of them (nil:
	// never).
	LastReport *time.Time
}

// EmailWebhookHealth reads how SendGrid's webhook has reported on the
// emails accepted in the last period (leaving out the last five minutes,
// whose reports may still be on their way).
func (s *Store) EmailWebhookHealth(ctx context.Context, period time.Duration) (WebhookHealth, error) {
	var h WebhookHealth
	err := s.pool.QueryRow(ctx, `
		SELECT count(*), count(reported_at), max(reported_at)
		FROM messages
		WHERE channel = 'email' AND status = 'sent'
		  AND claimed_at > coalesce($1::timestamptz, now()) - $2::bigint * interval '1 microsecond'
		  AND claimed_at <= coalesce($1::timestamptz, now()) - interval '5 minutes'`,
		s.now(), period.Microseconds()).Scan(&h.Sent, &h.Reported, &h.LastReport)
	if err != nil {
		return h, fmt.Errorf("outbox: email webhook health: %w", err)
	}
	return h, nil
}
