// Package store keeps Rapport's data in PostgreSQL through pgx: customers,
// orders, events, the message outbox and the registry of running journeys.
// The schema's migrations are embedded in the binary. Every query is
// parameterised.
package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrations embed.FS

// ErrNotFound is returned when a row asked for by id does not exist.
var ErrNotFound = errors.New("not found")

// Store is a handle on Rapport's database. It is safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
	// hash keys the hashes erasure keeps in place of ids and addresses
	// (see erase.go); nil: erasure is not possible.
	hash *hashKeys
	// clock, when set (WithClock: tests), is the time the outbox records
	// claims and provider reports at, instead of the database's.
	clock func() time.Time
}

// WithClock makes the outbox record when messages are claimed and
// reported at clock's time rather than the database's: tests that skip
// time (Temporal's test environment) through evidence windows.
func WithClock(clock func() time.Time) Option {
	return func(s *Store) { s.clock = clock }
}

// now is the clock's time as a query argument: nil (SQL NULL, so the
// query falls back on the database's clock) when there is no clock.
func (s *Store) now() *time.Time {
	if s.clock == nil {
		return nil
	}
	t := s.clock()
	return &t
}

// Open connects to the database at url and checks it answers.
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("store: parse database URL: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: connect: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: connect to %s:%d/%s: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, err)
	}
	s := &Store{pool: pool}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Close releases the connections.
func (s *Store) Close() { s.pool.Close() }

// Ping checks that the database answers, for health checks.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// Querier reads the database. The only one there is is what ReadOnly
// hands its function: a READ ONLY transaction, in which PostgreSQL
// refuses every write (INSERT, UPDATE, DELETE, DDL, nextval...). It has
// no Exec, CopyFrom or Begin, and code outside the store cannot make one.
// Queries are parameterised as everywhere else: values go in args, never
// into the SQL text.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	// readOnly seals the interface: only the store's transaction is one.
	readOnly()
}

// readOnlyTx is the Querier ReadOnly hands out.
type readOnlyTx struct{ tx pgx.Tx }

func (q readOnlyTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := q.check(args); err != nil {
		return nil, err
	}
	return q.tx.Query(ctx, sql, args...)
}

func (q readOnlyTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if err := q.check(args); err != nil {
		return errRow{err}
	}
	return q.tx.QueryRow(ctx, sql, args...)
}

func (readOnlyTx) readOnly() {}

// check keeps each query inside the read-only transaction. It refuses
// pgx's query options among the arguments (the simple protocol would run
// several statements from one string: a COMMIT and a write after it),
// and any query once the transaction has been ended by a statement of
// its own (COMMIT, ROLLBACK): the connection would then write freely.
func (q readOnlyTx) check(args []any) error {
	if len(args) > 0 {
		switch args[0].(type) {
		case pgx.QueryExecMode, pgx.QueryRewriter, pgx.QueryResultFormats, pgx.QueryResultFormatsByOID:
			return errors.New("store: read-only queries take their values as parameters, not pgx query options")
		}
	}
	if q.tx.Conn().PgConn().TxStatus() == 'I' {
		return errors.New("store: the read-only transaction was ended by a statement in it; no further query runs")
	}
	return nil
}

// errRow is a Row whose Scan returns err.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// ReadOnly runs fn with a Querier on one READ ONLY transaction (READ
// COMMITTED: each query sees what was committed when it began), for the
// tools that read the tables directly: the audit, the bench, the chaos
// report and the simulation's cross-check. Whatever fn does, nothing is
// written: a write fails in PostgreSQL ("cannot execute INSERT in a
// read-only transaction") and the transaction is rolled back at the end.
// fn must close the rows it opens; ReadOnly returns fn's error.
func (s *Store) ReadOnly(ctx context.Context, fn func(q Querier) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("store: begin read-only transaction: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	// The transaction's first query takes its snapshot; from then on
	// PostgreSQL refuses SET TRANSACTION READ WRITE in it.
	if _, err := tx.Exec(ctx, "SELECT 1"); err != nil {
		return fmt.Errorf("store: begin read-only transaction: %w", err)
	}
	return fn(readOnlyTx{tx})
}

// Migrate brings the schema up to date. It is safe to run from several
// processes at once: goose takes a session lock.
func (s *Store) Migrate(ctx context.Context, log *slog.Logger) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	db := stdlib.OpenDBFromPool(s.pool)
	defer db.Close()
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub, goose.WithSessionLocker(locker))
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	for _, r := range results {
		if log != nil {
			log.Info("applied migration", "version", r.Source.Version, "file", r.Source.Path, "duration", r.Duration)
		}
	}
	return nil
}

// isUniqueViolation reports a unique constraint violation.
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	return err
}
