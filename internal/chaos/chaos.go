package chaos

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"embed"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/rapporthq/rapport/internal/apikey"
	"github.com/rapporthq/rapport/internal/devstack/pglocal"
	"github.com/rapporthq/rapport/internal/fakes"
	"github.com/rapporthq/rapport/internal/phone"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

//go:embed journeys
var journeyFiles embed.FS

// The journeys' sends: journey, step id and channel. They match
// journeys/chaos.yaml and journeys/chaos-offer.yaml.
var journeySends = []struct{ journey, step, channel string }{
	{"chaos", "welcome_email", "email"}, {"chaos", "text", "sms"}, {"chaos", "postcard", "mail"}, {"chaos", "followup_email", "email"},
	{"chaos-offer", "offer", "email"},
}

// sendsOf are the sends of a profile's journeys.
func sendsOf(p Profile) []struct{ journey, step, channel string } {
	var out []struct{ journey, step, channel string }
	for _, s := range journeySends {
		if slices.Contains(p.Journeys, s.journey) {
			out = append(out, s)
		}
	}
	return out
}

// Channels are the channels the report lists, in order.
var Channels = []string{"email", "sms", "mail"}

// Credentials the fakes accept (the same as `rapport dev`'s).
const (
	sendGridKey = "SG.rapport-chaos"
	twilioSID   = "ACdeadbeefdeadbeefdeadbeefdeadbeef"
	twilioToken = "rapportchaostoken"
	twilioFrom  = "+15005550006"
	lobKey      = "test_rapport_chaos"
)

// Options configure a chaos run.
type Options struct {
	// Binary is the rapport executable the processes run (the driver's
	// own, os.Executable, from the command).
	Binary  string
	Profile Profile
	// Seed makes the provider faults repeatable; 0 draws one (printed).
	Seed uint64
	// SharedPostgres keeps Temporal's persistence on the cluster that is
	// stopped too, instead of a second cluster that stays up.
	SharedPostgres bool
	// Out receives progress lines and the report.
	Out io.Writer
	// KeepDir keeps the work folder (logs, data) for a look afterwards.
	KeepDir bool
}

// run is one chaos run under way.
type run struct {
	o              Options
	dir            string
	logf           func(format string, args ...any)
	pg, tpg        *pglocal.Server
	procs          []*proc
	workers        []*proc
	fakes          *fakes.Fakes
	proxy          *Proxy
	servers        []*http.Server
	store          *store.Store
	temporal       client.Client
	apiURL         string
	apiKey         string
	dbURL          string
	secret         string
	kills, outages int
	posted         atomic.Int64
	// sgDown are the SendGrid outages: when each began and ended.
	sgMu   sync.Mutex
	sgDown [][2]time.Time
}

// Run runs the profile and returns its report. It cleans up every process
// and folder it made, also when ctx ends (Ctrl-C).
func Run(ctx context.Context, o Options) (_ *Report, err error) {
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Seed == 0 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		o.Seed = binary.LittleEndian.Uint64(b[:]) >> 1
	}
	began := time.Now()
	r := &run{o: o}
	r.logf = func(format string, args ...any) {
		fmt.Fprintf(o.Out, "[%6.1fs] %s\n", time.Since(began).Seconds(), fmt.Sprintf(format, args...))
	}
	if r.dir, err = os.MkdirTemp("", "rapport-chaos-"); err != nil {
		return nil, err
	}
	// The postgres system user runs the clusters when we are root; it
	// must reach their folders.
	_ = os.Chmod(r.dir, 0o755)
	defer func() {
		r.cleanup()
		if o.KeepDir {
			fmt.Fprintf(o.Out, "chaos: logs and data kept in %s\n", r.dir)
		} else {
			_ = os.RemoveAll(r.dir)
		}
	}()
	r.logf("profile %s: %d customers, %d workers, seed %d, work folder %s", o.Profile.Name, o.Profile.Customers, o.Profile.Workers, o.Seed, r.dir)
	if err := r.start(ctx); err != nil {
		return nil, fmt.Errorf("chaos: start: %w (logs in %s)", err, r.dir)
	}
	if err := r.drive(ctx); err != nil {
		return nil, fmt.Errorf("chaos: %w", err)
	}
	r.settle(ctx)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	rep, err := r.report(ctx)
	if err != nil {
		return nil, fmt.Errorf("chaos: count: %w", err)
	}
	return rep, nil
}

// start brings the topology up: PostgreSQL, Temporal, the fakes behind
// the proxy (posting their signed delivery webhooks to the API), the API
// and the workers.
func (r *run) start(ctx context.Context) (err error) {
	r.logf("starting PostgreSQL (private cluster)")
	if r.pg, err = pglocal.Find(ctx, pglocal.Options{DataDir: filepath.Join(r.dir, "pg-rapport"), Private: true}); err != nil {
		return err
	}
	r.tpg = r.pg
	if !r.o.SharedPostgres {
		if r.tpg, err = pglocal.Find(ctx, pglocal.Options{DataDir: filepath.Join(r.dir, "pg-temporal"), Private: true}); err != nil {
			return err
		}
	}
	if err := pglocal.EnsureDatabase(ctx, r.pg.URL, "rapport"); err != nil {
		return err
	}
	if r.dbURL, err = pglocal.WithDatabase(r.pg.URL, "rapport"); err != nil {
		return err
	}
	temporalDB, err := pglocal.WithDatabase(r.tpg.URL, "temporal")
	if err != nil {
		return err
	}

	r.logf("starting the Temporal server (its own process, PostgreSQL persistence)")
	tport, err := freePort()
	if err != nil {
		return err
	}
	taddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(tport))
	tproc := r.newProc("temporal", []string{"chaos", "temporal-server", "--db", temporalDB, "--port", strconv.Itoa(tport)}, os.Environ())
	if err := tproc.run(); err != nil {
		return err
	}
	if r.temporal, err = waitTemporal(ctx, taddr, 3*time.Minute); err != nil {
		return err
	}

	// The database: migrated once here (processes migrate at start too,
	// and would race), an admin key for the driver, the customers.
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	r.secret = hex.EncodeToString(b)
	if r.store, err = store.Open(ctx, r.dbURL, store.WithHashKey([]byte(r.secret))); err != nil {
		return err
	}
	if err := r.store.Migrate(ctx, slog.New(slog.DiscardHandler)); err != nil {
		return err
	}
	if _, r.apiKey, err = r.store.CreateAPIKey(ctx, "chaos", []apikey.Scope{apikey.Admin}); err != nil {
		return err
	}
	if err := r.customers(ctx); err != nil {
		return err
	}

	journeysDir := filepath.Join(r.dir, "journeys")
	if err := writeJourneys(journeysDir, r.o.Profile.Journeys); err != nil {
		return err
	}

	r.fakes = fakes.New(fakes.Config{SendGridAPIKey: sendGridKey, TwilioAccountSID: twilioSID, TwilioAuthToken: twilioToken, LobAPIKey: lobKey})
	r.proxy = NewProxy(r.fakes, r.o.Seed)
	fakesURL, err := r.serve(r.proxy)
	if err != nil {
		return err
	}

	apiPort, err := freePort()
	if err != nil {
		return err
	}
	opsPort, err := freePort()
	if err != nil {
		return err
	}
	r.apiURL = "http://127.0.0.1:" + strconv.Itoa(apiPort)
	// The fakes report deliveries as the providers do, straight to the
	// API (not through the fault proxy, which sits only in front of the
	// fakes): SendGrid's event webhook, signed with a key made here whose
	// public half the API is given, and Twilio's status callbacks, signed
	// with the auth token the API has too, over RAPPORT_PUBLIC_URL (the
	// API's address, which the workers also put in StatusCallback). Both
	// are retried while the API cannot take them (PostgreSQL down), so
	// they settle the sends left in doubt.
	sgKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("SendGrid event webhook key: %w", err)
	}
	sgPub, err := x509.MarshalPKIXPublicKey(&sgKey.PublicKey)
	if err != nil {
		return fmt.Errorf("SendGrid event webhook key: %w", err)
	}
	r.fakes.SendGrid.PostEvents(r.apiURL+"/webhooks/sendgrid", sgKey)
	r.fakes.Twilio.PostStatusCallbacks(true)
	env := append(os.Environ(),
		"DATABASE_URL="+r.dbURL, "TEMPORAL_ADDRESS="+taddr, "TEMPORAL_NAMESPACE=default",
		"RAPPORT_SECRET="+r.secret, "RAPPORT_JOURNEYS="+journeysDir, "RAPPORT_PUBLIC_URL="+r.apiURL,
		// With provider keys set, workers and the API refuse the demo's
		// sender identity, as in production.
		"RAPPORT_EMAIL_FROM=hello@chaos.rapport.test", "RAPPORT_SHOP_NAME=Chaos Tea Co",
		"RAPPORT_SHOP_URL=https://chaos.rapport.test", "RAPPORT_SUPPORT_EMAIL=help@chaos.rapport.test",
		"SENDGRID_API_KEY="+sendGridKey, "SENDGRID_BASE_URL="+fakesURL, "SENDGRID_WEBHOOK_PUBLIC_KEY="+base64.StdEncoding.EncodeToString(sgPub),
		"TWILIO_ACCOUNT_SID="+twilioSID, "TWILIO_AUTH_TOKEN="+twilioToken, "TWILIO_FROM="+twilioFrom, "TWILIO_BASE_URL="+fakesURL,
		"LOB_API_KEY="+lobKey, "LOB_BASE_URL="+fakesURL,
		"RAPPORT_MAIL_FROM_LINE1=185 Berry St", "RAPPORT_MAIL_FROM_CITY=San Francisco", "RAPPORT_MAIL_FROM_STATE=CA",
		"RAPPORT_MAIL_FROM_POSTAL_CODE=94107", "RAPPORT_MAIL_FROM_COUNTRY=US",
		// Every send of the journey is due at once, day and night.
		"RAPPORT_QUIET_HOURS=sms=none,phone=none", "RAPPORT_FREQUENCY_CAPS=none", "RAPPORT_REQUIRE_OPT_IN=none",
		"RAPPORT_LOG_LEVEL=warn", "RAPPORT_LOG_FORMAT=json",
		"TEMPORAL_CONFIG_FILE=", "TEMPORAL_PROFILE=",
	)
	if r.o.Profile.AtLeastOnce {
		// An email in doubt is proven unsent by the silence of SendGrid's
		// event webhook no sooner than five minutes after the attempt
		// (the default settings, which the other profiles run with); the
		// short profile, which CI runs, settles such emails at least once
		// after 2 minutes instead, as a shop may choose: delivery
		// webhooks arrive well within that, outages included, so nothing
		// is sent twice.
		env = append(env, "RAPPORT_IN_DOUBT_AT_LEAST_ONCE=email", "RAPPORT_IN_DOUBT_DEADLINE=2m")
	}
	r.logf("starting the API and %d workers", r.o.Profile.Workers)
	api := r.newProc("api", []string{"api"}, append(slicesClone(env), "RAPPORT_API_ADDR=127.0.0.1:"+strconv.Itoa(apiPort), "RAPPORT_OPS_ADDR=127.0.0.1:"+strconv.Itoa(opsPort)))
	if err := api.run(); err != nil {
		return err
	}
	for i := range r.o.Profile.Workers {
		wops, err := freePort()
		if err != nil {
			return err
		}
		w := r.newProc(fmt.Sprintf("worker-%d", i), []string{"worker"}, append(slicesClone(env), "RAPPORT_OPS_ADDR=127.0.0.1:"+strconv.Itoa(wops)))
		if err := w.run(); err != nil {
			return err
		}
		r.workers = append(r.workers, w)
		if err := waitHTTP(ctx, "http://127.0.0.1:"+strconv.Itoa(wops)+"/readyz", 2*time.Minute); err != nil {
			return fmt.Errorf("worker %d: %w", i, err)
		}
	}
	if err := waitHTTP(ctx, "http://127.0.0.1:"+strconv.Itoa(opsPort)+"/readyz", 2*time.Minute); err != nil {
		return fmt.Errorf("api: %w", err)
	}
	return nil
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }

func (r *run) newProc(name string, args, env []string) *proc {
	p := &proc{name: name, path: r.o.Binary, args: args, env: env, logPath: filepath.Join(r.dir, name+".log"), logf: r.logf}
	r.procs = append(r.procs, p)
	return p
}

// serve serves h on a free port of 127.0.0.1 and returns its URL.
func (r *run) serve(h http.Handler) (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	r.servers = append(r.servers, srv)
	go func() { _ = srv.Serve(l) }()
	return "http://" + l.Addr().String(), nil
}

// customers creates the profile's customers: an email address, a mobile
// number and a US postal address each.
func (r *run) customers(ctx context.Context) error {
	for i := range r.o.Profile.Customers {
		number := fmt.Sprintf("+1 212 555 %04d", 1000+i)
		e164, _ := phone.Normalize(number, "US")
		c := store.Customer{ID: customerID(i), Email: fmt.Sprintf("chaos-%04d@example.com", i), Phone: number, PhoneE164: e164,
			Name: "Chaos Customer", Locale: "en-US", TimeZone: "UTC",
			Address:    store.Address{Line1: fmt.Sprintf("%d Market St", 100+i), City: "San Francisco", State: "CA", PostalCode: "94105", Country: "US"},
			Attributes: map[string]any{}}
		if _, err := r.store.UpsertCustomer(ctx, c); err != nil {
			return fmt.Errorf("customer %d: %w", i, err)
		}
	}
	return nil
}

func customerID(i int) string { return fmt.Sprintf("chaos-%04d", i) }

// drive posts the events, spread over PostOver, while it injects the
// profile's faults at their times.
func (r *run) drive(ctx context.Context) error {
	p := r.o.Profile
	began := time.Now()
	var wg sync.WaitGroup
	wg.Go(func() { r.post(ctx, began) })
	for _, a := range p.Schedule {
		select {
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		case <-time.After(time.Until(began.Add(a.At))):
		}
		r.logf("fault: %s (events posted %d/%d, %s)", a.describe(), r.posted.Load(), p.Customers, r.runsLine(ctx))
		switch a.Kind {
		case "kill":
			if err := r.workers[a.Worker%len(r.workers)].kill(); err != nil {
				r.logf("kill: %v", err)
			} else {
				r.kills++
			}
		case "postgres":
			r.outages++
			_ = r.pg.Stop()
			if r.o.SharedPostgres {
				r.logf("(Temporal's persistence is down too)")
			}
			select {
			case <-ctx.Done():
			case <-time.After(a.For):
			}
			if ctx.Err() != nil {
				wg.Wait()
				return ctx.Err() // stopped (Ctrl-C): no need to start it again
			}
			if err := r.pg.Start(ctx); err != nil {
				wg.Wait()
				return fmt.Errorf("start PostgreSQL again: %w", err)
			}
			r.logf("PostgreSQL is back after %s", a.For)
		case "faults":
			r.proxy.SetFaults(a.Faults)
		case "sendgrid-down":
			r.proxy.SetSendGridDown(true)
			from := time.Now()
			wg.Go(func() { // the schedule goes on meanwhile
				select {
				case <-ctx.Done():
				case <-time.After(a.For):
				}
				r.proxy.SetSendGridDown(false)
				r.sgMu.Lock()
				r.sgDown = append(r.sgDown, [2]time.Time{from, time.Now()})
				r.sgMu.Unlock()
				r.logf("SendGrid is back after %s", a.For)
			})
		}
	}
	wg.Wait()
	r.proxy.SetFaults(Faults{})
	r.proxy.SetSendGridDown(false)
	return ctx.Err()
}

// post posts one chaos.started event per customer, evenly over PostOver;
// an event the API does not take (PostgreSQL down) is posted again until
// it does, as a shop's integration would.
func (r *run) post(ctx context.Context, began time.Time) {
	p := r.o.Profile
	var wg sync.WaitGroup
	for i := range p.Customers {
		at := began.Add(time.Duration(int64(p.PostOver) * int64(i) / int64(max(p.Customers, 1))))
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-time.After(time.Until(at)):
		}
		wg.Go(func() {
			body, _ := json.Marshal(map[string]any{"id": fmt.Sprintf("chaos-event-%04d", i), "type": "chaos.started", "customer_id": customerID(i), "data": map[string]any{}})
			for ctx.Err() == nil {
				if r.postOnce(ctx, body) {
					r.posted.Add(1)
					return
				}
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
		})
	}
	wg.Wait()
}

func (r *run) postOnce(ctx context.Context, body []byte) bool {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.apiURL+"/v1/events", bytes.NewReader(body))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+r.apiKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode/100 == 2
}

// settle waits until every customer's run has ended in Temporal, or the
// profile's settle time runs out, printing progress.
func (r *run) settle(ctx context.Context) {
	deadline := time.Now().Add(r.o.Profile.Settle)
	r.logf("faults over; settling (at most %s): %s", r.o.Profile.Settle, r.runsLine(ctx))
	last := time.Now()
	for time.Now().Before(deadline) && ctx.Err() == nil {
		runs, err := r.runs(ctx)
		if err == nil && len(runs) >= r.expectedRuns() && countOpen(runs) == 0 {
			r.logf("settled: %s", r.runsLine(ctx))
			return
		}
		if time.Since(last) >= 10*time.Second {
			r.logf("settling: %s", r.runsLine(ctx))
			last = time.Now()
		}
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
	r.logf("settle time over: %s", r.runsLine(ctx))
}

// runStatus is a journey run's status in Temporal, and in the database.
type runStatus struct {
	temporal string // Running, Completed, Failed, ... ("" when unknown)
	db       string
}

// runs returns every chaos run Temporal knows, by workflow id, with its
// status in Temporal and in journey_runs.
func (r *run) runs(ctx context.Context) (map[string]*runStatus, error) {
	out := map[string]*runStatus{}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var token []byte
	for {
		resp, err := r.temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: "default", PageSize: 1000, NextPageToken: token,
			Query: fmt.Sprintf("WorkflowType = '%s'", workflows.JourneyWorkflowName),
		})
		if err != nil {
			return nil, err
		}
		for _, e := range resp.GetExecutions() {
			st := e.GetStatus().String()
			if s, ok := out[e.GetExecution().GetWorkflowId()]; ok && s.temporal != "Running" {
				continue // an earlier execution's end; keep the open one
			}
			out[e.GetExecution().GetWorkflowId()] = &runStatus{temporal: friendlyStatus(st)}
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	// The database may be down while settling; Temporal is enough then.
	_ = r.store.ReadOnly(ctx, func(q store.Querier) error {
		rows, err := q.Query(ctx, "SELECT workflow_id, status FROM journey_runs WHERE journey = ANY($1)", r.o.Profile.Journeys)
		if err != nil {
			return err
		}
		var id, status string
		_, err = pgx.ForEachRow(rows, []any{&id, &status}, func() error {
			if s, ok := out[id]; ok {
				s.db = status
			} else {
				out[id] = &runStatus{db: status}
			}
			return nil
		})
		return err
	})
	return out, nil
}

// friendlyStatus turns WORKFLOW_EXECUTION_STATUS_RUNNING into Running.
func friendlyStatus(s string) string {
	const prefix = "WORKFLOW_EXECUTION_STATUS_"
	if len(s) > len(prefix) && s[:len(prefix)] == prefix {
		s = s[len(prefix):]
		return s[:1] + lower(s[1:])
	}
	return s
}

func lower(s string) string { return string(bytes.ToLower([]byte(s))) }

func countOpen(runs map[string]*runStatus) int {
	n := 0
	for _, s := range runs {
		if s.temporal == "Running" || s.temporal == "" {
			n++
		}
	}
	return n
}

// runsLine says how many runs have started and ended, for progress lines.
func (r *run) runsLine(ctx context.Context) string {
	runs, err := r.runs(ctx)
	if err != nil {
		return "runs: Temporal does not answer"
	}
	return fmt.Sprintf("runs started %d, ended %d", len(runs), len(runs)-countOpen(runs))
}

// expectedRuns is how many journey runs the profile starts: one per
// customer and journey.
func (r *run) expectedRuns() int { return r.o.Profile.Customers * len(r.o.Profile.Journeys) }

// cleanup stops every process (workers and API first, then Temporal),
// the servers, and the PostgreSQL clusters.
func (r *run) cleanup() {
	if r.fakes != nil {
		r.fakes.StopWebhooks() // the API they post to is going away
	}
	if r.temporal != nil {
		r.temporal.Close()
	}
	if r.store != nil {
		r.store.Close()
	}
	var wg sync.WaitGroup
	for _, p := range r.procs {
		if p.name != "temporal" {
			wg.Go(func() { p.stop(10 * time.Second) })
		}
	}
	wg.Wait()
	for _, p := range r.procs {
		if p.name == "temporal" {
			p.stop(15 * time.Second)
		}
	}
	for _, s := range r.servers {
		_ = s.Close()
	}
	if r.tpg != nil && r.tpg != r.pg {
		_ = r.tpg.Stop()
	}
	if r.pg != nil {
		_ = r.pg.Stop()
	}
}

// waitTemporal dials the server at addr and waits until its namespace
// answers.
func waitTemporal(ctx context.Context, addr string, within time.Duration) (client.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for {
		c, err := client.Dial(client.Options{HostPort: addr, Namespace: "default", Logger: quietLogger{}})
		if err == nil {
			_, err = c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: "default"})
			if err == nil {
				return c, nil
			}
			c.Close()
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("the Temporal server at %s did not answer within %s: %v", addr, within, err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func waitDB(ctx context.Context, s *store.Store, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for {
		err := s.Ping(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("PostgreSQL does not answer: %w", err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// writeJourneys writes the embedded chaos journey and its templates to dir.
// writeJourneys writes the templates and the named journeys to dir.
func writeJourneys(dir string, names []string) error {
	sub, err := fs.Sub(journeyFiles, "journeys")
	if err != nil {
		return err
	}
	if err := os.CopyFS(dir, sub); err != nil {
		return err
	}
	files, err := fs.Glob(sub, "*.yaml")
	if err != nil {
		return err
	}
	for _, f := range files {
		if !slices.Contains(names, strings.TrimSuffix(f, ".yaml")) {
			if err := os.Remove(filepath.Join(dir, f)); err != nil {
				return err
			}
		}
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func ok(ctx context.Context, url string) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// quietLogger silences the driver's Temporal client.
type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}
