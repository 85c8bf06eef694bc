package csvimport

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// file writes a CSV file for the test.
func file(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "in.csv")
	require.NoError(t, os.WriteFile(path, []byte(text), 0o600))
	return path
}

// TestOrders: an order over several rows, with its total summed unless
// given, its first row's details, and the line of what cannot be read.
func TestOrders(t *testing.T) {
	path := file(t, "\ufeffOrder_ID,customer_id,placed_at,currency,product_id,name,quantity,price,gift,total,status,refunded\n"+
		"o1,c_1,2025-11-02T14:00:00Z,GBP,tea,Earl Grey,2,4.25,true,,,\n"+
		"o1,c_1,2025-11-02T14:00:00Z,GBP,cup,Cup,1,12,,,,\n"+
		"o2,c_2,2025-11-03T09:00:00Z,EUR,tea,Earl Grey,1.5,4,,10.00,refunded,10\n")
	orders, err := Orders(path)
	require.NoError(t, err)
	require.Len(t, orders, 2)
	o1, o2 := orders[0], orders[1]
	assert.Equal(t, "o1", o1.ID)
	assert.Equal(t, 2, o1.Line)
	assert.True(t, o1.Gift)
	assert.Len(t, o1.Items, 2)
	assert.Equal(t, "20.50", o1.Total.String(), "the sum of the lines")
	assert.Equal(t, 4, o2.Line)
	assert.Equal(t, "10.00", o2.Total.String(), "the file's total")
	assert.Equal(t, "refunded", o2.Status)
	assert.Equal(t, "10", o2.Refunded.String())

	for text, says := range map[string]string{
		"order_id,customer_id\n": `in.csv:1: the header has no "placed_at" column`,
		"order_id,customer_id,placed_at,currency,product_id,name,quantity,price\no1,c_1,yesterday,GBP,tea,Tea,1,4\n":                                                            `in.csv:2: placed_at "yesterday" is not a time`,
		"order_id,customer_id,placed_at,currency,product_id,name,quantity,price\no1,c_1,2025-11-02T14:00:00Z,GBP,tea,Tea,two,4\n":                                               `in.csv:2: quantity "two" is not a number`,
		"order_id,customer_id,placed_at,currency,product_id,name,quantity,price\no1,c_1,2025-11-02T14:00:00Z,GBP,tea,Tea,1,4\no1,c_1,2025-11-02T14:00:00Z,GBP,tea,Tea,1,four\n": "in.csv:3: price:",
	} {
		_, err := Orders(file(t, text))
		assert.ErrorContains(t, err, says, text)
	}
	_, err = Orders(filepath.Join(t.TempDir(), "none.csv"))
	assert.Error(t, err)
}

// TestProducts: products with their complements, and what is refused.
func TestProducts(t *testing.T) {
	products, err := Products(file(t, "product_id,name,price,currency,active,complements\n"+
		"teapot,Teapot,32,GBP,true,cup:0.5; tea:0.9\n"+
		"cup,Cup,,,,\n"))
	require.NoError(t, err)
	require.Len(t, products, 2)
	assert.Equal(t, "32", products[0].Price.String())
	assert.Equal(t, map[string]float64{"cup": 0.5, "tea": 0.9}, products[0].Complements)
	require.NotNil(t, products[0].Active)
	assert.True(t, *products[0].Active)
	assert.Nil(t, products[1].Active)
	assert.Nil(t, products[1].Complements)

	for text, says := range map[string]string{
		"product_id\n":                             `the header has no "name" column`,
		"product_id,name,active\np,P,maybe\n":      `in.csv:2: active "maybe" is not true or false`,
		"product_id,name,complements\np,P,cup\n":   `in.csv:2: complement "cup" is not product:weight`,
		"product_id,name,complements\np,P,cup:0\n": `complement "cup:0" is not product:weight`,
	} {
		_, err := Products(file(t, text))
		assert.ErrorContains(t, err, says, text)
	}
}
