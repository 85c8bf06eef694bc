package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"

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
				return api.export(cmd.Context(), args[0], cmd.OutOrStdout())
			}
			return exportToFile(cmd.Context(), api, args[0], file, cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVarP(&file, "output", "o", "", "write the document to this file (mode 0600) instead of printing it")
	return cmd
}

// exportToFile writes a customer's export to path, whole or not at all:
// it is written beside it first and renamed once complete.
func exportToFile(ctx context.Context, api *apiClient, customerID, path string, report io.Writer) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("cannot write the export next to %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return err
	}
	counter := &countingWriter{w: tmp}
	if err := api.export(ctx, customerID, counter); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	fmt.Fprintf(report, "wrote the export of %s to %s (%d bytes); it holds personal data\n", customerID, path, counter.n)
	return nil
}

// export streams the customer's export document to w.
func (c *apiClient) export(ctx context.Context, customerID string, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/customers/"+url.PathEscape(customerID)+"/export", nil)
	if err != nil {
		return err
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	// A large export takes as long as it takes (Ctrl-C stops it): no
	// overall timeout, unlike the client's other calls.
	hc := &http.Client{Transport: c.http.Transport}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the Rapport API at %s (is `rapport dev` or `rapport api` running? set RAPPORT_API_URL or --api): %w", c.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return c.answerError(resp, raw)
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("the export of %s was cut short: %w; nothing complete was received, ask again", customerID, err)
	}
	return nil
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
