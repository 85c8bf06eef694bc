package devstack

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// TestTemporalOnPostgres starts the server with PostgreSQL persistence on
// the machine's server (fresh databases), runs a workflow, and starts it
// again on the same databases: the schema is set up once and the history
// is kept.
func TestTemporalOnPostgres(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	admin := "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	name := fmt.Sprintf("rapport_test_temporal_%d", time.Now().UnixNano())
	conn, err := pgx.Connect(ctx, admin)
	require.NoError(t, err, "PostgreSQL on 127.0.0.1:5432 is needed")
	t.Cleanup(func() {
		for _, db := range []string{name, name + "_visibility"} {
			_, _ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)")
		}
		conn.Close(context.Background())
	})
	u := "postgres://postgres@127.0.0.1:5432/" + name + "?sslmode=disable"
	attrs := map[string]enumspb.IndexedValueType{"RapportJourney": enumspb.INDEXED_VALUE_TYPE_KEYWORD}

	srv, err := StartTemporal(ctx, TemporalOptions{UIPort: -1, PostgresURL: u, SearchAttributes: attrs})
	require.NoError(t, err)
	c, err := client.Dial(client.Options{HostPort: srv.Address(), Logger: quietSDKLogger{}})
	require.NoError(t, err)
	w := worker.New(c, "pg", worker.Options{})
	w.RegisterWorkflowWithOptions(func(ctx workflow.Context, s string) (string, error) { return "hello " + s, nil }, workflow.RegisterOptions{Name: "hello"})
	require.NoError(t, w.Start())
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "pg-hello", TaskQueue: "pg"}, "hello", "postgres")
	require.NoError(t, err)
	var got string
	require.NoError(t, run.Get(ctx, &got))
	assert.Equal(t, "hello postgres", got)
	w.Stop()
	c.Close()
	srv.Stop()

	var tables int
	require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname IN ($1, $2)", name, name+"_visibility").Scan(&tables))
	assert.Equal(t, 2, tables, "history and visibility databases")

	srv, err = StartTemporal(ctx, TemporalOptions{UIPort: -1, PostgresURL: u, SearchAttributes: attrs})
	require.NoError(t, err, "a second start finds the schema in place")
	defer srv.Stop()
	c, err = client.Dial(client.Options{HostPort: srv.Address(), Logger: quietSDKLogger{}})
	require.NoError(t, err)
	defer c.Close()
	desc, err := c.DescribeWorkflowExecution(ctx, "pg-hello", "")
	require.NoError(t, err, "the history survived the restart")
	assert.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, desc.GetWorkflowExecutionInfo().GetStatus())
	list, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: "default"})
	require.NoError(t, err)
	assert.Contains(t, list.GetCustomAttributes(), "RapportJourney")
}

func TestPostgresSQLConfig(t *testing.T) {
	c, err := PostgresSQLConfig("postgres://u:p%40ss@db.example:6543/temporal?sslmode=require")
	require.NoError(t, err)
	assert.Equal(t, "db.example:6543", c.ConnectAddr)
	assert.Equal(t, "u", c.User)
	assert.Equal(t, "p@ss", c.Password)
	assert.Equal(t, "temporal", c.DatabaseName)
	assert.Equal(t, "require", c.ConnectAttributes["sslmode"])
	assert.Equal(t, "postgres12_pgx", c.PluginName)
	c, err = PostgresSQLConfig("postgres://u@db.example/t")
	require.NoError(t, err)
	assert.Equal(t, "db.example:5432", c.ConnectAddr)
	_, err = PostgresSQLConfig("postgres://u@db.example/")
	assert.ErrorContains(t, err, "names no database")
	_, err = PostgresSQLConfig("mysql://u@db.example/t")
	assert.ErrorContains(t, err, "not a postgres:// URL")
}
