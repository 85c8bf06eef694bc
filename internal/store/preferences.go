package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// querier is what a pool and a transaction both offer.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Evidence is what backs a consent or topic change: what the customer was
// shown and from where they answered.
type Evidence struct {
	Shown     string `json:"shown,omitempty"`
	IP        string `json:"ip,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
	Note      string `json:"note,omitempty"`
	// What the system the change came from said of it (Shopify's
	// marketing consent, source "shopify"): its state and opt-in level
	// there, when it changed there, and where it was collected.
	ExternalState string     `json:"external_state,omitempty"`
	OptInLevel    string     `json:"opt_in_level,omitempty"`
	ChangedAt     *time.Time `json:"changed_at,omitempty"`
	CollectedFrom string     `json:"collected_from,omitempty"`
}

// ConsentEvent is one change of consent.
type ConsentEvent struct {
	ID         int64     `json:"id"`
	CustomerID string    `json:"customer_id"`
	Channel    string    `json:"channel"`
	State      string    `json:"state"`
	Source     string    `json:"source"`
	Evidence   Evidence  `json:"evidence"`
	RecordedAt time.Time `json:"recorded_at"`
}

// TopicEvent is one change of a topic subscription.
type TopicEvent struct {
	ID         int64     `json:"id"`
	CustomerID string    `json:"customer_id"`
	Topic      string    `json:"topic"`
	Subscribed bool      `json:"subscribed"`
	Source     string    `json:"source"`
	Evidence   Evidence  `json:"evidence"`
	RecordedAt time.Time `json:"recorded_at"`
}

// QuietHours is a customer's own quiet window on a channel, "21:00" to
// "08:00". Both empty means the customer wants no quiet hours there.
type QuietHours struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

// CapSetting is a frequency cap a customer chose: at most Max marketing
// messages per Per ("7d"), on a channel or ("all") on every channel.
type CapSetting struct {
	Channel string `json:"channel"`
	Max     int    `json:"max"`
	Per     string `json:"per"`
}

// Preferences are a customer's current preferences: the latest consent per
// channel and choice per topic, and their settings. Channels and topics
// without a record are absent.
type Preferences struct {
	CustomerID   string                  `json:"customer_id"`
	Consent      map[string]ConsentEvent `json:"consent"`
	Topics       map[string]TopicEvent   `json:"topics"`
	ChannelOrder []string                `json:"channel_order"`
	// QuietHours holds the customer's own windows; a channel absent uses
	// the defaults.
	QuietHours map[string]QuietHours `json:"quiet_hours"`
	// Frequency replaces the default caps when not nil.
	Frequency []CapSetting `json:"frequency"`
}

// GetPreferences returns a customer's current preferences.
func (s *Store) GetPreferences(ctx context.Context, customerID string) (Preferences, error) {
	return getPreferences(ctx, s.pool, customerID)
}

func getPreferences(ctx context.Context, q querier, customerID string) (Preferences, error) {
	p := Preferences{CustomerID: customerID, Consent: map[string]ConsentEvent{}, Topics: map[string]TopicEvent{},
		ChannelOrder: []string{}, QuietHours: map[string]QuietHours{}}
	rows, err := q.Query(ctx, `SELECT DISTINCT ON (channel) id, customer_id, channel, state, source, evidence, recorded_at
		FROM consent_events WHERE customer_id = $1 ORDER BY channel, id DESC`, customerID)
	if err != nil {
		return p, fmt.Errorf("consent of %s: %w", customerID, err)
	}
	consents, err := pgx.CollectRows(rows, scanConsent)
	if err != nil {
		return p, err
	}
	for _, c := range consents {
		p.Consent[c.Channel] = c
	}
	rows, err = q.Query(ctx, `SELECT DISTINCT ON (topic) id, customer_id, topic, subscribed, source, evidence, recorded_at
		FROM topic_events WHERE customer_id = $1 ORDER BY topic, id DESC`, customerID)
	if err != nil {
		return p, fmt.Errorf("topics of %s: %w", customerID, err)
	}
	topics, err := pgx.CollectRows(rows, scanTopic)
	if err != nil {
		return p, err
	}
	for _, t := range topics {
		p.Topics[t.Topic] = t
	}
	err = q.QueryRow(ctx, `SELECT channel_order, quiet_hours, frequency FROM customer_settings WHERE customer_id = $1`, customerID).
		Scan(&p.ChannelOrder, &p.QuietHours, &p.Frequency)
	if err != nil && err != pgx.ErrNoRows {
		return p, fmt.Errorf("settings of %s: %w", customerID, err)
	}
	return p, nil
}

func scanConsent(r pgx.CollectableRow) (ConsentEvent, error) {
	var c ConsentEvent
	err := r.Scan(&c.ID, &c.CustomerID, &c.Channel, &c.State, &c.Source, &c.Evidence, &c.RecordedAt)
	return c, err
}

func scanTopic(r pgx.CollectableRow) (TopicEvent, error) {
	var t TopicEvent
	err := r.Scan(&t.ID, &t.CustomerID, &t.Topic, &t.Subscribed, &t.Source, &t.Evidence, &t.RecordedAt)
	return t, err
}

// RecordConsent adds a consent change to the history, unless the consent
// already stands as given. It reports whether it changed anything.
func (s *Store) RecordConsent(ctx context.Context, customerID, channel, state, source string, ev Evidence) (bool, error) {
	changed := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockCustomer(ctx, tx, customerID); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `
			INSERT INTO consent_events (customer_id, channel, state, source, evidence)
			SELECT $1, $2, $3, $4, $5
			WHERE coalesce((SELECT state FROM consent_events WHERE customer_id = $1 AND channel = $2 ORDER BY id DESC LIMIT 1), '') <> $3`,
			customerID, channel, state, source, ev)
		changed = tag.RowsAffected() == 1
		return err
	})
	if err != nil {
		return false, fmt.Errorf("record %s consent of %s: %w", channel, customerID, err)
	}
	return changed, nil
}

// RecordTopic adds a topic choice to the history, unless it already
// stands. It reports whether it changed anything.
func (s *Store) RecordTopic(ctx context.Context, customerID, topic string, subscribed bool, source string, ev Evidence) (bool, error) {
	changed := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockCustomer(ctx, tx, customerID); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `
			INSERT INTO topic_events (customer_id, topic, subscribed, source, evidence)
			SELECT $1, $2, $3, $4, $5
			WHERE (SELECT subscribed FROM topic_events WHERE customer_id = $1 AND topic = $2 ORDER BY id DESC LIMIT 1) IS DISTINCT FROM $3`,
			customerID, topic, subscribed, source, ev)
		changed = tag.RowsAffected() == 1
		return err
	})
	if err != nil {
		return false, fmt.Errorf("record topic %s of %s: %w", topic, customerID, err)
	}
	return changed, nil
}

// SaveSettings stores a customer's channel order, quiet hours and caps
// (nil caps: the defaults).
func (s *Store) SaveSettings(ctx context.Context, customerID string, order []string, quiet map[string]QuietHours, caps []CapSetting) error {
	if order == nil {
		order = []string{}
	}
	if quiet == nil {
		quiet = map[string]QuietHours{}
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockCustomer(ctx, tx, customerID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO customer_settings (customer_id, channel_order, quiet_hours, frequency) VALUES ($1, $2, $3, $4)
			ON CONFLICT (customer_id) DO UPDATE SET channel_order = EXCLUDED.channel_order, quiet_hours = EXCLUDED.quiet_hours,
				frequency = EXCLUDED.frequency, updated_at = now()`, customerID, order, quiet, caps)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO settings_events (customer_id, channel_order, quiet_hours, frequency) VALUES ($1, $2, $3, $4)`,
			customerID, order, quiet, caps)
		return err
	})
	if err != nil {
		return fmt.Errorf("save settings of %s: %w", customerID, err)
	}
	return nil
}

// ConsentHistory lists a customer's consent changes, oldest first.
func (s *Store) ConsentHistory(ctx context.Context, customerID string) ([]ConsentEvent, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, customer_id, channel, state, source, evidence, recorded_at
		FROM consent_events WHERE customer_id = $1 ORDER BY id`, customerID)
	if err != nil {
		return nil, fmt.Errorf("consent history of %s: %w", customerID, err)
	}
	return pgx.CollectRows(rows, scanConsent)
}

// TopicHistory lists a customer's topic changes, oldest first.
func (s *Store) TopicHistory(ctx context.Context, customerID string) ([]TopicEvent, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, customer_id, topic, subscribed, source, evidence, recorded_at
		FROM topic_events WHERE customer_id = $1 ORDER BY id`, customerID)
	if err != nil {
		return nil, fmt.Errorf("topic history of %s: %w", customerID, err)
	}
	return pgx.CollectRows(rows, scanTopic)
}

// SuppressionsFor lists the suppressions of a customer's current addresses.
func (s *Store) SuppressionsFor(ctx context.Context, addresses map[string]string) ([]Suppression, error) {
	var out []Suppression
	for channel, address := range addresses {
		if address == "" {
			continue
		}
		sup, err := s.Suppressed(ctx, channel, address)
		if err == ErrNotFound {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, sup)
	}
	return out, nil
}

// Unsuppress lifts a suppression (an SMS number that texted START).
func (s *Store) Unsuppress(ctx context.Context, channel, address string) error {
	address = AddressKey(channel, address)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockAddress(ctx, tx, channel, address); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM suppressions WHERE channel = $1 AND address = ANY($2)`, channel, s.addressForms(channel, address))
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO suppression_events (channel, address, action) VALUES ($1, $2, 'lift')`, channel, address)
		return err
	})
	if err != nil {
		return fmt.Errorf("lift %s suppression: %w", channel, err)
	}
	return nil
}

// CustomersWithPhone finds the customers with that phone number (E.164).
func (s *Store) CustomersWithPhone(ctx context.Context, e164 string) ([]Customer, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+customerColumns+` FROM customers WHERE phone_e164 = $1`, e164)
	if err != nil {
		return nil, fmt.Errorf("customers with phone: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Customer, error) { return scanCustomer(r) })
}

// CustomersWithEmail finds the customers with that email address.
func (s *Store) CustomersWithEmail(ctx context.Context, email string) ([]Customer, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+customerColumns+` FROM customers WHERE lower(email) = lower($1)`, email)
	if err != nil {
		return nil, fmt.Errorf("customers with email: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Customer, error) { return scanCustomer(r) })
}

// WebhookSeen reports whether a webhook event was already processed.
func (s *Store) WebhookSeen(ctx context.Context, provider, eventID string) (bool, error) {
	var seen bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM webhook_events WHERE provider = $1 AND event_id = $2)`, provider, eventID).Scan(&seen)
	if err != nil {
		return false, fmt.Errorf("webhook event %s/%s: %w", provider, eventID, err)
	}
	return seen, nil
}

// RecordWebhook notes that a webhook event was processed, so a repeat
// delivery changes nothing. It is recorded after the event's effects: a
// failure in between leaves it to be processed again when the provider
// retries (the effects are idempotent), rather than lost. The event's
// engagement (which is not idempotent: it counts) is applied in the same
// transaction as the note, and only by the call that makes it, so it
// counts once however often the event is delivered.
func (s *Store) RecordWebhook(ctx context.Context, provider, eventID string, engaged ...Engaged) error {
	return s.recordWebhookTx(ctx, provider, eventID, engaged)
}

// RecordDelivery updates a message from a provider's report: the delivery
// status, and when it was delivered, opened or clicked.
func (s *Store) RecordDelivery(ctx context.Context, messageID, status string, at time.Time) error {
	_, err := s.pool.Exec(ctx, `
		UPDATE messages SET
			delivery_status = CASE WHEN $2 IN ('processed', 'deferred') AND delivery_status NOT IN ('', 'processed', 'deferred') THEN delivery_status ELSE $2 END,
			delivered_at = CASE WHEN $2 = 'delivered' THEN coalesce(delivered_at, $3) ELSE delivered_at END,
			opened_at = CASE WHEN $2 = 'opened' THEN coalesce(opened_at, $3) ELSE opened_at END,
			clicked_at = CASE WHEN $2 = 'clicked' THEN coalesce(clicked_at, $3) ELSE clicked_at END,
			reported_at = coalesce(reported_at, $4, now()),
			processed_at = CASE WHEN $2 = 'processed' THEN coalesce(processed_at, $4, now()) ELSE processed_at END,
			updated_at = now()
		WHERE id = rapport_uuid($1)`, messageID, status, at, s.now())
	if err != nil {
		return fmt.Errorf("record delivery of %s: %w", messageID, err)
	}
	return nil
}
