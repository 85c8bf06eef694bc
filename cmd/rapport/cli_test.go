package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/audit"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/store/storetest"
)

func run(args ...string) (stdout, stderr string, err error) {
	var out, errOut bytes.Buffer
	cmd := newRootCmd()
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	err = cmd.Execute()
	return out.String(), errOut.String(), err
}

func TestValidateTheShippedJourneys(t *testing.T) {
	t.Setenv("DATABASE_URL", "") // no runs in flight to compare with
	out, errOut, err := run("validate", "../../journeys")
	require.NoError(t, err, errOut)
	assert.Contains(t, out, "../../journeys/thank-you.yaml: ok (thank-you, plan ")
	assert.Empty(t, errOut)
}

func TestValidateReportsEveryProblem(t *testing.T) {
	t.Setenv("DATABASE_URL", "") // no runs in flight to compare with
	out, errOut, err := run("validate", "testdata/broken", "testdata/journeys/review-request.yaml")
	var exit *exitError
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, 1, exit.code)
	assert.Contains(t, out, "testdata/journeys/review-request.yaml: ok (review-request")
	assert.Equal(t, `testdata/broken/winback.yaml:6:38: there is no template "missing"; add testdata/broken/templates/missing/email.txt
testdata/broken/winback.yaml:7:17: for: "14 days" is not a duration; write a whole number followed by a unit, w, d, h, m or s, such as 14d, 36h, 15m or 2w
testdata/broken/winback.yaml:9:24: when: there is no field "orders_cnt"; did you mean "orders_count"? (journeys/README.md lists every field)
3 problems found; 1 journey valid
`, errOut)
}

// TestValidateFolderCountsEachFile: in a folder with one broken journey,
// the others are reported valid, and a misspelt template gets a
// suggestion.
func TestValidateFolderCountsEachFile(t *testing.T) {
	t.Setenv("DATABASE_URL", "") // no runs in flight to compare with
	dir := t.TempDir()
	require.NoError(t, os.CopyFS(dir, os.DirFS("../../journeys")))
	path := filepath.Join(dir, "thank-you.yaml")
	src, err := os.ReadFile(path)
	require.NoError(t, err)
	broken := strings.Replace(string(src), "template: thank-you", "template: thank-yuo", 1)
	require.NotEqual(t, string(src), broken)
	require.NoError(t, os.WriteFile(path, []byte(broken), 0o600))

	out, errOut, err := run("validate", dir)
	require.Error(t, err)
	assert.Equal(t, 3, strings.Count(out, ": ok ("), out)
	assert.NotContains(t, out, "thank-you.yaml")
	assert.Contains(t, errOut, `there is no template "thank-yuo"; did you mean "thank-you"?`)
	assert.True(t, strings.HasSuffix(errOut, "1 problem found; 3 journeys valid\n"), errOut)
}

func TestValidateMissingPath(t *testing.T) {
	t.Setenv("DATABASE_URL", "") // no runs in flight to compare with
	_, errOut, err := run("validate", "testdata/nowhere")
	require.Error(t, err)
	assert.Contains(t, errOut, "testdata/nowhere: no such file or directory")
}

// webhookJourney writes a folder whose journey order-hook (its send on
// line 7) posts each order to the webhook endpoint orders-feed, with body
// as its template, and returns the folder.
func webhookJourney(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "templates", "order-feed"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "order-hook.yaml"), []byte(`journey: order-hook
description: Tell the order system about each order.
purpose: transactional
trigger: {event: order.placed}
steps:
  - id: notify
    send: {channel: webhook, endpoint: orders-feed, template: order-feed}
`), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "templates", "order-feed", "webhook.json"), []byte(body+"\n"), 0o644))
	return dir
}

// webhookEndpoints is RAPPORT_WEBHOOK_ENDPOINTS for endpoints of these
// names (contacts_customer as given), with a made-up secret.
func webhookEndpoints(t *testing.T, contacts map[string]bool) string {
	t.Helper()
	var eps []map[string]any
	for _, name := range slices.Sorted(maps.Keys(contacts)) {
		eps = append(eps, map[string]any{"name": name, "url": "https://hooks.example.com/" + name,
			"secret": "whsec_" + base64.StdEncoding.EncodeToString([]byte(strings.Repeat(name, 32)[:32])), "contacts_customer": contacts[name]})
	}
	b, err := json.Marshal(eps)
	require.NoError(t, err)
	return string(b)
}

// TestValidateChecksWebhookEndpoints: with the endpoints configured
// (inline or in a file), a webhook send naming another is a problem at
// its line, with the configured names and a suggestion; without them the
// journey is valid and a warning says its endpoint was not checked; a
// configuration that does not parse is a problem that names the endpoint
// and not its secret; journeys without webhooks say nothing of them.
func TestValidateChecksWebhookEndpoints(t *testing.T) {
	t.Setenv("DATABASE_URL", "") // no runs in flight to compare with
	t.Setenv("RAPPORT_WEBHOOK_ENDPOINTS", "")
	t.Setenv("RAPPORT_WEBHOOK_ENDPOINTS_FILE", "")
	dir := webhookJourney(t, `{"customer": {{json .Customer.ID}}{{with .Order}}, "order": {{json .ID}}{{end}}}`)
	path := filepath.Join(dir, "order-hook.yaml")

	out, errOut, err := run("validate", dir)
	require.NoError(t, err, "validating without the endpoints' secrets (in CI) works")
	assert.Contains(t, out, path+": ok (order-hook, plan ")
	assert.Equal(t, path+`: warning: webhook endpoint "orders-feed" not checked: no webhook endpoints are configured here (RAPPORT_WEBHOOK_ENDPOINTS or RAPPORT_WEBHOOK_ENDPOINTS_FILE); set them to check, as a worker does: it refuses to start while a journey names an endpoint it does not have`+"\n", errOut)

	t.Setenv("RAPPORT_WEBHOOK_ENDPOINTS", webhookEndpoints(t, map[string]bool{"orders-fed": false, "crm": true}))
	out, errOut, err = run("validate", dir)
	var exit *exitError
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, 1, exit.code)
	assert.NotContains(t, out, "ok")
	assert.Equal(t, path+`:7:40: webhook endpoint "orders-feed" is not configured (RAPPORT_WEBHOOK_ENDPOINTS); configured: crm, orders-fed; did you mean "orders-fed"?
1 problem found; 0 journeys valid
`, errOut)

	t.Setenv("RAPPORT_WEBHOOK_ENDPOINTS", webhookEndpoints(t, map[string]bool{"orders-feed": false}))
	out, errOut, err = run("validate", dir)
	require.NoError(t, err, errOut)
	assert.Contains(t, out, path+": ok (order-hook, plan ")
	assert.Empty(t, errOut, "checked: no warning")

	// From a file, as a mounted secret; "[]" configures none.
	file := filepath.Join(t.TempDir(), "endpoints.json")
	require.NoError(t, os.WriteFile(file, []byte("[]"), 0o600))
	t.Setenv("RAPPORT_WEBHOOK_ENDPOINTS", "")
	t.Setenv("RAPPORT_WEBHOOK_ENDPOINTS_FILE", file)
	_, errOut, err = run("validate", dir)
	require.ErrorAs(t, err, &exit)
	assert.Contains(t, errOut, `webhook endpoint "orders-feed" is not configured (RAPPORT_WEBHOOK_ENDPOINTS); none is configured`)
	require.NoError(t, os.WriteFile(file, []byte(webhookEndpoints(t, map[string]bool{"orders-feed": true})), 0o600))
	_, errOut, err = run("validate", dir)
	require.NoError(t, err, errOut)
	assert.Empty(t, errOut)

	// A configuration that does not parse: a problem, secret unsaid.
	t.Setenv("RAPPORT_WEBHOOK_ENDPOINTS_FILE", "")
	t.Setenv("RAPPORT_WEBHOOK_ENDPOINTS", `[{"name": "orders-feed", "url": "https://hooks.example.com/in", "secret": "whsec_dG9vIHNob3J0"}]`)
	_, errOut, err = run("validate", dir)
	require.ErrorAs(t, err, &exit)
	assert.Contains(t, errOut, `webhook endpoints not checked: RAPPORT_WEBHOOK_ENDPOINTS: endpoint "orders-feed": secret: secret 1: decodes to 9 bytes; use 24 to 64`)
	assert.NotContains(t, errOut, "dG9vIHNob3J0")
	assert.True(t, strings.HasSuffix(errOut, "1 problem found; 1 journey valid\n"), errOut)

	// Journeys without webhooks say nothing of them, configured or not.
	t.Setenv("RAPPORT_WEBHOOK_ENDPOINTS", "")
	_, errOut, err = run("validate", "../../journeys")
	require.NoError(t, err, errOut)
	assert.Empty(t, errOut)
}

func TestGraph(t *testing.T) {
	out, _, err := run("graph", "testdata/journeys/review-request.yaml")
	require.NoError(t, err)
	assert.Contains(t, out, "flowchart TD\n")
	assert.Contains(t, out, `start(["on order.placed"])`)
	assert.Contains(t, out, `-->|"event.type == #quot;order.delivered#quot;"|`)

	_, errOut, err := run("graph", "testdata/broken/winback.yaml")
	require.Error(t, err)
	assert.Contains(t, errOut, "testdata/broken/winback.yaml:7:17:")
}

func TestAuditCommand(t *testing.T) {
	s, url := storetest.New(t)
	t.Setenv("DATABASE_URL", url)
	ctx := context.Background()
	_, err := s.UpsertCustomer(ctx, store.Customer{ID: "c_1", Email: "ada@example.com", TimeZone: "Europe/London"})
	require.NoError(t, err)
	msg := store.Message{IdempotencyKey: "k1", WorkflowID: "rapport/thank-you/c_1/e1", Journey: "thank-you", StepID: "thank_you", CustomerID: "c_1",
		Channel: "email", Template: "thank-you", Purpose: "transactional", Recipient: "ada@example.com"}
	allow := func(store.GateInput) store.Gate { return store.Gate{Allow: true} }
	_, _, err = s.ClaimWithGate(ctx, msg, false, time.Now(), allow)
	require.NoError(t, err)

	out, _, err := run("audit")
	require.NoError(t, err)
	assert.Contains(t, out, "checked 1 message to 1 customer: 0 sent, 0 held, 0 skipped, 0 failed; 0 holds on record")
	assert.Contains(t, out, "no message broke a rule")

	// A send after an opt-out, as a broken decision would make.
	_, err = s.RecordConsent(ctx, "c_1", "email", "opted_out", "preference_center", store.Evidence{})
	require.NoError(t, err)
	msg.IdempotencyKey, msg.StepID = "k2", "second"
	_, _, err = s.ClaimWithGate(ctx, msg, false, time.Now(), allow)
	require.NoError(t, err)
	out, _, err = run("audit", "--customer", "c_1")
	var exit *exitError
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, 1, exit.code)
	assert.Regexp(t, `rapport/thank-you/c_1/e1/second \(email, sending\): consent: the customer opted out of email \(preference_center\) at `, out)
	assert.Contains(t, out, "1 violation")

	out, _, err = run("audit", "--json")
	require.ErrorAs(t, err, &exit)
	var rep audit.Report
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	require.Len(t, rep.Violations, 1)
	assert.Equal(t, audit.Consent, rep.Violations[0].Rule)
}

// The tools that talk to Temporal take its address as a flag too, and a
// connection error names both the variable and the flag.
func TestTemporalAddressFlag(t *testing.T) {
	t.Setenv("TEMPORAL_ADDRESS", "127.0.0.1:2")
	for _, args := range [][]string{
		{"inspect", "c_1"},
		{"runs", "exit", "rapport/x/c_1/e", "--reason", "test"},
		{"schedules", "trigger", "lapse-winback"},
		{"schedules", "list"},
		{"setup", "temporal"},
	} {
		_, _, err := run(append(args, "--temporal-address", "127.0.0.1:1")...)
		require.Error(t, err, "%v", args)
		assert.Contains(t, err.Error(), "connect to Temporal at 127.0.0.1:1", "%v: the flag wins over TEMPORAL_ADDRESS", args)
		assert.Contains(t, err.Error(), "TEMPORAL_ADDRESS, or --temporal-address", "%v", args)
	}
}

// TestDiffCommand: rapport diff between two files, and between a git
// revision and the working tree, says what changed and exits 1; the same
// plan exits 0.
func TestDiffCommand(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.CopyFS(dir, os.DirFS("../../journeys")))
	edited := filepath.Join(dir, "lapse-winback.yaml")
	src, err := os.ReadFile(edited)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(edited, []byte(strings.Replace(string(src), "days_since_last_order >= 90", "days_since_last_order >= 120", 1)), 0o600))
	f, err := os.OpenFile(filepath.Join(dir, "templates", "winback-offer", "email.txt"), os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString("P.S. New words.\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())

	out, _, err := run("diff", "../../journeys/lapse-winback.yaml", edited)
	var exit *exitError
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, 1, exit.code)
	assert.Contains(t, out, `trigger.audience: "days_since_last_order >= 90 && orders_count >= 1" → "days_since_last_order >= 120 && orders_count >= 1"`)
	assert.Contains(t, out, "  template winback-offer\n    content changed (")
	assert.Contains(t, out, "Count them: rapport runs list --journey lapse-winback --plan ")

	// A git revision, with the templates as they were at it.
	out, errOut, err := run("diff", "HEAD:journeys/lapse-winback.yaml", "HEAD:journeys/lapse-winback.yaml")
	require.NoError(t, err, "git revisions need git and this repository: %s", errOut)
	assert.Contains(t, out, "lapse-winback: no change (plan ")
	out, _, err = run("diff", "HEAD:journeys/lapse-winback.yaml", edited)
	require.ErrorAs(t, err, &exit)
	assert.Contains(t, out, "days_since_last_order >= 120")
	_, errOut, err = run("diff", "no-such-revision:journeys/lapse-winback.yaml", edited)
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, 2, exit.code)
	assert.Contains(t, errOut, "git show")

	// An old copy kept outside the journeys folder, with no templates
	// beside it, takes the other file's templates.
	elsewhere := filepath.Join(t.TempDir(), "old-winback.yaml")
	require.NoError(t, os.WriteFile(elsewhere, src, 0o600))
	out, errOut, err = run("diff", elsewhere, edited)
	require.ErrorAs(t, err, &exit, errOut)
	assert.Equal(t, 1, exit.code, "a difference, not an error: %s", errOut)
	assert.Contains(t, out, "days_since_last_order >= 120")
	assert.NotContains(t, out, "template winback-offer", "both took the same templates")
	// ... and else the journeys folder's (RAPPORT_JOURNEYS).
	t.Setenv("RAPPORT_JOURNEYS", "../../journeys")
	out, errOut, err = run("diff", elsewhere, elsewhere)
	require.NoError(t, err, errOut)
	assert.Contains(t, out, "lapse-winback: no change (plan ")

	_, errOut, err = run("diff", "nowhere.yaml", edited)
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, 2, exit.code, "an error is not a difference")
	assert.Contains(t, errOut, "nowhere.yaml")

	// A journey that moves its runs: diff says where a waiting run would
	// keep its plan.
	moving := filepath.Join(dir, "moving.yaml")
	movingSrc := strings.Replace(string(src), "topic: offers\n", "topic: offers\non_edit: restart-at-step\n", 1)
	require.NotEqual(t, string(src), movingSrc)
	require.NoError(t, os.WriteFile(moving, []byte(movingSrc), 0o600))
	require.NoError(t, os.WriteFile(edited, []byte(strings.Replace(movingSrc, "id: wait_after_postcard", "id: wait_after_letter", 1)), 0o600))
	out, _, err = run("diff", moving, edited)
	require.ErrorAs(t, err, &exit)
	assert.Contains(t, out, "on_edit: restart-at-step: runs in flight on plan ")
	assert.Regexp(t, `(?m)^  runs waiting at wait_after_postcard keep plan [0-9a-f]{7}: step wait_after_postcard is not in the new plan [0-9a-f]{7}$`, out)
	assert.NotContains(t, out, "runs waiting at wait_for_return", "that wait moves")
	out, _, err = run("diff", "--json", moving, edited)
	require.ErrorAs(t, err, &exit)
	assert.Contains(t, out, `"on_edit": "restart-at-step"`)
	assert.Contains(t, out, `"step": "wait_for_return"`)
}

// TestExampleJourneysValidate: the example journeys in docs/examples (a
// yearly date in a customer attribute, an SMS reply recorded and emitted,
// a journey started by another's event, a template listing the trigger's
// items, a sunset audience over engagement, a fan-out trigger) are valid
// with their templates.
func TestExampleJourneysValidate(t *testing.T) {
	t.Setenv("DATABASE_URL", "") // no runs in flight to compare with
	out, errOut, err := run("validate", "../../docs/examples")
	require.NoError(t, err, errOut)
	assert.Equal(t, 6, strings.Count(out, ": ok ("), out)
}

// TestValidateSaysWhatRunsInFlightKeep: with a database, validate says how
// many runs are in flight on an older plan of a journey it compiled.
func TestValidateSaysWhatRunsInFlightKeep(t *testing.T) {
	st, dbURL := storetest.New(t)
	ctx := context.Background()
	for i, hash := range []string{"0123456789abcdef", "0123456789abcdef", "fedcba9876543210"} {
		require.NoError(t, st.RegisterRun(ctx, store.Run{WorkflowID: fmt.Sprintf("rapport/thank-you/c_%d/e", i), Journey: "thank-you", CustomerID: fmt.Sprintf("c_%d", i), PlanHash: hash}))
	}
	out, errOut, err := run("validate", "--database", dbURL, "../../journeys")
	require.NoError(t, err, errOut)
	assert.Contains(t, out, "thank-you.yaml: ok")
	assert.Contains(t, errOut, "../../journeys/thank-you.yaml: warning: 3 runs in flight on older plans (0123456, fedcba9) keep them, templates included")
	assert.NotContains(t, errOut, "lapse-winback", "no run of it is in flight")

	// A journey that moves its runs says they will move.
	dir := t.TempDir()
	require.NoError(t, os.CopyFS(dir, os.DirFS("../../journeys")))
	thanks := filepath.Join(dir, "thank-you.yaml")
	src, err := os.ReadFile(thanks)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(thanks, []byte(strings.Replace(string(src), "\ntrigger:", "\non_edit: restart-at-step\ntrigger:", 1)), 0o600))
	_, errOut, err = run("validate", "--database", dbURL, dir)
	require.NoError(t, err, errOut)
	assert.Contains(t, errOut, "thank-you.yaml: 3 runs in flight on older plans (0123456, fedcba9) move to this plan (")
	assert.Contains(t, errOut, ") at the step they wait in (on_edit: restart-at-step)")

	_, errOut, err = run("validate", "--database", "postgres://nobody@127.0.0.1:1/none?connect_timeout=2", "../../journeys")
	require.NoError(t, err, "a database out of reach does not fail validation")
	assert.Contains(t, errOut, "runs in flight not checked")
}
