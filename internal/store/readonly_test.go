package store_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/money"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/store/storetest"
)

// readOnlyViolation reports PostgreSQL's "cannot execute ... in a
// read-only transaction" (SQLSTATE 25006).
func readOnlyViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "25006"
}

// What holds a Querier reads, and cannot write: PostgreSQL refuses the
// writes, and the ways out of the transaction (SET TRANSACTION READ
// WRITE, a COMMIT in it, several statements in one string) are closed.
func TestReadOnlyReadsButNothingItHoldsCanWrite(t *testing.T) {
	t.Parallel()
	s, url := storetest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := s.UpsertCustomer(ctx, store.Customer{ID: "c_1", Name: "Ada"})
	require.NoError(t, err)

	var name string
	require.NoError(t, s.ReadOnly(ctx, func(q store.Querier) error {
		return q.QueryRow(ctx, `SELECT name FROM customers WHERE id = $1`, "c_1").Scan(&name)
	}))
	assert.Equal(t, "Ada", name)

	writes := map[string]func(q store.Querier) error{
		"INSERT through Query": func(q store.Querier) error {
			rows, err := q.Query(ctx, `INSERT INTO customers (id, name) VALUES ($1, $2) RETURNING id`, "c_2", "Linus")
			if err != nil {
				return err
			}
			rows.Close()
			return rows.Err()
		},
		"UPDATE through QueryRow": func(q store.Querier) error {
			var id string
			return q.QueryRow(ctx, `UPDATE customers SET name = $1 WHERE id = $2 RETURNING id`, "Mallory", "c_1").Scan(&id)
		},
		"DELETE": func(q store.Querier) error {
			var n int
			return q.QueryRow(ctx, `WITH d AS (DELETE FROM customers RETURNING 1) SELECT count(*) FROM d`).Scan(&n)
		},
		"DDL": func(q store.Querier) error {
			rows, err := q.Query(ctx, `CREATE TABLE mischief (id int)`)
			if err != nil {
				return err
			}
			rows.Close()
			return rows.Err()
		},
	}
	for name, write := range writes {
		err := s.ReadOnly(ctx, write)
		assert.True(t, readOnlyViolation(err), "%s: want PostgreSQL's read-only refusal, got %v", name, err)
	}

	// The ways out of the transaction.
	err = s.ReadOnly(ctx, func(q store.Querier) error {
		rows, err := q.Query(ctx, `SET TRANSACTION READ WRITE`)
		if err != nil {
			return err
		}
		rows.Close()
		return rows.Err()
	})
	assert.Error(t, err, "SET TRANSACTION READ WRITE is refused")
	err = s.ReadOnly(ctx, func(q store.Querier) error {
		rows, err := q.Query(ctx, `COMMIT`)
		if err != nil {
			return err
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		var id string
		return q.QueryRow(ctx, `INSERT INTO customers (id, name) VALUES ($1, $2) RETURNING id`, "c_3", "after commit").Scan(&id)
	})
	assert.ErrorContains(t, err, "ended by a statement in it", "no query runs after a COMMIT of the holder's")
	err = s.ReadOnly(ctx, func(q store.Querier) error {
		rows, err := q.Query(ctx, `COMMIT; INSERT INTO customers (id, name) VALUES ('c_4', 'simple protocol')`, pgx.QueryExecModeSimpleProtocol)
		if err != nil {
			return err
		}
		rows.Close()
		return rows.Err()
	})
	assert.ErrorContains(t, err, "not pgx query options")

	// Nothing was written.
	db := storetest.DB(t, url)
	var n int
	require.NoError(t, db.QueryRow(ctx, `SELECT count(*) FROM customers`).Scan(&n))
	assert.Equal(t, 1, n)
	require.NoError(t, db.QueryRow(ctx, `SELECT name FROM customers WHERE id = 'c_1'`).Scan(&name))
	assert.Equal(t, "Ada", name)
	require.NoError(t, db.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tablename = 'mischief'`).Scan(&n))
	assert.Zero(t, n)
}

// ReadOnly returns fn's error, and gives its connection back whatever fn
// did: many more calls than the pool has connections all run.
func TestReadOnlyReturnsItsConnection(t *testing.T) {
	t.Parallel()
	s, _ := storetest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	mine := errors.New("mine")
	for i := range 40 {
		err := s.ReadOnly(ctx, func(q store.Querier) error {
			switch i % 4 {
			case 0:
				return mine
			case 1:
				var x int
				return q.QueryRow(ctx, `SELECT 1/0`).Scan(&x) // the transaction is aborted
			case 2:
				_, err := q.Query(ctx, `SELECT generate_series(1, 10)`) // rows left open
				return err
			default:
				var x int
				return q.QueryRow(ctx, `SELECT $1::int`, i).Scan(&x)
			}
		})
		switch i % 4 {
		case 0:
			require.ErrorIs(t, err, mine, "call %d", i)
		case 1:
			require.Error(t, err, "call %d", i)
		default:
			require.NoError(t, err, "call %d", i)
		}
	}
	require.NoError(t, s.Ping(ctx))
}

func TestPingSaysWhetherTheDatabaseAnswers(t *testing.T) {
	t.Parallel()
	s, url := storetest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, s.Ping(ctx))

	other, err := store.Open(ctx, url)
	require.NoError(t, err)
	other.Close()
	assert.Error(t, other.Ping(ctx), "a closed store does not answer")
}

func TestCopyCustomersLoadsThemWithTheirOrderFigures(t *testing.T) {
	t.Parallel()
	s, _ := storetest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	last := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	rows := []store.CustomerRow{
		{ID: "cust-1", Email: "one@example.com", Name: "One", Locale: "en-GB", TimeZone: "Europe/London", Country: "GB",
			OrdersCount: 3, LifetimeValue: money.MustParse("94.50"), LastOrderAt: &last},
		{ID: "cust-2", Name: "Two", Country: "FR"}, // never ordered, no email
	}
	n, err := s.CopyCustomers(ctx, slices.Values(rows))
	require.NoError(t, err)
	assert.Equal(t, int64(2), n)

	one, err := s.GetCustomer(ctx, "cust-1")
	require.NoError(t, err)
	assert.Equal(t, "one@example.com", one.Email)
	assert.Equal(t, "Europe/London", one.TimeZone)
	assert.Equal(t, "GB", one.Address.Country)
	two, err := s.GetCustomer(ctx, "cust-2")
	require.NoError(t, err)
	assert.Empty(t, two.Email)
	known, err := s.KnownCustomers(ctx, []string{"cust-1", "cust-2"})
	require.NoError(t, err)
	assert.Len(t, known, 2)

	type figures struct {
		orders    int
		value     string
		last      *time.Time
		reltuples float64
	}
	read := func(id string) figures {
		var f figures
		require.NoError(t, s.ReadOnly(ctx, func(q store.Querier) error {
			return q.QueryRow(ctx, `SELECT orders_count, lifetime_value::text, last_order_at,
				(SELECT reltuples FROM pg_class WHERE relname = 'customers') FROM customers WHERE id = $1`, id).
				Scan(&f.orders, &f.value, &f.last, &f.reltuples)
		}))
		return f
	}
	f := read("cust-1")
	assert.Equal(t, 3, f.orders)
	assert.Equal(t, "94.50", f.value)
	require.NotNil(t, f.last)
	assert.True(t, last.Equal(*f.last))
	assert.Equal(t, 2.0, f.reltuples, "the table was analyzed")
	f = read("cust-2")
	assert.Zero(t, f.orders)
	assert.Nil(t, f.last)

	// An id already stored fails the copy, and none of it is loaded.
	again := func(yield func(store.CustomerRow) bool) {
		for i := 3; i <= 5; i++ {
			if !yield(store.CustomerRow{ID: fmt.Sprintf("cust-%d", i)}) {
				return
			}
		}
		yield(store.CustomerRow{ID: "cust-1"})
	}
	_, err = s.CopyCustomers(ctx, iter.Seq[store.CustomerRow](again))
	require.Error(t, err)
	known, err = s.KnownCustomers(ctx, []string{"cust-3", "cust-4", "cust-5"})
	require.NoError(t, err)
	assert.Empty(t, known)
}
