package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/money"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/workflows"
)

// A voucher is read by its code in any case and redeemed once: 200, then
// 409 when used, 410 when expired, 404 when there is no such code.
func TestVouchersAreRedeemedOnce(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	ctx := context.Background()
	s.customer(`{"id": "c_1", "email": "ada@example.com"}`)
	for _, v := range []store.Voucher{
		{Code: "BACK15-ADA", CustomerID: "c_1", WorkflowID: "w", StepID: "offer", Kind: "percent", Value: money.MustParse("15"), ExpiresAt: time.Now().Add(30 * 24 * time.Hour)},
		{Code: "OLD10-ADA", CustomerID: "c_1", WorkflowID: "w-old", StepID: "offer", Kind: "amount", Value: money.MustParse("10.00"), Currency: "GBP", ExpiresAt: time.Now().Add(-time.Hour)},
	} {
		_, err := s.st.IssueVoucher(ctx, v)
		require.NoError(t, err)
	}

	v := s.must(http.StatusOK, "GET", "/v1/vouchers/back15-ada", "")
	assert.Equal(t, "BACK15-ADA", v["code"])
	assert.Equal(t, "percent", v["kind"])
	assert.Equal(t, 15.0, v["value"])
	assert.Nil(t, v["redeemed_at"])

	r := s.must(http.StatusOK, "POST", "/v1/vouchers/BACK15-ADA/redeem", `{"order_id": "o-9"}`)
	assert.NotEmpty(t, r["redeemed_at"])
	assert.Equal(t, "o-9", r["redeemed_order_id"])
	assert.Equal(t, "shop-backend", r["redeemed_by_key"], "the key it came with")
	used := s.call("POST", "/v1/vouchers/BACK15-ADA/redeem", `{"order_id": "o-10"}`)
	assert.Equal(t, http.StatusConflict, used.Code)
	assert.Contains(t, used.JSON["error"], "already used")
	assert.Equal(t, "o-9", s.must(http.StatusOK, "GET", "/v1/vouchers/BACK15-ADA", "")["redeemed_order_id"], "the first redemption stands")

	expired := s.call("POST", "/v1/vouchers/OLD10-ADA/redeem", "")
	assert.Equal(t, http.StatusGone, expired.Code)
	assert.Contains(t, expired.JSON["error"], "expired")
	assert.Nil(t, s.must(http.StatusOK, "GET", "/v1/vouchers/OLD10-ADA", "")["redeemed_at"])

	assert.Equal(t, http.StatusNotFound, s.call("GET", "/v1/vouchers/NOPE", "").Code)
	assert.Equal(t, http.StatusNotFound, s.call("POST", "/v1/vouchers/NOPE/redeem", "").Code)
	bad := s.call("POST", "/v1/vouchers/BACK15-ADA/redeem", `{"order": "o-9"}`)
	assert.Equal(t, http.StatusBadRequest, bad.Code)
	assert.Equal(t, "order", bad.JSON["field"])
}

// Past orders load into the history without starting journeys; they count
// in the customer's figures, which audiences read.
func TestPastOrdersLoadWithoutStartingJourneys(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	s.customer(`{"id": "c_1", "email": "ada@example.com"}`)
	placed := time.Now().AddDate(0, 0, -120).UTC().Format(time.RFC3339)
	order := `{"id": "o-1", "customer_id": "c_1", "placed_at": "` + placed + `", "total": 30, "currency": "GBP",
		"items": [{"product_id": "tea", "name": "Assam", "quantity": 3, "price": "10.00"}]}`
	assert.Equal(t, map[string]any{"id": "o-1", "status": "created"}, s.must(http.StatusCreated, "POST", "/v1/orders", order))
	assert.Equal(t, map[string]any{"id": "o-1", "status": "duplicate"}, s.must(http.StatusOK, "POST", "/v1/orders", order))
	assert.Empty(t, s.temporal.startIDs(), "history starts no journey")
	facts, err := s.st.CustomerFacts(context.Background(), "c_1", time.Now())
	require.NoError(t, err)
	assert.Equal(t, int64(1), facts.OrdersCount)
	assert.InDelta(t, 30.0, facts.LifetimeValue, 0.001)
	assert.Equal(t, int64(120), facts.DaysSinceLastOrder)

	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	for _, tc := range []struct {
		name, body string
		code       int
		field      string
	}{
		{"no customer", `{"id": "o-2", "placed_at": "` + placed + `", "total": 1, "currency": "GBP", "items": [{"product_id": "p", "name": "n", "quantity": 1, "price": 1}]}`, 400, "customer_id"},
		{"an unknown customer", `{"id": "o-2", "customer_id": "c_nobody", "placed_at": "` + placed + `", "total": 1, "currency": "GBP", "items": [{"product_id": "p", "name": "n", "quantity": 1, "price": 1}]}`, 422, "customer_id"},
		{"no date", `{"id": "o-2", "customer_id": "c_1", "total": 1, "currency": "GBP", "items": [{"product_id": "p", "name": "n", "quantity": 1, "price": 1}]}`, 400, "placed_at"},
		{"placed tomorrow", `{"id": "o-2", "customer_id": "c_1", "placed_at": "` + future + `", "total": 1, "currency": "GBP", "items": [{"product_id": "p", "name": "n", "quantity": 1, "price": 1}]}`, 400, "placed_at"},
		{"no items", `{"id": "o-2", "customer_id": "c_1", "placed_at": "` + placed + `", "total": 1, "currency": "GBP", "items": []}`, 400, "items"},
		{"yen with pence", `{"id": "o-2", "customer_id": "c_1", "placed_at": "` + placed + `", "total": "1.50", "currency": "JPY", "items": [{"product_id": "p", "name": "n", "quantity": 1, "price": 1}]}`, 400, "total"},
		{"a negative price", `{"id": "o-2", "customer_id": "c_1", "placed_at": "` + placed + `", "total": 1, "currency": "GBP", "items": [{"product_id": "p", "name": "n", "quantity": 1, "price": -1}]}`, 400, "items[0].price"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := s.call("POST", "/v1/orders", tc.body)
			require.Equal(t, tc.code, a.Code, a.Body)
			assert.Equal(t, tc.field, a.JSON["field"], a.Body)
		})
	}
	facts, err = s.st.CustomerFacts(context.Background(), "c_1", time.Now())
	require.NoError(t, err)
	assert.Equal(t, int64(1), facts.OrdersCount, "no refused order was loaded")
}

// Products are stored with their complements; a complement that names no
// product, or the product itself, is refused, and nothing of the list is
// stored.
func TestProductsAndTheirComplements(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	ctx := context.Background()
	assert.Equal(t, map[string]any{"stored": 2.0}, s.must(http.StatusOK, "POST", "/v1/products", `{"products": [
		{"id": "teapot", "name": "Blue teapot", "price": 32, "currency": "GBP", "complements": {"cosy": 0.9}},
		{"id": "cosy", "name": "Tea cosy", "price": "12.50", "currency": "GBP"}]}`))
	recs, err := s.st.Recommend(ctx, "nobody", []string{"teapot"}, 5)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Equal(t, "cosy", recs[0].ID)
	assert.Equal(t, "12.50", recs[0].Price.String())

	for _, tc := range []struct {
		name, body string
		code       int
		field      string
	}{
		{"none", `{"products": []}`, 400, "products"},
		{"an id with a space", `{"products": [{"id": "tea pot", "name": "x", "price": 1}]}`, 400, "products[0].id"},
		{"no name", `{"products": [{"id": "cup", "price": 1}]}`, 400, "products[0].name"},
		{"a currency in words", `{"products": [{"id": "cup", "name": "Cup", "price": 1, "currency": "pounds"}]}`, 400, "products[0].currency"},
		{"its own complement", `{"products": [{"id": "cup", "name": "Cup", "price": 1, "complements": {"cup": 1}}]}`, 400, "products[0].complements.cup"},
		{"a complement of nothing", `{"products": [{"id": "cup", "name": "Cup", "price": 1, "complements": {"saucer": 1}}]}`, 422, "products"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := s.call("POST", "/v1/products", tc.body)
			require.Equal(t, tc.code, a.Code, a.Body)
			assert.Equal(t, tc.field, a.JSON["field"], a.Body)
		})
	}
	recs, err = s.st.Recommend(ctx, "nobody", []string{"cosy"}, 5)
	require.NoError(t, err)
	assert.Empty(t, recs, "the refused cup was not stored")
}

// An audience preview counts and samples whom the journey's audience
// selects, entering nobody; a run by hand starts the audience workflow
// keyed by the day and answers its counts, or 202 when it outlasts the
// wait.
func TestAudiencesArePreviewedAndRunByHand(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	ctx := context.Background()
	long := time.Now().AddDate(0, 0, -200)
	for _, c := range []struct {
		id     string
		placed time.Time
	}{{"c_lapsed", long}, {"c_recent", time.Now().AddDate(0, 0, -3)}, {"c_never", time.Time{}}} {
		s.customer(`{"id": "` + c.id + `", "email": "` + c.id + `@example.com"}`)
		if !c.placed.IsZero() {
			_, err := s.st.RecordOrder(ctx, store.Order{ID: "o-" + c.id, CustomerID: c.id, Total: money.MustParse("20.00"), Currency: "GBP", PlacedAt: c.placed})
			require.NoError(t, err)
		}
	}

	p := s.must(http.StatusOK, "GET", "/v1/journeys/winback/audience?sample=5", "")
	assert.EqualValues(t, 3, p["customers"])
	assert.EqualValues(t, 1, p["matched"])
	sample := p["sample"].([]any)
	require.Len(t, sample, 1)
	assert.Equal(t, "c_lapsed", sample[0].(map[string]any)["id"])
	assert.Nil(t, sample[0].(map[string]any)["email"], "the sample has no contact details")
	assert.Empty(t, s.temporal.startIDs(), "a preview enters nobody")

	s.temporal.audience = workflows.AudienceResult{Counts: workflows.AudienceCounts{Scanned: 3, Matched: 1, Started: 1}}
	r := s.must(http.StatusOK, "POST", "/v1/journeys/winback/audience-runs", "")
	key := "audience-" + time.Now().UTC().Format("20060102")
	assert.Equal(t, "done", r["status"])
	assert.Equal(t, key, r["entry_key"])
	assert.EqualValues(t, 1, r["counts"].(map[string]any)["started"])
	starts := s.temporal.startList()
	require.Len(t, starts, 1)
	assert.Equal(t, workflows.AudienceWorkflowName, starts[0].Workflow)
	assert.Equal(t, r["workflow_id"], starts[0].ID)
	in := starts[0].Args[0].(workflows.AudienceInput)
	assert.Equal(t, "winback", in.Journey)
	assert.Equal(t, key, in.EntryKey)

	slow := s.must(http.StatusAccepted, "POST", "/v1/journeys/winback/audience-runs?wait=0s", "")
	assert.Equal(t, "running", slow["status"])
	assert.NotEqual(t, r["workflow_id"], slow["workflow_id"], "each run by hand is a workflow of its own")

	for _, tc := range []struct {
		method, path string
		code         int
	}{
		{"GET", "/v1/journeys/nope/audience", 404},
		{"GET", "/v1/journeys/thanks/audience", 400},
		{"POST", "/v1/journeys/thanks/audience-runs", 400},
		{"GET", "/v1/journeys/winback/audience?sample=many", 400},
		{"POST", "/v1/journeys/winback/audience-runs?wait=1h", 400},
	} {
		assert.Equal(t, tc.code, s.call(tc.method, tc.path, "").Code, "%s %s", tc.method, tc.path)
	}
	assert.Len(t, s.temporal.startList(), 2)
}
