package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rapporthq/rapport/internal/codec"
	"github.com/rapporthq/rapport/internal/ops"
)

func newCodecServerCmd() *cobra.Command {
	addr := env("RAPPORT_CODEC_ADDR", ":8088")
	origins := env("RAPPORT_CODEC_ORIGINS", "")
	cmd := &cobra.Command{
		Use:   "codec-server",
		Short: "Serve the Temporal codec-server protocol, so staff see decrypted payloads in the Temporal UI",
		Long: `Codec-server decrypts (POST /decode) and encrypts (POST /encode) payloads
for the Temporal UI and CLI with the keys workers encrypt them with
(RAPPORT_CODEC_KEYS or RAPPORT_CODEC_KEYS_FILE), so the Temporal server
stores only ciphertext while staff who hold the token read plaintext.

Every request needs RAPPORT_CODEC_TOKEN, as "Authorization: Bearer TOKEN"
or in the endpoint's path: give staff the endpoint
https://codec.example.com/t/TOKEN to paste into the UI's Data Encoder
settings. Browsers may call it from RAPPORT_CODEC_ORIGINS (the Temporal
UI's origin, such as https://temporal.example.com). GET /healthz answers
without a token.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := configFromEnv()
			if err != nil {
				return err
			}
			if cfg.Codec == nil {
				return fmt.Errorf("no keys: set %s (id:base64-key, comma-separated, newest last) or %s", codec.EnvKeys, codec.EnvKeysFile)
			}
			log := cfg.logger()
			h, err := codec.NewServer(codec.ServerOptions{Ring: cfg.Codec, Token: os.Getenv("RAPPORT_CODEC_TOKEN"), Origins: splitList(origins), Log: log})
			if err != nil {
				return fmt.Errorf("%w (RAPPORT_CODEC_TOKEN)", err)
			}
			l, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("listen on %s (RAPPORT_CODEC_ADDR): %w", addr, err)
			}
			log.Info("codec server listening", "addr", l.Addr().String(), "keys", strings.Join(cfg.Codec.IDs(), ","), "encrypting_with", cfg.Codec.Current())
			health := &ops.Health{}
			health.Ready()
			return serveUntilDone(cmd.Context(), &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}, l, health, log)
		},
	}
	cmd.Flags().StringVar(&addr, "addr", addr, "address to listen on (RAPPORT_CODEC_ADDR)")
	cmd.Flags().StringVar(&origins, "origins", origins, "comma-separated web origins allowed to call it, such as the Temporal UI's (RAPPORT_CODEC_ORIGINS)")
	return cmd
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// devCodec is dev mode's encryption: keys and token kept in the state
// folder (made on first use) unless the environment gives them.
func devCodec(stateDir string, keys *codec.KeyRing) (*codec.KeyRing, string, error) {
	if keys == nil {
		path := filepath.Join(stateDir, "codec-keys")
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			secret := make([]byte, codec.KeySize)
			if _, err := rand.Read(secret); err != nil {
				return nil, "", err
			}
			line := "# rapport dev --encrypt: id:key, newest last\ndev-1:" + base64.StdEncoding.EncodeToString(secret) + "\n"
			if err := os.WriteFile(path, []byte(line), 0o600); err != nil {
				return nil, "", fmt.Errorf("keep the dev codec key: %w", err)
			}
		}
		var err error
		if keys, err = codec.LoadKeysFile(path); err != nil {
			return nil, "", err
		}
	}
	token := os.Getenv("RAPPORT_CODEC_TOKEN")
	if token == "" {
		path := filepath.Join(stateDir, "codec-token")
		b, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			raw := make([]byte, 24)
			if _, err := rand.Read(raw); err != nil {
				return nil, "", err
			}
			b = []byte(hex.EncodeToString(raw))
			if err := os.WriteFile(path, b, 0o600); err != nil {
				return nil, "", fmt.Errorf("keep the dev codec token: %w", err)
			}
		} else if err != nil {
			return nil, "", err
		}
		token = strings.TrimSpace(string(b))
	}
	return keys, token, nil
}
