package metrics

import "github.com/prometheus/client_golang/prometheus"

// Results of a Shopify webhook delivery, the values of the result label of
// rapport_shopify_webhooks_total.
const (
	// ShopifyApplied: verified and applied (events stored, the customer
	// or their consent updated, an erasure begun).
	ShopifyApplied = "applied"
	// ShopifyDuplicate: a webhook id already applied; nothing changed.
	ShopifyDuplicate = "duplicate"
	// ShopifyIgnored: verified and answered 200, but nothing to apply: a
	// topic Rapport does not map, an order it does not know, a customer
	// erased, another shop.
	ShopifyIgnored = "ignored"
	// ShopifyInvalid: verified, but a header or the payload is not what
	// the topic sends (answered 400).
	ShopifyInvalid = "invalid"
	// ShopifyRefused: the signature did not verify, or no secret is
	// configured (answered 401).
	ShopifyRefused = "refused"
)

// ShopifyTopics are the webhook topics recorded under their own name in
// the topic label of rapport_shopify_webhooks_total; any other is "other".
var ShopifyTopics = []string{
	"orders/create", "orders/paid", "orders/cancelled", "orders/fulfilled", "orders/updated",
	"refunds/create", "fulfillment_events/create", "checkouts/create", "checkouts/update",
	"customers/create", "customers/update", "customers/redact", "customers/data_request", "shop/redact",
}

var shopifyResults = []string{ShopifyApplied, ShopifyDuplicate, ShopifyIgnored, ShopifyInvalid, ShopifyRefused}

// newShopifyWebhooks makes rapport_shopify_webhooks_total.
func newShopifyWebhooks() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rapport_shopify_webhooks_total",
		Help: "Shopify webhook deliveries, by topic (the mapped ones, else other) and result (applied, duplicate, ignored, invalid, refused).",
	}, []string{"topic", "result"})
}

// ShopifyWebhook counts a Shopify webhook delivery by topic and result
// (one of the Shopify* results).
func (m *Metrics) ShopifyWebhook(topic, result string) {
	if m == nil {
		return
	}
	inc(m.shopify, oneOf(ShopifyTopics, topic), oneOf(shopifyResults, result))
}

// Results of rapport_shopify_shop_redaction_customers_total: what a
// shop/redact did with the Shopify customers it looked at.
const (
	// ShopRedactErased: a customer of the shop whose erasure it began.
	ShopRedactErased = "erased"
	// ShopRedactKept: a Shopify customer of no recorded shop it left
	// alone (SHOPIFY_SHOP_DOMAINS did not name that shop alone).
	ShopRedactKept = "kept"
)

// newShopRedactions makes rapport_shopify_shop_redaction_customers_total.
func newShopRedactions() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rapport_shopify_shop_redaction_customers_total",
		Help: "Shopify customers a shop/redact dealt with, by result: erased (an erasure begun) or kept (a Shopify customer of no recorded shop, left for the operator).",
	}, []string{"result"})
}

// ShopRedactionCustomers counts n customers a shop/redact dealt with, by
// result (ShopRedactErased or ShopRedactKept).
func (m *Metrics) ShopRedactionCustomers(result string, n int) {
	if m == nil || n <= 0 {
		return
	}
	if c, err := m.shopRedactions.GetMetricWithLabelValues(oneOf([]string{ShopRedactErased, ShopRedactKept}, result)); err == nil {
		c.Add(float64(n))
	}
}
