package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rapporthq/rapport/internal/store"
)

func newMigrateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Bring the database schema up to date (DATABASE_URL)",
		Long: `Migrate applies the schema migrations built into this binary to the
database in DATABASE_URL. It is safe to run at any time and from several
places at once; workers and the API also migrate when they start.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := configFromEnv()
			if err != nil {
				return err
			}
			if cfg.DatabaseURL == "" {
				return errors.New("DATABASE_URL is not set; it names the PostgreSQL database, such as postgres://rapport@localhost:5432/rapport")
			}
			s, err := store.Open(cmd.Context(), cfg.DatabaseURL)
			if err != nil {
				return err
			}
			defer s.Close()
			if err := s.Migrate(cmd.Context(), cfg.Logger()); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "the database schema is up to date")
			return nil
		},
	}
}
