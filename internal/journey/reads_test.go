package journey

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReadsCustomer: an expression reads the customer's facts when it
// names the variable customer anywhere, and not when customer is only a
// key of event data.
func TestReadsCustomer(t *testing.T) {
	env, err := NewEnv()
	require.NoError(t, err)
	for expr, want := range map[string]bool{
		`event.type == "order.placed"`:                                       false,
		`event.type == "order.cancelled" && event.data.order_id == order.id`: false,
		`event.data.customer == "c_1"`:                                       false,
		`task.outcome == "declined"`:                                         false,
		`customer.has_phone`:                                                 true,
		`event.type == "x" && customer.orders_count > 2`:                     true,
		`now.getHours(customer.zone) < 9`:                                    true,
		`event.data.items.exists(i, i.sku in customer.tags)`:                 true,
		`event.data.items.exists(customer, customer.sku == "tea")`:           true, // a comprehension variable errs on the side of yes
	} {
		got, err := env.ReadsCustomer(expr)
		require.NoError(t, err, expr)
		assert.Equal(t, want, got, expr)
	}
	_, err = env.ReadsCustomer(`event.type ==`)
	assert.Error(t, err)
}
