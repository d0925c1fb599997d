package main

import "github.com/spf13/cobra"

func newRunCmd(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "run --plan FILE [--json] [--confirm-cutover NAME]",
		Short: "Run the itinerary headless; progress as lines (or JSON lines)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return notBuilt("ferry run")
		},
	}
}
