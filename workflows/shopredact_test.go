package workflows

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

// shopActs stands in for a shop redaction's activities: the shop has
// customers 1..n (as ids c0001...), a page is at most size of them.
type shopActs struct {
	n, size  int
	failures int // the page activity fails this many times first
	pages    []ShopRedactInput
	finished []ShopRedactInput
}

func (a *shopActs) page(_ context.Context, in ShopRedactInput) (ShopRedactPage, error) {
	if a.failures > 0 {
		a.failures--
		return ShopRedactPage{}, errors.New("database unavailable")
	}
	a.pages = append(a.pages, in)
	from := 0
	if in.After != "" {
		_, err := fmt.Sscanf(in.After, "c%04d", &from)
		if err != nil {
			return ShopRedactPage{}, err
		}
	}
	count := min(a.size, a.n-from)
	out := ShopRedactPage{Count: count, Done: count < a.size}
	if count > 0 {
		out.Last = fmt.Sprintf("c%04d", from+count)
	}
	return out, nil
}

func (a *shopActs) finish(_ context.Context, in ShopRedactInput) (int, error) {
	a.finished = append(a.finished, in)
	return 3, nil
}

func shopRedactTestEnv(a *shopActs) *testsuite.TestWorkflowEnvironment {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(ShopRedactWorkflow, workflow.RegisterOptions{Name: ShopRedactWorkflowName})
	env.RegisterActivityWithOptions(a.page, activity.RegisterOptions{Name: EraseShopCustomersActivity})
	env.RegisterActivityWithOptions(a.finish, activity.RegisterOptions{Name: FinishShopRedactionActivity})
	return env
}

func TestShopRedactPagesThroughTheShopThenFinishes(t *testing.T) {
	a := &shopActs{n: 250, size: 100, failures: 2}
	env := shopRedactTestEnv(a)
	in := ShopRedactInput{RedactionID: 4, Shop: "tea-shop.myshopify.com", WebhookID: "sr-1"}
	env.ExecuteWorkflow(ShopRedactWorkflowName, in)
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError(), "an infrastructure failure is retried, not the end")
	var res ShopRedactResult
	require.NoError(t, env.GetWorkflowResult(&res))
	assert.Equal(t, ShopRedactResult{Erasures: 250, UnattributedKept: 3}, res)
	require.Len(t, a.pages, 3)
	assert.Equal(t, []string{"", "c0100", "c0200"}, []string{a.pages[0].After, a.pages[1].After, a.pages[2].After}, "each page after the last")
	require.Len(t, a.finished, 1)
	assert.Equal(t, 250, a.finished[0].Erasures)
	assert.Equal(t, int64(4), a.finished[0].RedactionID)
}

func TestShopRedactContinuesAsNewToStaySmall(t *testing.T) {
	a := &shopActs{n: 100000, size: 10}
	env := shopRedactTestEnv(a)
	env.ExecuteWorkflow(ShopRedactWorkflowName, ShopRedactInput{RedactionID: 4, Shop: "tea-shop.myshopify.com", WebhookID: "sr-1"})
	require.True(t, env.IsWorkflowCompleted())
	var cont *workflow.ContinueAsNewError
	require.True(t, errors.As(env.GetWorkflowError(), &cont), "%v", env.GetWorkflowError())
	assert.Len(t, a.pages, shopRedactPagesPerRun)
	assert.Empty(t, a.finished)
	// The next execution resumes after the last page, with the count.
	var next ShopRedactInput
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(cont.Input, &next))
	assert.Equal(t, fmt.Sprintf("c%04d", 10*shopRedactPagesPerRun), next.After)
	assert.Equal(t, 10*shopRedactPagesPerRun, next.Erasures)
}

func TestShopRedactWithoutAKeyStops(t *testing.T) {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(ShopRedactWorkflow, workflow.RegisterOptions{Name: ShopRedactWorkflowName})
	env.RegisterActivityWithOptions(func(context.Context, ShopRedactInput) (ShopRedactPage, error) {
		return ShopRedactPage{}, temporal.NewNonRetryableApplicationError("erasure needs RAPPORT_SECRET", ErrErasureImpossible, nil)
	}, activity.RegisterOptions{Name: EraseShopCustomersActivity})
	env.ExecuteWorkflow(ShopRedactWorkflowName, ShopRedactInput{RedactionID: 4, Shop: "tea-shop.myshopify.com"})
	require.True(t, env.IsWorkflowCompleted())
	require.Error(t, env.GetWorkflowError())
	assert.Contains(t, env.GetWorkflowError().Error(), "RAPPORT_SECRET")
}
