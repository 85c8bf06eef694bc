package devstack

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/metrics"
	"go.temporal.io/server/common/persistence"
	"go.temporal.io/server/common/persistence/sql"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"
	pgplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql"
	"go.temporal.io/server/common/resolver"
	dbschemas "go.temporal.io/server/schema"
	pgschema "go.temporal.io/server/schema/postgresql/v12"
	sqliteschema "go.temporal.io/server/schema/sqlite"
)

// postgresPersistence keeps the server's state in PostgreSQL at
// opts.PostgresURL: history in its database, visibility in the database
// of the same name with "_visibility" appended.
func postgresPersistence(conf *config.Config, opts TemporalOptions) error {
	main, err := PostgresSQLConfig(opts.PostgresURL)
	if err != nil {
		return err
	}
	vis := *main
	vis.DatabaseName = main.DatabaseName + "_visibility"
	if err := SetupPostgres(context.Background(), opts.PostgresURL); err != nil {
		return err
	}
	// The namespace is written straight into the database, as for SQLite:
	// the server then starts with it (the SQL is not SQLite's own).
	ns, err := sqliteschema.NewNamespaceConfig("active", opts.Namespace, false, opts.SearchAttributes)
	if err != nil {
		return fmt.Errorf("temporal namespace config: %w", err)
	}
	if err := sqliteschema.CreateNamespaces(main, ns); err != nil {
		return fmt.Errorf("create temporal namespace in postgres: %w", err)
	}
	conf.Persistence.DefaultStore = "postgres-default"
	conf.Persistence.VisibilityStore = "postgres-visibility"
	conf.Persistence.NumHistoryShards = PostgresHistoryShards
	conf.Persistence.DataStores = map[string]config.DataStore{
		"postgres-default":    {SQL: main},
		"postgres-visibility": {SQL: &vis},
	}
	return nil
}

// PostgresSQLConfig turns a postgres:// URL into the server's SQL
// configuration (the pgx driver; query parameters such as sslmode become
// connect attributes). The URL must name a database.
func PostgresSQLConfig(u string) (*config.SQL, error) {
	parsed, err := url.Parse(u)
	if err != nil || (parsed.Scheme != "postgres" && parsed.Scheme != "postgresql") {
		return nil, fmt.Errorf("temporal postgres: %q is not a postgres:// URL", redactURL(u))
	}
	db := strings.TrimPrefix(parsed.Path, "/")
	if db == "" {
		return nil, fmt.Errorf("temporal postgres: %s names no database (add /temporal)", redactURL(u))
	}
	host := parsed.Host
	if parsed.Port() == "" {
		host = net.JoinHostPort(parsed.Hostname(), "5432")
	}
	c := &config.SQL{
		PluginName:        pgplugin.PluginNamePGX,
		DatabaseName:      db,
		ConnectAddr:       host,
		ConnectProtocol:   "tcp",
		User:              parsed.User.Username(),
		ConnectAttributes: map[string]string{},
		MaxConns:          20,
		MaxIdleConns:      20,
	}
	c.Password, _ = parsed.User.Password()
	for k, v := range parsed.Query() {
		c.ConnectAttributes[k] = v[len(v)-1]
	}
	return c, nil
}

// SetupPostgres creates Temporal's two databases on the server of u (the
// database u names, and that name with "_visibility") unless they exist,
// and gives each Temporal's schema at its current version unless it has
// one, as `temporal-sql-tool create-database` and `setup-schema` would.
func SetupPostgres(ctx context.Context, u string) error {
	main, err := PostgresSQLConfig(u)
	if err != nil {
		return err
	}
	vis := *main
	vis.DatabaseName = main.DatabaseName + "_visibility"
	for _, s := range []struct {
		cfg     *config.SQL
		dir     string
		version string
	}{
		{main, "postgresql/v12/temporal", pgschema.Version},
		{&vis, "postgresql/v12/visibility", pgschema.VisibilityVersion},
	} {
		if err := createDatabase(ctx, u, s.cfg.DatabaseName); err != nil {
			return err
		}
		if err := setupSchema(s.cfg, s.dir, s.version); err != nil {
			return fmt.Errorf("temporal schema in %s: %w", s.cfg.DatabaseName, err)
		}
	}
	return nil
}

// createDatabase creates database name on the server of u unless it
// exists, connecting to the server's postgres database.
func createDatabase(ctx context.Context, u, name string) error {
	parsed, err := url.Parse(u)
	if err != nil {
		return err
	}
	parsed.Path = "/postgres"
	conn, err := pgx.Connect(ctx, parsed.String())
	if err != nil {
		return fmt.Errorf("temporal postgres: connect to %s: %w", parsed.Redacted(), err)
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("temporal postgres: %w", err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("temporal postgres: create database %s: %w", name, err)
	}
	return nil
}

// setupSchema runs dir/schema.sql of the server's embedded schemas and
// records version, unless the database already records a version.
func setupSchema(cfg *config.SQL, dir, version string) error {
	db, err := sql.NewSQLAdminDB(sqlplugin.DbKindUnknown, cfg, resolver.NewNoopResolver(), log.NewNoopLogger(), metrics.NoopMetricsHandler)
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }()
	if v, err := db.ReadSchemaVersion(cfg.DatabaseName); err == nil && v != "" {
		return nil // set up earlier
	}
	if err := db.CreateSchemaVersionTables(); err != nil {
		return fmt.Errorf("schema version tables: %w", err)
	}
	raw, err := fs.ReadFile(dbschemas.Assets(), dir+"/schema.sql")
	if err != nil {
		return err
	}
	stmts, err := persistence.LoadAndSplitQueryFromReaders([]io.Reader{bytes.NewReader(raw)})
	if err != nil {
		return err
	}
	for _, stmt := range stmts {
		if err := db.Exec(stmt); err != nil {
			return fmt.Errorf("%.60s...: %w", stmt, err)
		}
	}
	if err := db.UpdateSchemaVersion(cfg.DatabaseName, version, version); err != nil {
		return err
	}
	return db.WriteSchemaUpdateLog("0", version, "", "initial version")
}

// redactURL hides a URL's password for messages.
func redactURL(u string) string {
	if p, err := url.Parse(u); err == nil {
		return p.Redacted()
	}
	return "(unparsable URL)"
}
