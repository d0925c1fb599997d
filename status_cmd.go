package main

import "github.com/spf13/cobra"

func newStatusCmd(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Replication jobs and their health",
		RunE: func(cmd *cobra.Command, args []string) error {
			return notBuilt("ferry status")
		},
	}
}
