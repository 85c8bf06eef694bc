package journey

import "time"

// Engagement is what the providers reported back about a customer's
// messages, as conditions and audiences read it:
// customer.engagement.email.days_since_engaged >= 180. It is kept from the
// providers' webhooks (SendGrid, Twilio, Lob), whatever journey sent the
// message.
//
// A moment that never happened is Go's zero time, which conditions read
// as the Unix epoch (timestamp("1970-01-01T00:00:00Z")), and its
// days_since_* field is -1, as days_since_last_order is for a customer
// without orders. A days_since_*
// field counts whole days from the moment to now, truncated toward zero.
// A count named *_30d counts the events of the last EngagementWindowDays
// UTC days, today's included (see EngagementWindow).
type Engagement struct {
	Email EmailEngagement `json:"email,omitzero"`
	SMS   SMSEngagement   `json:"sms,omitzero"`
	Mail  MailEngagement  `json:"mail,omitzero"`
}

// EmailEngagement is what SendGrid's event webhook reported about the
// customer's emails. Opens are a person's: an open SendGrid flags as a
// machine's (sg_machine_open: Apple Mail Privacy Protection fetching the
// images of every email) is counted apart and is no engagement.
type EmailEngagement struct {
	// FirstSentAt is when SendGrid first took an email for them
	// (processed, or delivered).
	FirstSentAt        time.Time `json:"first_sent_at,omitzero"`
	DaysSinceFirstSent int64     `json:"days_since_first_sent"`
	LastDeliveredAt    time.Time `json:"last_delivered_at,omitzero"`
	DaysSinceDelivered int64     `json:"days_since_delivered"`
	// LastOpenAt is their latest open, a machine's left out.
	LastOpenAt     time.Time `json:"last_open_at,omitzero"`
	DaysSinceOpen  int64     `json:"days_since_open"`
	LastClickAt    time.Time `json:"last_click_at,omitzero"`
	DaysSinceClick int64     `json:"days_since_click"`
	// LastEngagedAt is the later of LastOpenAt and LastClickAt: when they
	// last showed they read our email.
	LastEngagedAt     time.Time `json:"last_engaged_at,omitzero"`
	DaysSinceEngaged  int64     `json:"days_since_engaged"`
	LastMachineOpenAt time.Time `json:"last_machine_open_at,omitzero"`
	// LastBounceAt and Bounces are hard bounces (a blocked email is not
	// one).
	LastBounceAt     time.Time `json:"last_bounce_at,omitzero"`
	Bounces          int64     `json:"bounces"`
	LastSpamReportAt time.Time `json:"last_spam_report_at,omitzero"`
	SpamReports      int64     `json:"spam_reports"`
	Opens30d         int64     `json:"opens_30d"`
	Clicks30d        int64     `json:"clicks_30d"`
	MachineOpens30d  int64     `json:"machine_opens_30d"`
}

// SMSEngagement is what Twilio reported about the customer's texts:
// deliveries (status callbacks) and replies (any text from their number
// but STOP, START and their synonyms).
type SMSEngagement struct {
	LastDeliveredAt    time.Time `json:"last_delivered_at,omitzero"`
	DaysSinceDelivered int64     `json:"days_since_delivered"`
	LastReplyAt        time.Time `json:"last_reply_at,omitzero"`
	DaysSinceReply     int64     `json:"days_since_reply"`
	Replies30d         int64     `json:"replies_30d"`
}

// MailEngagement is what Lob reported about the customer's letters and
// postcards.
type MailEngagement struct {
	LastDeliveredAt    time.Time `json:"last_delivered_at,omitzero"`
	DaysSinceDelivered int64     `json:"days_since_delivered"`
	LastReturnedAt     time.Time `json:"last_returned_at,omitzero"`
	Returns            int64     `json:"returns"`
}

// EngagementWindowDays is the span of the rolling counts (opens_30d...).
const EngagementWindowDays = 30

// EngagementWindow returns the first and the last UTC day (each at
// midnight UTC) the rolling counts include at now: the
// EngagementWindowDays days ending with now's UTC date. An event counts
// by the UTC date it happened on.
func EngagementWindow(now time.Time) (first, last time.Time) {
	u := now.UTC()
	last = time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, time.UTC)
	return last.AddDate(0, 0, -(EngagementWindowDays - 1)), last
}

// DaysSince is a days_since_* fact: the whole days from t to now,
// truncated toward zero, or -1 when t is the zero time (never).
func DaysSince(t, now time.Time) int64 {
	if t.IsZero() {
		return -1
	}
	return int64(now.Sub(t) / (24 * time.Hour))
}

// SetDays fills the days_since_* fields from the timestamps, at now, and
// LastEngagedAt from the latest open and click.
func (e *Engagement) SetDays(now time.Time) {
	m := &e.Email
	m.LastEngagedAt = m.LastOpenAt
	if m.LastClickAt.After(m.LastEngagedAt) {
		m.LastEngagedAt = m.LastClickAt
	}
	m.DaysSinceFirstSent = DaysSince(m.FirstSentAt, now)
	m.DaysSinceDelivered = DaysSince(m.LastDeliveredAt, now)
	m.DaysSinceOpen = DaysSince(m.LastOpenAt, now)
	m.DaysSinceClick = DaysSince(m.LastClickAt, now)
	m.DaysSinceEngaged = DaysSince(m.LastEngagedAt, now)
	e.SMS.DaysSinceDelivered = DaysSince(e.SMS.LastDeliveredAt, now)
	e.SMS.DaysSinceReply = DaysSince(e.SMS.LastReplyAt, now)
	e.Mail.DaysSinceDelivered = DaysSince(e.Mail.LastDeliveredAt, now)
}

// NoEngagement is the engagement of a customer the providers reported
// nothing about: no moments (days_since_* -1) and no counts.
func NoEngagement() Engagement {
	var e Engagement
	e.SetDays(time.Time{})
	return e
}
