package main

import "github.com/spf13/cobra"

func newLabCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "Start the embedded lab and open the wizard against it",
		RunE: func(cmd *cobra.Command, args []string) error {
			return notBuilt("ferry lab")
		},
	}
	return cmd
}
