package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// newCustomersExportCmd is `rapport customers export ID`: the customer's
// whole record, as the API's export gives it.
func newCustomersExportCmd(base *apiTarget) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "export ID",
		Short: "Print everything Rapport holds about a customer, as JSON (GDPR access and portability)",
		Long: `Export asks the API (GET /v1/customers/ID/export, a key with the
customers:read scope) for one JSON document holding everything Rapport
holds about the customer: their profile, orders, events, messages with
their content and delivery, held messages and why, preferences with their
whole history and evidence, suppressions of their addresses, vouchers,
survey answers, tasks, and their journeys, from Temporal and from the
database. It prints the document, or with -o writes it to a file readable
only by you. The document holds personal data: keep it as safe as the
database.`,
		Example: `  rapport customers export c_linus
  rapport customers export c_linus -o linus.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api := newAPIClient(*base)
			if file == "" || file == "-" {
				return api.Export(cmd.Context(), args[0], cmd.OutOrStdout())
			}
			n, err := api.ExportToFile(cmd.Context(), args[0], file)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote the export of %s to %s (%d bytes); it holds personal data\n", args[0], file, n)
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "output", "o", "", "write the document to this file (mode 0600) instead of printing it")
	return cmd
}
