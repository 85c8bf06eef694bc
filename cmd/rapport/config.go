package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/rapporthq/rapport/internal/app"
)

// env returns the environment variable name, or def when it is unset or
// empty: the default of a flag.
func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}

// configFromEnv reads the configuration from the process's environment.
func configFromEnv() (app.Config, error) { return app.ConfigFromEnv(app.OSEnv{}) }

// temporalFlags are a command-line tool's --temporal-address and
// --temporal-namespace, which override TEMPORAL_ADDRESS and
// TEMPORAL_NAMESPACE.
type temporalFlags struct{ address, namespace string }

// addTemporalFlags adds --temporal-address and --temporal-namespace to cmd
// and its subcommands.
func addTemporalFlags(cmd *cobra.Command) *temporalFlags {
	tf := &temporalFlags{}
	cmd.PersistentFlags().StringVar(&tf.address, "temporal-address", "", "Temporal's frontend host:port (default TEMPORAL_ADDRESS, else 127.0.0.1:7233)")
	cmd.PersistentFlags().StringVar(&tf.namespace, "temporal-namespace", "", "Temporal namespace (default TEMPORAL_NAMESPACE, else default)")
	return tf
}

// dialFromEnv connects a command-line tool to Temporal as the environment
// says (TEMPORAL_*, and RAPPORT_CODEC_KEYS when payloads are encrypted),
// with the tool's flags over it.
func dialFromEnv(ctx context.Context, tf *temporalFlags) (client.Client, converter.DataConverter, app.Config, error) {
	cfg, err := configFromEnv()
	if err != nil {
		return nil, nil, cfg, err
	}
	if tf != nil && tf.address != "" {
		cfg.Temporal.HostPort = tf.address
	}
	if tf != nil && tf.namespace != "" {
		cfg.Temporal.Namespace = tf.namespace
	}
	c, dc, err := app.DialTemporal(ctx, cfg.Temporal, cfg.Logger(), cfg.Codec, nil)
	return c, dc, cfg, err
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
