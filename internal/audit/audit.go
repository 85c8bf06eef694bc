// Package audit checks the outbox against each customer's preference
// history: for every message that went (or may have gone) to a customer, it
// replays what stood when the message was claimed (consent, topics,
// suppressions and settings, all kept as history) and reports any send
// that broke consent, opt-in, topic, suppression, quiet hours or frequency
// caps, and any message held back or skipped without a reason.
//
// It is written apart from package policy on purpose, reading the raw
// history tables itself, so that a mistake in the decision is not repeated
// in its check.
package audit

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rapporthq/rapport/internal/journey"
	"github.com/rapporthq/rapport/internal/policy"
	"github.com/rapporthq/rapport/internal/store"
)

// Rule names what a violation broke.
type Rule string

// The rules checked.
const (
	Consent     Rule = "consent"     // sent to a channel the customer opted out of
	OptIn       Rule = "opt-in"      // marketing without the explicit opt-in the channel needs
	Topic       Rule = "topic"       // marketing on a topic the customer left
	Suppression Rule = "suppression" // sent to a suppressed address
	QuietHours  Rule = "quiet-hours" // sent inside the customer's quiet hours
	Cap         Rule = "frequency"   // more marketing in a window than a cap allows
	Reason      Rule = "reason"      // held back or skipped with no reason recorded
	Decision    Rule = "no-decision" // contacted with no contact decision on record
)

// Violation is one message that broke a rule.
type Violation struct {
	MessageID  string    `json:"message_id"`
	CustomerID string    `json:"customer_id"`
	WorkflowID string    `json:"workflow_id"`
	Step       string    `json:"step"`
	Channel    string    `json:"channel"`
	Status     string    `json:"status"`
	Rule       Rule      `json:"rule"`
	Detail     string    `json:"detail"`
	ClaimedAt  time.Time `json:"claimed_at,omitzero"`
	PolicyAt   time.Time `json:"policy_at,omitzero"`
}

func (v Violation) String() string {
	return fmt.Sprintf("%s %s %s/%s (%s, %s): %s: %s", v.MessageID, v.CustomerID, v.WorkflowID, v.Step, v.Channel, v.Status, v.Rule, v.Detail)
}

// Report is what a check found.
type Report struct {
	Customers int            `json:"customers"`
	Messages  int            `json:"messages"`
	ByStatus  map[string]int `json:"by_status"`
	Holds     int            `json:"holds"`
	// Legacy counts messages sent before Rapport recorded contact
	// decisions (schema version 3): there is nothing to check them by.
	Legacy int `json:"legacy"`
	// ContentRemoved counts messages whose recipient retention removed
	// (RAPPORT_RETENTION_MESSAGES): their suppression check cannot be
	// made; every other check is.
	ContentRemoved int `json:"content_removed"`
	// NoContact counts webhooks to endpoints that do not contact the
	// customer (contacts_customer false): the contact rules do not apply
	// to them, so they are not checked, and no cap counts them.
	NoContact  int         `json:"no_contact"`
	Violations []Violation `json:"violations"`
}

// Options limit a check.
type Options struct {
	// Since checks messages created at or after it (zero: all).
	Since time.Time
	// CustomerIDs checks only these customers (empty: all).
	CustomerIDs []string
	// Batch is how many customers are read at once (default 500).
	Batch int
}

// Check audits the outbox under the shop's rules (defaults for quiet
// hours, caps, opt-in and time zone, as the workers run with). It reads
// through db, a read-only transaction of the store's (store.ReadOnly), so
// an audit can change nothing.
func Check(ctx context.Context, db store.Querier, rules policy.Rules, opts Options) (Report, error) {
	rep := Report{ByStatus: map[string]int{}, Violations: []Violation{}}
	ids := opts.CustomerIDs
	if len(ids) == 0 {
		rows, err := db.Query(ctx, `SELECT DISTINCT customer_id FROM messages WHERE created_at >= $1 ORDER BY customer_id`, opts.Since)
		if err != nil {
			return rep, fmt.Errorf("audit: customers: %w", err)
		}
		if ids, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return rep, fmt.Errorf("audit: customers: %w", err)
		}
	}
	batch := opts.Batch
	if batch <= 0 {
		batch = 500
	}
	// When contact decisions began to be recorded (the migration that
	// added them); a database without the migration table has no legacy.
	// (Asked first: a failed query would end the transaction.)
	var epoch *time.Time
	var migrated bool
	if err := db.QueryRow(ctx, `SELECT to_regclass('goose_db_version') IS NOT NULL`).Scan(&migrated); err != nil {
		return rep, fmt.Errorf("audit: migrations: %w", err)
	}
	if migrated {
		if err := db.QueryRow(ctx, `SELECT min(tstamp)::timestamptz FROM goose_db_version WHERE version_id = 3 AND is_applied`).Scan(&epoch); err != nil {
			return rep, fmt.Errorf("audit: migrations: %w", err)
		}
	}
	for chunk := range slices.Chunk(ids, batch) {
		h, err := load(ctx, db, chunk, opts.Since)
		if err != nil {
			return rep, err
		}
		h.epoch = epoch
		for _, id := range chunk {
			rep.Customers++
			h.check(rules, id, &rep)
		}
	}
	return rep, nil
}

// message is an outbox row as the audit reads it.
type message struct {
	ID, CustomerID, WorkflowID, Step, Channel, Purpose, Topic, Status, Reason, Recipient string
	PolicyAt, ClaimedAt                                                                  *time.Time
	CreatedAt                                                                            time.Time
	Holds, HoldsWithoutReason                                                            int
	// ContentRemoved: retention removed the recipient, subject and details.
	ContentRemoved bool
	// Contacts is false for a webhook that does not reach the customer.
	Contacts bool
}

type consentEvent struct {
	Channel, State, Source string
	At                     time.Time
}

type topicEvent struct {
	Topic      string
	Subscribed bool
	At         time.Time
}

type suppressionEvent struct {
	Channel, Address, Action, Reason string
	At                               time.Time
}

type settingsEvent struct {
	Quiet map[string]struct{ Start, End string }
	Caps  []struct {
		Channel string
		Max     int
		Per     string
	}
	CapsSet bool
	At      time.Time
}

type customer struct{ TimeZone, Country string }

// history is what the audit read for a batch of customers.
type history struct {
	messages     map[string][]message
	consent      map[string][]consentEvent
	topics       map[string][]topicEvent
	settings     map[string][]settingsEvent
	customers    map[string]customer
	suppressions map[string][]suppressionEvent // by channel + " " + address
	epoch        *time.Time
}

func load(ctx context.Context, db store.Querier, ids []string, since time.Time) (*history, error) {
	h := &history{messages: map[string][]message{}, consent: map[string][]consentEvent{}, topics: map[string][]topicEvent{},
		settings: map[string][]settingsEvent{}, customers: map[string]customer{}, suppressions: map[string][]suppressionEvent{}}
	rows, err := db.Query(ctx, `
		SELECT m.id::text, m.customer_id, m.workflow_id, m.step_id, m.channel, m.purpose, m.topic, m.status, m.reason, m.recipient,
			m.policy_at, m.claimed_at, m.created_at,
			(SELECT count(*) FROM message_holds h WHERE h.message_id = m.id),
			(SELECT count(*) FROM message_holds h WHERE h.message_id = m.id AND trim(h.reason) = ''),
			m.content_removed_at IS NOT NULL, m.contacts_customer
		FROM messages m WHERE m.customer_id = ANY($1) AND m.created_at >= $2 ORDER BY m.customer_id, m.policy_at NULLS FIRST, m.id`, ids, since)
	if err != nil {
		return nil, fmt.Errorf("audit: messages: %w", err)
	}
	var addresses []string
	var m message
	_, err = pgx.ForEachRow(rows, []any{&m.ID, &m.CustomerID, &m.WorkflowID, &m.Step, &m.Channel, &m.Purpose, &m.Topic, &m.Status, &m.Reason, &m.Recipient,
		&m.PolicyAt, &m.ClaimedAt, &m.CreatedAt, &m.Holds, &m.HoldsWithoutReason, &m.ContentRemoved, &m.Contacts}, func() error {
		h.messages[m.CustomerID] = append(h.messages[m.CustomerID], m)
		if m.Recipient != "" {
			addresses = append(addresses, addressKey(m.Channel, m.Recipient))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("audit: messages: %w", err)
	}

	rows, err = db.Query(ctx, `SELECT customer_id, channel, state, source, recorded_at FROM consent_events WHERE customer_id = ANY($1) ORDER BY id`, ids)
	if err != nil {
		return nil, fmt.Errorf("audit: consent: %w", err)
	}
	var id string
	var c consentEvent
	if _, err = pgx.ForEachRow(rows, []any{&id, &c.Channel, &c.State, &c.Source, &c.At}, func() error {
		h.consent[id] = append(h.consent[id], c)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("audit: consent: %w", err)
	}

	rows, err = db.Query(ctx, `SELECT customer_id, topic, subscribed, recorded_at FROM topic_events WHERE customer_id = ANY($1) ORDER BY id`, ids)
	if err != nil {
		return nil, fmt.Errorf("audit: topics: %w", err)
	}
	var t topicEvent
	if _, err = pgx.ForEachRow(rows, []any{&id, &t.Topic, &t.Subscribed, &t.At}, func() error {
		h.topics[id] = append(h.topics[id], t)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("audit: topics: %w", err)
	}

	rows, err = db.Query(ctx, `SELECT customer_id, quiet_hours, frequency, frequency IS NOT NULL AND frequency <> 'null'::jsonb, recorded_at
		FROM settings_events WHERE customer_id = ANY($1) ORDER BY id`, ids)
	if err != nil {
		return nil, fmt.Errorf("audit: settings: %w", err)
	}
	for rows.Next() {
		var s settingsEvent
		if err := rows.Scan(&id, &s.Quiet, &s.Caps, &s.CapsSet, &s.At); err != nil {
			rows.Close()
			return nil, fmt.Errorf("audit: settings: %w", err)
		}
		h.settings[id] = append(h.settings[id], s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit: settings: %w", err)
	}

	rows, err = db.Query(ctx, `SELECT id, time_zone, country FROM customers WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("audit: customers: %w", err)
	}
	var cu customer
	if _, err = pgx.ForEachRow(rows, []any{&id, &cu.TimeZone, &cu.Country}, func() error {
		h.customers[id] = cu
		return nil
	}); err != nil {
		return nil, fmt.Errorf("audit: customers: %w", err)
	}

	rows, err = db.Query(ctx, `SELECT channel, address, action, reason, recorded_at FROM suppression_events
		WHERE channel || ' ' || CASE WHEN channel = 'email' THEN lower(address) ELSE address END = ANY($1) ORDER BY id`, addresses)
	if err != nil {
		return nil, fmt.Errorf("audit: suppressions: %w", err)
	}
	var s suppressionEvent
	if _, err = pgx.ForEachRow(rows, []any{&s.Channel, &s.Address, &s.Action, &s.Reason, &s.At}, func() error {
		key := addressKey(s.Channel, s.Address)
		h.suppressions[key] = append(h.suppressions[key], s)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("audit: suppressions: %w", err)
	}
	return h, nil
}

// addressKey names an address on a channel; email addresses compare
// without regard to case.
func addressKey(channel, address string) string {
	address = strings.TrimSpace(address)
	if channel == "email" {
		address = strings.ToLower(address)
	}
	return channel + " " + address
}

// contacted says whether a message went, or may have gone, to the
// customer: what caps count.
func contacted(status string) bool {
	return status == "sending" || status == "sent" || status == "unknown"
}

func (h *history) check(rules policy.Rules, customerID string, rep *Report) {
	msgs := h.messages[customerID]
	cu := h.customers[customerID]
	loc, _ := policy.ResolveZone(cu.TimeZone, cu.Country, rules.DefaultZone)
	for _, m := range msgs {
		rep.Messages++
		rep.ByStatus[m.Status]++
		rep.Holds += m.Holds
		bad := func(rule Rule, format string, args ...any) {
			v := Violation{MessageID: m.ID, CustomerID: m.CustomerID, WorkflowID: m.WorkflowID, Step: m.Step, Channel: m.Channel,
				Status: m.Status, Rule: rule, Detail: fmt.Sprintf(format, args...)}
			if m.ClaimedAt != nil {
				v.ClaimedAt = *m.ClaimedAt
			}
			if m.PolicyAt != nil {
				v.PolicyAt = *m.PolicyAt
			}
			rep.Violations = append(rep.Violations, v)
		}
		if (m.Status == "held" || m.Status == "skipped" || m.Status == "failed") && strings.TrimSpace(m.Reason) == "" {
			bad(Reason, "%s with no reason recorded", m.Status)
		}
		if m.HoldsWithoutReason > 0 {
			bad(Reason, "%d holds with no reason recorded", m.HoldsWithoutReason)
		}
		decided := contacted(m.Status) || (m.Status == "failed" && m.ClaimedAt != nil)
		if !decided {
			continue
		}
		if !m.Contacts {
			rep.NoContact++
			continue
		}
		if m.ClaimedAt == nil && h.epoch != nil && m.CreatedAt.Before(*h.epoch) {
			rep.Legacy++
			continue
		}
		if m.ClaimedAt == nil || m.PolicyAt == nil {
			bad(Decision, "contacted with no contact decision on record")
			continue
		}
		at, policyAt := *m.ClaimedAt, *m.PolicyAt
		marketing := m.Purpose == string(journey.Marketing)

		// Suppression of the address, as it stood; unknown once retention
		// removed the address ("content removed by retention").
		if m.ContentRemoved && m.Recipient == "" {
			rep.ContentRemoved++
		} else if s, ok := lastBefore(h.suppressions[addressKey(m.Channel, m.Recipient)], at, func(s suppressionEvent) time.Time { return s.At }); ok && s.Action == "suppress" {
			bad(Suppression, "the %s address was suppressed (%s) at %s", m.Channel, s.Reason, s.At.UTC().Format(time.RFC3339Nano))
		}

		// Consent on the channel, as it stood.
		var state consentEvent
		for _, c := range h.consent[customerID] {
			if c.Channel == m.Channel && c.At.Before(at) {
				state = c
			}
		}
		switch {
		case state.State == "opted_out":
			bad(Consent, "the customer opted out of %s (%s) at %s", m.Channel, state.Source, state.At.UTC().Format(time.RFC3339Nano))
		case marketing && rules.RequireOptIn[policy.Channel(m.Channel)] && state.State != "opted_in":
			bad(OptIn, "marketing by %s needs an opt-in; consent was %q", m.Channel, state.State)
		}

		// The topic, as it stood.
		if marketing && m.Topic != "" {
			var left *topicEvent
			for _, t := range h.topics[customerID] {
				if t.Topic == m.Topic && t.At.Before(at) {
					left = &t
				}
			}
			if left != nil && !left.Subscribed {
				bad(Topic, "the customer left %s at %s", m.Topic, left.At.UTC().Format(time.RFC3339Nano))
			}
		}

		// Quiet hours at the policy moment, in the customer's zone, under
		// the settings that stood.
		settings, hasSettings := lastBefore(h.settings[customerID], at, func(s settingsEvent) time.Time { return s.At })
		start, end, ok := quietWindow(rules, settings, hasSettings, m.Channel)
		if ok {
			local := policyAt.In(loc)
			minute := local.Hour()*60 + local.Minute()
			inside := start != end && ((start < end && minute >= start && minute < end) || (start > end && (minute >= start || minute < end)))
			if inside {
				bad(QuietHours, "sent at %s local time (%s), inside quiet hours %02d:%02d-%02d:%02d",
					local.Format("15:04"), loc, start/60, start%60, end/60, end%60)
			}
		}

		// Frequency caps: no window of a cap's length, ending at this
		// message, holds more marketing than the cap allows.
		if marketing && contacted(m.Status) {
			for _, c := range caps(rules, settings, hasSettings) {
				n := 0
				for _, o := range msgs {
					if o.Purpose != string(journey.Marketing) || !contacted(o.Status) || o.PolicyAt == nil || !o.Contacts {
						continue
					}
					if c.channel != "" && o.Channel != c.channel {
						continue
					}
					if o.PolicyAt.After(policyAt.Add(-c.per)) && !o.PolicyAt.After(policyAt) {
						n++
					}
				}
				if n > c.max {
					bad(Cap, "%d marketing messages%s within %s up to %s; the cap is %d", n, c.on(), c.per, policyAt.UTC().Format(time.RFC3339), c.max)
				}
			}
		}
	}
}

// lastBefore returns the last event recorded before t.
func lastBefore[E any](events []E, t time.Time, at func(E) time.Time) (E, bool) {
	var last E
	found := false
	for _, e := range events {
		if at(e).Before(t) {
			last, found = e, true
		}
	}
	return last, found
}

// quietWindow is the quiet window on a channel, in minutes of the day:
// the customer's own when they set one (empty: none), else the default.
func quietWindow(rules policy.Rules, s settingsEvent, hasSettings bool, channel string) (start, end int, ok bool) {
	if hasSettings {
		if q, own := s.Quiet[channel]; own {
			st, err1 := time.Parse("15:04", q.Start)
			en, err2 := time.Parse("15:04", q.End)
			if err1 != nil || err2 != nil {
				return 0, 0, false
			}
			return st.Hour()*60 + st.Minute(), en.Hour()*60 + en.Minute(), true
		}
	}
	w, ok := rules.Quiet[policy.Channel(channel)]
	return int(w.Start), int(w.End), ok
}

type limit struct {
	channel string
	max     int
	per     time.Duration
}

func (l limit) on() string {
	if l.channel == "" {
		return ""
	}
	return " by " + l.channel
}

// caps are the caps that stood: the customer's own when they chose some,
// else the defaults.
func caps(rules policy.Rules, s settingsEvent, hasSettings bool) []limit {
	var out []limit
	if hasSettings && s.CapsSet {
		for _, c := range s.Caps {
			per, err := journey.ParseDuration(c.Per)
			if err != nil || c.Max < 1 {
				continue
			}
			ch := c.Channel
			if ch == "all" {
				ch = ""
			}
			out = append(out, limit{channel: ch, max: c.Max, per: per})
		}
		return out
	}
	for _, c := range rules.Caps {
		out = append(out, limit{channel: string(c.Channel), max: c.Max, per: c.Per})
	}
	return out
}
