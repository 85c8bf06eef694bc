package main

import (
	"github.com/spf13/cobra"

	"github.com/rapporthq/rapport/internal/journey"
)

func newSchemaCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of journey files, for editors",
		Long: `Schema prints the JSON Schema (draft 2020-12) of journey files, made
from the table of keys the compiler checks, so editors complete and check
keys as you type. journeys/journey.schema.json holds it; each shipped
journey names it on its first line for the YAML language server:

  # yaml-language-server: $schema=journey.schema.json

The schema describes shapes (keys, channels, durations, times of day);
rapport validate checks the rest (conditions, templates, rules between
keys).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := cmd.OutOrStdout().Write(journey.Schema())
			return err
		},
	}
}
