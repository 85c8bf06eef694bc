package activities

import (
	"context"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/rapporthq/rapport/internal/metrics"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

// The activities of a Shopify shop's redaction (workflows.ShopRedactWorkflow).
// Each is idempotent: the workflow retries them until they succeed.

// shopRedactPageSize is how many customers one page of a shop's
// redaction begins the erasure of.
const shopRedactPageSize = 100

// RegisterShopRedaction adds the shop redaction's activities to a worker
// under the names its workflow uses.
func (a *Activities) RegisterShopRedaction(w Registry) {
	w.RegisterActivityWithOptions(a.EraseShopCustomers, activity.RegisterOptions{Name: workflows.EraseShopCustomersActivity})
	w.RegisterActivityWithOptions(a.FinishShopRedaction, activity.RegisterOptions{Name: workflows.FinishShopRedactionActivity})
}

// EraseShopCustomers begins the erasure of the next page of the shop's
// customers, after in.After (store.ShopCustomers says whose): each is
// recorded as DELETE /v1/customers/{id} records it (their events refused
// and nothing sent to them from then on), requested by "shopify <shop>",
// and their erasure workflow started, or found under way.
func (a *Activities) EraseShopCustomers(ctx context.Context, in workflows.ShopRedactInput) (workflows.ShopRedactPage, error) {
	if !a.Store.CanErase() {
		return workflows.ShopRedactPage{}, erasureError(store.ErrNoHashKey)
	}
	if a.Temporal == nil {
		return workflows.ShopRedactPage{}, temporal.NewNonRetryableApplicationError("this worker has no Temporal client for erasures", workflows.ErrErasureImpossible, nil)
	}
	ids, err := a.Store.ShopCustomers(ctx, in.Shop, in.AllUnattributed, in.After, shopRedactPageSize)
	if err != nil {
		return workflows.ShopRedactPage{}, err
	}
	by, reason := "shopify "+in.Shop, fmt.Sprintf("Shopify shop/redact webhook %s from %s: the shop uninstalled the app", in.WebhookID, in.Shop)
	begun := 0
	for i, id := range ids {
		hash, err := a.Store.CustomerHash(id)
		if err != nil {
			return workflows.ShopRedactPage{}, erasureError(err)
		}
		er, created, err := a.Store.BeginErasure(ctx, id, workflows.EraseWorkflowID(hash), by, reason)
		if err != nil {
			return workflows.ShopRedactPage{}, err
		}
		if err := startErasure(ctx, a.Temporal, id, er); err != nil {
			return workflows.ShopRedactPage{}, fmt.Errorf("start the erasure of a customer of %s: %w", in.Shop, err)
		}
		if created {
			begun++
		}
		activity.RecordHeartbeat(ctx, i)
	}
	a.Metrics.ShopRedactionCustomers(metrics.ShopRedactErased, begun)
	page := workflows.ShopRedactPage{Count: len(ids), Done: len(ids) < shopRedactPageSize}
	if len(ids) > 0 {
		page.Last = ids[len(ids)-1]
	}
	if err := a.Store.RecordShopRedactionProgress(ctx, in.RedactionID, in.Erasures+page.Count); err != nil {
		return workflows.ShopRedactPage{}, err
	}
	a.logger(ctx).Info("Shopify shop/redact: erasures begun", "shop", in.Shop, "redaction_id", in.RedactionID, "customers", len(ids), "begun", begun)
	return page, nil
}

// startErasure starts a customer's erasure workflow, or finds it running,
// as the API's DELETE /v1/customers/{id} does (internal/api, erase.go):
// its id is the customer's hash, so asking twice starts one.
func startErasure(ctx context.Context, c client.Client, customerID string, er store.Erasure) error {
	_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       er.WorkflowID,
		TaskQueue:                workflows.TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		StaticSummary:            fmt.Sprintf("erasure %d of a customer", er.ID),
	}, workflows.EraseWorkflowName, workflows.EraseInput{CustomerID: customerID, ErasureID: er.ID, By: er.RequestedBy})
	return err
}

// FinishShopRedaction completes a shop redaction's record with the
// customers whose erasure it asked for and, unless they counted as the
// shop's, the Shopify customers of no recorded shop it left alone, which
// it returns (and logs, for the operator).
func (a *Activities) FinishShopRedaction(ctx context.Context, in workflows.ShopRedactInput) (int, error) {
	kept := 0
	if !in.AllUnattributed {
		var err error
		if kept, err = a.Store.UnattributedShopifyCustomers(ctx); err != nil {
			return 0, err
		}
	}
	finished, err := a.Store.FinishShopRedaction(ctx, in.RedactionID, in.Erasures, kept)
	if err != nil || !finished {
		return kept, err
	}
	a.Metrics.ShopRedactionCustomers(metrics.ShopRedactKept, kept)
	log := a.logger(ctx).With("shop", in.Shop, "redaction_id", in.RedactionID, "erasures", in.Erasures)
	if kept > 0 {
		log.Warn("Shopify shop/redact done; Shopify customers of no recorded shop were left alone: erase those of this shop with rapport customers erase (see docs/api.md, \"Shopify\")", "kept", kept)
		return kept, nil
	}
	log.Info("Shopify shop/redact done")
	return kept, nil
}
