package deploy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// The binary's operational interface these files are written against.
const (
	binaryPath     = "/usr/local/bin/rapport"
	journeysPath   = "/app/journeys"
	defaultDrain   = 30 * time.Second
	minSecretBytes = 32 // internal/links.NewSigner
	healthPath     = "/healthz"
	readyPath      = "/readyz"
	k8sDir         = "k8s"
	secretTemplate = "secret.template.yaml"
	kustomization  = "kustomization.yaml"
)

// listener is an address a subcommand listens on: the variable that sets
// it and its default.
type listener struct{ env, addr string }

// opsAddr is where each long-running subcommand serves its probes (and,
// for the worker and the API, /metrics) when its variable is unset. The
// API serves them apart from its public port.
var opsAddr = map[string]listener{
	"worker":       {"RAPPORT_OPS_ADDR", ":9090"},
	"api":          {"RAPPORT_OPS_ADDR", ":9090"},
	"codec-server": {"RAPPORT_CODEC_ADDR", ":8088"},
}

// publicAddr is where a subcommand serves what people and other systems
// reach (the codec server's /healthz shares its one port).
var publicAddr = map[string]listener{
	"api":          {"RAPPORT_API_ADDR", ":8080"},
	"codec-server": {"RAPPORT_CODEC_ADDR", ":8088"},
}

// opsPaths are the operational paths, which must never be published.
var opsPaths = []string{"/healthz", "/readyz", "/metrics"}

// knownEnv is every variable the binary reads (internal/app/config.go, the
// Temporal SDK's envconfig and the operations contract) plus the Go
// runtime's. A name set in these files but missing here is most likely a
// typo, which the binary would silently ignore.
var knownEnv = setOf(
	"DATABASE_URL",
	"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_API_KEY", "TEMPORAL_TLS",
	"TEMPORAL_TLS_CLIENT_CERT_PATH", "TEMPORAL_TLS_CLIENT_KEY_PATH",
	"TEMPORAL_TLS_SERVER_CA_CERT_PATH", "TEMPORAL_TLS_SERVER_NAME",
	"TEMPORAL_PROFILE", "TEMPORAL_CONFIG_FILE",
	"RAPPORT_SECRET", "RAPPORT_PUBLIC_URL", "RAPPORT_JOURNEYS",
	"RAPPORT_LOG_FORMAT", "RAPPORT_LOG_LEVEL",
	"RAPPORT_QUIET_HOURS", "RAPPORT_FREQUENCY_CAPS", "RAPPORT_REQUIRE_OPT_IN",
	"RAPPORT_UNSUBSCRIBE_MAILTO", "RAPPORT_DEFAULT_TIME_ZONE", "RAPPORT_DEFAULT_CURRENCY",
	"RAPPORT_EMAIL_FROM", "RAPPORT_EMAIL_FROM_NAME", "RAPPORT_EMAIL_REPLY_TO",
	"RAPPORT_SHOP_NAME", "RAPPORT_SHOP_URL", "RAPPORT_SUPPORT_EMAIL",
	"RAPPORT_MAIL_FROM_NAME", "RAPPORT_MAIL_FROM_LINE1", "RAPPORT_MAIL_FROM_LINE2",
	"RAPPORT_MAIL_FROM_CITY", "RAPPORT_MAIL_FROM_STATE", "RAPPORT_MAIL_FROM_POSTAL_CODE",
	"RAPPORT_MAIL_FROM_COUNTRY",
	"SENDGRID_API_KEY", "SENDGRID_BASE_URL", "SENDGRID_WEBHOOK_PUBLIC_KEY",
	"TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM", "TWILIO_MESSAGING_SERVICE_SID", "TWILIO_BASE_URL",
	"LOB_API_KEY", "LOB_BASE_URL", "LOB_WEBHOOK_SECRET",
	"RAPPORT_OPS_ADDR", "RAPPORT_API_ADDR", "RAPPORT_TRUSTED_PROXIES",
	"RAPPORT_WORKER_ACTIVITIES", "RAPPORT_WORKER_WORKFLOW_TASKS", "RAPPORT_WORKER_POLLERS",
	"RAPPORT_TASK_QUEUE_ACTIVITIES_PER_SECOND", "RAPPORT_WORKER_DRAIN",
	"RAPPORT_CODEC_KEYS", "RAPPORT_CODEC_KEYS_FILE",
	"RAPPORT_CODEC_ADDR", "RAPPORT_CODEC_TOKEN", "RAPPORT_CODEC_ORIGINS",
	"GOMEMLIMIT", "GOMAXPROCS", "GOGC",
)

// senderEnv are the public URL and the sender identity, which the worker
// and the API require once a provider key is set, refusing the binary's
// demo values (internal/app.Config.CheckNoDemoDefaults): no file here may
// fill them with a demo value of its own.
var senderEnv = []string{"RAPPORT_PUBLIC_URL", "RAPPORT_EMAIL_FROM", "RAPPORT_SHOP_NAME", "RAPPORT_SHOP_URL", "RAPPORT_SUPPORT_EMAIL"}

// demoValues are the binary's demo defaults of senderEnv.
var demoValues = setOf("http://127.0.0.1:8080", "http://localhost:8080", "hello@shop.example", "The Shop", "https://shop.example", "help@shop.example")

// secretEnv are variables that must never sit in a ConfigMap or carry a
// value in a committed file.
var secretEnv = setOf(
	"DATABASE_URL", "RAPPORT_SECRET", "TEMPORAL_API_KEY", "RAPPORT_CODEC_KEYS",
	"RAPPORT_CODEC_TOKEN", "SENDGRID_API_KEY", "TWILIO_AUTH_TOKEN", "LOB_API_KEY",
	"LOB_WEBHOOK_SECRET",
)

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root %s: %v", root, err)
	}
	return root
}

// ---------------------------------------------------------------------
// Dockerfile

type instruction struct {
	cmd  string // upper case: FROM, RUN, COPY, ...
	args string
	line int
}

type stage struct {
	name, base string
	instrs     []instruction
}

func (s stage) all(cmd string) []instruction {
	var out []instruction
	for _, in := range s.instrs {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

func (s stage) last(cmd string) (instruction, bool) {
	all := s.all(cmd)
	if len(all) == 0 {
		return instruction{}, false
	}
	return all[len(all)-1], true
}

type dockerfile struct {
	args   map[string]string // global ARGs (before the first FROM) and their defaults
	stages []stage
}

func (d dockerfile) stage(name string) (stage, bool) {
	for _, s := range d.stages {
		if strings.EqualFold(s.name, name) {
			return s, true
		}
	}
	return stage{}, false
}

// parseDockerfile reads instructions, joining continuation lines and
// dropping comments, and groups them into stages.
func parseDockerfile(t *testing.T, path string) dockerfile {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var instrs []instruction
	var cur strings.Builder
	start := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if cur.Len() > 0 && strings.HasPrefix(line, "#") {
			continue // comment inside a continued instruction
		}
		if cur.Len() == 0 {
			start = n
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(cont + " ")
			continue
		}
		cur.WriteString(line)
		text := cur.String()
		cur.Reset()
		cmd, rest, _ := strings.Cut(text, " ")
		instrs = append(instrs, instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(rest), line: start})
	}
	if cur.Len() > 0 {
		t.Fatalf("%s: the last instruction ends with a line continuation", path)
	}
	d := dockerfile{args: map[string]string{}}
	for _, in := range instrs {
		switch {
		case in.cmd == "FROM":
			f := strings.Fields(in.args)
			var s stage
			for i := 0; i < len(f); i++ {
				switch {
				case strings.HasPrefix(f[i], "--"):
				case strings.EqualFold(f[i], "AS") && i+1 < len(f):
					s.name = f[i+1]
					i++
				case s.base == "":
					s.base = f[i]
				}
			}
			if s.base == "" {
				t.Fatalf("%s:%d: FROM without an image", path, in.line)
			}
			d.stages = append(d.stages, s)
		case len(d.stages) == 0:
			if in.cmd == "ARG" {
				name, def, _ := strings.Cut(in.args, "=")
				d.args[name] = def
			}
		default:
			s := &d.stages[len(d.stages)-1]
			s.instrs = append(s.instrs, in)
		}
	}
	if len(d.stages) == 0 {
		t.Fatalf("%s: no FROM", path)
	}
	return d
}

// execForm decodes a JSON-array (exec form) instruction argument.
func execForm(t *testing.T, in instruction) []string {
	t.Helper()
	var v []string
	if err := json.Unmarshal([]byte(in.args), &v); err != nil {
		t.Fatalf("Dockerfile:%d: %s should use the exec form [\"...\"] (no shell in the image): %v", in.line, in.cmd, err)
	}
	return v
}

// envInstr parses ENV k=v [k=v ...].
func envInstr(args string) map[string]string {
	out := map[string]string{}
	for _, f := range strings.Fields(args) {
		if k, v, ok := strings.Cut(f, "="); ok {
			out[k] = strings.Trim(v, `"`)
		}
	}
	return out
}

func loadDockerfile(t *testing.T) dockerfile {
	return parseDockerfile(t, filepath.Join(repoRoot(t), "Dockerfile"))
}

// finalStageUID is the numeric user the final stage runs as.
func finalStageUID(t *testing.T, d dockerfile) int64 {
	t.Helper()
	final := d.stages[len(d.stages)-1]
	user, ok := final.last("USER")
	if !ok {
		t.Fatalf("the final stage %q has no USER: it would run as root", final.name)
	}
	uid, _, _ := strings.Cut(user.args, ":")
	n, err := strconv.ParseInt(uid, 10, 64)
	if err != nil {
		t.Fatalf("Dockerfile:%d: USER %q is not numeric; Kubernetes' runAsNonRoot can only verify a numeric user", user.line, user.args)
	}
	if n == 0 {
		t.Fatalf("Dockerfile:%d: USER %q is root", user.line, user.args)
	}
	return n
}

func TestDockerfile(t *testing.T) {
	root := repoRoot(t)
	d := loadDockerfile(t)
	names := map[string]bool{}
	for _, s := range d.stages {
		if s.name == "" {
			continue
		}
		if names[strings.ToLower(s.name)] {
			t.Errorf("stage name %q is used twice", s.name)
		}
		names[strings.ToLower(s.name)] = true
	}
	if len(d.stages) < 2 {
		t.Fatalf("want a multi-stage build (build, runtime); got %d stage(s)", len(d.stages))
	}

	// Build stage: the Go toolchain of go.mod, a static, trimmed binary
	// of production code only (-tags production: no embedded Temporal
	// server, SQLite or fakes), cached modules and build cache.
	build := d.stages[0]
	base := expandArgs(build.base, d.args)
	goVersion := goModVersion(t, root)
	if want := "golang:" + majorMinor(goVersion); !strings.HasPrefix(base, want) {
		t.Errorf("build stage FROM %s (%s); want %s to match go.mod's go %s", build.base, base, want, goVersion)
	}
	var buildRun string
	for _, in := range build.all("RUN") {
		if strings.Contains(in.args, "go build") {
			buildRun = in.args
		}
	}
	if buildRun == "" {
		t.Fatal("build stage has no RUN ... go build")
	}
	for _, want := range []string{"CGO_ENABLED=0", "-tags production", "-trimpath", "-ldflags='-s -w'", "-o /out/rapport", "./cmd/rapport",
		"--mount=type=cache,target=/go/pkg/mod", "--mount=type=cache,target=/root/.cache/go-build"} {
		if !strings.Contains(buildRun, want) {
			t.Errorf("go build RUN lacks %q: %s", want, buildRun)
		}
	}

	// Final stage.
	final := d.stages[len(d.stages)-1]
	if final.name == "" {
		t.Fatal("the final stage has no name (FROM ... AS runtime); compose targets it by name")
	}
	finalStageUID(t, d)
	if w, ok := final.last("WORKDIR"); !ok || w.args != "/app" {
		t.Errorf("final stage WORKDIR = %q; want /app", w.args)
	}
	ep, ok := final.last("ENTRYPOINT")
	if !ok || !slices.Equal(execForm(t, ep), []string{binaryPath}) {
		t.Errorf("final stage ENTRYPOINT should be [%q]", binaryPath)
	}
	cmd, ok := final.last("CMD")
	if !ok || !slices.Equal(execForm(t, cmd), []string{"worker"}) {
		t.Errorf("final stage CMD should be [\"worker\"]")
	}
	env := map[string]string{}
	for _, in := range final.all("ENV") {
		for k, v := range envInstr(in.args) {
			env[k] = v
		}
	}
	if env["RAPPORT_JOURNEYS"] != journeysPath {
		t.Errorf("final stage ENV RAPPORT_JOURNEYS = %q; want %s", env["RAPPORT_JOURNEYS"], journeysPath)
	}
	if env["RAPPORT_LOG_FORMAT"] != "" && env["RAPPORT_LOG_FORMAT"] != "json" {
		t.Errorf("final stage ENV RAPPORT_LOG_FORMAT = %q; containers log json", env["RAPPORT_LOG_FORMAT"])
	}
	var binCopied, journeysCopied bool
	for _, in := range final.all("COPY") {
		f := strings.Fields(in.args)
		dst := f[len(f)-1]
		from := ""
		var srcs []string
		for _, a := range f[:len(f)-1] {
			if v, ok := strings.CutPrefix(a, "--from="); ok {
				from = v
			} else if !strings.HasPrefix(a, "--") {
				srcs = append(srcs, a)
			}
		}
		switch strings.TrimSuffix(dst, "/") {
		case binaryPath:
			if _, ok := d.stage(from); !ok {
				t.Errorf("Dockerfile:%d: the binary is copied --from=%q, which is no stage", in.line, from)
			}
			binCopied = true
		case journeysPath:
			for _, s := range srcs {
				if from == "" {
					if st, err := os.Stat(filepath.Join(root, s)); err != nil || !st.IsDir() {
						t.Errorf("Dockerfile:%d: COPY %s: not a folder in the repository", in.line, s)
					}
				}
			}
			journeysCopied = true
		}
	}
	if !binCopied {
		t.Errorf("the final stage does not copy the binary to %s", binaryPath)
	}
	if !journeysCopied {
		t.Errorf("the final stage does not copy the journeys to %s", journeysPath)
	}
	exposed := map[string]bool{}
	for _, in := range final.all("EXPOSE") {
		for _, p := range strings.Fields(in.args) {
			exposed[strings.TrimSuffix(p, "/tcp")] = true
		}
	}
	for _, p := range []string{"8080", "9090"} {
		if !exposed[p] {
			t.Errorf("final stage does not EXPOSE %s", p)
		}
	}
	// The image's own health check: the default command's (the worker's)
	// readiness on the operations port, which the API shares.
	if hc, ok := final.last("HEALTHCHECK"); ok {
		_, form, _ := strings.Cut(hc.args, "CMD ")
		want := []string{binaryPath, "health", fmt.Sprintf("http://127.0.0.1:%d%s", opsPort(t, "worker", nil), readyPath)}
		if got := execForm(t, instruction{cmd: "HEALTHCHECK", args: strings.TrimSpace(form), line: hc.line}); !slices.Equal(got, want) {
			t.Errorf("Dockerfile:%d: HEALTHCHECK runs %q; want %q", hc.line, got, want)
		}
		if opsPort(t, "api", nil) != opsPort(t, "worker", nil) {
			t.Errorf("the worker and the API serve their probes on different ports; the image's HEALTHCHECK fits only one")
		}
	}
	for _, in := range final.all("RUN") {
		if strings.Contains(final.base, "distroless") {
			t.Errorf("Dockerfile:%d: RUN in a distroless stage (no shell): %s", in.line, in.args)
		}
	}
}

func expandArgs(s string, args map[string]string) string {
	return regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?`).ReplaceAllStringFunc(s, func(m string) string {
		name := strings.Trim(m, "${}")
		if v, ok := args[name]; ok {
			return v
		}
		return m
	})
}

func goModVersion(t *testing.T, root string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go\s+(\S+)`).FindSubmatch(data)
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	return string(m[1])
}

func majorMinor(v string) string {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return v
	}
	return parts[0] + "." + parts[1]
}

func TestDockerignore(t *testing.T) {
	root := repoRoot(t)
	data, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		patterns = append(patterns, strings.TrimSuffix(strings.TrimPrefix(line, "/"), "/"))
	}
	ignored := func(path string) bool {
		ig := false
		for _, p := range patterns {
			neg := strings.HasPrefix(p, "!")
			p = strings.TrimPrefix(p, "!")
			if ok, _ := filepath.Match(p, path); ok {
				ig = !neg
			}
		}
		return ig
	}
	// What the build needs.
	for _, p := range []string{"go.mod", "go.sum", "cmd", "internal", "activities", "workflows", "journeys"} {
		if ignored(p) {
			t.Errorf(".dockerignore excludes %s, which the image build needs", p)
		}
	}
	// What must not be sent to the builder.
	for _, p := range []string{".git", ".env", ".rapport"} {
		if !ignored(p) {
			t.Errorf(".dockerignore does not exclude %s", p)
		}
	}
}

// ---------------------------------------------------------------------
// docker-compose.yml

// loadCompose loads the compose file as `docker compose` would, with only
// the given variables in the environment (not the test process's).
func loadCompose(t *testing.T, env map[string]string, profiles ...string) *types.Project {
	t.Helper()
	root := repoRoot(t)
	var envList []string
	for k, v := range env {
		envList = append(envList, k+"="+v)
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root),
		cli.WithEnv(envList),
		cli.WithProfiles(profiles),
	)
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("load docker-compose.yml: %v", err)
	}
	return p
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, ok := p.Services[name]
	if !ok {
		t.Fatalf("docker-compose.yml has no service %q (services: %v)", name, p.ServiceNames())
	}
	return s
}

// rapportServices run the Rapport image; their subcommand and, for the
// long-running ones, the port and path of their health check.
var rapportServices = map[string]struct {
	command []string
	check   string // health path; "" for one-shot services
}{
	"temporal-setup": {[]string{"setup", "temporal"}, ""},
	"schedules-sync": {[]string{"schedules", "sync"}, ""},
	"worker":         {[]string{"worker"}, readyPath},
	"api":            {[]string{"api"}, readyPath},
	"codec-server":   {[]string{"codec-server"}, healthPath},
}

func TestComposeServices(t *testing.T) {
	p := loadCompose(t, nil)
	if p.Name != "rapport" {
		t.Errorf("compose project name = %q; want rapport", p.Name)
	}
	for _, name := range []string{"postgres", "temporal", "temporal-setup", "schedules-sync", "temporal-ui", "worker", "api"} {
		service(t, p, name)
	}
	// codec-server only with --profile encryption.
	if _, ok := p.Services["codec-server"]; ok {
		t.Error("codec-server runs without the encryption profile")
	}
	disabled, ok := p.DisabledServices["codec-server"]
	if !ok {
		t.Fatal("docker-compose.yml has no codec-server service")
	}
	if !slices.Equal(disabled.Profiles, []string{"encryption"}) {
		t.Errorf("codec-server profiles = %v; want [encryption]", disabled.Profiles)
	}
	enc := loadCompose(t, nil, "encryption")
	service(t, enc, "codec-server")
	for name, s := range p.Services {
		if len(s.Profiles) > 0 {
			t.Errorf("service %s has profiles %v; only codec-server should", name, s.Profiles)
		}
	}
}

func TestComposeBuild(t *testing.T) {
	root := repoRoot(t)
	d := loadDockerfile(t)
	final := d.stages[len(d.stages)-1]
	p := loadCompose(t, nil, "encryption")
	image := ""
	for name, want := range rapportServices {
		s := service(t, p, name)
		if s.Build == nil {
			t.Errorf("%s: no build section; it should build the Dockerfile", name)
			continue
		}
		if filepath.Clean(s.Build.Context) != root {
			t.Errorf("%s: build context %q; want the repository root %s", name, s.Build.Context, root)
		}
		df := s.Build.Dockerfile
		if !filepath.IsAbs(df) {
			df = filepath.Join(s.Build.Context, df)
		}
		if df != filepath.Join(root, "Dockerfile") {
			t.Errorf("%s: dockerfile %q; want Dockerfile", name, s.Build.Dockerfile)
		}
		if _, ok := d.stage(s.Build.Target); !ok || s.Build.Target == "" {
			t.Errorf("%s: build target %q is no stage of the Dockerfile", name, s.Build.Target)
		} else if !strings.EqualFold(s.Build.Target, final.name) {
			t.Errorf("%s: build target %q; want the final stage %q", name, s.Build.Target, final.name)
		}
		// One image for all: built once, not once per service.
		if image == "" {
			image = s.Image
		}
		if s.Image == "" || s.Image != image {
			t.Errorf("%s: image %q; every Rapport service should name the same image (%q)", name, s.Image, image)
		}
		if len(s.Entrypoint) > 0 {
			t.Errorf("%s: overrides the entrypoint %v", name, s.Entrypoint)
		}
		if !slices.Equal(s.Command, want.command) {
			t.Errorf("%s: command %v; want %v", name, s.Command, want.command)
		}
	}
}

func TestComposePorts(t *testing.T) {
	p := loadCompose(t, nil, "encryption")
	want := []struct {
		service   string
		target    uint32
		published string
	}{
		{"api", 8080, "8080"},
		{"api", 9090, "9091"},
		{"worker", 9090, "9090"},
		{"temporal-ui", 8080, "8233"},
		{"temporal", 7233, "7233"},
		{"codec-server", 8088, "8088"},
	}
	for _, w := range want {
		s := service(t, p, w.service)
		found := false
		for _, port := range s.Ports {
			if port.Target == w.target && port.Published == w.published {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no port %s:%d in %+v", w.service, w.published, w.target, s.Ports)
		}
	}
	// The ports the Rapport services publish are the ones they listen on,
	// and nothing else.
	for name := range opsAddr {
		s := service(t, p, name)
		listens := map[uint32]bool{uint32(opsPort(t, name, envOf(s))): true}
		if port, ok := publicPort(t, name, envOf(s)); ok {
			listens[uint32(port)] = true
		}
		for port := range listens {
			found := false
			for _, pc := range s.Ports {
				found = found || pc.Target == port
			}
			if !found {
				t.Errorf("%s listens on %d but publishes %+v", name, port, s.Ports)
			}
		}
		for _, pc := range s.Ports {
			if !listens[pc.Target] {
				t.Errorf("%s publishes port %d, on which it does not listen", name, pc.Target)
			}
		}
	}
	// The worker's and the API's operations ports are published on the
	// loopback only, never on every interface like the API.
	for _, name := range []string{"worker", "api"} {
		s := service(t, p, name)
		ops := uint32(opsPort(t, name, envOf(s)))
		if pub, ok := publicPort(t, name, envOf(s)); ok && uint32(pub) == ops {
			t.Errorf("%s: operations on its public port %d", name, pub)
		}
		for _, pc := range s.Ports {
			if pc.Target == ops && pc.HostIP != "127.0.0.1" {
				t.Errorf("%s: its operations port %d (/metrics) is published on %q; publish it on 127.0.0.1 only", name, ops, pc.HostIP)
			}
		}
	}
}

func envOf(s types.ServiceConfig) map[string]string {
	out := map[string]string{}
	for k, v := range s.Environment {
		if v != nil {
			out[k] = *v
		}
	}
	return out
}

// opsPort is the port of a subcommand's probes given its environment.
func opsPort(t *testing.T, subcommand string, env map[string]string) int {
	t.Helper()
	def, ok := opsAddr[subcommand]
	if !ok {
		t.Fatalf("%s does not listen", subcommand)
	}
	return portOf(t, def, env)
}

// publicPort is the port of a subcommand's public side, if it has one.
func publicPort(t *testing.T, subcommand string, env map[string]string) (int, bool) {
	t.Helper()
	def, ok := publicAddr[subcommand]
	if !ok {
		return 0, false
	}
	return portOf(t, def, env), true
}

// portOf is the port of an address given the environment.
func portOf(t *testing.T, def listener, env map[string]string) int {
	t.Helper()
	addr := def.addr
	if v := env[def.env]; v != "" {
		addr = v
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("%s=%q: %v", def.env, addr, err)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatalf("%s=%q: port %q", def.env, addr, port)
	}
	return n
}

func TestComposeEnvironment(t *testing.T) {
	p := loadCompose(t, nil, "encryption")
	pg := envOf(service(t, p, "postgres"))
	for _, name := range []string{"worker", "api"} {
		env := envOf(service(t, p, name))
		for _, v := range append([]string{"DATABASE_URL", "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "RAPPORT_SECRET",
			"RAPPORT_LOG_FORMAT", "RAPPORT_CODEC_KEYS", "SENDGRID_API_KEY",
			"TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM", "LOB_API_KEY"}, senderEnv...) {
			if _, ok := env[v]; !ok {
				t.Errorf("%s: environment lacks %s", name, v)
			}
		}
		// Unset in the shell, the sender stays unset: with a provider key
		// the binary refuses to start rather than send as the demo.
		for _, v := range senderEnv {
			if env[v] != "" {
				t.Errorf("%s: %s defaults to %q; leave it empty, so that a provider key set without it is refused", name, v, env[v])
			}
		}
		// DATABASE_URL reaches the postgres service with its credentials.
		u, err := url.Parse(env["DATABASE_URL"])
		if err != nil {
			t.Fatalf("%s: DATABASE_URL: %v", name, err)
		}
		pass, _ := u.User.Password()
		if u.Scheme != "postgres" || u.Hostname() != "postgres" || u.Port() != "5432" ||
			u.User.Username() != pg["POSTGRES_USER"] || pass != pg["POSTGRES_PASSWORD"] ||
			strings.TrimPrefix(u.Path, "/") != pg["POSTGRES_DB"] {
			t.Errorf("%s: DATABASE_URL %q does not match the postgres service (%v)", name, env["DATABASE_URL"], pg)
		}
		if env["TEMPORAL_ADDRESS"] != "temporal:7233" {
			t.Errorf("%s: TEMPORAL_ADDRESS = %q; want temporal:7233", name, env["TEMPORAL_ADDRESS"])
		}
		if len(env["RAPPORT_SECRET"]) < minSecretBytes {
			t.Errorf("%s: the default RAPPORT_SECRET has %d bytes; the binary refuses fewer than %d", name, len(env["RAPPORT_SECRET"]), minSecretBytes)
		}
		if env["RAPPORT_LOG_FORMAT"] != "json" {
			t.Errorf("%s: RAPPORT_LOG_FORMAT = %q; want json", name, env["RAPPORT_LOG_FORMAT"])
		}
		if env["RAPPORT_CODEC_KEYS"] != "" {
			t.Errorf("%s: encryption is on without RAPPORT_CODEC_KEYS set: %q", name, env["RAPPORT_CODEC_KEYS"])
		}
	}
	setup := envOf(service(t, p, "temporal-setup"))
	if setup["TEMPORAL_ADDRESS"] != "temporal:7233" || setup["TEMPORAL_NAMESPACE"] == "" {
		t.Errorf("temporal-setup: TEMPORAL_ADDRESS/NAMESPACE = %q/%q", setup["TEMPORAL_ADDRESS"], setup["TEMPORAL_NAMESPACE"])
	}
	if ui := envOf(service(t, p, "temporal-ui")); ui["TEMPORAL_CODEC_ENDPOINT"] != "" {
		t.Errorf("temporal-ui: TEMPORAL_CODEC_ENDPOINT = %q without RAPPORT_CODEC_ENDPOINT", ui["TEMPORAL_CODEC_ENDPOINT"])
	}
	// The codec server lets the Temporal UI's origin in.
	codec := envOf(service(t, p, "codec-server"))
	uiOrigin := "http://localhost:8233"
	if !slices.Contains(strings.Split(codec["RAPPORT_CODEC_ORIGINS"], ","), uiOrigin) {
		t.Errorf("codec-server: RAPPORT_CODEC_ORIGINS = %q; want it to allow the Temporal UI at %s", codec["RAPPORT_CODEC_ORIGINS"], uiOrigin)
	}
	// Every variable a Rapport service gets is one the binary reads.
	for name := range rapportServices {
		for k := range service(t, p, name).Environment {
			if !knownEnv[k] {
				t.Errorf("%s: environment variable %s is not one Rapport reads (typo?)", name, k)
			}
		}
	}
}

// TestComposeInterpolation sets the variables an operator sets and checks
// they reach every service that needs them.
func TestComposeInterpolation(t *testing.T) {
	secret := strings.Repeat("s", 40)
	keys := "k1:" + strings.Repeat("A", 43) + "="
	p := loadCompose(t, map[string]string{
		"RAPPORT_SECRET":         secret,
		"RAPPORT_CODEC_KEYS":     keys,
		"RAPPORT_CODEC_ENDPOINT": "http://localhost:8088",
		"RAPPORT_CODEC_TOKEN":    "staff-token",
		"SENDGRID_API_KEY":       "SG.test",
		"TEMPORAL_NAMESPACE":     "shop",
		"RAPPORT_PUBLIC_URL":     "https://rapport.shop.test",
		"RAPPORT_EMAIL_FROM":     "news@shop.test",
		"RAPPORT_SHOP_NAME":      "Teapot & Co",
		"RAPPORT_SHOP_URL":       "https://shop.test",
		"RAPPORT_SUPPORT_EMAIL":  "care@shop.test",
	}, "encryption")
	for _, name := range []string{"worker", "api"} {
		env := envOf(service(t, p, name))
		if env["RAPPORT_SECRET"] != secret {
			t.Errorf("%s: RAPPORT_SECRET from the environment is not used: %q", name, env["RAPPORT_SECRET"])
		}
		if env["RAPPORT_CODEC_KEYS"] != keys {
			t.Errorf("%s: RAPPORT_CODEC_KEYS = %q; want %q", name, env["RAPPORT_CODEC_KEYS"], keys)
		}
		if env["SENDGRID_API_KEY"] != "SG.test" {
			t.Errorf("%s: SENDGRID_API_KEY = %q", name, env["SENDGRID_API_KEY"])
		}
		for _, v := range senderEnv {
			if env[v] == "" {
				t.Errorf("%s: %s set in the shell does not reach it", name, v)
			}
		}
		if env["TEMPORAL_NAMESPACE"] != "shop" {
			t.Errorf("%s: TEMPORAL_NAMESPACE = %q; want shop", name, env["TEMPORAL_NAMESPACE"])
		}
	}
	if env := envOf(service(t, p, "temporal-setup")); env["TEMPORAL_NAMESPACE"] != "shop" {
		t.Errorf("temporal-setup registers search attributes in %q, not the workers' namespace shop", env["TEMPORAL_NAMESPACE"])
	}
	// auto-setup creates the namespace the workers use, and the UI opens it.
	if env := envOf(service(t, p, "temporal")); env["DEFAULT_NAMESPACE"] != "shop" {
		t.Errorf("temporal: auto-setup creates namespace %q, not the workers' namespace shop", env["DEFAULT_NAMESPACE"])
	}
	if env := envOf(service(t, p, "temporal-ui")); env["TEMPORAL_DEFAULT_NAMESPACE"] != "shop" {
		t.Errorf("temporal-ui: opens namespace %q, not the workers' namespace shop", env["TEMPORAL_DEFAULT_NAMESPACE"])
	}
	codec := envOf(service(t, p, "codec-server"))
	if codec["RAPPORT_CODEC_KEYS"] != keys || codec["RAPPORT_CODEC_TOKEN"] != "staff-token" {
		t.Errorf("codec-server: keys/token = %q/%q", codec["RAPPORT_CODEC_KEYS"], codec["RAPPORT_CODEC_TOKEN"])
	}
	if ui := envOf(service(t, p, "temporal-ui")); ui["TEMPORAL_CODEC_ENDPOINT"] != "http://localhost:8088" {
		t.Errorf("temporal-ui: TEMPORAL_CODEC_ENDPOINT = %q", ui["TEMPORAL_CODEC_ENDPOINT"])
	}
}

func TestComposeHealthchecks(t *testing.T) {
	p := loadCompose(t, nil, "encryption")
	for _, name := range []string{"postgres", "temporal", "worker", "api", "codec-server"} {
		s := service(t, p, name)
		if s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) < 2 {
			t.Errorf("%s: no health check", name)
			continue
		}
		if s.HealthCheck.Interval == nil || s.HealthCheck.Retries == nil {
			t.Errorf("%s: health check without interval or retries", name)
		}
	}
	if test := service(t, p, "postgres").HealthCheck.Test; !strings.Contains(strings.Join(test, " "), "pg_isready") {
		t.Errorf("postgres health check %v does not use pg_isready", test)
	}
	// The Rapport image has no shell and no curl: its checks run the binary.
	for name, want := range rapportServices {
		s := service(t, p, name)
		if want.check == "" {
			continue
		}
		if s.HealthCheck == nil {
			continue // reported above
		}
		wantTest := []string{"CMD", binaryPath, "health",
			fmt.Sprintf("http://127.0.0.1:%d%s", opsPort(t, name, envOf(s)), want.check)}
		if !slices.Equal(s.HealthCheck.Test, wantTest) {
			t.Errorf("%s: health check %q; want %q", name, s.HealthCheck.Test, wantTest)
		}
	}
}

func TestComposeDependencies(t *testing.T) {
	p := loadCompose(t, nil, "encryption")
	want := map[string]map[string]string{
		"temporal":       {"postgres": types.ServiceConditionHealthy},
		"temporal-setup": {"temporal": types.ServiceConditionHealthy},
		"schedules-sync": {
			"postgres":       types.ServiceConditionHealthy,
			"temporal-setup": types.ServiceConditionCompletedSuccessfully,
		},
		"temporal-ui": {"temporal": types.ServiceConditionHealthy},
		"worker": {
			"postgres":       types.ServiceConditionHealthy,
			"temporal-setup": types.ServiceConditionCompletedSuccessfully,
		},
		"api": {
			"postgres":       types.ServiceConditionHealthy,
			"temporal-setup": types.ServiceConditionCompletedSuccessfully,
		},
	}
	for name, deps := range want {
		s := service(t, p, name)
		for dep, cond := range deps {
			got, ok := s.DependsOn[dep]
			if !ok {
				t.Errorf("%s does not depend on %s", name, dep)
				continue
			}
			if got.Condition != cond {
				t.Errorf("%s depends on %s with condition %q; want %q", name, dep, got.Condition, cond)
			}
		}
	}
	for name, s := range p.Services {
		for dep, d := range s.DependsOn {
			target, ok := p.Services[dep]
			if !ok {
				t.Errorf("%s depends on %s, which is no service", name, dep)
				continue
			}
			if d.Condition == types.ServiceConditionHealthy && (target.HealthCheck == nil || target.HealthCheck.Disable) {
				t.Errorf("%s waits for %s to be healthy, but %s has no health check", name, dep, dep)
			}
			if d.Condition == types.ServiceConditionCompletedSuccessfully && target.Restart != "" && target.Restart != types.RestartPolicyNo {
				t.Errorf("%s waits for %s to complete, but %s restarts (%s)", name, dep, dep, target.Restart)
			}
		}
	}
}

func TestComposeRestartAndStop(t *testing.T) {
	p := loadCompose(t, nil, "encryption")
	for _, name := range []string{"postgres", "temporal", "temporal-ui", "worker", "api", "codec-server"} {
		if r := service(t, p, name).Restart; r != types.RestartPolicyUnlessStopped && r != types.RestartPolicyAlways {
			t.Errorf("%s: restart %q; want unless-stopped", name, r)
		}
	}
	for _, name := range []string{"temporal-setup", "schedules-sync"} {
		if r := service(t, p, name).Restart; r != "" && r != types.RestartPolicyNo {
			t.Errorf("%s: restart %q; a one-shot job must not restart", name, r)
		}
	}
	worker := service(t, p, "worker")
	drain := drainOf(t, envOf(worker), nil)
	if worker.StopGracePeriod == nil {
		t.Fatalf("worker: no stop_grace_period; Docker's 10s default kills it before its %v drain", drain)
	}
	if grace := time.Duration(*worker.StopGracePeriod); grace <= drain {
		t.Errorf("worker: stop_grace_period %v is not longer than the drain %v", grace, drain)
	}
}

// drainOf is RAPPORT_WORKER_DRAIN from the container's own environment,
// else from its ConfigMap, else the default.
func drainOf(t *testing.T, env, config map[string]string) time.Duration {
	t.Helper()
	v, ok := env["RAPPORT_WORKER_DRAIN"]
	if !ok {
		v, ok = config["RAPPORT_WORKER_DRAIN"]
	}
	if !ok || v == "" {
		return defaultDrain
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("RAPPORT_WORKER_DRAIN=%q: %v", v, err)
	}
	return d
}

// ---------------------------------------------------------------------
// Kubernetes

type kustomizationFile struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace,omitempty"`
	Resources  []string `json:"resources"`
	Images     []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
		Digest  string `json:"digest,omitempty"`
	} `json:"images,omitempty"`
}

type manifests struct {
	deployments map[string]*appsv1.Deployment
	hpas        map[string]*autoscalingv2.HorizontalPodAutoscaler
	pdbs        map[string]*policyv1.PodDisruptionBudget
	services    map[string]*corev1.Service
	configMaps  map[string]*corev1.ConfigMap
	secrets     map[string]*corev1.Secret
	jobs        map[string]*batchv1.Job
	ingresses   map[string]*networkingv1.Ingress
	netpols     map[string]*networkingv1.NetworkPolicy
	files       map[string][]string // file -> "Kind/name" of its objects
	kust        *kustomizationFile
}

var wantAPIVersion = map[string]string{
	"Deployment":              "apps/v1",
	"HorizontalPodAutoscaler": "autoscaling/v2",
	"PodDisruptionBudget":     "policy/v1",
	"Service":                 "v1",
	"ConfigMap":               "v1",
	"Secret":                  "v1",
	"Job":                     "batch/v1",
	"Ingress":                 "networking.k8s.io/v1",
	"NetworkPolicy":           "networking.k8s.io/v1",
	"Kustomization":           "kustomize.config.k8s.io/v1beta1",
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*(#.*)?$`)

// splitDocuments splits a multi-document YAML file, dropping documents
// that hold only comments.
func splitDocuments(data []byte) [][]byte {
	var out [][]byte
	for _, doc := range docSeparator.Split(string(data), -1) {
		empty := true
		for _, line := range strings.Split(doc, "\n") {
			l := strings.TrimSpace(line)
			if l != "" && !strings.HasPrefix(l, "#") {
				empty = false
				break
			}
		}
		if !empty {
			out = append(out, []byte(doc))
		}
	}
	return out
}

// loadManifests strictly decodes every document of deploy/k8s/*.yaml into
// its Kubernetes type, so a misspelt or misplaced field fails.
func loadManifests(t *testing.T) *manifests {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(k8sDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no manifests in %s", k8sDir)
	}
	m := &manifests{
		deployments: map[string]*appsv1.Deployment{},
		hpas:        map[string]*autoscalingv2.HorizontalPodAutoscaler{},
		pdbs:        map[string]*policyv1.PodDisruptionBudget{},
		services:    map[string]*corev1.Service{},
		configMaps:  map[string]*corev1.ConfigMap{},
		secrets:     map[string]*corev1.Secret{},
		jobs:        map[string]*batchv1.Job{},
		ingresses:   map[string]*networkingv1.Ingress{},
		netpols:     map[string]*networkingv1.NetworkPolicy{},
		files:       map[string][]string{},
	}
	for _, file := range files {
		base := filepath.Base(file)
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		docs := splitDocuments(data)
		if len(docs) == 0 {
			t.Errorf("%s: no documents", base)
		}
		for i, doc := range docs {
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal(doc, &tm); err != nil {
				t.Fatalf("%s document %d: %v", base, i+1, err)
			}
			if want, ok := wantAPIVersion[tm.Kind]; !ok {
				t.Fatalf("%s document %d: kind %q is not checked by this test; add it", base, i+1, tm.Kind)
			} else if tm.APIVersion != want {
				t.Errorf("%s document %d: %s has apiVersion %q; want %q", base, i+1, tm.Kind, tm.APIVersion, want)
			}
			var name string
			strict := func(into any, meta *metav1.ObjectMeta) {
				if err := yaml.UnmarshalStrict(doc, into); err != nil {
					t.Fatalf("%s document %d (%s): %v", base, i+1, tm.Kind, err)
				}
				name = meta.Name
				if name == "" {
					t.Fatalf("%s document %d (%s): no metadata.name", base, i+1, tm.Kind)
				}
			}
			switch tm.Kind {
			case "Deployment":
				o := &appsv1.Deployment{}
				strict(o, &o.ObjectMeta)
				add(t, m.deployments, name, o)
			case "HorizontalPodAutoscaler":
				o := &autoscalingv2.HorizontalPodAutoscaler{}
				strict(o, &o.ObjectMeta)
				add(t, m.hpas, name, o)
			case "PodDisruptionBudget":
				o := &policyv1.PodDisruptionBudget{}
				strict(o, &o.ObjectMeta)
				add(t, m.pdbs, name, o)
			case "Service":
				o := &corev1.Service{}
				strict(o, &o.ObjectMeta)
				add(t, m.services, name, o)
			case "ConfigMap":
				o := &corev1.ConfigMap{}
				strict(o, &o.ObjectMeta)
				add(t, m.configMaps, name, o)
			case "Secret":
				o := &corev1.Secret{}
				strict(o, &o.ObjectMeta)
				add(t, m.secrets, name, o)
			case "Job":
				o := &batchv1.Job{}
				strict(o, &o.ObjectMeta)
				add(t, m.jobs, name, o)
			case "Ingress":
				o := &networkingv1.Ingress{}
				strict(o, &o.ObjectMeta)
				add(t, m.ingresses, name, o)
			case "NetworkPolicy":
				o := &networkingv1.NetworkPolicy{}
				strict(o, &o.ObjectMeta)
				add(t, m.netpols, name, o)
			case "Kustomization":
				if base != kustomization {
					t.Fatalf("%s: a Kustomization outside %s", base, kustomization)
				}
				o := &kustomizationFile{}
				if err := yaml.UnmarshalStrict(doc, o); err != nil {
					t.Fatalf("%s: %v", base, err)
				}
				m.kust = o
				continue
			}
			m.files[base] = append(m.files[base], tm.Kind+"/"+name)
		}
	}
	if m.kust == nil {
		t.Fatalf("no %s in %s", kustomization, k8sDir)
	}
	return m
}

func add[T any](t *testing.T, into map[string]T, name string, obj T) {
	t.Helper()
	if _, dup := into[name]; dup {
		t.Fatalf("two %T named %s", obj, name)
	}
	into[name] = obj
}

// podsOf are the pod templates of every Deployment and Job.
func (m *manifests) podsOf() map[string]*corev1.PodTemplateSpec {
	out := map[string]*corev1.PodTemplateSpec{}
	for n, d := range m.deployments {
		out["Deployment/"+n] = &d.Spec.Template
	}
	for n, j := range m.jobs {
		out["Job/"+n] = &j.Spec.Template
	}
	return out
}

// hpaFor is the HPA that scales a Deployment.
func (m *manifests) hpaFor(deployment string) *autoscalingv2.HorizontalPodAutoscaler {
	for _, h := range m.hpas {
		if h.Spec.ScaleTargetRef.Kind == "Deployment" && h.Spec.ScaleTargetRef.Name == deployment {
			return h
		}
	}
	return nil
}

func TestKustomization(t *testing.T) {
	m := loadManifests(t)
	listed := map[string]bool{}
	for _, r := range m.kust.Resources {
		if listed[r] {
			t.Errorf("%s lists %s twice", kustomization, r)
		}
		listed[r] = true
		if _, err := os.Stat(filepath.Join(k8sDir, r)); err != nil {
			t.Errorf("%s lists %s: %v", kustomization, r, err)
		}
	}
	for file := range m.files {
		if file == secretTemplate {
			if listed[file] {
				t.Errorf("%s lists %s: `kubectl apply -k` would overwrite the real Secret with its placeholders", kustomization, file)
			}
			continue
		}
		if !listed[file] {
			t.Errorf("%s is not listed in %s's resources", file, kustomization)
		}
	}
	// Every container image is one the kustomization sets.
	images := map[string]bool{}
	for _, img := range m.kust.Images {
		images[img.Name] = true
		if img.NewName == "" && img.NewTag == "" && img.Digest == "" {
			t.Errorf("%s: image %s sets nothing", kustomization, img.Name)
		}
	}
	for where, pod := range m.podsOf() {
		for _, c := range pod.Spec.Containers {
			if !images[c.Image] {
				t.Errorf("%s container %s: image %q is not in %s's images (set with kustomize edit set image)", where, c.Name, c.Image, kustomization)
			}
		}
	}
}

func TestConfigAndSecret(t *testing.T) {
	m := loadManifests(t)
	if len(m.configMaps) == 0 {
		t.Fatal("no ConfigMap")
	}
	if len(m.secrets) != 1 {
		t.Fatalf("want exactly one Secret (the template); got %d", len(m.secrets))
	}
	var secretName string
	for _, k := range m.files[secretTemplate] {
		if n, ok := strings.CutPrefix(k, "Secret/"); ok {
			secretName = n
		}
	}
	if secretName == "" {
		t.Fatalf("%s holds no Secret", secretTemplate)
	}
	sec := m.secrets[secretName]
	for _, k := range []string{"DATABASE_URL", "RAPPORT_SECRET"} {
		if _, ok := sec.StringData[k]; !ok {
			t.Errorf("Secret template %s lacks the required key %s", secretName, k)
		}
	}
	if len(sec.Data) > 0 {
		t.Errorf("Secret template %s has data: keep placeholders in stringData", secretName)
	}
	for k, v := range sec.StringData {
		if v != "" {
			t.Errorf("Secret template %s: %s has a value %q; the committed template must stay empty", secretName, k, v)
		}
		if !knownEnv[k] {
			t.Errorf("Secret template %s: %s is not a variable Rapport reads (typo?)", secretName, k)
		}
	}
	for name, cm := range m.configMaps {
		if cm.Data["RAPPORT_LOG_FORMAT"] != "json" {
			t.Errorf("ConfigMap %s: RAPPORT_LOG_FORMAT = %q; want json", name, cm.Data["RAPPORT_LOG_FORMAT"])
		}
		for _, k := range []string{"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "RAPPORT_PUBLIC_URL"} {
			if cm.Data[k] == "" {
				t.Errorf("ConfigMap %s lacks %s", name, k)
			}
		}
		// The sender is listed for the operator to fill in, never with the
		// demo's values: left empty, a pod with a provider key refuses to
		// start and names it.
		for _, k := range senderEnv {
			v, ok := cm.Data[k]
			if !ok {
				t.Errorf("ConfigMap %s does not list %s, which a provider key requires", name, k)
			}
			if demoValues[v] {
				t.Errorf("ConfigMap %s: %s = %q, the demo's value, would reach customers", name, k, v)
			}
		}
		for k := range cm.Data {
			if secretEnv[k] {
				t.Errorf("ConfigMap %s holds %s, a secret: move it to the Secret", name, k)
			}
			if !knownEnv[k] {
				t.Errorf("ConfigMap %s: %s is not a variable Rapport reads (typo?)", name, k)
			}
			if _, dup := sec.StringData[k]; dup {
				t.Errorf("%s is in both ConfigMap %s and the Secret; one silently wins", k, name)
			}
		}
		if v, ok := cm.Data["RAPPORT_WORKER_DRAIN"]; ok {
			if _, err := time.ParseDuration(v); err != nil {
				t.Errorf("ConfigMap %s: RAPPORT_WORKER_DRAIN=%q: %v", name, v, err)
			}
		}
	}
}

// checkPodBasics checks what every Rapport pod needs: the image's user,
// a read-only root, resources, and its configuration from the ConfigMap
// and the Secret.
func checkPodBasics(t *testing.T, m *manifests, where string, pod *corev1.PodTemplateSpec, uid int64) {
	t.Helper()
	spec := pod.Spec
	psc := spec.SecurityContext
	if len(spec.Containers) == 0 {
		t.Fatalf("%s: no containers", where)
	}
	volumes := map[string]bool{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = true
	}
	var secretName string
	for n := range m.secrets {
		secretName = n
	}
	for _, c := range spec.Containers {
		cw := where + " container " + c.Name
		if c.Image == "" {
			t.Errorf("%s: no image", cw)
		}
		if len(c.Command) > 0 {
			t.Errorf("%s: overrides the image's entrypoint with command %v; use args", cw, c.Command)
		}
		// Non-root, verifiably.
		sc := c.SecurityContext
		nonRoot := (psc != nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot) ||
			(sc != nil && sc.RunAsNonRoot != nil && *sc.RunAsNonRoot)
		if !nonRoot {
			t.Errorf("%s: runAsNonRoot is not set", cw)
		}
		var runAs *int64
		if psc != nil && psc.RunAsUser != nil {
			runAs = psc.RunAsUser
		}
		if sc != nil && sc.RunAsUser != nil {
			runAs = sc.RunAsUser
		}
		if runAs != nil && *runAs != uid {
			t.Errorf("%s: runAsUser %d differs from the image's USER %d", cw, *runAs, uid)
		}
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("%s: readOnlyRootFilesystem is not true", cw)
		}
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("%s: allowPrivilegeEscalation is not false", cw)
		}
		if sc == nil || sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			t.Errorf("%s: does not drop ALL capabilities", cw)
		}
		for _, vm := range c.VolumeMounts {
			if !volumes[vm.Name] {
				t.Errorf("%s: mounts volume %s, which the pod does not declare", cw, vm.Name)
			}
		}
		// Resources: requests and limits for CPU and memory, requests <= limits.
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, okReq := c.Resources.Requests[r]
			lim, okLim := c.Resources.Limits[r]
			if !okReq || !okLim {
				t.Errorf("%s: %s needs both a request and a limit", cw, r)
				continue
			}
			if req.Cmp(lim) > 0 {
				t.Errorf("%s: %s request %s exceeds the limit %s", cw, r, req.String(), lim.String())
			}
		}
		env := containerEnv(c)
		if v, ok := env["GOMEMLIMIT"]; ok {
			lim := c.Resources.Limits[corev1.ResourceMemory]
			n, err := parseGoMemLimit(v)
			if err != nil {
				t.Errorf("%s: GOMEMLIMIT=%q: %v", cw, v, err)
			} else if n >= lim.Value() {
				t.Errorf("%s: GOMEMLIMIT %s is not under the memory limit %s", cw, v, lim.String())
			}
		}
		for k := range env {
			if !knownEnv[k] {
				t.Errorf("%s: env %s is not a variable Rapport reads (typo?)", cw, k)
			}
			if secretEnv[k] {
				for _, e := range c.Env {
					if e.Name == k && e.Value != "" {
						t.Errorf("%s: %s has a literal value; take it from the Secret", cw, k)
					}
				}
			}
		}
		// Configuration: the ConfigMap and the Secret, which exist.
		var hasCM, hasSecret bool
		for _, ef := range c.EnvFrom {
			if ef.ConfigMapRef != nil {
				if _, ok := m.configMaps[ef.ConfigMapRef.Name]; !ok {
					t.Errorf("%s: envFrom ConfigMap %q is not in the manifests", cw, ef.ConfigMapRef.Name)
				}
				if ef.ConfigMapRef.Optional != nil && *ef.ConfigMapRef.Optional {
					t.Errorf("%s: the ConfigMap is optional; a missing one should stop the rollout", cw)
				}
				hasCM = true
			}
			if ef.SecretRef != nil {
				if ef.SecretRef.Name != secretName {
					t.Errorf("%s: envFrom Secret %q; the template documents %q", cw, ef.SecretRef.Name, secretName)
				}
				if ef.SecretRef.Optional != nil && *ef.SecretRef.Optional {
					t.Errorf("%s: the Secret is optional; a missing one should stop the rollout", cw)
				}
				hasSecret = true
			}
		}
		if !hasCM || !hasSecret {
			t.Errorf("%s: envFrom should reference both the ConfigMap and the Secret (configMap %v, secret %v)", cw, hasCM, hasSecret)
		}
	}
}

// containerEnv is a container's literal env (not envFrom).
func containerEnv(c corev1.Container) map[string]string {
	out := map[string]string{}
	for _, e := range c.Env {
		out[e.Name] = e.Value
	}
	return out
}

// parseGoMemLimit parses GOMEMLIMIT's syntax: a byte count with an
// optional B, KiB, MiB, GiB or TiB suffix.
func parseGoMemLimit(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseInt(n, 10, 64)
			return v * u.mult, err
		}
	}
	return strconv.ParseInt(s, 10, 64)
}

// portNumber resolves a probe's or Service's port against the container's
// declared ports.
func portNumber(t *testing.T, where string, c corev1.Container, port intstr.IntOrString) int32 {
	t.Helper()
	for _, p := range c.Ports {
		if (port.Type == intstr.String && p.Name == port.StrVal) || (port.Type == intstr.Int && p.ContainerPort == port.IntVal) {
			return p.ContainerPort
		}
	}
	t.Errorf("%s: port %s is not declared by container %s (ports %+v)", where, port.String(), c.Name, c.Ports)
	return 0
}

func TestDeployments(t *testing.T) {
	m := loadManifests(t)
	uid := finalStageUID(t, loadDockerfile(t))
	if len(m.deployments) == 0 {
		t.Fatal("no Deployments")
	}
	subcommands := map[string]bool{}
	for name, d := range m.deployments {
		where := "Deployment " + name
		// Selector matches the template.
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || d.Spec.Selector == nil || sel.Empty() {
			t.Errorf("%s: no usable selector (%v)", where, err)
		} else if !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			t.Errorf("%s: selector %s does not match the template's labels %v", where, sel, d.Spec.Template.Labels)
		}
		for other, o := range m.deployments {
			if other != name && sel.Matches(labels.Set(o.Spec.Template.Labels)) {
				t.Errorf("%s: selector also matches Deployment %s's pods", where, other)
			}
		}
		if m.hpaFor(name) != nil && d.Spec.Replicas != nil {
			t.Errorf("%s: sets replicas while an HPA scales it; every apply would reset the count", where)
		}
		checkPodBasics(t, m, where, &d.Spec.Template, uid)
		spec := d.Spec.Template.Spec
		c := spec.Containers[0]
		if len(c.Args) == 0 {
			t.Fatalf("%s: container %s has no args naming the subcommand", where, c.Name)
		}
		sub := c.Args[0]
		if _, ok := opsAddr[sub]; !ok {
			t.Errorf("%s: runs %q; want a long-running subcommand (worker, api, codec-server)", where, sub)
			continue
		}
		subcommands[sub] = true
		// Probes on the declared port the subcommand serves them on: the
		// operations port, not the public one.
		port := opsPort(t, sub, containerEnv(c))
		if pub, ok := publicPort(t, sub, containerEnv(c)); ok && sub != "codec-server" && pub == port {
			t.Errorf("%s: %s serves its probes and metrics on its public port %d", where, sub, pub)
		}
		probes := map[string]struct {
			p    *corev1.Probe
			path string
		}{
			"liveness":  {c.LivenessProbe, healthPath},
			"readiness": {c.ReadinessProbe, readyPath},
			"startup":   {c.StartupProbe, healthPath},
		}
		for kind, pr := range probes {
			if pr.p == nil {
				if kind != "startup" {
					t.Errorf("%s: no %s probe", where, kind)
				}
				continue
			}
			if pr.p.HTTPGet == nil {
				t.Errorf("%s: %s probe is not an HTTP GET", where, kind)
				continue
			}
			if pr.p.HTTPGet.Path != pr.path {
				t.Errorf("%s: %s probe path %q; want %s", where, kind, pr.p.HTTPGet.Path, pr.path)
			}
			if n := portNumber(t, where+" "+kind+" probe", c, pr.p.HTTPGet.Port); n != 0 && int(n) != port {
				t.Errorf("%s: %s probe on port %d, but %s serves its probes on %d", where, kind, n, sub, port)
			}
		}
		if v, ok := d.Spec.Template.Annotations["prometheus.io/port"]; ok && v != strconv.Itoa(port) {
			t.Errorf("%s: prometheus.io/port %s; metrics are on %d", where, v, port)
		}
		// Shutdown: longer than the worker's drain and the preStop pause.
		if spec.TerminationGracePeriodSeconds == nil {
			t.Errorf("%s: no terminationGracePeriodSeconds", where)
			continue
		}
		grace := time.Duration(*spec.TerminationGracePeriodSeconds) * time.Second
		var pause time.Duration
		if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
			pause = time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
		}
		if sub == "worker" {
			var config map[string]string
			for _, ef := range c.EnvFrom {
				if ef.ConfigMapRef != nil && m.configMaps[ef.ConfigMapRef.Name] != nil {
					config = m.configMaps[ef.ConfigMapRef.Name].Data
				}
			}
			drain := drainOf(t, containerEnv(c), config)
			if grace <= drain+pause {
				t.Errorf("%s: terminationGracePeriodSeconds %v is not longer than the drain %v (+ preStop %v): running activities would be killed", where, grace, drain, pause)
			}
		} else if grace <= pause {
			t.Errorf("%s: terminationGracePeriodSeconds %v is not longer than the preStop pause %v", where, grace, pause)
		}
	}
	for _, want := range []string{"worker", "api"} {
		if !subcommands[want] {
			t.Errorf("no Deployment runs rapport %s", want)
		}
	}
}

func TestAutoscalersAndBudgets(t *testing.T) {
	m := loadManifests(t)
	for name, h := range m.hpas {
		where := "HPA " + name
		ref := h.Spec.ScaleTargetRef
		d, ok := m.deployments[ref.Name]
		if ref.Kind != "Deployment" || ref.APIVersion != "apps/v1" || !ok {
			t.Errorf("%s: scaleTargetRef %s %s/%s is not a Deployment in the manifests", where, ref.APIVersion, ref.Kind, ref.Name)
			continue
		}
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 1 {
			t.Errorf("%s: minReplicas must be set and at least 1", where)
		} else if *h.Spec.MinReplicas > h.Spec.MaxReplicas {
			t.Errorf("%s: minReplicas %d > maxReplicas %d", where, *h.Spec.MinReplicas, h.Spec.MaxReplicas)
		}
		if len(h.Spec.Metrics) == 0 {
			t.Errorf("%s: no metrics", where)
		}
		// Utilization targets are relative to requests, which must exist.
		for _, metric := range h.Spec.Metrics {
			if metric.Type != autoscalingv2.ResourceMetricSourceType || metric.Resource == nil ||
				metric.Resource.Target.Type != autoscalingv2.UtilizationMetricType {
				continue
			}
			for _, c := range d.Spec.Template.Spec.Containers {
				if _, ok := c.Resources.Requests[metric.Resource.Name]; !ok {
					t.Errorf("%s: scales on %s utilization, but container %s requests no %s", where, metric.Resource.Name, c.Name, metric.Resource.Name)
				}
			}
		}
	}
	for _, want := range []string{"worker", "api"} {
		found := false
		for n, d := range m.deployments {
			if len(d.Spec.Template.Spec.Containers) > 0 && slices.Equal(d.Spec.Template.Spec.Containers[0].Args, []string{want}) {
				found = m.hpaFor(n) != nil
			}
		}
		if !found {
			t.Errorf("the %s Deployment has no HPA", want)
		}
	}
	covered := map[string]bool{}
	for name, pdb := range m.pdbs {
		where := "PDB " + name
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || pdb.Spec.Selector == nil || sel.Empty() {
			t.Errorf("%s: no usable selector (%v)", where, err)
			continue
		}
		var matched []string
		for dn, d := range m.deployments {
			if sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				matched = append(matched, dn)
			}
		}
		if len(matched) != 1 {
			t.Errorf("%s: selector %s matches Deployments %v; want exactly one", where, sel, matched)
			continue
		}
		covered[matched[0]] = true
		if (pdb.Spec.MinAvailable == nil) == (pdb.Spec.MaxUnavailable == nil) {
			t.Errorf("%s: set exactly one of minAvailable and maxUnavailable", where)
			continue
		}
		// A budget the minimum replica count cannot satisfy blocks node drains.
		if pdb.Spec.MinAvailable != nil && pdb.Spec.MinAvailable.Type == intstr.Int {
			if h := m.hpaFor(matched[0]); h != nil && h.Spec.MinReplicas != nil && pdb.Spec.MinAvailable.IntVal >= *h.Spec.MinReplicas {
				t.Errorf("%s: minAvailable %d >= the HPA's minReplicas %d: no pod could ever be evicted", where, pdb.Spec.MinAvailable.IntVal, *h.Spec.MinReplicas)
			}
		}
	}
	for n := range m.deployments {
		if !covered[n] {
			t.Errorf("Deployment %s has no PodDisruptionBudget", n)
		}
	}
}

// serviceTarget is the Deployment a Service selects (nil, reported, when
// it selects none or several).
func serviceTarget(t *testing.T, m *manifests, where string, s *corev1.Service) *appsv1.Deployment {
	t.Helper()
	if len(s.Spec.Selector) == 0 {
		t.Errorf("%s: no selector", where)
		return nil
	}
	sel := labels.SelectorFromSet(s.Spec.Selector)
	var target *appsv1.Deployment
	for _, d := range m.deployments {
		if sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			if target != nil {
				t.Errorf("%s: selector matches more than one Deployment", where)
				return nil
			}
			target = d
		}
	}
	if target == nil {
		t.Errorf("%s: selector %v matches no Deployment", where, s.Spec.Selector)
	}
	return target
}

// servicePortTarget is the container port a Service port sends to.
func servicePortTarget(t *testing.T, where string, c corev1.Container, p corev1.ServicePort) int {
	t.Helper()
	tp := p.TargetPort
	if tp.Type == intstr.Int && tp.IntVal == 0 {
		tp = intstr.FromInt32(p.Port)
	}
	return int(portNumber(t, where, c, tp))
}

// TestServices: the API's public port has a Service; the operations ports
// (/metrics) of the worker and the API have Services of their own, for
// scraping, which no public Service shares and which are never exposed
// outside the cluster.
func TestServices(t *testing.T) {
	m := loadManifests(t)
	if len(m.services) == 0 {
		t.Fatal("no Service (the API needs one)")
	}
	scraped := map[string]bool{}
	public := map[string]bool{}
	for name, s := range m.services {
		where := "Service " + name
		target := serviceTarget(t, m, where, s)
		if target == nil {
			continue
		}
		c := target.Spec.Template.Spec.Containers[0]
		sub := c.Args[0]
		env := containerEnv(c)
		if len(s.Spec.Ports) == 0 {
			t.Errorf("%s: no ports", where)
		}
		var opsPorts, publicPorts int
		for _, p := range s.Spec.Ports {
			n := servicePortTarget(t, where, c, p)
			pub, hasPublic := publicPort(t, sub, env)
			switch {
			case n == 0:
			case n == opsPort(t, sub, env):
				opsPorts++
			case hasPublic && n == pub:
				publicPorts++
			default:
				t.Errorf("%s: targets port %d, on which %s does not listen", where, n, sub)
			}
		}
		if opsPorts > 0 && publicPorts > 0 {
			t.Errorf("%s: mixes the public port and the operations port of %s; keep /metrics on a Service of its own", where, sub)
		}
		if opsPorts > 0 {
			scraped[sub] = true
			if s.Spec.Type != "" && s.Spec.Type != corev1.ServiceTypeClusterIP {
				t.Errorf("%s: an operations Service of type %s exposes /metrics outside the cluster; use ClusterIP", where, s.Spec.Type)
			}
		}
		if publicPorts > 0 {
			public[sub] = true
		}
	}
	if !public["api"] {
		t.Error("no Service for the API's public port")
	}
	for _, sub := range []string{"worker", "api"} {
		if !scraped[sub] {
			t.Errorf("no Service for the %s's operations port: Prometheus has nothing to scrape /metrics through", sub)
		}
	}
}

// publicRoutePrefixes are the first path segments of the API's routes, as
// internal/api/api.go lists them (one route a line): what an Ingress must
// publish and nothing more.
func publicRoutePrefixes(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "internal", "api", "api.go"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^\s*\{"(?:GET|POST|PUT|PATCH|DELETE) (/[^/" ]+)`)
	seen := map[string]bool{}
	var out []string
	for _, m := range re.FindAllStringSubmatch(string(data), -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			out = append(out, m[1])
		}
	}
	if len(out) == 0 {
		t.Fatal("found no routes in internal/api/api.go; has the routes table changed shape?")
	}
	sort.Strings(out)
	return out
}

// TestIngress: the Ingress publishes the API's public routes (/v1 and the
// signed pages and webhooks) on its public port, at RAPPORT_PUBLIC_URL's
// host, and no operational path.
func TestIngress(t *testing.T) {
	m := loadManifests(t)
	if len(m.ingresses) == 0 {
		t.Fatal("no Ingress: the README tells operators to publish the API's public paths through one")
	}
	want := publicRoutePrefixes(t)
	var publicHost string
	for _, cm := range m.configMaps {
		if u, err := url.Parse(cm.Data["RAPPORT_PUBLIC_URL"]); err == nil && u.Host != "" {
			publicHost = u.Hostname()
		}
	}
	var published []string
	for name, ing := range m.ingresses {
		where := "Ingress " + name
		if ing.Spec.DefaultBackend != nil {
			t.Errorf("%s: a default backend publishes every path, /metrics included", where)
		}
		for _, rule := range ing.Spec.Rules {
			if publicHost != "" && rule.Host != publicHost {
				t.Errorf("%s: host %q is not RAPPORT_PUBLIC_URL's %q: links in messages would point elsewhere", where, rule.Host, publicHost)
			}
			if rule.HTTP == nil {
				t.Errorf("%s: a rule without paths", where)
				continue
			}
			for _, p := range rule.HTTP.Paths {
				pw := fmt.Sprintf("%s path %s", where, p.Path)
				if p.PathType == nil || (*p.PathType != networkingv1.PathTypePrefix && *p.PathType != networkingv1.PathTypeExact) {
					t.Errorf("%s: pathType must be Prefix or Exact (ImplementationSpecific may match more)", pw)
				}
				for _, op := range append(opsPaths, "/dev/outbox") {
					if ingressMatches(p, op) {
						t.Errorf("%s publishes %s", pw, op)
					}
				}
				published = append(published, p.Path)
				// The backend is the API's public port.
				b := p.Backend.Service
				if b == nil {
					t.Errorf("%s: no Service backend", pw)
					continue
				}
				svc, ok := m.services[b.Name]
				if !ok {
					t.Errorf("%s: Service %s is not in the manifests", pw, b.Name)
					continue
				}
				target := serviceTarget(t, m, pw, svc)
				if target == nil {
					continue
				}
				c := target.Spec.Template.Spec.Containers[0]
				var sp *corev1.ServicePort
				for i, port := range svc.Spec.Ports {
					if (b.Port.Name != "" && port.Name == b.Port.Name) || (b.Port.Name == "" && port.Port == b.Port.Number) {
						sp = &svc.Spec.Ports[i]
					}
				}
				if sp == nil {
					t.Errorf("%s: Service %s has no port %+v", pw, b.Name, b.Port)
					continue
				}
				pub, _ := publicPort(t, "api", containerEnv(c))
				if n := servicePortTarget(t, pw, c, *sp); !slices.Equal(c.Args, []string{"api"}) || n != pub {
					t.Errorf("%s: routes to %s port %d; want the API's public port %d", pw, c.Args, n, pub)
				}
			}
		}
	}
	sort.Strings(published)
	if !slices.Equal(published, want) {
		t.Errorf("the Ingress publishes %v; the API's routes begin with %v: publish exactly those", published, want)
	}
}

// ingressMatches says whether an Ingress path sends path to its backend.
func ingressMatches(p networkingv1.HTTPIngressPath, path string) bool {
	if p.PathType != nil && *p.PathType == networkingv1.PathTypeExact {
		return p.Path == path
	}
	prefix := strings.TrimSuffix(p.Path, "/")
	return prefix == "" || path == prefix || strings.HasPrefix(path, prefix+"/")
}

// TestNetworkPolicies: the pods of the worker and the API accept
// connections to their operations port only from chosen peers, never from
// everywhere, while the API's public port stays open.
func TestNetworkPolicies(t *testing.T) {
	m := loadManifests(t)
	for dname, d := range m.deployments {
		c := d.Spec.Template.Spec.Containers[0]
		sub := c.Args[0]
		if sub != "worker" && sub != "api" {
			continue
		}
		where := "Deployment " + dname
		env := containerEnv(c)
		ops := opsPort(t, sub, env)
		pub, hasPublic := publicPort(t, sub, env)
		var isolated, publicOpen bool
		for pname, np := range m.netpols {
			sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
			if err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) || sel.Empty() {
				continue
			}
			if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
				continue
			}
			isolated = true
			pw := "NetworkPolicy " + pname
			for _, rule := range np.Spec.Ingress {
				// Which ports the rule opens: none listed means all.
				opens := map[int]bool{}
				if len(rule.Ports) == 0 {
					opens[ops] = true
					if hasPublic {
						opens[pub] = true
					}
				}
				for _, p := range rule.Ports {
					if p.Port == nil {
						opens[ops], opens[pub] = true, hasPublic
						continue
					}
					opens[int(portNumber(t, pw, c, *p.Port))] = true
				}
				if len(rule.From) == 0 && opens[ops] {
					t.Errorf("%s: lets anyone reach %s's operations port %d (/metrics)", pw, sub, ops)
				}
				if hasPublic && opens[pub] && len(rule.From) == 0 {
					publicOpen = true
				}
			}
		}
		if !isolated {
			t.Errorf("%s: no NetworkPolicy limits who reaches its operations port", where)
		}
		if hasPublic && isolated && !publicOpen {
			t.Errorf("%s: no NetworkPolicy rule lets the Ingress controller and the shop reach the public port %d", where, pub)
		}
	}
}

func TestSetupJob(t *testing.T) {
	m := loadManifests(t)
	uid := finalStageUID(t, loadDockerfile(t))
	var found, syncs bool
	for name, j := range m.jobs {
		where := "Job " + name
		checkPodBasics(t, m, where, &j.Spec.Template, uid)
		rp := j.Spec.Template.Spec.RestartPolicy
		if rp != corev1.RestartPolicyOnFailure && rp != corev1.RestartPolicyNever {
			t.Errorf("%s: restartPolicy %q; a Job needs OnFailure or Never", where, rp)
		}
		if j.Spec.BackoffLimit == nil {
			t.Errorf("%s: no backoffLimit", where)
		}
		if slices.Equal(j.Spec.Template.Spec.Containers[0].Args, []string{"setup", "temporal"}) {
			found = true
		}
		if slices.Equal(j.Spec.Template.Spec.Containers[0].Args, []string{"schedules", "sync"}) {
			syncs = true
		}
	}
	if len(m.jobs) > 0 && !found {
		t.Error("no Job runs rapport setup temporal")
	}
	// Only the deploy's sync, or a worker of the newest journeys, writes
	// the schedules: a rollback on purpose takes them back by this Job.
	if !syncs {
		t.Error("no Job runs rapport schedules sync")
	}
}

// TestReadmeDocumentsVariables keeps docs/operating.md's tables in step with
// the variables these files set.
func TestReadmeDocumentsVariables(t *testing.T) {
	data, err := os.ReadFile("../docs/operating.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	vars := map[string]bool{}
	p := loadCompose(t, nil, "encryption")
	for name := range rapportServices {
		for k := range service(t, p, name).Environment {
			vars[k] = true
		}
	}
	m := loadManifests(t)
	for _, cm := range m.configMaps {
		for k := range cm.Data {
			vars[k] = true
		}
	}
	for _, s := range m.secrets {
		for k := range s.StringData {
			vars[k] = true
		}
	}
	for _, pod := range m.podsOf() {
		for _, c := range pod.Spec.Containers {
			for k := range containerEnv(c) {
				vars[k] = true
			}
		}
	}
	var missing []string
	for v := range vars {
		if !strings.Contains(readme, "`"+v+"`") {
			missing = append(missing, v)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("docs/operating.md does not document %v", missing)
	}
}
