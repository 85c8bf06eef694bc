package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/money"
	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/store/storetest"
)

// Amounts go into NUMERIC columns and come back digit for digit, scale
// included, and sums of them are exact: no binary floating point on the
// way.
func TestAmountsAreStoredExactly(t *testing.T) {
	t.Parallel()
	s, url := storetest.New(t)
	ctx := context.Background()
	_, err := s.UpsertCustomer(ctx, store.Customer{ID: "c_1"})
	require.NoError(t, err)

	placed := time.Now().Add(-time.Hour)
	orders := []store.Order{
		{ID: "o_eur", CustomerID: "c_1", Total: money.MustParse("48.00"), Currency: "EUR", PlacedAt: placed,
			Items: []store.Item{{ProductID: "p", Name: "Tea", Quantity: 3, Price: money.MustParse("16.00")}}},
		// A Kuwaiti dinar has three places; numeric(14, 2) rounded them.
		{ID: "o_kwd", CustomerID: "c_1", Total: money.MustParse("12.345"), Currency: "KWD", PlacedAt: placed,
			Items: []store.Item{{ProductID: "p", Name: "Tea", Quantity: 1, Price: money.MustParse("12.345")}}},
		// 0.1 + 0.2 is 0.30000000000000004 in floating point.
		{ID: "o_tenth", CustomerID: "c_1", Total: money.MustParse("0.1"), Currency: "EUR", PlacedAt: placed,
			Items: []store.Item{{ProductID: "p", Name: "Tea", Quantity: 1, Price: money.MustParse("0.1")}}},
		{ID: "o_fifth", CustomerID: "c_1", Total: money.MustParse("0.2"), Currency: "EUR", PlacedAt: placed,
			Items: []store.Item{{ProductID: "p", Name: "Tea", Quantity: 1, Price: money.MustParse("0.2")}}},
	}
	for _, o := range orders {
		_, err := s.RecordOrder(ctx, o)
		require.NoError(t, err)
	}
	for _, want := range orders {
		got, err := s.GetOrder(ctx, want.ID)
		require.NoError(t, err)
		assert.Equal(t, want.Total.String(), got.Total.String(), "order %s total", want.ID)
		assert.Equal(t, want.Items[0].Price.String(), got.Items[0].Price.String(), "order %s price", want.ID)
	}

	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var total, ltv string
	require.NoError(t, conn.QueryRow(ctx, `SELECT total::text FROM orders WHERE id = 'o_eur'`).Scan(&total))
	assert.Equal(t, "48.00", total, "the column holds the digits sent")
	require.NoError(t, conn.QueryRow(ctx, `SELECT lifetime_value::text FROM customers WHERE id = 'c_1'`).Scan(&ltv))
	assert.Equal(t, "60.645", ltv, "48.00 + 12.345 + 0.1 + 0.2, exactly")

	require.NoError(t, s.UpsertProducts(ctx, []store.Product{
		{ID: "p", Name: "Tea", Price: money.MustParse("4.25"), Currency: "GBP", Active: true},
		{ID: "pot", Name: "Pot", Price: money.MustParse("1999"), Currency: "JPY", Active: true, Complements: map[string]float64{"p": 1}},
	}))
	recs, err := s.Recommend(ctx, "c_2", []string{"pot"}, 5)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Equal(t, "4.25", recs[0].Price.String())

	v, err := s.IssueVoucher(ctx, store.Voucher{Code: "A", CustomerID: "c_1", WorkflowID: "w", StepID: "s", Kind: "amount",
		Value: money.MustParse("7.125"), Currency: "KWD", ExpiresAt: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	assert.Equal(t, "7.125", v.Value.String())
}
