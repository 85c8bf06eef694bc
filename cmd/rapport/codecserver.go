package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rapporthq/rapport/internal/app"
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
			log := cfg.Logger()
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
			return app.ServeUntilDone(cmd.Context(), &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}, l, health, log)
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
