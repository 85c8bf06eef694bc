package store

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Erasure (GDPR art. 17, CCPA delete) removes a customer's personal data
// from every table. What stays is what the law allows and the product
// needs: the outbox rows as counts without content, suppressions of the
// customer's addresses as keyed hashes (so an address that unsubscribed
// stays suppressed if it comes back), and a record of the erasure naming
// the customer only by a keyed hash of their id.
//
// The keyed hashes are HMAC-SHA256 under keys derived from a secret given
// to Open with WithHashKey (RAPPORT_SECRET). Without it, erasure is not
// possible (ErrNoHashKey). Changing the secret makes earlier hashes
// unrecognisable: erased addresses would no longer be found suppressed.

// ErrErased is returned for a customer id that was erased and has not been
// registered again: events for it are refused.
var ErrErased = errors.New("the customer was erased")

// ErrNoHashKey is returned by erasure when the store was opened without a
// hashing key.
var ErrNoHashKey = errors.New("erasure needs RAPPORT_SECRET: it keys the hashes that stand in for an erased customer's id and addresses; set it (the same value for every worker and API) and try again")

// Option configures a Store opened with Open.
type Option func(*Store)

// WithHashKey gives the store the secret that keys the hashes erasure
// keeps in place of ids and addresses (RAPPORT_SECRET). An empty secret
// leaves erasure unavailable.
func WithHashKey(secret []byte) Option {
	return func(s *Store) {
		if len(secret) == 0 {
			return
		}
		s.hash = &hashKeys{
			customer: derive(secret, "rapport customer id v1"),
			address:  derive(secret, "rapport suppression v1"),
		}
	}
}

// hashKeys are the keys of the two kinds of keyed hash.
type hashKeys struct {
	customer []byte
	address  []byte
}

func derive(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

func keyed(key []byte, parts ...string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(m.Sum(nil))
}

// CanErase reports whether the store has the key erasure needs.
func (s *Store) CanErase() bool { return s.hash != nil }

// CustomerHash is the keyed hash that names an erased customer: 32 hex
// digits (128 bits) of HMAC-SHA256 of the id.
func (s *Store) CustomerHash(customerID string) (string, error) {
	if s.hash == nil {
		return "", ErrNoHashKey
	}
	return keyed(s.hash.customer, customerID)[:32], nil
}

// hashedAddressPrefix marks a suppressed address kept as a keyed hash.
const hashedAddressPrefix = "hmac-sha256:"

// HashedAddress is the form a suppressed address takes once its customer
// is erased: a keyed hash of the channel and the normalized address
// (AddressKey). It is "" when the store has no hashing key.
func (s *Store) HashedAddress(channel, address string) string {
	if s.hash == nil {
		return ""
	}
	return hashedAddressPrefix + keyed(s.hash.address, channel, AddressKey(channel, address))
}

// addressForms are the forms an address may be found under on the
// suppression list: as given (normalized) and, once a customer with it was
// erased, as a keyed hash.
func (s *Store) addressForms(channel, address string) []string {
	forms := []string{AddressKey(channel, address)}
	if h := s.HashedAddress(channel, address); h != "" {
		forms = append(forms, h)
	}
	return forms
}

// erasedCondition is true for a customer id ($1, and its hash $2) erased
// after it was last registered, or erased and gone.
const erasedCondition = `EXISTS (SELECT 1 FROM erasures e WHERE e.customer_hash = $2
	AND e.requested_at > coalesce((SELECT c.created_at FROM customers c WHERE c.id = $1), '-infinity'::timestamptz))`

// Erased reports whether events for the customer id are refused: it was
// erased (or its erasure is under way) and the customer has not been
// registered again since.
func (s *Store) Erased(ctx context.Context, customerID string) (bool, error) {
	return s.erased(ctx, s.pool, customerID)
}

func (s *Store) erased(ctx context.Context, q querier, customerID string) (bool, error) {
	if s.hash == nil {
		return false, nil // nothing can have been erased without a key
	}
	h, _ := s.CustomerHash(customerID)
	var erased bool
	if err := q.QueryRow(ctx, `SELECT `+erasedCondition, customerID, h).Scan(&erased); err != nil {
		return false, fmt.Errorf("is customer %s erased: %w", customerID, err)
	}
	return erased, nil
}

// ErasedAmong returns which of the ids are erased, as Erased says.
func (s *Store) ErasedAmong(ctx context.Context, ids []string) (map[string]bool, error) {
	out := map[string]bool{}
	if s.hash == nil || len(ids) == 0 {
		return out, nil
	}
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	hashes := make([]string, len(ids))
	for i, id := range ids {
		hashes[i], _ = s.CustomerHash(id)
	}
	rows, err := s.pool.Query(ctx, `
		SELECT i.id FROM unnest($1::text[], $2::text[]) AS i(id, hash)
		WHERE EXISTS (SELECT 1 FROM erasures e WHERE e.customer_hash = i.hash
			AND e.requested_at > coalesce((SELECT c.created_at FROM customers c WHERE c.id = i.id), '-infinity'::timestamptz))`, ids, hashes)
	if err != nil {
		return nil, fmt.Errorf("look up erased customers: %w", err)
	}
	erased, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("look up erased customers: %w", err)
	}
	for _, id := range erased {
		out[id] = true
	}
	return out, nil
}

// refuseErased fails with ErrErased when one of the customers is erased.
func (s *Store) refuseErased(ctx context.Context, q querier, customerIDs ...string) error {
	for _, id := range customerIDs {
		erased, err := s.erased(ctx, q, id)
		if err != nil {
			return err
		}
		if erased {
			return fmt.Errorf("customer %s: %w", id, ErrErased)
		}
	}
	return nil
}

// erasedClaim is what ClaimWithGate answers for a message to an erased
// customer: skipped, with nothing about them stored.
func erasedClaim(m Message) Claim {
	return Claim{Message: Message{IdempotencyKey: m.IdempotencyKey, WorkflowID: m.WorkflowID, Journey: m.Journey, StepID: m.StepID,
		Channel: m.Channel, Template: m.Template, Purpose: m.Purpose, Topic: m.Topic,
		Status: MessageSkipped, Reason: "the customer was erased"}}
}

// Erasure stages, in order.
const (
	ErasureRequested = "requested"
	ErasureExiting   = "exiting runs"
	ErasureDeleting  = "deleting executions"
	ErasureRemoving  = "removing data"
	ErasureDone      = "done"
)

// Erasure is the record of one erasure of a customer, named by the keyed
// hash of their id.
type Erasure struct {
	ID                int64      `json:"id"`
	CustomerHash      string     `json:"customer_hash"`
	WorkflowID        string     `json:"workflow_id"`
	RequestedBy       string     `json:"requested_by"`
	Reason            string     `json:"reason"`
	RequestedAt       time.Time  `json:"requested_at"`
	Stage             string     `json:"stage"`
	RunsExited        int        `json:"runs_exited"`
	ExecutionsDeleted int        `json:"executions_deleted"`
	RowsRemoved       int64      `json:"rows_removed"`
	LastError         string     `json:"last_error,omitempty"`
	UpdatedAt         time.Time  `json:"updated_at"`
	CompletedAt       *time.Time `json:"completed_at,omitempty"`
}

// Done reports whether the erasure has finished.
func (e Erasure) Done() bool { return e.CompletedAt != nil }

const erasureColumns = `id, customer_hash, workflow_id, requested_by, reason, requested_at, stage, runs_exited, executions_deleted,
	rows_removed, last_error, updated_at, completed_at`

func scanErasure(row pgx.Row) (Erasure, error) {
	var e Erasure
	err := row.Scan(&e.ID, &e.CustomerHash, &e.WorkflowID, &e.RequestedBy, &e.Reason, &e.RequestedAt, &e.Stage, &e.RunsExited,
		&e.ExecutionsDeleted, &e.RowsRemoved, &e.LastError, &e.UpdatedAt, &e.CompletedAt)
	return e, notFound(err)
}

// BeginErasure records that a customer is to be erased, unless an erasure
// of theirs is already under way, which it returns instead (created
// false): asking again while one runs changes nothing. From now on events
// for the id are refused and nothing is sent to them.
func (s *Store) BeginErasure(ctx context.Context, customerID, workflowID, by, reason string) (Erasure, bool, error) {
	h, err := s.CustomerHash(customerID)
	if err != nil {
		return Erasure{}, false, err
	}
	var out Erasure
	created := false
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Ordered with events being stored (see RecordEvent): an event
		// either is stored before, and is erased with the rest, or is
		// refused.
		if err := lockRouting(ctx, tx, customerID); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `
			INSERT INTO erasures (customer_hash, workflow_id, requested_by, reason) VALUES ($1, $2, $3, $4)
			ON CONFLICT (customer_hash) WHERE completed_at IS NULL DO NOTHING`, h, workflowID, by, reason)
		if err != nil {
			return err
		}
		created = tag.RowsAffected() == 1
		out, err = scanErasure(tx.QueryRow(ctx, `SELECT `+erasureColumns+` FROM erasures WHERE customer_hash = $1 AND completed_at IS NULL`, h))
		return err
	})
	if err != nil {
		return Erasure{}, false, fmt.Errorf("begin erasure: %w", err)
	}
	return out, created, nil
}

// LatestErasure returns the latest erasure of a customer id, or
// ErrNotFound.
func (s *Store) LatestErasure(ctx context.Context, customerID string) (Erasure, error) {
	h, err := s.CustomerHash(customerID)
	if err != nil {
		return Erasure{}, err
	}
	e, err := scanErasure(s.pool.QueryRow(ctx, `SELECT `+erasureColumns+` FROM erasures WHERE customer_hash = $1 ORDER BY requested_at DESC, id DESC LIMIT 1`, h))
	if err != nil {
		return e, fmt.Errorf("latest erasure: %w", err)
	}
	return e, nil
}

// GetErasure returns an erasure by its id, or ErrNotFound.
func (s *Store) GetErasure(ctx context.Context, id int64) (Erasure, error) {
	e, err := scanErasure(s.pool.QueryRow(ctx, `SELECT `+erasureColumns+` FROM erasures WHERE id = $1`, id))
	if err != nil {
		return e, fmt.Errorf("erasure %d: %w", id, err)
	}
	return e, nil
}

// ErasureProgress is how far an erasure has gone, for its record.
type ErasureProgress struct {
	Stage             string
	RunsExited        int
	ExecutionsDeleted int
	// Error is the last error met (being retried), or "".
	Error string
}

// RecordErasureProgress updates an erasure's record. Counts only grow.
func (s *Store) RecordErasureProgress(ctx context.Context, id int64, p ErasureProgress) error {
	_, err := s.pool.Exec(ctx, `
		UPDATE erasures SET stage = CASE WHEN $2 = '' THEN stage ELSE $2 END,
			runs_exited = greatest(runs_exited, $3), executions_deleted = greatest(executions_deleted, $4),
			last_error = $5, updated_at = now()
		WHERE id = $1 AND completed_at IS NULL`, id, p.Stage, p.RunsExited, p.ExecutionsDeleted, p.Error)
	if err != nil {
		return fmt.Errorf("erasure %d progress: %w", id, err)
	}
	return nil
}

// FinishErasure marks an erasure done. Finishing it again changes nothing.
func (s *Store) FinishErasure(ctx context.Context, id int64) (Erasure, error) {
	_, err := s.pool.Exec(ctx, `
		UPDATE erasures SET stage = 'done', last_error = '', completed_at = clock_timestamp(), updated_at = now()
		WHERE id = $1 AND completed_at IS NULL`, id)
	if err != nil {
		return Erasure{}, fmt.Errorf("finish erasure %d: %w", id, err)
	}
	return s.GetErasure(ctx, id)
}

// CustomerRuns lists a customer's journey runs: those the registry says
// are running, and every one of them.
func (s *Store) CustomerRuns(ctx context.Context, customerID string) (running, all []string, err error) {
	rows, err := s.pool.Query(ctx, `SELECT workflow_id, status FROM journey_runs WHERE customer_id = $1 ORDER BY started_at, workflow_id`, customerID)
	if err != nil {
		return nil, nil, fmt.Errorf("runs of %s: %w", customerID, err)
	}
	var id, status string
	_, err = pgx.ForEachRow(rows, []any{&id, &status}, func() error {
		all = append(all, id)
		if status == RunRunning {
			running = append(running, id)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("runs of %s: %w", customerID, err)
	}
	return running, all, nil
}

// EndRunErased records a run the registry still has as running, but that
// Temporal no longer runs, as exited because its customer was erased.
func (s *Store) EndRunErased(ctx context.Context, workflowID string) error {
	_, err := s.pool.Exec(ctx, `
		UPDATE journey_runs SET status = 'exited', outcome = 'customer erased', ended_at = now()
		WHERE workflow_id = $1 AND status = 'running'`, workflowID)
	if err != nil {
		return fmt.Errorf("end run %s: %w", workflowID, err)
	}
	return nil
}

// Scrub is what RemoveCustomerData did.
type Scrub struct {
	// Waiting lists runs of the customer that are running, or that were
	// not among those whose executions were deleted: nothing was removed;
	// they must be exited and deleted first.
	Waiting []string
	// Rows counts the rows removed or rewritten.
	Rows int64
	// Addresses counts the suppression entries now kept as keyed hashes.
	Addresses int
}

// ErasureTables says what erasure does to each table: every table of the
// schema must be listed (a test holds the schema to it), so a table added
// later is erased as it should be or deliberately left alone.
var ErasureTables = map[string]string{
	"customers":                "deleted",
	"orders":                   "deleted",
	"order_items":              "deleted with their orders",
	"events":                   "deleted",
	"messages":                 "kept as counts: recipient, subject, details, reason and provider id removed; customer and workflow ids replaced by the customer's hash",
	"message_holds":            "kept (times and contact-rule reasons only)",
	"journey_runs":             "deleted",
	"suppressions":             "the customer's addresses replaced by keyed hashes",
	"suppression_events":       "the customer's addresses replaced by keyed hashes",
	"tasks":                    "deleted",
	"vouchers":                 "deleted",
	"survey_answers":           "deleted",
	"split_assignments":        "deleted",
	"journey_conversions":      "deleted, as the customer's runs are",
	"run_steps":                "deleted with the customer's runs",
	"consent_events":           "deleted",
	"topic_events":             "deleted",
	"customer_settings":        "deleted",
	"settings_events":          "deleted",
	"products":                 "no customer data",
	"fanouts":                  "no customer data (events about a product, say, posted without a customer)",
	"complements":              "no customer data",
	"webhook_events":           "no customer data (provider event ids)",
	"api_keys":                 "no customer data",
	"template_versions":        "no customer data (the words of templates)",
	"journey_plans":            "no customer data (plan hashes)",
	"journey_catalogs":         "no customer data (journey names and plan hashes)",
	"webhook_failures":         "no customer data (when a provider's webhook post was last not taken)",
	"shopify_shop_redactions":  "no customer data (a Shopify shop's domain, and counts)",
	"erasures":                 "kept: the erasure record, by the customer's hash",
	"goose_db_version":         "no customer data",
	"customer_engagement":      "deleted",
	"customer_engagement_days": "deleted",
}

// RemoveCustomerData removes a customer's personal data from every table
// in one transaction (see ErasureTables). It removes nothing while a run
// of theirs is running, or exists without being among deleted (the runs
// whose Temporal executions are deleted): it returns those as Waiting,
// for the caller to exit and delete them first. Running it again after it
// succeeded finds nothing to remove.
func (s *Store) RemoveCustomerData(ctx context.Context, erasureID int64, customerID string, deleted []string) (Scrub, error) {
	h, err := s.CustomerHash(customerID)
	if err != nil {
		return Scrub{}, err
	}
	var out Scrub
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		out = Scrub{}
		if err := lockRouting(ctx, tx, customerID); err != nil {
			return err
		}
		if err := lockCustomer(ctx, tx, customerID); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT workflow_id FROM journey_runs WHERE customer_id = $1 AND (status = 'running' OR NOT workflow_id = ANY(coalesce($2::text[], '{}')))
			ORDER BY workflow_id`, customerID, deleted)
		if err != nil {
			return err
		}
		if out.Waiting, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil || len(out.Waiting) > 0 {
			return err
		}

		// Suppressions of their addresses stay, as keyed hashes.
		addresses, err := customerAddresses(ctx, tx, customerID)
		if err != nil {
			return err
		}
		for _, a := range addresses {
			plain, hashed := AddressKey(a[0], a[1]), s.HashedAddress(a[0], a[1])
			if err := lockAddress(ctx, tx, a[0], plain); err != nil {
				return err
			}
			// A reason keeps its category only: a bounce's detail ("hard
			// bounce: 550 <ada@example.com> unknown") often quotes the address.
			if _, err := tx.Exec(ctx, `
				INSERT INTO suppressions (channel, address, reason, source, created_at)
				SELECT channel, $3, split_part(reason, ':', 1), source, created_at FROM suppressions WHERE channel = $1 AND address = $2
				ON CONFLICT (channel, address) DO NOTHING`, a[0], plain, hashed); err != nil {
				return err
			}
			tag, err := tx.Exec(ctx, `DELETE FROM suppressions WHERE channel = $1 AND address = $2`, a[0], plain)
			if err != nil {
				return err
			}
			out.Addresses += int(tag.RowsAffected())
			tag, err = tx.Exec(ctx, `UPDATE suppression_events SET address = $3, reason = split_part(reason, ':', 1) WHERE channel = $1 AND address = $2`, a[0], plain, hashed)
			if err != nil {
				return err
			}
			out.Rows += tag.RowsAffected()
		}

		// The outbox keeps counts, without content or who.
		erased := "erased:" + h
		tag, err := tx.Exec(ctx, `
			UPDATE messages SET recipient = '', subject = '', details = '{}', provider_message_id = '', body_digest = '',
				reason = CASE WHEN reason = '' THEN '' ELSE 'removed when the customer was erased' END,
				customer_id = $2, workflow_id = $2, idempotency_key = 'erased:' || id::text, updated_at = now()
			WHERE customer_id = $1`, customerID, erased)
		if err != nil {
			return err
		}
		out.Rows += tag.RowsAffected()

		for _, q := range []string{
			`DELETE FROM events WHERE customer_id = $1`,
			`DELETE FROM order_items WHERE order_id IN (SELECT id FROM orders WHERE customer_id = $1)`,
			`DELETE FROM orders WHERE customer_id = $1`,
			`DELETE FROM vouchers WHERE customer_id = $1`,
			`DELETE FROM survey_answers WHERE customer_id = $1`,
			`DELETE FROM tasks WHERE customer_id = $1`,
			`DELETE FROM split_assignments WHERE customer_id = $1`,
			`DELETE FROM consent_events WHERE customer_id = $1`,
			`DELETE FROM topic_events WHERE customer_id = $1`,
			`DELETE FROM customer_settings WHERE customer_id = $1`,
			`DELETE FROM settings_events WHERE customer_id = $1`,
			`DELETE FROM customer_engagement WHERE customer_id = $1`,
			`DELETE FROM customer_engagement_days WHERE customer_id = $1`,
			`DELETE FROM journey_conversions WHERE customer_id = $1`,
			`DELETE FROM run_steps WHERE workflow_id IN (SELECT workflow_id FROM journey_runs WHERE customer_id = $1)`,
			`DELETE FROM journey_runs WHERE customer_id = $1`,
			`DELETE FROM customers WHERE id = $1`,
		} {
			tag, err := tx.Exec(ctx, q, customerID)
			if err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
			out.Rows += tag.RowsAffected()
		}
		_, err = tx.Exec(ctx, `UPDATE erasures SET stage = $2, rows_removed = rows_removed + $3, updated_at = now() WHERE id = $1`,
			erasureID, ErasureRemoving, out.Rows)
		return err
	})
	if err != nil {
		return Scrub{}, fmt.Errorf("remove the data of the erased customer: %w", err)
	}
	return out, nil
}

// customerAddresses lists the customer's addresses as (channel, address):
// those of their record and every one a message went to.
func customerAddresses(ctx context.Context, tx pgx.Tx, customerID string) ([][2]string, error) {
	var out [][2]string
	seen := map[[2]string]bool{}
	add := func(channel, address string) {
		a := [2]string{channel, AddressKey(channel, address)}
		if a[1] != "" && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	c, err := scanCustomer(tx.QueryRow(ctx, `SELECT `+customerColumns+` FROM customers WHERE id = $1`, customerID))
	switch {
	case err == nil:
		add("email", c.Email)
		for _, p := range []string{c.PhoneE164, c.Phone} {
			add("sms", p)
			add("phone", p)
		}
		if c.Address.Complete() {
			a := c.Address
			var parts []string
			for _, p := range []string{a.Line1, a.Line2, a.City, a.State, a.PostalCode, a.Country} {
				if p != "" {
					parts = append(parts, p)
				}
			}
			add("mail", strings.Join(parts, ", "))
		}
	case !errors.Is(err, ErrNotFound):
		return nil, err
	}
	rows, err := tx.Query(ctx, `SELECT DISTINCT channel, recipient FROM messages WHERE customer_id = $1 AND recipient <> ''`, customerID)
	if err != nil {
		return nil, err
	}
	var channel, recipient string
	if _, err := pgx.ForEachRow(rows, []any{&channel, &recipient}, func() error { add(channel, recipient); return nil }); err != nil {
		return nil, err
	}
	return out, nil
}
