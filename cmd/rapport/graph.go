package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/rapporthq/rapport/internal/journey"
)

func newGraphCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "graph FILE",
		Short: "Print a journey as a Mermaid flowchart",
		Long: `Graph prints the journey in FILE as a Mermaid flowchart: paste it into a
Markdown file on GitHub, or into https://mermaid.live, to see the journey.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			src, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			comp, err := journey.NewCompiler(journey.Options{})
			if err != nil {
				return err
			}
			plan, diags := comp.Compile(args[0], src)
			for _, d := range diags {
				fmt.Fprintln(cmd.ErrOrStderr(), d)
			}
			if plan == nil {
				return &exitError{code: 1}
			}
			fmt.Fprint(cmd.OutOrStdout(), plan.Mermaid())
			return nil
		},
	}
}
