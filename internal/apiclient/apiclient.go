// Package apiclient is how Rapport's command line talks to a running API
// (RAPPORT_API_URL, or --api) with an API key (RAPPORT_API_KEY, --api-key,
// or the key `rapport dev` left in .rapport/api-key): JSON requests and
// answers of package wire, error answers as errors carrying the API's
// message, a customer's export streamed, and files of events sent in
// batches.
package apiclient

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
)

// DefaultURL is where the CLI reaches the API unless told otherwise
// (RAPPORT_API_URL, --api): where rapport dev serves it by default.
const DefaultURL = "http://127.0.0.1:8080"

// Client talks to one API with one key.
type Client struct {
	// Base is the API's address, without a trailing slash.
	Base string
	key  string
	http *http.Client
}

// New is a client of the API at base, sending key (FindKey's when empty);
// a request may take timeout, answer included.
func New(base, key string, timeout time.Duration) *Client {
	return &Client{Base: strings.TrimRight(base, "/"), key: FindKey(key), http: &http.Client{Timeout: timeout}}
}

// FindKey is the key to send: flag, else RAPPORT_API_KEY, else the dev
// key in .rapport/api-key of the current folder (where `rapport dev`
// runs). "" sends none, and the API's 401 says how to get one.
func FindKey(flag string) string {
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

// Do sends a JSON request and decodes a JSON answer into out. An error
// answer becomes an error carrying the API's message. body and out are
// the API's own bodies, from package wire.
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	u := c.Base + path
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
		return 0, c.unreachable(err)
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

// unreachable is the error of a request that got no answer.
func (c *Client) unreachable(err error) error {
	return fmt.Errorf("cannot reach the Rapport API at %s (is `rapport dev` or `rapport api` running? set RAPPORT_API_URL or --api): %w", c.Base, err)
}

// answerError is the error an error answer carries: the API's message
// (a wire.Error), or its status when it has none.
func (c *Client) answerError(resp *http.Response, raw []byte) error {
	var e wire.Error
	if json.Unmarshal(raw, &e) != nil || e.Message == "" {
		return fmt.Errorf("the API answered %s", resp.Status)
	}
	if resp.StatusCode == http.StatusUnauthorized && c.key == "" {
		return fmt.Errorf("%s (no key was sent: set RAPPORT_API_KEY or --api-key, or run this from the folder where `rapport dev` runs)", e.Message)
	}
	return errors.New(e.Message)
}
