package main

import "github.com/spf13/cobra"

func newPlanCmd(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "plan --plan FILE",
		Short: "Print what the itinerary's steps would change; change nothing",
		RunE: func(cmd *cobra.Command, args []string) error {
			return notBuilt("ferry plan")
		},
	}
}
