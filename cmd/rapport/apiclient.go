package main

import (
	"context"
	"net/url"
	"time"

	"github.com/spf13/cobra"

	"github.com/rapporthq/rapport/internal/apiclient"
)

// apiClient is how the staff and import commands talk to a running
// Rapport API (internal/apiclient), with the address and key the command
// line gives.
type apiClient struct{ *apiclient.Client }

// apiTarget is where the API is and the key to call it with, as the
// command line and the environment say.
type apiTarget struct {
	base string
	key  string
}

// defaultAPIURL is where the CLI reaches the API unless told otherwise.
const defaultAPIURL = apiclient.DefaultURL

// addAPIFlag adds --api and --api-key to cmd and its subcommands.
func addAPIFlag(cmd *cobra.Command, t *apiTarget) {
	t.base = env("RAPPORT_API_URL", defaultAPIURL)
	cmd.PersistentFlags().StringVar(&t.base, "api", t.base, "Rapport API address (RAPPORT_API_URL)")
	cmd.PersistentFlags().StringVar(&t.key, "api-key", "", "API key (RAPPORT_API_KEY; default: the key `rapport dev` wrote to .rapport/api-key)")
}

// apiTimeout is how long a request may take, answer included, unless the
// command waits longer on purpose (newWaitingAPIClient).
var apiTimeout = 2 * time.Minute

func newAPIClient(t apiTarget) *apiClient {
	return &apiClient{apiclient.New(t.base, t.key, apiTimeout)}
}

// newWaitingAPIClient is a client for a request the API holds open for up
// to wait (such as ?wait= of an audience run): its timeout is the wait
// with the usual margin on top, so the wait the user asked for is never
// cut short.
func newWaitingAPIClient(t apiTarget, wait time.Duration) *apiClient {
	return &apiClient{apiclient.New(t.base, t.key, max(wait, 0)+apiTimeout)}
}

// do sends a JSON request and decodes a JSON answer into out
// (apiclient.Client.Do).
func (c *apiClient) do(ctx context.Context, method, path string, query url.Values, body, out any) (int, error) {
	return c.Do(ctx, method, path, query, body, out)
}
