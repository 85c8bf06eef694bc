package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rapporthq/rapport/internal/api/wire"
	"github.com/rapporthq/rapport/internal/money"
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
			f, err := readCSV(args[0], "product_id", "name")
			if err != nil {
				return err
			}
			var products []wire.Product
			for i := range f.rows {
				p := wire.Product{ID: f.get(i, "product_id"), Name: f.get(i, "name"), Currency: f.get(i, "currency"), URL: f.get(i, "url"), ImageURL: f.get(i, "image_url")}
				if v := f.get(i, "price"); v != "" {
					if p.Price, err = money.Parse(v); err != nil {
						return f.errorf(i, "price: %v", err)
					}
				}
				if v := f.get(i, "active"); v != "" {
					b, err := strconv.ParseBool(v)
					if err != nil {
						return f.errorf(i, "active %q is not true or false", v)
					}
					p.Active = &b
				}
				if v := f.get(i, "complements"); v != "" {
					p.Complements = map[string]float64{}
					for _, part := range strings.Split(v, ";") {
						id, w, ok := strings.Cut(strings.TrimSpace(part), ":")
						weight, err := strconv.ParseFloat(w, 64)
						if !ok || err != nil || weight <= 0 {
							return f.errorf(i, "complement %q is not product:weight, such as teapot:0.9", part)
						}
						p.Complements[id] = weight
					}
				}
				products = append(products, p)
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
