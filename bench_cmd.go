package main

import "github.com/spf13/cobra"

func newBenchCmd(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "bench",
		Short: "Benchmarks (replicate)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return notBuilt("ferry bench")
		},
	}
}
