package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// A Shopify shop's redaction (shop/redact, sent 48 hours after the shop
// uninstalls the app) is a workflow, so it goes through every customer of
// the shop whatever fails on the way: page by page, it begins each one's
// erasure (the erasure workflow, as DELETE /v1/customers/{id} starts it)
// and then completes the redaction's record.
const (
	ShopRedactWorkflowName = "RedactShopifyShop"

	EraseShopCustomersActivity  = "EraseShopCustomers"
	FinishShopRedactionActivity = "FinishShopRedaction"
)

// ShopRedactWorkflowID is the id of the redaction workflow of one
// shop/redact delivery, named by its webhook id: Shopify's retries of
// the delivery find it.
func ShopRedactWorkflowID(webhookID string) string {
	return "rapport-shop-redact/" + webhookID
}

// ShopRedactInput starts (and continues) a shop's redaction.
type ShopRedactInput struct {
	// RedactionID is the redaction's record in the database.
	RedactionID int64  `json:"redaction_id"`
	Shop        string `json:"shop"`
	WebhookID   string `json:"webhook_id"`
	// AllUnattributed: the Shopify customers of no recorded shop are the
	// shop's too.
	AllUnattributed bool `json:"all_unattributed"`
	// After is the last customer id whose erasure was asked for; the next
	// page starts after it. Erasures counts them so far.
	After    string `json:"after,omitempty"`
	Erasures int    `json:"erasures,omitempty"`
}

// ShopRedactPage is what a page of the redaction did.
type ShopRedactPage struct {
	// Last is the page's last customer id ("" for an empty page); Count
	// the customers whose erasure it asked for.
	Last  string `json:"last,omitempty"`
	Count int    `json:"count"`
	// Done: no customer of the shop is left after it.
	Done bool `json:"done"`
}

// ShopRedactResult is what the redaction did.
type ShopRedactResult struct {
	Erasures         int `json:"erasures"`
	UnattributedKept int `json:"unattributed_kept"`
}

// shopRedactPagesPerRun bounds the pages one execution goes through
// before it continues as new, so its history stays small however many
// customers the shop has.
const shopRedactPagesPerRun = 100

// ShopRedactWorkflow erases the customers of a Shopify shop: each page
// of them (EraseShopCustomersActivity) has its erasures begun, until none
// is left, then the redaction's record is completed
// (FinishShopRedactionActivity). Every activity is idempotent and retried
// until it succeeds; only a missing hashing key (ErrErasureImpossible)
// ends it.
func ShopRedactWorkflow(ctx workflow.Context, in ShopRedactInput) (ShopRedactResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Minute, HeartbeatTimeout: time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 5 * time.Minute,
			NonRetryableErrorTypes: []string{ErrErasureImpossible},
		},
	})
	for pages := 0; ; pages++ {
		if pages == shopRedactPagesPerRun {
			return ShopRedactResult{}, workflow.NewContinueAsNewError(ctx, ShopRedactWorkflowName, in)
		}
		var page ShopRedactPage
		if err := workflow.ExecuteActivity(ctx, EraseShopCustomersActivity, in).Get(ctx, &page); err != nil {
			return ShopRedactResult{Erasures: in.Erasures}, fmt.Errorf("erase a page of the shop's customers: %w", err)
		}
		in.Erasures += page.Count
		if page.Last != "" {
			in.After = page.Last
		}
		if page.Done {
			break
		}
	}
	var kept int
	if err := workflow.ExecuteActivity(ctx, FinishShopRedactionActivity, in).Get(ctx, &kept); err != nil {
		return ShopRedactResult{Erasures: in.Erasures}, fmt.Errorf("complete the shop redaction's record: %w", err)
	}
	return ShopRedactResult{Erasures: in.Erasures, UnattributedKept: kept}, nil
}
