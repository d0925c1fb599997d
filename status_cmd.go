package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferry-migrate/ferry/steps"
)

func newStatusCmd(g *globalFlags) *cobra.Command {
	var (
		f      planFlags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "status --plan FILE [--state FILE] [--json]",
		Short: "Replication jobs and their health",
		Long: `Show the itinerary's progress and, for every VM of the plan, its replication
job: the last complete pass, its age against the RPO, and whether the job is
paused (and why). It reads the state only; it changes nothing and contacts no
endpoint, but lists the endpoints the plan's commands talk to and where each
came from (--config or the environment). While a wizard or a run holds the
replication state, it says so.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			env, it, release, err := f.session(g, false)
			if err != nil {
				return err
			}
			defer release()
			defer env.Close(cmd.Context())
			jobs, err := env.ReplicationStatus(time.Now())
			if errors.Is(err, steps.ErrStoreOwned) {
				return usageError{err}
			}
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				type stepStatus struct {
					Step, Status, Summary, Error string
				}
				var ss []stepStatus
				for _, st := range it {
					s := env.State.Get(st.Step.ID())
					ss = append(ss, stepStatus{st.Step.ID(), string(s.Status), s.Summary, s.Error})
				}
				return json.NewEncoder(out).Encode(map[string]any{"steps": ss, "jobs": jobs, "endpoints": env.Config.Origins()})
			}
			writeEndpoints(out, env.Config)
			tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "STEP\tSTATUS\tSUMMARY")
			for i, st := range it {
				s := env.State.Get(st.Step.ID())
				summary := s.Summary
				if s.Error != "" {
					summary = s.Error
				}
				fmt.Fprintf(tw, "%d %s\t%s\t%s\n", i+1, st.Step.Title(), s.Status, summary)
			}
			fmt.Fprintln(tw, "\nVM\tRPO\tLAST PASS\tHEALTH")
			for _, j := range jobs {
				last := "-"
				if !j.LastPass.IsZero() {
					last = j.LastPass.Local().Format("2006-01-02 15:04:05")
				}
				health := j.Health
				if j.Paused && j.Reason != "" {
					health += ": " + j.Reason
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", j.VM, j.RPO, last, health)
			}
			return tw.Flush()
		},
	}
	f.register(cmd, false)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
