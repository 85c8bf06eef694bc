//go:build !production

package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/app"
	"github.com/rapporthq/rapport/workflows"
)

// TestRunsMoveToTheNewPlan: a care run rests at its week-long wait; the
// journey, which says on_edit: restart-at-step, is edited so the wait also
// ends on delivery and the check-in has new words. rapport runs move moves
// the run, on the real server: it continues on the new plan at the same
// wait, the registry and RapportPlanHash say so (so the router delivers
// the delivery event the old plan did not listen for), and the new step
// sends the new template. A welcome run whose wait was renamed keeps its
// plan and says why; a run that ended behind the registry's back is
// counted as ended. A second move finds nothing to do; a journey that
// keeps its runs' plans is refused.
func TestRunsMoveToTheNewPlan(t *testing.T) {
	dir := t.TempDir()
	copyDir(t, "testdata/staff", dir)
	care := filepath.Join(dir, "care.yaml")
	v1, err := os.ReadFile(care)
	require.NoError(t, err)
	moving := strings.Replace(string(v1), "purpose: transactional\n", "purpose: transactional\non_edit: restart-at-step\n", 1)
	require.NoError(t, os.WriteFile(care, []byte(moving), 0o644))
	welcome := filepath.Join(dir, "welcome.yaml")
	w1, err := os.ReadFile(welcome)
	require.NoError(t, err)
	movingWelcome := strings.Replace(string(w1), "purpose: transactional\n", "purpose: transactional\non_edit: restart-at-step\n", 1)
	require.NoError(t, os.WriteFile(welcome, []byte(movingWelcome), 0o644))
	keeping := strings.NewReplacer("journey: welcome", "journey: quiet", "customer.signed_up", "customer.quiet").Replace(string(w1))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "quiet.yaml"), []byte(keeping), 0o644))

	s := startStack(t, dir)
	t.Setenv("TEMPORAL_ADDRESS", s.TemporalAddress)
	t.Setenv("DATABASE_URL", s.DatabaseURL)
	t.Setenv("RAPPORT_JOURNEYS", dir)
	status, body := s.post("/v1/customers", customer("c_1", "ada@example.com"))
	require.Equal(t, http.StatusCreated, status, body)
	s.post("/v1/events", orderPlaced("evt-1", "c_1", false))
	id := "rapport/care/c_1/evt-1"
	s.waitForStep(id, "settle_in")
	s.post("/v1/events", map[string]any{"id": "evt-w", "type": "customer.signed_up", "customer_id": "c_1"})
	s.waitForStep("rapport/welcome/c_1/evt-w", "get_to_know")
	status, body = s.post("/v1/customers", customer("c_2", "bob@example.com"))
	require.Equal(t, http.StatusCreated, status, body)
	s.post("/v1/events", orderPlaced("evt-3", "c_2", false))
	gone := "rapport/care/c_2/evt-3"
	s.waitForStep(gone, "settle_in")
	// Ended behind the registry's back (as by an operator in the UI).
	require.NoError(t, s.client.TerminateWorkflow(context.Background(), gone, "", "the test ends it"))
	old, err := app.LoadJourneys(dir)
	require.NoError(t, err)
	oldPlan, _ := old.Catalog.Get("care")

	// The edit: the wait also ends on delivery; the check-in is new.
	edited := strings.Replace(moving, "    wait: 7d\n", "    wait: {until_event: event.type == \"delivery.confirmed\", timeout: 7d}\n", 1)
	edited = strings.Replace(edited, "template: care-check-in}", "template: care-hello}", 1)
	require.NotEqual(t, moving, edited)
	require.NoError(t, os.WriteFile(care, []byte(edited), 0o644))
	require.NoError(t, os.WriteFile(welcome, []byte(strings.Replace(movingWelcome, "id: get_to_know", "id: settle", 1)), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "templates", "care-hello"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "templates", "care-hello", "email.txt"), []byte("Subject: Has it arrived?\nHi {{.Customer.FirstName}}, we hope it arrived well.\n"), 0o644))
	updated, err := app.LoadJourneys(dir)
	require.NoError(t, err)
	newPlan, _ := updated.Catalog.Get("care")
	require.NotEqual(t, oldPlan.Hash, newPlan.Hash)

	out, errOut, err := run("runs", "move", "--by", "ops")
	require.NoError(t, err, errOut)
	welcomePlan, _ := updated.Catalog.Get("welcome")
	assert.Equal(t, "care: to plan "+newPlan.ShortHash()+": 1 moved, 0 move at their next wait, 0 keep their plan, 1 had ended, 0 not reached\n"+
		"welcome: to plan "+welcomePlan.ShortHash()+": 0 moved, 0 move at their next wait, 1 keep their plan, 0 had ended, 0 not reached\n"+
		"  1 run kept: step get_to_know is not in the new plan "+welcomePlan.ShortHash()+"\n", out)

	s.waitFor("the run on the new plan", func() bool {
		v := s.uiView(id)
		return v.attrs["RapportPlanHash"] == newPlan.Hash && v.attrs["RapportStep"] == "settle_in"
	})
	reg, err := s.store.GetRun(context.Background(), id)
	require.NoError(t, err)
	assert.Equal(t, newPlan.Hash, reg.PlanHash)
	assert.Contains(t, reg.ListensFor, "delivery.confirmed")

	s.post("/v1/events", map[string]any{"id": "evt-2", "type": "delivery.confirmed", "customer_id": "c_1"})
	s.waitForStep(id, "wait_for_answer")
	msgs := s.messagesTo("c_1")
	require.Len(t, msgs, 2)
	assert.Equal(t, "Has it arrived?", msgs[1].Subject, "the new plan's template, pinned when it moved")

	st := s.state(id)
	assert.Equal(t, newPlan.Hash, st.PlanHash)
	assert.Equal(t, []string{oldPlan.Hash}, st.PlansLeft)
	require.NotEmpty(t, st.Actions)
	assert.Equal(t, workflows.StaffAction{Kind: workflows.MovePlanUpdate, By: "ops", Reason: "to plan " + newPlan.ShortHash() + " (on_edit: restart-at-step)", Step: "settle_in", At: st.Actions[0].At}, st.Actions[0])

	out, _, err = run("runs", "move", "--journey", "care")
	require.NoError(t, err)
	assert.Equal(t, "care: to plan "+newPlan.ShortHash()+": 0 moved, 0 move at their next wait, 0 keep their plan, 1 had ended, 0 not reached\n", out,
		"the registry still holds the run that ended behind its back; nothing else is left to move")
	_, _, err = run("runs", "move", "--journey", "quiet")
	assert.ErrorContains(t, err, "journey quiet keeps its runs' plans (on_edit: keep, the default); add `on_edit: restart-at-step`")
}

// state asks a run for its state.
func (s *stack) state(id string) workflows.State {
	s.t.Helper()
	v, err := s.client.QueryWorkflow(context.Background(), id, "", workflows.StateQuery)
	require.NoError(s.t, err)
	var st workflows.State
	require.NoError(s.t, v.Get(&st))
	return st
}

// copyDir copies a folder of files (and folders) into dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	require.NoError(t, os.CopyFS(dst, os.DirFS(src)))
}
