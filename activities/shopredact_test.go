package activities

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/mocks"
	"go.temporal.io/sdk/testsuite"

	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/store/storetest"
	"github.com/rapporthq/rapport/workflows"
)

// erasureStarts records the erasure workflows a mocked Temporal client
// was asked to start.
type erasureStarts struct {
	mu     sync.Mutex
	opts   []client.StartWorkflowOptions
	inputs []workflows.EraseInput
}

func (e *erasureStarts) customers() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, in := range e.inputs {
		out = append(out, in.CustomerID)
	}
	return out
}

// shopRedactEnv runs the shop redaction's activities over a database,
// starting erasures on a mocked Temporal client.
func shopRedactEnv(t *testing.T, st *store.Store) (*testsuite.TestActivityEnvironment, *erasureStarts) {
	t.Helper()
	starts := &erasureStarts{}
	tc := &mocks.Client{}
	tc.On("ExecuteWorkflow", mock.Anything, mock.Anything, workflows.EraseWorkflowName, mock.Anything).
		Return(func(_ context.Context, o client.StartWorkflowOptions, _ any, args ...any) (client.WorkflowRun, error) {
			starts.mu.Lock()
			defer starts.mu.Unlock()
			starts.opts = append(starts.opts, o)
			starts.inputs = append(starts.inputs, args[0].(workflows.EraseInput))
			return &mocks.WorkflowRun{}, nil
		})
	a := &Activities{Store: st, Temporal: tc, Namespace: "default"}
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	a.RegisterShopRedaction(env)
	return env, starts
}

// TestEraseShopCustomersPagesThroughTheShopAlone: a page of a shop's
// redaction begins the erasure of the customers recorded as the shop's,
// in id order, a page at a time, each recorded as erased (their events
// refused) and its erasure workflow started by the customer's hash; the
// customers of another shop, those of no recorded shop (unless they
// count as the shop's) and those that did not come from Shopify are left
// alone, and counted when they are Shopify's.
func TestEraseShopCustomersPagesThroughTheShopAlone(t *testing.T) {
	t.Parallel()
	st, url := storetest.New(t)
	ctx := context.Background()
	const shop, other = "tea-shop.myshopify.com", "other-shop.myshopify.com"
	var ours []string
	for i := range shopRedactPageSize + 5 { // two pages
		id := fmt.Sprintf("shopify:%d", 1000+i)
		ours = append(ours, id)
		_, err := st.UpsertCustomer(ctx, store.Customer{ID: id})
		require.NoError(t, err)
		require.NoError(t, st.SetShopifyShop(ctx, id, shop))
	}
	for id, s := range map[string]string{"shopify:5": other, "shopify:6": "", "c_plain": ""} {
		_, err := st.UpsertCustomer(ctx, store.Customer{ID: id})
		require.NoError(t, err)
		if s != "" {
			require.NoError(t, st.SetShopifyShop(ctx, id, s))
		}
	}
	red, err := st.BeginShopRedaction(ctx, store.ShopRedaction{Shop: shop, WebhookID: "sr-1", WorkflowID: workflows.ShopRedactWorkflowID("sr-1")})
	require.NoError(t, err)
	env, starts := shopRedactEnv(t, st)

	in := workflows.ShopRedactInput{RedactionID: red.ID, Shop: shop, WebhookID: "sr-1"}
	var pages []workflows.ShopRedactPage
	for {
		v, err := env.ExecuteActivity(workflows.EraseShopCustomersActivity, in)
		require.NoError(t, err)
		var page workflows.ShopRedactPage
		require.NoError(t, v.Get(&page))
		pages = append(pages, page)
		in.Erasures += page.Count
		in.After = page.Last
		if page.Done {
			break
		}
		require.Less(t, len(pages), 5, "the pages do not end")
	}
	require.Len(t, pages, 2)
	assert.Equal(t, shopRedactPageSize, pages[0].Count)
	assert.Equal(t, 5, pages[1].Count)
	assert.Equal(t, ours, starts.customers(), "the shop's customers, each once, in id order")
	for i, o := range starts.opts {
		in := starts.inputs[i]
		hash, err := st.CustomerHash(in.CustomerID)
		require.NoError(t, err)
		assert.Equal(t, workflows.EraseWorkflowID(hash), o.ID)
		assert.Equal(t, workflows.TaskQueue, o.TaskQueue)
		assert.Equal(t, enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING, o.WorkflowIDConflictPolicy, "a running erasure is found, not started again")
		assert.Equal(t, "shopify "+shop, in.By)
	}
	for _, id := range ours {
		erased, err := st.Erased(ctx, id)
		require.NoError(t, err)
		require.True(t, erased, "%s: their events are not refused", id)
	}
	er, err := st.LatestErasure(ctx, ours[0])
	require.NoError(t, err)
	assert.Contains(t, er.Reason, "Shopify shop/redact webhook sr-1 from "+shop)
	for _, id := range []string{"shopify:5", "shopify:6", "c_plain"} {
		erased, err := st.Erased(ctx, id)
		require.NoError(t, err)
		assert.False(t, erased, "%s is not the shop's and was erased", id)
	}
	got, err := st.GetShopRedaction(ctx, red.ID)
	require.NoError(t, err)
	assert.Equal(t, len(ours), got.Erasures)

	// A page again (a retried activity) begins no erasure twice.
	n := len(starts.customers())
	_, err = env.ExecuteActivity(workflows.EraseShopCustomersActivity, workflows.ShopRedactInput{RedactionID: red.ID, Shop: shop, WebhookID: "sr-1"})
	require.NoError(t, err)
	var erasures int
	require.NoError(t, storetest.DB(t, url).QueryRow(ctx, `SELECT count(*) FROM erasures`).Scan(&erasures))
	assert.Equal(t, len(ours), erasures, "an erasure under way is not recorded again")
	assert.Equal(t, n+shopRedactPageSize, len(starts.customers()), "its workflows are asked for again, and found running")

	v, err := env.ExecuteActivity(workflows.FinishShopRedactionActivity, workflows.ShopRedactInput{RedactionID: red.ID, Shop: shop, Erasures: len(ours)})
	require.NoError(t, err)
	var kept int
	require.NoError(t, v.Get(&kept))
	assert.Equal(t, 1, kept, "shopify:6, of no recorded shop, is left for the operator")
	got, err = st.GetShopRedaction(ctx, red.ID)
	require.NoError(t, err)
	assert.Equal(t, 1, got.UnattributedKept)
	assert.NotNil(t, got.CompletedAt)
}

// TestEraseShopCustomersTakesTheUnattributedWhenTheyAreTheShops: when
// SHOPIFY_SHOP_DOMAINS named the shop alone, the Shopify customers of no
// recorded shop are its too, and none is left; still never another
// shop's, nor a customer that did not come from Shopify.
func TestEraseShopCustomersTakesTheUnattributedWhenTheyAreTheShops(t *testing.T) {
	t.Parallel()
	st, _ := storetest.New(t)
	ctx := context.Background()
	const shop = "tea-shop.myshopify.com"
	for id, s := range map[string]string{"shopify:1": shop, "shopify:2": "", "shopify:3": "other-shop.myshopify.com", "c_plain": ""} {
		_, err := st.UpsertCustomer(ctx, store.Customer{ID: id})
		require.NoError(t, err)
		if s != "" {
			require.NoError(t, st.SetShopifyShop(ctx, id, s))
		}
	}
	red, err := st.BeginShopRedaction(ctx, store.ShopRedaction{Shop: shop, WebhookID: "sr-2", WorkflowID: workflows.ShopRedactWorkflowID("sr-2"), AllUnattributed: true})
	require.NoError(t, err)
	env, starts := shopRedactEnv(t, st)
	in := workflows.ShopRedactInput{RedactionID: red.ID, Shop: shop, WebhookID: "sr-2", AllUnattributed: true}
	v, err := env.ExecuteActivity(workflows.EraseShopCustomersActivity, in)
	require.NoError(t, err)
	var page workflows.ShopRedactPage
	require.NoError(t, v.Get(&page))
	assert.True(t, page.Done)
	assert.Equal(t, []string{"shopify:1", "shopify:2"}, starts.customers())
	in.Erasures = page.Count
	v, err = env.ExecuteActivity(workflows.FinishShopRedactionActivity, in)
	require.NoError(t, err)
	var kept int
	require.NoError(t, v.Get(&kept))
	assert.Zero(t, kept)
}

// TestEraseShopCustomersWithoutTheKeyIsImpossible: without RAPPORT_SECRET
// no erasure can be begun, and retrying cannot mend it.
func TestEraseShopCustomersWithoutTheKeyIsImpossible(t *testing.T) {
	t.Parallel()
	_, url := storetest.New(t)
	bare, err := store.Open(context.Background(), url)
	require.NoError(t, err)
	defer bare.Close()
	env, _ := shopRedactEnv(t, bare)
	_, err = env.ExecuteActivity(workflows.EraseShopCustomersActivity, workflows.ShopRedactInput{RedactionID: 1, Shop: "tea-shop.myshopify.com"})
	impossible(t, err)
}
