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
replication data, it shows the steps, names the process that holds it, and
exits 1 (it does not wait).

JSON (--json): {"steps": [{"step", "status", "summary", "error"}], "jobs":
[{"vm", "rpo", "phase", "rpo_health", "last_pass", "age_ns", "health",
"paused", "reason", "last_compare": {"time", "duration_ns", "blocks",
"differing", "repaired", "unreported"}}],
"endpoints": [{"endpoint", "url", "from"}], "jobs_error"}. A job's phase is
replicating, paused, failed (a failed pass paused it), cutting over or cut
over; its rpo_health is unknown (no complete pass yet), ok, lagging (a pass
longer than RPO/2) or missed (the last complete pass is older than the RPO);
health says the status in words.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			env, it, release, err := f.session(g, false)
			if err != nil {
				return err
			}
			defer release()
			defer env.Close(cmd.Context())
			jobs, jobsErr := env.ReplicationStatus(time.Now())
			if errors.Is(jobsErr, steps.ErrStoreOwned) {
				return usageError{jobsErr}
			}
			// The steps come from the state file and are shown even when
			// the replication data cannot be read (a running ferry holds
			// it); then the command says so and exits 1.
			out := cmd.OutOrStdout()
			if asJSON {
				type stepStatus struct {
					Step    string `json:"step"`
					Status  string `json:"status"`
					Summary string `json:"summary,omitempty"`
					Error   string `json:"error,omitempty"`
				}
				var ss []stepStatus
				for _, st := range it {
					s := env.State.Get(st.Step.ID())
					ss = append(ss, stepStatus{st.Step.ID(), string(s.Status), s.Summary, s.Error})
				}
				doc := map[string]any{"steps": ss, "jobs": jobs, "endpoints": env.Config.Origins()}
				if jobsErr != nil {
					doc["jobs_error"] = jobsErr.Error()
				}
				if err := json.NewEncoder(out).Encode(doc); err != nil {
					return err
				}
				return jobsErr
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
			if jobsErr != nil {
				if err := tw.Flush(); err != nil {
					return err
				}
				return jobsErr
			}
			fmt.Fprintln(tw, "\nVM\tRPO\tLAST PASS\tHEALTH\tLAST FULL COMPARE")
			for _, j := range jobs {
				last := "-"
				if !j.LastPass.IsZero() {
					last = j.LastPass.Local().Format("2006-01-02 15:04:05")
				}
				health := j.Summary
				if j.Paused && j.Reason != "" {
					health += ": " + j.Reason
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", j.VM, j.RPO, last, health, j.LastCompare.Summary())
			}
			return tw.Flush()
		},
	}
	f.register(cmd, false)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
