package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rapporthq/rapport/internal/api/wire"
	"github.com/rapporthq/rapport/internal/apikey"
	"github.com/spf13/cobra"
)

// apiClient is how the staff and import commands talk to a running
// Rapport API (RAPPORT_API_URL, or --api), with an API key
// (RAPPORT_API_KEY, --api-key, or the key `rapport dev` left in
// .rapport/api-key).
type apiClient struct {
	base string
	key  string
	http *http.Client
}

// apiTarget is where the API is and the key to call it with, as the
// command line and the environment say.
type apiTarget struct {
	base string
	key  string
}

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
	return &apiClient{base: strings.TrimRight(t.base, "/"), key: findAPIKey(t.key), http: &http.Client{Timeout: apiTimeout}}
}

// newWaitingAPIClient is a client for a request the API holds open for up
// to wait (such as ?wait= of an audience run): its timeout is the wait
// with the usual margin on top, so the wait the user asked for is never
// cut short.
func newWaitingAPIClient(t apiTarget, wait time.Duration) *apiClient {
	c := newAPIClient(t)
	c.http.Timeout = max(wait, 0) + apiTimeout
	return c
}

// findAPIKey is the key to send: the flag, else RAPPORT_API_KEY, else the
// dev key in .rapport/api-key of the current folder (where `rapport dev`
// runs). "" sends none, and the API's 401 says how to get one.
func findAPIKey(flag string) string {
	if flag != "" {
		return flag
	}
	if k := os.Getenv("RAPPORT_API_KEY"); k != "" {
		return k
	}
	b, err := os.ReadFile(filepath.Join(".rapport", apikey.DevKeyFile))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// do sends a JSON request and decodes a JSON answer into out. An error
// answer becomes an error carrying the API's message. body and out are
// the API's own bodies, from package wire.
func (c *apiClient) do(ctx context.Context, method, path string, query url.Values, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("cannot reach the Rapport API at %s (is `rapport dev` or `rapport api` running? set RAPPORT_API_URL or --api): %w", c.base, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode >= 400 {
		return resp.StatusCode, c.answerError(resp, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("unexpected answer from the API: %w", err)
		}
	}
	return resp.StatusCode, nil
}

// answerError is the error an error answer carries: the API's message
// (a wire.Error), or its status when it has none.
func (c *apiClient) answerError(resp *http.Response, raw []byte) error {
	var e wire.Error
	if json.Unmarshal(raw, &e) != nil || e.Message == "" {
		return fmt.Errorf("the API answered %s", resp.Status)
	}
	if resp.StatusCode == http.StatusUnauthorized && c.key == "" {
		return fmt.Errorf("%s (no key was sent: set RAPPORT_API_KEY or --api-key, or run this from the folder where `rapport dev` runs)", e.Message)
	}
	return errors.New(e.Message)
}

// defaultAPIURL is where the CLI reaches the API unless told otherwise
// (RAPPORT_API_URL, --api): where rapport dev serves it by default.
const defaultAPIURL = "http://127.0.0.1:8080"
