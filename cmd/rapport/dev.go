//go:build !production

package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/rapporthq/rapport/internal/apikey"
	"github.com/rapporthq/rapport/internal/devstack"
	"github.com/rapporthq/rapport/internal/devstack/devmode"
	"github.com/rapporthq/rapport/internal/devstack/pglocal"
	"github.com/rapporthq/rapport/internal/fakes"
	"github.com/rapporthq/rapport/internal/metrics"
	"github.com/rapporthq/rapport/internal/store"
)

// The dev fakes' credentials, under the names the bench files and the
// tests use.
const (
	devSendGridKey      = devmode.SendGridKey
	devTwilioSID        = devmode.TwilioSID
	devTwilioToken      = devmode.TwilioToken
	devTwilioFrom       = devmode.TwilioFrom
	devLobKey           = devmode.LobKey
	devLobWebhookSecret = devmode.LobWebhookSecret
	devShopifySecret    = devmode.ShopifySecret
)

// devReturnAddress is where dev mode's letters come from, under the name
// the bench files use.
var devReturnAddress = devmode.ReturnAddress()

// devOptions configures `rapport dev` (devmode.Options).
type devOptions = devmode.Options

// devStack is a running dev stack (devmode.Stack), with the names the
// bench files and the tests of this package read it by: d.store,
// d.client, d.fakes, d.metrics, d.temporal, d.opts and d.log hold what
// the stack's Store, Client, Fakes, Metrics, Temporal, Opts and Log held
// when it started. A test that replaces the Temporal server or the worker
// sets the stack's own fields (Temporal, Worker), which Stop stops.
type devStack struct {
	*devmode.Stack
	opts     devOptions
	log      *slog.Logger
	store    *store.Store
	client   client.Client
	fakes    *fakes.Fakes
	metrics  *metrics.Metrics
	temporal *devstack.Temporal
}

// startDev starts the whole stack and returns once it accepts requests.
func startDev(ctx context.Context, opts devOptions) (*devStack, error) {
	s, err := devmode.Start(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &devStack{Stack: s, opts: s.Opts, log: s.Log, store: s.Store, client: s.Client, fakes: s.Fakes, metrics: s.Metrics, temporal: s.Temporal}, nil
}

// secret is the stack's link secret (devmode.Stack.Secret), under the name
// the bench files use.
func (d *devStack) secret() ([]byte, error) { return d.Secret() }

// privateDatabase is pglocal.PrivateDatabase, under the name the bench
// files use.
func privateDatabase(ctx context.Context, stateDir, prefix string) (string, func(keep bool), error) {
	return pglocal.PrivateDatabase(ctx, stateDir, prefix)
}

func newDevCmd() *cobra.Command {
	opts := devOptions{
		StateDir:     ".rapport",
		JourneysDir:  env("RAPPORT_JOURNEYS", "journeys"),
		IP:           "127.0.0.1",
		TemporalPort: 7233,
		UIPort:       8233,
		APIPort:      8080,
		FakesPort:    8089,
		OpsPort:      9090,
		CodecPort:    8088,
	}
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run all of Rapport on this machine: Temporal, its UI, Postgres, fake providers, worker and API",
		Long: `Dev runs everything in one process, with nothing to install but Go and
PostgreSQL: an embedded Temporal server and its web UI (state in
.rapport/temporal.db), PostgreSQL (DATABASE_URL, else a server on
127.0.0.1:5432 with a "rapport" database, else a private cluster in
.rapport/postgres), fake SendGrid, Twilio and Lob that capture every
message (see /dev/outbox), the worker, the API, the journeys in journeys/,
and demo customers, orders and products. With --day=2s a day of journey
time lasts two seconds, so a five-week win-back plays out in a minute and
a half. Ctrl-C stops it all.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := configFromEnv()
			if err != nil {
				return err
			}
			opts.Sender = &cfg
			opts.Log = cfg.Logger()
			if v := os.Getenv("RAPPORT_RETRY_BUDGET"); v != "" && !cmd.Flags().Changed("retry-budget") {
				if opts.RetryBudget, err = time.ParseDuration(v); err != nil {
					return fmt.Errorf("RAPPORT_RETRY_BUDGET=%q: %w", v, err)
				}
			}
			d, err := startDev(cmd.Context(), opts)
			if err != nil {
				return err
			}
			d.printReady(cmd.OutOrStdout())
			<-cmd.Context().Done()
			fmt.Fprintln(cmd.OutOrStdout(), "\nstopping Rapport dev...")
			d.Stop()
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.StateDir, "state", opts.StateDir, "folder for Temporal's database and a private PostgreSQL cluster")
	f.StringVar(&opts.JourneysDir, "journeys", opts.JourneysDir, "folder of journey files and templates")
	f.StringVar(&opts.IP, "ip", opts.IP, "address every port listens on")
	f.IntVar(&opts.TemporalPort, "temporal-port", opts.TemporalPort, "Temporal gRPC port")
	f.IntVar(&opts.UIPort, "ui-port", opts.UIPort, "Temporal web UI port (-1 for no UI)")
	f.IntVar(&opts.APIPort, "port", opts.APIPort, "API port (also serves /dev/outbox)")
	f.IntVar(&opts.FakesPort, "fakes-port", opts.FakesPort, "port of the fake providers")
	f.IntVar(&opts.OpsPort, "ops-port", opts.OpsPort, "port of /healthz, /readyz and /metrics, apart from the API (-1 for none)")
	f.BoolVar(&opts.Encrypt, "encrypt", false, "encrypt payloads in Temporal (AES-256-GCM, key in .rapport/codec-keys unless RAPPORT_CODEC_KEYS is set) and serve a codec server the UI decodes them with")
	f.IntVar(&opts.CodecPort, "codec-port", opts.CodecPort, "codec server port (with --encrypt)")
	f.BoolVar(&opts.NoDemo, "no-demo", false, "do not create the demo customers, orders and products")
	f.DurationVar(&opts.DayLength, "day", 0, "run journeys faster: a day lasts this long (such as 2s); waits, timeouts and task due times shrink with it")
	f.DurationVar(&opts.TaskDueFloor, "task-due-floor", 5*time.Minute, "with --day, staff tasks are due at least this long after they appear, so a person can do them (0: they shrink with the day)")
	f.DurationVar(&opts.RetryBudget, "retry-budget", 0, "how long a journey run retries a failing activity before it waits and tries again, 0 for 24h (RAPPORT_RETRY_BUDGET)")
	return cmd
}

func (d *devStack) printReady(w io.Writer) {
	speed := ""
	if d.Opts.DayLength > 0 {
		speed = fmt.Sprintf("\n  Dev time         a day lasts %s: journey waits, timeouts and task due times shrink with it\n", d.Opts.DayLength)
		if d.Opts.TaskDueFloor > 0 {
			speed += fmt.Sprintf("                   (staff tasks stay due at least %s, for a person to do them)\n", d.Opts.TaskDueFloor)
		}
	}
	fmt.Fprintf(w, `
Rapport dev is running.

  API              %[1]s        POST /v1/customers, POST /v1/events, GET /v1/tasks
  API key          %[9]s  (admin; in %[10]s, which the CLI finds)
  Dev outbox       %[1]s/dev/outbox   every email, SMS, letter and postcard the fakes captured
  Temporal UI      %[2]s
  Temporal         %[3]s  (namespace default)
  PostgreSQL       %[4]s
                   %[7]s  (DATABASE_URL for rapport audit)
  Fake providers   %[5]s  (SendGrid, Twilio, Lob; make one fail: curl -X POST '%[5]s/_fakes/sendgrid/fail?status=500&times=1')
  Operations       %[11]s
%[8]s%[6]s
Demo customers: c_ada and c_linus (lapsed), c_grace, c_alan; a small tea catalog.

Try it: thank Ada for an order (change both ids to send another):

  curl -s -X POST %[1]s/v1/events -H "Authorization: Bearer $(cat %[10]s)" \
    -H 'Content-Type: application/json' -d '{
    "id": "evt-demo-1", "type": "order.placed", "customer_id": "c_ada",
    "data": {"order": {"id": "o-demo-1", "total": 42.5, "currency": "GBP",
      "items": [{"product_id": "tea-earl-grey", "name": "Earl Grey tea", "quantity": 2, "price": 21.25}]}}}'

Or win back the lapsed customers (email, postcard, then a phone task):

  go run ./cmd/rapport audience run lapse-winback%[12]s
  go run ./cmd/rapport tasks list --queue retention%[12]s

Then open %[1]s/dev/outbox. Press Ctrl-C to stop.
`, d.APIURL, orNone(d.UIURL), d.TemporalAddress, d.PostgresSource, d.FakesURL, speed, redacted(d.DatabaseURL), d.encryption(), d.APIKey, filepath.Join(d.Opts.StateDir, apikey.DevKeyFile), d.operations(), d.cliAPIFlag())
}

// cliAPIFlag is what the CLI commands printReady shows need to reach this
// API: nothing on the default address, else --api with it.
func (d *devStack) cliAPIFlag() string {
	if d.APIURL == defaultAPIURL {
		return ""
	}
	return " --api " + d.APIURL
}

// operations describes the ops port for printReady.
func (d *devStack) operations() string {
	if d.OpsURL == "" {
		return "(disabled: --ops-port -1)"
	}
	return d.OpsURL + "/metrics, probes " + d.OpsURL + "/healthz and /readyz (not on the API's port)"
}

// encryption describes --encrypt for printReady.
func (d *devStack) encryption() string {
	if d.CodecURL == "" {
		return ""
	}
	where := filepath.Join(d.Opts.StateDir, "codec-token")
	if os.Getenv("RAPPORT_CODEC_TOKEN") != "" {
		where = "RAPPORT_CODEC_TOKEN"
	}
	return fmt.Sprintf(`  Codec server     %s  payloads are encrypted in Temporal; the UI decodes them here
                   token in %s (Authorization: Bearer, or the endpoint %s/t/TOKEN)
`, d.CodecURL, where, d.CodecURL)
}

// redacted hides a URL's password.
func redacted(u string) string {
	if p, err := url.Parse(u); err == nil && p.Scheme != "" {
		return p.Redacted()
	}
	return u
}

func orNone(s string) string {
	if s == "" {
		return "(disabled)"
	}
	return s
}
