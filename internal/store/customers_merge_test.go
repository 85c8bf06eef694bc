package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapporthq/rapport/internal/store"
	"github.com/rapporthq/rapport/internal/store/storetest"
)

// Merges of one customer run one at a time: many at once, each setting
// an attribute of its own on a customer none of them found, keep every
// attribute; a merge that fails stores nothing.
func TestMergeCustomerLosesNothingToAnother(t *testing.T) {
	t.Parallel()
	st, _ := storetest.New(t)
	ctx := context.Background()
	const n = 8
	var wg sync.WaitGroup
	created := make([]bool, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			created[i], err = st.MergeCustomer(ctx, "c_merge", func(c store.Customer, found bool) (store.Customer, error) {
				if c.Attributes == nil {
					c.Attributes = map[string]any{}
				}
				c.Attributes[fmt.Sprint("k", i)] = float64(i)
				return c, nil
			})
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	c, err := st.GetCustomer(ctx, "c_merge")
	require.NoError(t, err)
	assert.Len(t, c.Attributes, n, "every merge's attribute is kept: %v", c.Attributes)
	news := 0
	for _, cr := range created {
		if cr {
			news++
		}
	}
	assert.Equal(t, 1, news, "one merge created the customer")

	refused := errors.New("refused")
	_, err = st.MergeCustomer(ctx, "c_merge", func(c store.Customer, _ bool) (store.Customer, error) {
		c.Email = "changed@example.com"
		return c, refused
	})
	require.ErrorIs(t, err, refused)
	c, err = st.GetCustomer(ctx, "c_merge")
	require.NoError(t, err)
	assert.Empty(t, c.Email, "nothing stored")
}
