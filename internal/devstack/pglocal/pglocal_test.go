package pglocal

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPrivateCluster starts a cluster from the installed binaries, as
// `rapport dev` does when no server is running, and restarts it on the same
// data.
func TestPrivateCluster(t *testing.T) {
	if _, err := BinDir(); err != nil {
		t.Fatalf("PostgreSQL binaries are needed: %v", err)
	}
	t.Setenv("DATABASE_URL", "")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir() + "/pg"
	var logs []string
	srv, err := Find(ctx, Options{DataDir: dir, SkipLocal: true, Log: func(f string, a ...any) { logs = append(logs, f) }})
	require.NoError(t, err)
	require.NotNil(t, srv.cluster)
	require.NoError(t, EnsureDatabase(ctx, srv.URL, "rapport"))
	require.NoError(t, EnsureDatabase(ctx, srv.URL, "rapport"), "ensuring twice is fine")
	u, err := WithDatabase(srv.URL, "rapport")
	require.NoError(t, err)
	conn, err := pgx.Connect(ctx, u)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "CREATE TABLE kept (v int); INSERT INTO kept VALUES (7)")
	require.NoError(t, err)
	conn.Close(ctx)
	require.NoError(t, srv.Stop())

	srv, err = Find(ctx, Options{DataDir: dir, SkipLocal: true})
	require.NoError(t, err)
	defer srv.Stop()
	u, _ = WithDatabase(srv.URL, "rapport")
	conn, err = pgx.Connect(ctx, u)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var v int
	require.NoError(t, conn.QueryRow(ctx, "SELECT v FROM kept").Scan(&v))
	assert.Equal(t, 7, v, "a restarted cluster keeps its data")
	require.NoError(t, DropDatabase(ctx, srv.URL, "rapport"))
}

// TestStopStart stops a private cluster and starts it again on the same
// port, as `rapport chaos` does for an outage: while it is stopped nothing
// answers, and afterwards the same URL works with the data kept.
func TestStopStart(t *testing.T) {
	if _, err := BinDir(); err != nil {
		t.Fatalf("PostgreSQL binaries are needed: %v", err)
	}
	t.Setenv("DATABASE_URL", "postgres://nobody@127.0.0.1:1/ignored")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := Find(ctx, Options{DataDir: t.TempDir() + "/pg", Private: true})
	require.NoError(t, err, "Private ignores DATABASE_URL")
	defer srv.Stop()
	conn, err := pgx.Connect(ctx, srv.URL)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "CREATE TABLE kept (v int); INSERT INTO kept VALUES (7)")
	require.NoError(t, err)
	conn.Close(ctx)

	require.NoError(t, srv.Stop())
	require.Error(t, ping(ctx, srv.URL), "a stopped cluster answers nothing")
	require.NoError(t, srv.Start(ctx))
	require.Error(t, srv.Start(ctx), "starting a running cluster is refused")
	conn, err = pgx.Connect(ctx, srv.URL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var v int
	require.NoError(t, conn.QueryRow(ctx, "SELECT v FROM kept").Scan(&v))
	assert.Equal(t, 7, v)

	assert.Error(t, (&Server{URL: srv.URL}).Start(ctx), "a server we did not start cannot be started")
}

func TestDatabaseURLMustAnswer(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=1")
	_, err := Find(context.Background(), Options{})
	assert.ErrorContains(t, err, "DATABASE_URL is set but PostgreSQL there does not answer")
}

func TestWithDatabase(t *testing.T) {
	u, err := WithDatabase("postgres://u:p@h:5/old?sslmode=disable", "new")
	require.NoError(t, err)
	assert.Equal(t, "postgres://u:p@h:5/new?sslmode=disable", u)
	u, err = WithDatabase("host=h user=u", "new")
	require.NoError(t, err)
	assert.Equal(t, "host=h user=u dbname=new", u)
}
