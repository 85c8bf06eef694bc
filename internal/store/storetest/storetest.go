// Package storetest gives each test its own freshly migrated database, so
// tests never touch dev data and can run in parallel.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rapporthq/rapport/internal/devstack/pglocal"
	"github.com/rapporthq/rapport/internal/store"
)

var (
	serverOnce sync.Once
	server     *pglocal.Server
	serverErr  error
)

// Server returns the PostgreSQL server tests use: DATABASE_URL, else
// 127.0.0.1:5432, else a private cluster from the installed binaries, made
// once per test binary in a temporary folder. It fails the test with a
// message saying how to get PostgreSQL when there is none.
func Server(t testing.TB) *pglocal.Server {
	t.Helper()
	serverOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		dir := filepath.Join(os.TempDir(), "rapport-test-pg-"+randomSuffix())
		server, serverErr = pglocal.Find(ctx, pglocal.Options{DataDir: dir})
		if serverErr == nil {
			// Databases a killed test run left behind go now; failing to
			// drop them fails no test.
			if _, err := DropStale(ctx, server.URL, time.Now()); err != nil {
				fmt.Fprintf(os.Stderr, "storetest: dropping stale test databases: %v\n", err)
			}
		}
	})
	if serverErr != nil {
		t.Fatalf("tests need PostgreSQL: %v", serverErr)
	}
	return server
}

// New creates an empty database named after the test, migrates it, and
// drops it when the test ends. It returns the open store and its URL.
func New(t testing.TB, opts ...store.Option) (*store.Store, string) {
	t.Helper()
	srv := Server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	name := databaseName(time.Now())
	if err := pglocal.EnsureDatabase(ctx, srv.URL, name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := pglocal.DropDatabase(ctx, srv.URL, name); err != nil {
			t.Logf("drop test database %s: %v", name, err)
		}
	})
	url, err := pglocal.WithDatabase(srv.URL, name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(ctx, url, append([]store.Option{store.WithHashKey([]byte(HashSecret))}, opts...)...)
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	t.Cleanup(s.Close)
	if err := s.Migrate(ctx, nil); err != nil {
		t.Fatalf("migrate test database: %v", err)
	}
	return s, url
}

// DB opens a connection pool of its own on a test database (the URL New
// returned), closed when the test ends: for tests to arrange and inspect
// rows no store method reaches (backdate a message, count rows). The
// store keeps its own pool to itself.
func DB(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, url)
	if err == nil {
		err = pool.Ping(ctx)
	}
	if err != nil {
		t.Fatalf("connect to test database: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// HashSecret is the secret test stores key erasure's hashes with.
const HashSecret = "rapport test secret: not for production"

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
