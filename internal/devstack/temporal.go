// Package devstack runs the pieces Rapport needs on a laptop or in a test: an
// embedded Temporal server with its web UI, backed by SQLite. It is used by
// `rapport dev` and by the integration tests; production talks to a real
// Temporal cluster instead.
package devstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uiserveroptions "github.com/temporalio/ui-server/v2/server/server_options"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log/tag"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"

	"github.com/rapporthq/rapport/internal/lanes"
	"github.com/rapporthq/rapport/internal/temporalsetup"
)

// The number of history shards of the embedded server: its workflows are
// spread over them, each shard updated by one history host at a time.
// One on SQLite; four on PostgreSQL, as a small cluster might have.
const (
	SQLiteHistoryShards   = 1
	PostgresHistoryShards = 4
)

// TemporalOptions configures an embedded Temporal server.
type TemporalOptions struct {
	// IP to bind every listener to. Defaults to 127.0.0.1.
	IP string
	// FrontendPort is the gRPC port clients and workers dial. 0 picks a free port.
	FrontendPort int
	// UIPort is the web UI's port. 0 picks a free port; -1 disables the UI.
	UIPort int
	// UICodecEndpoint, when set, is the codec server the UI uses to decode payloads.
	UICodecEndpoint string
	// Namespace to create. Defaults to "default".
	Namespace string
	// DatabaseFile is the SQLite file holding the server's state. Empty keeps
	// everything in memory (tests).
	DatabaseFile string
	// PostgresURL, when set, keeps the server's state in PostgreSQL instead
	// of SQLite (DatabaseFile is then ignored), as a production cluster
	// does: postgres://user:password@host:port/temporal?sslmode=disable.
	// The database it names holds the history and a second one, named
	// with "_visibility" appended, holds visibility; both are created and
	// given Temporal's schema if missing (see SetupPostgres).
	PostgresURL string
	// SearchAttributes are registered on the namespace at start, idempotently.
	SearchAttributes map[string]enumspb.IndexedValueType
	// Logger receives the server's logs. Server logs below LogLevel are dropped.
	Logger   *slog.Logger
	LogLevel slog.Level
	// Dynamic sets more of the server's dynamic configuration, by key
	// (such as "matching.PollerHistoryTTL"): tests shorten what they wait
	// for.
	Dynamic map[string]any
	// pickPort chooses the gRPC ports of the services behind the
	// frontend (nil: freePort); tests hand out a taken one.
	pickPort func(ip string) (int, error)
}

// Temporal is a running embedded Temporal server.
type Temporal struct {
	server    temporal.Server
	logLevel  *slog.LevelVar
	ui        *uiserver.Server
	address   string
	uiURL     string
	namespace string
}

// StartTemporal starts an embedded Temporal server (all four services in one
// process) and, unless disabled, its web UI. It returns once the frontend
// accepts calls and the namespace's search attributes are registered.
func StartTemporal(ctx context.Context, opts TemporalOptions) (*Temporal, error) {
	if opts.IP == "" {
		opts.IP = "127.0.0.1"
	}
	if opts.Namespace == "" {
		opts.Namespace = "default"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	var err error
	autoFrontend := opts.FrontendPort == 0
	if !autoFrontend {
		if err := checkPortFree(opts.IP, opts.FrontendPort); err != nil {
			return nil, fmt.Errorf("temporal frontend: %w", err)
		}
	}
	autoUI := opts.UIPort == 0
	if opts.UIPort > 0 {
		if err := checkPortFree(opts.IP, opts.UIPort); err != nil {
			return nil, fmt.Errorf("temporal UI: %w", err)
		}
	}

	// The services' ports are chosen free, then bound by the server a
	// moment later; should another process take one in between, start
	// again with other ports.
	var server temporal.Server
	var level *slog.LevelVar
	for attempt := 1; ; attempt++ {
		if autoFrontend {
			if opts.FrontendPort, err = freePort(opts.IP); err != nil {
				return nil, err
			}
		}
		server, level, err = startServer(opts)
		if err == nil {
			break
		}
		if attempt == 5 || !strings.Contains(err.Error(), "address already in use") {
			return nil, err
		}
		opts.Logger.Warn("a port was taken while the Temporal server started; trying other ports", "error", err)
	}
	t := &Temporal{
		server:    server,
		logLevel:  level,
		address:   net.JoinHostPort(opts.IP, strconv.Itoa(opts.FrontendPort)),
		namespace: opts.Namespace,
	}
	if err := t.waitReady(ctx, opts.SearchAttributes); err != nil {
		server.Stop()
		return nil, err
	}
	if autoUI {
		// Chosen only now, a moment before the UI binds it: the UI server
		// ends the process when its port is taken (its logger's Fatal), so
		// the window in which another process could take it is kept to
		// the least, not the seconds the server above takes to start.
		if opts.UIPort, err = freePort(opts.IP); err != nil {
			t.Stop()
			return nil, err
		}
	}
	if opts.UIPort > 0 {
		t.ui = uiserver.NewServer(uiserveroptions.WithConfigProvider(&uiconfig.Config{
			Host:                opts.IP,
			Port:                opts.UIPort,
			TemporalGRPCAddress: t.address,
			EnableUI:            true,
			DefaultNamespace:    opts.Namespace,
			Codec:               uiconfig.Codec{Endpoint: opts.UICodecEndpoint},
			CORS:                uiconfig.CORS{CookieInsecure: true},
			HideLogs:            true,
			DisableNewsFetch:    true,
		}))
		uiErr := make(chan error, 1)
		go func() { uiErr <- t.ui.Start() }()
		if err := waitListening(ctx, net.JoinHostPort(opts.IP, strconv.Itoa(opts.UIPort)), uiErr); err != nil {
			t.Stop()
			return nil, fmt.Errorf("temporal UI: %w", err)
		}
		t.uiURL = fmt.Sprintf("http://%s", net.JoinHostPort(opts.IP, strconv.Itoa(opts.UIPort)))
	}
	return t, nil
}

// startServer builds and starts the server with the ports in opts.
func startServer(opts TemporalOptions) (server temporal.Server, level *slog.LevelVar, err error) {
	// A port taken between freePort and the server binding it: the
	// server's logger panics (see slogLogger.Fatal) while the server is
	// built, and the caller tries again with other ports.
	defer func() {
		if p := recover(); p != nil {
			lf, ok := p.(listenFailure)
			if !ok {
				panic(p)
			}
			server, level, err = nil, nil, fmt.Errorf("start temporal server: %s (address already in use)", lf)
		}
	}()
	conf, err := serverConfig(opts)
	if err != nil {
		return nil, nil, err
	}
	level = &slog.LevelVar{}
	level.Set(opts.LogLevel)
	logger := slogLogger{log: opts.Logger, level: level}
	authorizer, err := authorization.GetAuthorizerFromConfig(&conf.Global.Authorization)
	if err != nil {
		return nil, nil, fmt.Errorf("temporal authorizer: %w", err)
	}
	claimMapper, err := authorization.GetClaimMapperFromConfig(&conf.Global.Authorization, logger)
	if err != nil {
		return nil, nil, fmt.Errorf("temporal claim mapper: %w", err)
	}
	hosts := map[primitives.ServiceName]static.Hosts{}
	for _, svc := range []primitives.ServiceName{primitives.FrontendService, primitives.HistoryService, primitives.MatchingService, primitives.WorkerService} {
		hosts[svc] = static.SingleLocalHost(net.JoinHostPort(opts.IP, strconv.Itoa(conf.Services[string(svc)].RPC.GRPCPort)))
	}
	dyn := dynamicconfig.StaticClient{
		dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key():      true,
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 1000,
		dynamicconfig.HistoryCacheHostLevelMaxSize.Key():                 8096,
		// Deleting a closed execution waits until its close is acknowledged
		// by the transfer and visibility queues; by default they record that
		// every 30s, which made erasing a customer take half a minute.
		dynamicconfig.TransferProcessorUpdateAckInterval.Key():   time.Second,
		dynamicconfig.VisibilityProcessorUpdateAckInterval.Key(): time.Second,
	}
	for k, v := range LaneSettings() {
		dyn[k] = v
	}
	for k, v := range opts.Dynamic {
		dyn[dynamicconfig.MakeKey(k)] = v
	}
	server, err = temporal.NewServer(
		temporal.WithConfig(conf),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithStaticHosts(hosts),
		temporal.WithLogger(logger),
		temporal.WithAuthorizer(authorizer),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return claimMapper }),
		temporal.WithDynamicConfigClient(dyn),
	)
	if err != nil {
		return nil, nil, fmt.Errorf("build temporal server: %w", err)
	}
	if err := server.Start(); err != nil {
		return nil, nil, fmt.Errorf("start temporal server: %w", err)
	}
	return server, level, nil
}

// LaneSettings are the dynamic configuration that gives Rapport's lanes
// (internal/lanes) effect, as deploy/temporal/dynamicconfig.yaml gives
// them on a real cluster: tasks dispatched by priority key (the new
// matcher, with lanes.Levels levels), then fairly among the fairness
// keys (journeys) of a level.
func LaneSettings() map[dynamicconfig.Key]any {
	return map[dynamicconfig.Key]any{
		dynamicconfig.MatchingUseNewMatcher.Key():  true,
		dynamicconfig.MatchingEnableFairness.Key(): true,
		dynamicconfig.MatchingPriorityLevels.Key(): lanes.Levels,
	}
}

// Address is the frontend's host:port, for client.Dial.
func (t *Temporal) Address() string { return t.address }

// Namespace is the namespace the server was started with.
func (t *Temporal) Namespace() string { return t.namespace }

// UIURL is the web UI's base URL, or "" when the UI is disabled.
func (t *Temporal) UIURL() string { return t.uiURL }

// Stop shuts the UI and the server down. The services' complaints about
// each other going away are silenced.
func (t *Temporal) Stop() {
	t.logLevel.Set(slog.LevelError + 4)
	if t.ui != nil {
		t.ui.Stop()
	}
	t.server.Stop()
}

// waitReady polls the frontend until it answers for the namespace, then
// registers the search attributes (a no-op for those already present).
func (t *Temporal) waitReady(ctx context.Context, attrs map[string]enumspb.IndexedValueType) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	c, err := client.Dial(client.Options{HostPort: t.address, Namespace: t.namespace, Logger: quietSDKLogger{}})
	if err != nil {
		return fmt.Errorf("dial embedded temporal: %w", err)
	}
	defer c.Close()
	for {
		_, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: t.namespace})
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("embedded temporal did not become ready: %w", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	_, err = temporalsetup.EnsureSearchAttributes(ctx, c, t.namespace, attrs)
	return err
}

func serverConfig(opts TemporalOptions) (*config.Config, error) {
	var conf config.Config
	conf.Global.Membership.MaxJoinDuration = 30 * time.Second
	conf.Global.Membership.BroadcastAddress = opts.IP

	if opts.PostgresURL != "" {
		if err := postgresPersistence(&conf, opts); err != nil {
			return nil, err
		}
	} else if err := sqlitePersistence(&conf, opts); err != nil {
		return nil, err
	}

	frontend := net.JoinHostPort(opts.IP, strconv.Itoa(opts.FrontendPort))
	httpPort, err := freePort(opts.IP)
	if err != nil {
		return nil, err
	}
	conf.ClusterMetadata = &cluster.Config{
		FailoverVersionIncrement: 10,
		MasterClusterName:        "active",
		CurrentClusterName:       "active",
		ClusterInformation: map[string]cluster.ClusterInformation{
			"active": {
				Enabled:                true,
				InitialFailoverVersion: 1,
				RPCAddress:             frontend,
				HTTPAddress:            net.JoinHostPort(opts.IP, strconv.Itoa(httpPort)),
				ClusterID:              "1c2a4b7e-5d0f-4a3e-9b8c-7d6e5f4a3b2c",
			},
		},
	}
	conf.DCRedirectionPolicy.Policy = "noop"
	conf.Services = map[string]config.Service{}
	for _, name := range []string{"frontend", "history", "matching", "worker"} {
		var svc config.Service
		svc.RPC.BindOnIP = opts.IP
		if name == "frontend" {
			svc.RPC.GRPCPort = opts.FrontendPort
			svc.RPC.HTTPPort = httpPort
		} else if svc.RPC.GRPCPort, err = opts.servicePort(opts.IP); err != nil {
			return nil, err
		}
		conf.Services[name] = svc
	}
	conf.Archival.History.State = "disabled"
	conf.Archival.Visibility.State = "disabled"
	conf.NamespaceDefaults.Archival.History.State = "disabled"
	conf.NamespaceDefaults.Archival.Visibility.State = "disabled"
	conf.PublicClient.HostPort = frontend
	return &conf, nil
}

// sqlitePersistence keeps the server's state in SQLite: DatabaseFile, or
// memory.
func sqlitePersistence(conf *config.Config, opts TemporalOptions) error {
	sqlConf := config.SQL{PluginName: sqliteplugin.PluginName}
	if opts.DatabaseFile == "" {
		sqlConf.ConnectAttributes = map[string]string{"mode": "memory", "cache": "shared"}
		sqlConf.DatabaseName = fmt.Sprintf("rapport-%d-%d", os.Getpid(), time.Now().UnixNano())
	} else {
		sqlConf.ConnectAttributes = map[string]string{"mode": "rwc", "_journal_mode": "WAL", "_synchronous": "NORMAL"}
		sqlConf.DatabaseName = opts.DatabaseFile
		if err := os.MkdirAll(filepath.Dir(opts.DatabaseFile), 0o755); err != nil {
			return fmt.Errorf("temporal database directory: %w", err)
		}
		if _, err := os.Stat(opts.DatabaseFile); errors.Is(err, os.ErrNotExist) {
			if err := sqliteschema.SetupSchema(&sqlConf); err != nil {
				return fmt.Errorf("set up temporal sqlite schema: %w", err)
			}
		}
	}
	// (An in-memory database gets its schema from the SQLite plugin.)
	ns, err := sqliteschema.NewNamespaceConfig("active", opts.Namespace, false, opts.SearchAttributes)
	if err != nil {
		return fmt.Errorf("temporal namespace config: %w", err)
	}
	if err := sqliteschema.CreateNamespaces(&sqlConf, ns); err != nil {
		return fmt.Errorf("create temporal namespace: %w", err)
	}
	conf.Persistence.DefaultStore = "sqlite-default"
	conf.Persistence.VisibilityStore = "sqlite-default"
	conf.Persistence.NumHistoryShards = SQLiteHistoryShards
	conf.Persistence.DataStores = map[string]config.DataStore{"sqlite-default": {SQL: &sqlConf}}
	return nil
}

// servicePort chooses a service's gRPC port.
func (o TemporalOptions) servicePort(ip string) (int, error) {
	if o.pickPort != nil {
		return o.pickPort(ip)
	}
	return freePort(ip)
}

// freePort finds a port nothing listens on, outside the range the kernel
// hands out for outgoing connections (so a busy client cannot take it
// before the server binds it), at random so parallel stacks rarely meet.
func freePort(ip string) (int, error) {
	low, high := 10000, 32767
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		var from, to int
		if _, err := fmt.Sscan(string(b), &from, &to); err == nil && from > low+1000 {
			high = from - 1
		}
	}
	for range 50 {
		port := low + rand.IntN(high-low+1)
		l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
		if err == nil {
			l.Close()
			return port, nil
		}
	}
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func checkPortFree(ip string, port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("port %d on %s is already in use; stop what holds it or choose another port with a flag", port, ip)
	}
	return l.Close()
}

// waitListening waits until something accepts TCP connections at addr, or
// the starting server reports an error.
func waitListening(ctx context.Context, addr string, failed <-chan error) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			return c.Close()
		}
		select {
		case err := <-failed:
			return err
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("nothing listening on %s after 30s", addr)
}

// slogLogger adapts slog to the server's logger interface.
type slogLogger struct {
	log   *slog.Logger
	level *slog.LevelVar
}

func (s slogLogger) Debug(msg string, tags ...tag.Tag) { s.emit(slog.LevelDebug, msg, tags) }
func (s slogLogger) Info(msg string, tags ...tag.Tag)  { s.emit(slog.LevelInfo, msg, tags) }
func (s slogLogger) Warn(msg string, tags ...tag.Tag)  { s.emit(slog.LevelWarn, msg, tags) }
func (s slogLogger) Error(msg string, tags ...tag.Tag) { s.emit(slog.LevelError, msg, tags) }
func (s slogLogger) DPanic(msg string, tags ...tag.Tag) {
	s.emit(slog.LevelError, msg, tags)
}
func (s slogLogger) Panic(msg string, tags ...tag.Tag) { s.emit(slog.LevelError, msg, tags) }

// Fatal logs; the server means it to end the process. When it cannot
// bind a service's port (another process took the free port it was
// given), it panics with a listenFailure instead: the server would go on
// with no listener and crash later, and startServer, which builds the
// server, recovers it and starts again with other ports.
func (s slogLogger) Fatal(msg string, tags ...tag.Tag) {
	s.emit(slog.LevelError, msg, tags)
	if msg == grpcListenerFailed {
		panic(listenFailure(fmt.Sprintf("%s: %s", msg, tagText(tags))))
	}
}

// grpcListenerFailed is what the server logs when it cannot bind a
// service's gRPC port (go.temporal.io/server/common/rpc).
const grpcListenerFailed = "Failed to start gRPC listener"

// listenFailure is the panic of slogLogger.Fatal for a port the server
// could not bind.
type listenFailure string

func tagText(tags []tag.Tag) string {
	parts := make([]string, 0, len(tags))
	for _, t := range tags {
		parts = append(parts, fmt.Sprintf("%s=%v", t.Key(), t.Value()))
	}
	return strings.Join(parts, " ")
}

func (s slogLogger) emit(level slog.Level, msg string, tags []tag.Tag) {
	if level < s.level.Level() || !s.log.Enabled(context.Background(), level) {
		return
	}
	attrs := make([]slog.Attr, len(tags))
	for i, t := range tags {
		attrs[i] = slog.Any(t.Key(), t.Value())
	}
	s.log.LogAttrs(context.Background(), level, msg, attrs...)
}

// quietSDKLogger silences the SDK client used for readiness checks.
type quietSDKLogger struct{}

func (quietSDKLogger) Debug(string, ...any) {}
func (quietSDKLogger) Info(string, ...any)  {}
func (quietSDKLogger) Warn(string, ...any)  {}
func (quietSDKLogger) Error(string, ...any) {}
