package journey

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOnEditCompiles(t *testing.T) {
	c := newTestCompiler(t)
	base := []string{"journey: j", "purpose: transactional", "trigger: {event: order.placed}", "steps:", "  - {id: pause, wait: 1d}"}
	keep, diags := c.Compile("j.yaml", src(base...))
	require.False(t, diags.HasErrors(), "%v", diags)
	explicit, diags := c.Compile("j.yaml", src(append([]string{"on_edit: keep"}, base...)...))
	require.False(t, diags.HasErrors(), "%v", diags)
	moving, diags := c.Compile("j.yaml", src(append([]string{"on_edit: restart-at-step"}, base...)...))
	require.False(t, diags.HasErrors(), "%v", diags)

	assert.False(t, keep.Moves())
	assert.Equal(t, keep.Hash, explicit.Hash, "keep is the default: saying it changes no plan")
	assert.True(t, moving.Moves())
	assert.NotEqual(t, keep.Hash, moving.Hash)

	_, diags = c.Compile("j.yaml", src("journey: j", "purpose: transactional", "on_edit: restart-at-step", "trigger: {event: order.placed}", "steps:",
		"  - {id: pause, wait: 1d}", "  - send: {channel: email, template: thank-you}", "  - branch:", "      - when: customer.orders_count > 1", "        steps: [{exit: loyal}]"))
	assert.Equal(t, "j.yaml:7:1: this send step has no id; with on_edit: restart-at-step every send, wait, task, split, record and emit step needs one (a moved run finds its step, and the messages it already sent, by id): add `id: <name>`",
		diags.Errors().Error(), "branches and exits need none")
}

// movePlans compiles an old and a new plan of one journey.
func movePlans(t *testing.T, old, updated string) (*Plan, *Plan) {
	t.Helper()
	c := newTestCompiler(t)
	head := "journey: j\npurpose: transactional\non_edit: restart-at-step\ntrigger: {event: order.placed}\nsteps:\n"
	a, diags := c.Compile("old.yaml", []byte(head+old))
	require.False(t, diags.HasErrors(), "%v", diags)
	b, diags := c.Compile("new.yaml", []byte(head+updated))
	require.False(t, diags.HasErrors(), "%v", diags)
	return a, b
}

func TestLocateFollowsBranchesAndSplits(t *testing.T) {
	_, p := movePlans(t, "  - {id: first, wait: 1d}\n", `  - id: first
    wait: 1d
  - id: fork
    branch:
      - when: customer.orders_count > 1
        steps:
          - {id: loyal, wait: 2d}
      - when: customer.orders_count > 5
        steps:
          - {id: fan, wait: 2d}
      - otherwise:
          - {id: other, wait: 3d}
          - id: ab
            split:
              - {path: a, weight: 50, steps: [{id: in-a, wait: 1d}]}
              - {path: b, weight: 50, steps: [{id: in-b, wait: 1d}]}
`)
	for id, want := range map[string][]int{
		"first": {0}, "fork": {1}, "loyal": {1, 0, 0}, "fan": {1, 1, 0},
		"other": {1, 2, 0}, "ab": {1, 2, 1}, "in-a": {1, 2, 1, 0, 0}, "in-b": {1, 2, 1, 1, 0},
	} {
		path, s, ok := p.Locate(id)
		require.True(t, ok, id)
		assert.Equal(t, want, path, id)
		assert.Equal(t, id, s.ID)
	}
	_, _, ok := p.Locate("nowhere")
	assert.False(t, ok)
}

func TestRestartAt(t *testing.T) {
	old, updated := movePlans(t, `  - {id: pause, wait: 3d}
  - {id: hello, send: {channel: email, template: thank-you}}
  - {id: call, task: {kind: call, queue: care, due_in: 2d, outcomes: [done, no-answer]}}
  - {id: gone, wait: 1d}
  - {id: typed, wait: 1d}
  - {id: fewer, task: {kind: call, queue: care, due_in: 2d, outcomes: [done, no-answer]}}
`, `  - id: fork
    branch:
      - when: customer.orders_count > 1
        steps:
          - {id: pause, wait: {until: "10:00"}}
      - otherwise: []
  - {id: hello, send: {channel: email, template: thank-you}}
  - {id: call, task: {kind: call, queue: vip, due_in: 1d, outcomes: [no-answer, done, callback]}}
  - {id: typed, send: {channel: email, template: thank-you}}
  - {id: fewer, task: {kind: call, queue: care, due_in: 2d, outcomes: [done]}}
`)
	path, s, err := updated.RestartAt(old, "pause")
	require.NoError(t, err)
	assert.Equal(t, []int{0, 0, 0}, path, "a wait that moved into a branch is found there")
	assert.Equal(t, "10:00", s.Wait.Until)

	path, s, err = updated.RestartAt(old, "call")
	require.NoError(t, err, "a task step may gain outcomes and change queue")
	assert.Equal(t, []int{2}, path)
	assert.Equal(t, "vip", s.Task.Queue)

	assert.Equal(t, []Rest{
		{Step: "pause", Kind: KindWait},
		{Step: "call", Kind: KindTask},
		{Step: "gone", Kind: KindWait, Keeps: "step gone is not in the new plan " + updated.ShortHash()},
		{Step: "typed", Kind: KindWait, Keeps: "step typed is a send step in the new plan " + updated.ShortHash() + ", not a wait step"},
		{Step: "fewer", Kind: KindTask, Keeps: "task step fewer no longer has the outcome no-answer in the new plan " + updated.ShortHash() + ", and staff may already give it to the open task"},
	}, updated.Rests(old))

	// Into a split the run never took: refused; out of one: moved.
	inSplit, outOfSplit := movePlans(t, `  - id: ab
    split:
      - {path: a, weight: 50, steps: [{id: in-a, wait: 1d}]}
      - {path: b, weight: 50, steps: [{id: in-b, wait: 1d}]}
  - {id: later, wait: 1d}
`, `  - {id: in-a, wait: 1d}
  - id: cd
    split:
      - {path: c, weight: 50, steps: [{id: later, wait: 1d}]}
      - {path: d, weight: 50, steps: []}
`)
	path, _, err = outOfSplit.RestartAt(inSplit, "in-a")
	require.NoError(t, err)
	assert.Equal(t, []int{0}, path)
	_, _, err = outOfSplit.RestartAt(inSplit, "later")
	assert.EqualError(t, err, "step later is in path c of split cd in the new plan "+outOfSplit.ShortHash()+", a split a run waiting there did not take")
	path, _, err = inSplit.RestartAt(inSplit, "in-b")
	require.NoError(t, err, "the same split path")
	assert.Equal(t, []int{0, 1, 0}, path)

	for id, want := range map[string]string{
		"hello":   "step hello is a send step; runs move only while they wait (at a wait or a task)",
		"gone":    "step gone is not in the new plan " + updated.ShortHash(),
		"typed":   "step typed is a send step in the new plan " + updated.ShortHash() + ", not a wait step",
		"fewer":   "task step fewer no longer has the outcome no-answer in the new plan " + updated.ShortHash() + ", and staff may already give it to the open task",
		"missing": "step missing is not in plan " + old.ShortHash(),
	} {
		_, _, err := updated.RestartAt(old, id)
		assert.EqualError(t, err, want, id)
	}
}
