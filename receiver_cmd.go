package main

import "github.com/spf13/cobra"

func newReceiverCmd(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "receiver --listen ADDR --dir DIR",
		Short: "Provider-side replication receiver",
		RunE: func(cmd *cobra.Command, args []string) error {
			return notBuilt("ferry receiver")
		},
	}
}
