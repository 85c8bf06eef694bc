package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rapporthq/rapport/internal/app"
	"github.com/rapporthq/rapport/internal/temporalsetup"
	"github.com/rapporthq/rapport/workflows"
)

func newSetupCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "setup", Short: "Prepare the services Rapport runs on"}
	tf := addTemporalFlags(cmd)
	cmd.AddCommand(&cobra.Command{
		Use:   "temporal",
		Short: "Register Rapport's search attributes on the Temporal namespace",
		Long: `Temporal registers the search attributes staff find journeys by
(RapportCustomerId, RapportJourney, RapportStep, RapportPlanHash,
RapportStatus, RapportOutcome, all Keyword) on the namespace, through the operator
service. It is idempotent: attributes already there are left alone, and
it fails only if one exists with another type. Run it once per namespace
before the first worker (docker-compose and the Kubernetes Job do).
rapport dev registers them itself. On Temporal Cloud, whose operator
service does not add attributes, add them in the Cloud UI or with tcld.

Configured by TEMPORAL_* (address, namespace, TLS, API key, profile).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
			defer cancel()
			c, _, cfg, err := dialFromEnv(ctx, tf)
			if err != nil {
				return err
			}
			defer c.Close()
			added, err := temporalsetup.EnsureSearchAttributes(ctx, c, cfg.Temporal.Namespace, app.SearchAttributeTypes())
			if err != nil {
				return fmt.Errorf("namespace %s: %w", cfg.Temporal.Namespace, err)
			}
			out := cmd.OutOrStdout()
			if len(added) == 0 {
				fmt.Fprintf(out, "namespace %s: Rapport's %d search attributes are already registered\n", cfg.Temporal.Namespace, len(workflows.SearchAttributes))
				return nil
			}
			fmt.Fprintf(out, "namespace %s: registered %s\n", cfg.Temporal.Namespace, strings.Join(added, ", "))
			return nil
		},
	})
	return cmd
}

func newHealthCmd() *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "health URL",
		Short: "Exit 0 if URL answers 200 (a container health check without curl)",
		Long: `Health fetches URL and exits 0 when it answers 200 OK, 1 otherwise,
printing the answer. The image has no shell or curl; docker-compose health
checks run "rapport health http://127.0.0.1:9090/readyz".`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, args[0], nil)
			if err != nil {
				return err
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", resp.Status, strings.TrimSpace(string(body)))
			if resp.StatusCode != http.StatusOK {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "how long to wait for the answer")
	return cmd
}
