package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// productionTag is the build tag that leaves the dev-only commands out
// (devcommands_production.go); the Dockerfile and .ci/test build with it.
const productionTag = "production"

// devOnlyPackages are import paths (or prefixes of them) that only the
// dev-only commands need: the embedded Temporal server and its web UI,
// SQLite, Kubernetes' client (pulled in by the server), the fake
// providers, the measuring tools and the previewer.
var devOnlyPackages = []string{
	"go.temporal.io/server/",
	"github.com/temporalio/ui-server/",
	"modernc.org/sqlite",
	"k8s.io/client-go/",
	"github.com/rapporthq/rapport/internal/devstack",
	"github.com/rapporthq/rapport/internal/fakes",
	"github.com/rapporthq/rapport/internal/simulation",
	"github.com/rapporthq/rapport/internal/chaos",
	"github.com/rapporthq/rapport/internal/bench",
	"github.com/rapporthq/rapport/internal/preview",
}

// deps lists the packages `go build` links into cmd/rapport with tags,
// each with the packages it imports.
func deps(t *testing.T, tags ...string) map[string][]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	args := []string{"list", "-deps", "-f", `{{.ImportPath}} {{join .Imports " "}}`}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	args = append(args, ".")
	out, err := exec.CommandContext(ctx, "go", args...).Output()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		err = fmt.Errorf("%w: %s", err, exit.Stderr)
	}
	require.NoError(t, err, "go %s", strings.Join(args, " "))
	pkgs := map[string][]string{}
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		if len(fields) > 0 {
			pkgs[fields[0]] = fields[1:]
		}
	}
	return pkgs
}

// isDevOnly says whether a package is one only dev-only commands need.
func isDevOnly(pkg string) bool {
	for _, prefix := range devOnlyPackages {
		if pkg == strings.TrimSuffix(prefix, "/") || strings.HasPrefix(pkg, prefix) {
			return true
		}
	}
	return false
}

// devOnlyEntries are the ways from Rapport's own code into dev-only code:
// "P imports D" for each Rapport package P that is not dev-only and
// imports a D that is, sorted.
func devOnlyEntries(pkgs map[string][]string) []string {
	var entries []string
	for pkg, imports := range pkgs {
		if isDevOnly(pkg) || !strings.HasPrefix(pkg, "github.com/rapporthq/rapport/") {
			continue
		}
		for _, imp := range imports {
			if isDevOnly(imp) {
				entries = append(entries, pkg+" imports "+imp)
			}
		}
	}
	slices.Sort(entries)
	return entries
}

// TestProductionBuildLinksNoDevCode holds the production build to
// production code: neither the embedded Temporal server nor anything else
// only `rapport dev`, bench, simulate or chaos need. The default build is
// listed too, so that a renamed package cannot make the check pass by
// matching nothing.
func TestProductionBuildLinksNoDevCode(t *testing.T) {
	prod := deps(t, productionTag)
	assert.Empty(t, devOnlyEntries(prod), "the production build (-tags %s) links dev-only packages; move what production code needs out of the files marked //go:build !production and out of internal/devstack", productionTag)
	var linked []string
	for pkg := range prod {
		if isDevOnly(pkg) {
			linked = append(linked, pkg)
		}
	}
	if len(linked) > 0 {
		slices.Sort(linked)
		t.Errorf("the production build links %d dev-only packages, among them %s", len(linked), strings.Join(linked[:min(5, len(linked))], ", "))
	}
	assert.Contains(t, prod, "go.temporal.io/sdk/client", "the production build still talks to Temporal")
	assert.Contains(t, prod, "github.com/rapporthq/rapport/internal/api")

	dev := deps(t)
	for _, want := range []string{"go.temporal.io/server/temporal", "modernc.org/sqlite", "k8s.io/client-go/kubernetes",
		"github.com/rapporthq/rapport/internal/devstack", "github.com/rapporthq/rapport/internal/fakes"} {
		assert.Contains(t, dev, want, "the default build holds the dev-only commands")
	}
	assert.Contains(t, devOnlyEntries(dev), "github.com/rapporthq/rapport/cmd/rapport imports github.com/rapporthq/rapport/internal/devstack")
}

// TestProductionBinaryCommands builds the production binary and runs it:
// it has the production commands, not the dev-only ones, and says so.
func TestProductionBinaryCommands(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "rapport")
	build := exec.CommandContext(ctx, "go", "build", "-tags", productionTag, "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build -tags %s: %s", productionTag, out)

	rapport := func(args ...string) (string, error) {
		out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
		return string(out), err
	}
	help, err := rapport("--help")
	require.NoError(t, err, help)
	for _, cmd := range []string{"worker", "api", "migrate", "setup", "health", "codec-server", "validate", "events"} {
		assert.Regexp(t, `(?m)^  `+cmd+` `, help, "production command %s", cmd)
	}
	for _, cmd := range []string{"dev", "bench", "simulate", "chaos"} {
		assert.NotRegexp(t, `(?m)^  `+cmd+` `, help, "dev-only command %s", cmd)
	}
	assert.Contains(t, help, "This is the production build")

	out2, err := rapport("dev")
	require.Error(t, err, out2)
	assert.Contains(t, out2, `unknown command "dev"`)
	out2, err = rapport("worker", "--bench")
	require.Error(t, err, out2)
	assert.Contains(t, out2, "unknown flag: --bench")
	out2, err = rapport("setup", "temporal", "--help")
	require.NoError(t, err, out2)
	assert.Contains(t, out2, "search attributes")

	// With a provider key, the worker and the API refuse the demo's public
	// URL and sender, naming each variable, before they connect anywhere.
	for _, cmd := range []string{"worker", "api"} {
		c := exec.CommandContext(ctx, bin, cmd)
		c.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "TEMPORAL_CONFIG_FILE=" + filepath.Join(t.TempDir(), "none.toml"),
			"RAPPORT_SECRET=0123456789abcdef0123456789abcdef", "SENDGRID_API_KEY=SG.key", "RAPPORT_SHOP_NAME=Teapot & Co",
			"DATABASE_URL=postgres://nowhere.invalid/rapport", "TEMPORAL_ADDRESS=127.0.0.1:1"}
		out, err := c.CombinedOutput()
		require.Error(t, err, "%s: %s", cmd, out)
		for _, v := range []string{"SENDGRID_API_KEY is set", "RAPPORT_PUBLIC_URL (", "RAPPORT_EMAIL_FROM (", "RAPPORT_SHOP_URL (", "RAPPORT_SUPPORT_EMAIL ("} {
			assert.Contains(t, string(out), v, cmd)
		}
		assert.NotContains(t, string(out), "RAPPORT_SHOP_NAME (", "%s: it is set", cmd)
	}
}
