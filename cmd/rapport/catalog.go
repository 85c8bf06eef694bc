package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rapporthq/rapport/internal/api/wire"
	"github.com/rapporthq/rapport/internal/csvimport"
)

// newCatalogCmd is `rapport catalog import`: products from a CSV file,
// through POST /v1/products.
func newCatalogCmd() *cobra.Command {
	var base apiTarget
	cmd := &cobra.Command{Use: "catalog", Short: "Manage the product catalog used for recommendations"}
	addAPIFlag(cmd, &base)
	cmd.AddCommand(&cobra.Command{
		Use:   "import FILE.csv",
		Short: "Load products and which products complement them",
		Long: `Import loads products from a CSV file with the columns
product_id, name, price, currency, url, image_url, active, complements
(only product_id and name are required). complements lists the products
that go well with this one and how well, from 0 to 1:
"teapot:0.9;cup:0.5". Products are updated in place; a product's
complements are replaced by the file's.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			products, err := csvimport.Products(args[0])
			if err != nil {
				return err
			}
			api := newAPIClient(base)
			// First every product, then the complements, so complements may
			// name products anywhere in the file.
			bare := make([]wire.Product, len(products))
			for i, p := range products {
				bare[i] = p
				bare[i].Complements = nil
			}
			for _, batch := range [][]wire.Product{bare, products} {
				for start := 0; start < len(batch); start += 1000 {
					end := min(start+1000, len(batch))
					if _, err := api.do(cmd.Context(), "POST", "/v1/products", nil, wire.ProductsRequest{Products: batch[start:end]}, nil); err != nil {
						return fmt.Errorf("%s: %w", args[0], err)
					}
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "imported %s from %s\n", plural(len(products), "product", "products"), args[0])
			return nil
		},
	})
	return cmd
}
