package main

import (
	"fmt"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/rapporthq/rapport/internal/csvimport"
)

// newImportCmd is `rapport import orders`: internal/csvimport's orders,
// through POST /v1/orders.
func newImportCmd() *cobra.Command {
	var base apiTarget
	cmd := &cobra.Command{Use: "import", Short: "Load history from files"}
	addAPIFlag(cmd, &base)
	cmd.AddCommand(&cobra.Command{
		Use:   "orders FILE.csv",
		Short: "Load past orders without starting any journey",
		Long: `Import orders loads order history from a CSV file with a row per order
line and the columns order_id, customer_id, placed_at (RFC 3339, such as
2025-11-02T14:00:00Z), currency, product_id, name, quantity, price, and
optionally gift, total (else the sum of the lines), status (placed,
fulfilled, delivered, cancelled, refunded, partly_refunded or returned;
placed when empty) and refunded (how much of the total was refunded).
Cancelled and refunded orders do not count in the customer's figures nor
for recommendations. No journey starts for these orders: they only tell
Rapport what customers bought and when. Orders already loaded are left
as they are.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			orders, err := csvimport.Orders(args[0])
			if err != nil {
				return err
			}
			api := newAPIClient(base)
			created, existing, failed := 0, 0, 0
			for n, o := range orders {
				status, err := api.do(cmd.Context(), "POST", "/v1/orders", nil, o.OrderRequest, nil)
				switch {
				case err != nil && status >= 400 && status < 500:
					failed++
					fmt.Fprintf(cmd.ErrOrStderr(), "%s:%d: order %s: %v\n", args[0], o.Line, o.ID, err)
				case err != nil:
					return err
				case status == http.StatusCreated:
					created++
				default:
					existing++
				}
				if (n+1)%100 == 0 || n+1 == len(orders) {
					fmt.Fprintf(cmd.ErrOrStderr(), "\rorders: %d/%d", n+1, len(orders))
				}
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "\n")
			fmt.Fprintf(cmd.OutOrStdout(), "imported %s (%d already there, %d refused) from %s\n", plural(created, "order", "orders"), existing, failed, args[0])
			if failed > 0 {
				return &exitError{code: 1}
			}
			return nil
		},
	})
	return cmd
}
