package main

import (
	"github.com/spf13/cobra"

	"github.com/rapporthq/rapport/internal/app"
)

func newAPICmd() *cobra.Command {
	journeysDir := env("RAPPORT_JOURNEYS", "journeys")
	addr := env("RAPPORT_API_ADDR", ":8080")
	opsAddr := env("RAPPORT_OPS_ADDR", app.DefaultOpsAddr)
	cmd := &cobra.Command{
		Use:   "api",
		Short: "Serve the HTTP API (customers, events)",
		Long: `API serves Rapport's HTTP API: the shop posts customers and events, and
each event starts the journeys it triggers and reaches the customer's
running journeys. Events are stored before they are acknowledged; if
Temporal is unreachable they are routed later by a sweeper.

The API's port (--addr) serves only what may face the internet: /v1 (with
an API key) and the signed public pages and webhooks. /healthz, /readyz
and /metrics are served on the operations address (--ops-addr), which
only the cluster should reach.

Configured by the environment: DATABASE_URL, TEMPORAL_ADDRESS,
TEMPORAL_NAMESPACE, RAPPORT_SECRET, RAPPORT_API_ADDR, RAPPORT_OPS_ADDR and
RAPPORT_* (see docs/configuration.md).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := configFromEnv()
			if err != nil {
				return err
			}
			maxAttempts, err := routingMaxAttempts()
			if err != nil {
				return err
			}
			return app.RunAPI(cmd.Context(), cfg, journeysDir, app.APIOptions{Addr: addr, OpsAddr: opsAddr, MaxRoutingAttempts: maxAttempts})
		},
	}
	cmd.Flags().StringVar(&journeysDir, "journeys", journeysDir, "folder of journey files and templates (RAPPORT_JOURNEYS)")
	cmd.Flags().StringVar(&addr, "addr", addr, "address of the API and its public pages (RAPPORT_API_ADDR)")
	cmd.Flags().StringVar(&opsAddr, "ops-addr", opsAddr, "address of /healthz, /readyz and /metrics, apart from the API, or off (RAPPORT_OPS_ADDR)")
	return cmd
}
