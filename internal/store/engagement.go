package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rapporthq/rapport/internal/journey"
)

// EngagementKind is a kind of provider event that changes a customer's
// engagement (journey.Engagement).
type EngagementKind string

// The kinds of engagement event.
const (
	EmailSent        EngagementKind = "email.sent"         // SendGrid processed or delivered it
	EmailDelivered   EngagementKind = "email.delivered"    // SendGrid delivered
	EmailOpened      EngagementKind = "email.opened"       // a person's open
	EmailMachineOpen EngagementKind = "email.machine_open" // an open SendGrid flags sg_machine_open
	EmailClicked     EngagementKind = "email.clicked"
	EmailBounced     EngagementKind = "email.bounced" // a hard bounce
	EmailSpamReport  EngagementKind = "email.spam_report"
	SMSDelivered     EngagementKind = "sms.delivered"
	SMSReplied       EngagementKind = "sms.replied"
	MailDelivered    EngagementKind = "mail.delivered"
	MailReturned     EngagementKind = "mail.returned"
)

// Engaged is one provider event about a customer's engagement, applied by
// RecordWebhook with the webhook event that reported it.
type Engaged struct {
	Kind EngagementKind
	// CustomerID is the customer; when empty, the customer the outbox
	// message MessageID went to (nothing when there is no such message,
	// or no such customer any more).
	CustomerID string
	MessageID  string
	// At is when it happened; the zero time is now (the store's clock).
	// A time after now counts as now.
	At time.Time
}

// engagementColumns says what each kind changes in customer_engagement
// (latest moment, earliest moment, a count) and in
// customer_engagement_days (a count for the day). The names are these
// constants, never input.
var engagementColumns = map[EngagementKind]struct{ last, first, count, day string }{
	EmailSent:        {first: "email_first_sent_at"},
	EmailDelivered:   {last: "email_last_delivered_at", first: "email_first_sent_at"},
	EmailOpened:      {last: "email_last_open_at", day: "email_opens"},
	EmailMachineOpen: {last: "email_last_machine_open_at", day: "email_machine_opens"},
	EmailClicked:     {last: "email_last_click_at", day: "email_clicks"},
	EmailBounced:     {last: "email_last_bounce_at", count: "email_bounces"},
	EmailSpamReport:  {last: "email_last_spam_report_at", count: "email_spam_reports"},
	SMSDelivered:     {last: "sms_last_delivered_at"},
	SMSReplied:       {last: "sms_last_reply_at", day: "sms_replies"},
	MailDelivered:    {last: "mail_last_delivered_at"},
	MailReturned:     {last: "mail_last_returned_at", count: "mail_returns"},
}

// recordWebhookTx notes a webhook event as processed and, when this call
// is the one that notes it, applies its engagement events: in one
// transaction, so an event delivered twice (or by two posts at once:
// the second waits on the first's row) counts once, and a failure leaves
// neither.
func (s *Store) recordWebhookTx(ctx context.Context, provider, eventID string, engaged []Engaged) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO webhook_events (provider, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, provider, eventID)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		for _, e := range engaged {
			if err := s.applyEngaged(ctx, tx, e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("webhook event %s/%s: %w", provider, eventID, err)
	}
	return nil
}

// applyEngaged adds one engagement event to the customer's facts, and to
// the day's counts when it is counted and within the window; it deletes
// the customer's days outside the window.
func (s *Store) applyEngaged(ctx context.Context, tx pgx.Tx, e Engaged) error {
	cols, ok := engagementColumns[e.Kind]
	if !ok {
		return fmt.Errorf("engagement: unknown kind %q", e.Kind)
	}
	customerID := e.CustomerID
	if customerID == "" {
		if e.MessageID == "" {
			return nil
		}
		err := tx.QueryRow(ctx, `SELECT customer_id FROM messages WHERE id = rapport_uuid($1)`, e.MessageID).Scan(&customerID)
		if err == pgx.ErrNoRows {
			return nil // not a message of ours
		}
		if err != nil {
			return fmt.Errorf("engagement: message %s: %w", e.MessageID, err)
		}
	}
	var at *time.Time
	if !e.At.IsZero() {
		at = &e.At
	}
	// $2 is when it happened: the given time, never after now.
	const when = `LEAST(coalesce($2::timestamptz, $3::timestamptz, now()), coalesce($3::timestamptz, now()))`
	insertCols, values, sets := "customer_id", "c.id", "updated_at = now()"
	if cols.last != "" {
		insertCols += ", " + cols.last
		values += ", " + when
		sets += fmt.Sprintf(", %[1]s = GREATEST(e.%[1]s, EXCLUDED.%[1]s)", cols.last)
	}
	if cols.first != "" {
		insertCols += ", " + cols.first
		values += ", " + when
		sets += fmt.Sprintf(", %[1]s = LEAST(e.%[1]s, EXCLUDED.%[1]s)", cols.first)
	}
	if cols.count != "" {
		insertCols += ", " + cols.count
		values += ", 1"
		sets += fmt.Sprintf(", %[1]s = e.%[1]s + 1", cols.count)
	}
	// A customer erased since (or never known) gets no row.
	tag, err := tx.Exec(ctx, `INSERT INTO customer_engagement AS e (`+insertCols+`)
		SELECT `+values+` FROM customers c WHERE c.id = $1
		ON CONFLICT (customer_id) DO UPDATE SET `+sets, customerID, at, s.now())
	if err != nil {
		return fmt.Errorf("engagement of %s: %w", customerID, err)
	}
	if tag.RowsAffected() == 0 || cols.day == "" {
		return nil
	}
	// Days are UTC dates; the window is the EngagementWindowDays days
	// ending with today's.
	const today = `(coalesce($3::timestamptz, now()) AT TIME ZONE 'UTC')::date`
	if _, err := tx.Exec(ctx, `DELETE FROM customer_engagement_days WHERE customer_id = $1 AND day <= `+today+` - $2::int`,
		customerID, journey.EngagementWindowDays, s.now()); err != nil {
		return fmt.Errorf("engagement days of %s: %w", customerID, err)
	}
	_, err = tx.Exec(ctx, `INSERT INTO customer_engagement_days AS d (customer_id, day, `+cols.day+`)
		SELECT $1::text, (`+when+` AT TIME ZONE 'UTC')::date, 1
		WHERE (`+when+` AT TIME ZONE 'UTC')::date > `+today+` - $4::int
		ON CONFLICT (customer_id, day) DO UPDATE SET `+cols.day+` = d.`+cols.day+` + 1`,
		customerID, at, s.now(), journey.EngagementWindowDays)
	if err != nil {
		return fmt.Errorf("engagement days of %s: %w", customerID, err)
	}
	return nil
}

// engagementFacts reads the engagement of the customers ids at now (see
// journey.Engagement): customers without any get journey.NoEngagement.
func engagementFacts(ctx context.Context, q querier, ids []string, now time.Time) (map[string]journey.Engagement, error) {
	first, last := journey.EngagementWindow(now)
	rows, err := q.Query(ctx, `
		SELECT e.customer_id, e.email_first_sent_at, e.email_last_delivered_at, e.email_last_open_at, e.email_last_click_at,
			e.email_last_machine_open_at, e.email_last_bounce_at, e.email_bounces, e.email_last_spam_report_at, e.email_spam_reports,
			e.sms_last_delivered_at, e.sms_last_reply_at, e.mail_last_delivered_at, e.mail_last_returned_at, e.mail_returns,
			coalesce(w.opens, 0), coalesce(w.clicks, 0), coalesce(w.machine_opens, 0), coalesce(w.replies, 0)
		FROM customer_engagement e
		LEFT JOIN LATERAL (
			SELECT sum(d.email_opens) AS opens, sum(d.email_clicks) AS clicks, sum(d.email_machine_opens) AS machine_opens,
				sum(d.sms_replies) AS replies
			FROM customer_engagement_days d WHERE d.customer_id = e.customer_id AND d.day BETWEEN $2::date AND $3::date) w ON true
		WHERE e.customer_id = ANY($1)`, ids, first, last)
	if err != nil {
		return nil, fmt.Errorf("engagement of %d customers: %w", len(ids), err)
	}
	out := make(map[string]journey.Engagement, len(ids))
	var (
		id                                             string
		g                                              journey.Engagement
		sent, delivered, open, click, machine, bounce  *time.Time
		spam, smsDelivered, reply, mailDelivered, back *time.Time
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &sent, &delivered, &open, &click, &machine, &bounce, &g.Email.Bounces, &spam, &g.Email.SpamReports,
		&smsDelivered, &reply, &mailDelivered, &back, &g.Mail.Returns,
		&g.Email.Opens30d, &g.Email.Clicks30d, &g.Email.MachineOpens30d, &g.SMS.Replies30d}, func() error {
		m := &g.Email
		m.FirstSentAt, m.LastDeliveredAt, m.LastOpenAt, m.LastClickAt = moment(sent), moment(delivered), moment(open), moment(click)
		m.LastMachineOpenAt, m.LastBounceAt, m.LastSpamReportAt = moment(machine), moment(bounce), moment(spam)
		g.SMS.LastDeliveredAt, g.SMS.LastReplyAt = moment(smsDelivered), moment(reply)
		g.Mail.LastDeliveredAt, g.Mail.LastReturnedAt = moment(mailDelivered), moment(back)
		g.SetDays(now)
		out[id] = g
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("engagement of %d customers: %w", len(ids), err)
	}
	for _, id := range ids {
		if _, ok := out[id]; !ok {
			out[id] = journey.NoEngagement()
		}
	}
	return out, nil
}

// moment is a nullable timestamp as a fact: the zero time for NULL, else
// in UTC.
func moment(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}
