package journey

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A voucher's amount is exact as written, and its JSON (in the histories
// of runs, as a send step's input) is what it was as a float: a number,
// absent for a percentage.
func TestVoucherAmountKeepsItsJSON(t *testing.T) {
	b, err := json.Marshal(VoucherSpec{Percent: 15})
	require.NoError(t, err)
	assert.NotContains(t, string(b), "amount", "a percent voucher has no amount, as before")

	var old VoucherSpec
	require.NoError(t, json.Unmarshal([]byte(`{"amount":7.5,"currency":"GBP","valid_for":{"D":2592000000000000,"text":"30d"}}`), &old),
		"a run recorded with a float amount")
	assert.Equal(t, "7.5", old.Amount.String())
	assert.Equal(t, 30*24*time.Hour, old.ValidFor.D)
	b, err = json.Marshal(VoucherSpec{Amount: old.Amount, Currency: "GBP"})
	require.NoError(t, err)
	assert.Contains(t, string(b), `"amount":7.5,`)
}
