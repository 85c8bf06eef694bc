package journey

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestListenedEventTypesOfSeedJourneys(t *testing.T) {
	c := newTestCompiler(t)
	want := map[string][]string{
		"complementary-products.yaml": {"order.cancelled", "order.delivered"},
		"lapse-winback.yaml":          {"order.placed"},
		"satisfaction-check.yaml":     {"order.cancelled", "order.delivered", "survey.answered"},
		"thank-you.yaml":              nil,
	}
	files, err := filepath.Glob("../../journeys/*.yaml")
	require.NoError(t, err)
	require.Len(t, files, len(want), "a new seed journey: add its listened types here")
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		plan, diags := c.Compile(filepath.Base(f), b)
		require.False(t, diags.HasErrors(), "%s: %v", f, diags)
		got, err := c.Env().ListenedEventTypes(plan)
		require.NoError(t, err)
		w, ok := want[filepath.Base(f)]
		require.True(t, ok, f)
		assert.Equal(t, w, got, f)
		assert.Equal(t, plan.ListensForEvents(), got != nil, f)
	}
}

func TestEventTypesOfConditions(t *testing.T) {
	env, err := NewEnv()
	require.NoError(t, err)
	cases := []struct {
		cond string
		want []string // nil: any type
	}{
		{`event.type == "a"`, []string{"a"}},
		{`"a" == event.type`, []string{"a"}},
		{`event.type in ["b", "a", "b"]`, []string{"a", "b"}},
		{`event.type == "a" || event.type == "b"`, []string{"a", "b"}},
		{`(event.type == "a" || event.type in ["c"]) && event.data.x == 1`, []string{"a", "c"}},
		{`event.data.x == 1 && event.type == "a"`, []string{"a"}},
		{`event.type in ["a", "b"] && event.type in ["b", "c"]`, []string{"b"}},
		{`event.type == "a" && event.type == "b"`, []string{}},
		{`event.type == "a" || event.data.x == 1`, nil},
		{`event.type != "a"`, nil},
		{`!(event.type == "a")`, nil},
		{`event.type.startsWith("order.")`, nil},
		{`event.type == customer.locale`, nil},
		{`event.type in customer.tags`, nil},
		{`customer.orders_count > 3`, nil},
		{`event.data.type == "a"`, nil},
		{`event.type == "a" ? true : false`, nil},
		{`[event].exists(e, e.type == "a")`, nil},
		{`has(event.type) && event.type == "a"`, []string{"a"}},
	}
	for _, tc := range cases {
		got, err := env.EventTypesOf(tc.cond)
		require.NoError(t, err, tc.cond)
		if tc.want == nil {
			assert.Nil(t, got, tc.cond)
		} else {
			assert.Equal(t, tc.want, got, tc.cond)
		}
	}
	_, err = env.EventTypesOf(`event.typo == "a"`)
	assert.Error(t, err)
}

func TestListenedEventTypesAnyWhenOneConditionIsOpen(t *testing.T) {
	env, err := NewEnv()
	require.NoError(t, err)
	plan := &Plan{ExitWhen: `event.type == "order.placed"`, Steps: []Step{
		{ID: "b", Kind: KindBranch, Branch: &BranchStep{Cases: []Case{{When: "true", Steps: []Step{
			{ID: "w", Kind: KindWait, Wait: &WaitStep{UntilEvent: `event.data.answer == "yes"`}},
		}}}}},
	}}
	got, err := env.ListenedEventTypes(plan)
	require.NoError(t, err)
	assert.Equal(t, []string{AnyEventType}, got)

	plan.Steps[0].Branch.Cases[0].Steps[0].Wait.UntilEvent = `event.type == "survey.answered"`
	got, err = env.ListenedEventTypes(plan)
	require.NoError(t, err)
	assert.Equal(t, []string{"order.placed", "survey.answered"}, got)

	got, err = env.ListenedEventTypes(&Plan{Steps: []Step{{ID: "s", Kind: KindWait, Wait: &WaitStep{}}}})
	require.NoError(t, err)
	assert.Nil(t, got)
}
