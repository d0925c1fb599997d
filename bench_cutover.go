package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/steps"
)

// newBenchCutoverCmd measures the downtime of a warm migration in the lab:
// the same steps as `ferry run`, against a fresh lab each run.
func newBenchCutoverCmd() *cobra.Command {
	var runs int
	var diskMiB, workloadKiB int64
	cmd := &cobra.Command{
		Use:   "cutover [--runs 3] [--disk-mib 256] [--workload-kib 256]",
		Short: "Measure a warm migration's downtime in the lab (WebApp2, steps 1-8)",
		Long: `Start a fresh embedded lab, run the lab's plan through every step and the
cutover of WebApp2 (headless, as ferry run --confirm-cutover WebApp2 does),
and read the downtime report: the outage the probes measured, the window from
shutdown to power-on, the final pass and each phase. Repeat --runs times and
print each run and the median. The guest workload keeps writing into the
running VMs (--workload-kib per second) so the final passes have work.

For comparison: the vCD Extender walkthrough took about 4 minutes from
"start cutover" to connectivity.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runs < 1 || runs > 20 {
				return usagef("--runs %d: want 1 to 20", runs)
			}
			if diskMiB < 16 {
				return usagef("--disk-mib %d: must be at least 16", diskMiB)
			}
			out := cmd.OutOrStdout()
			tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "RUN\tMEASURED DOWNTIME\tSHUTDOWN TO POWER-ON\tFINAL PASS\tSLOWEST PHASE")
			var measured, window []float64
			for i := 1; i <= runs; i++ {
				rep, err := benchCutoverOnce(cmd, diskMiB<<20, workloadKiB<<10)
				if err != nil {
					return fmt.Errorf("run %d: %w", i, err)
				}
				vm := rep.VMs[0]
				measured, window = append(measured, vm.MeasuredDowntimeSeconds), append(window, vm.ServiceWindowSeconds)
				final := "-"
				if vm.FinalPass != nil {
					final = fmt.Sprintf("%.1f MiB changed", float64(vm.FinalPass.Planned)/(1<<20))
				}
				slow := steps.PhaseRecord{}
				for _, p := range vm.Phases {
					if p.Seconds() > slow.Seconds() {
						slow = p
					}
				}
				fmt.Fprintf(tw, "%d\t%.2fs\t%.2fs\t%s\t%s %.2fs\n", i, vm.MeasuredDowntimeSeconds, vm.ServiceWindowSeconds, final, slow.Name, slow.Seconds())
			}
			fmt.Fprintf(tw, "median\t%.2fs\t%.2fs\t\t\n", median(measured), median(window))
			return tw.Flush()
		},
	}
	cmd.Flags().IntVar(&runs, "runs", 3, "migrations to measure (a fresh lab each)")
	cmd.Flags().Int64Var(&diskMiB, "disk-mib", lab.DefaultDiskSize>>20, "size of each source VM's disk in MiB")
	cmd.Flags().Int64Var(&workloadKiB, "workload-kib", lab.DefaultWorkloadRate>>10, "KiB per second the guest workload writes into each running VM")
	return cmd
}

func benchCutoverOnce(cmd *cobra.Command, disk, rate int64) (*steps.CutoverReport, error) {
	ctx := cmd.Context()
	if rate == 0 {
		rate = -1
	}
	dir, err := os.MkdirTemp("", "ferry-bench-cutover-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	l, err := lab.Start(ctx, lab.Options{Dir: dir, DiskSize: disk, WorkloadRate: rate})
	if err != nil {
		return nil, err
	}
	defer l.Close()
	pf, err := steps.LoadPlanFile(l.PlanPath())
	if err != nil {
		return nil, err
	}
	it := steps.NewItinerary()
	pf.ApplyDefaults(it)
	env := steps.NewEnv(l.Config(), pf, steps.NewState(dir+"/bench.state.json"))
	defer env.Close(ctx)
	env.CutoverVMs = []string{"WebApp2"}
	var failed []string
	r := &steps.Runner{Itinerary: it, Env: env, Confirmed: true, Emit: func(ev steps.Event) {
		if ev.Kind == steps.EventFailed {
			failed = append(failed, ev.Error)
		}
	}}
	if _, err := r.Run(ctx); err != nil {
		return nil, fmt.Errorf("%w %s", err, strings.Join(failed, "; "))
	}
	b, err := os.ReadFile(strings.TrimSuffix(env.State.Get("cutover").Outputs["report"], ".md") + ".json")
	if err != nil {
		return nil, fmt.Errorf("downtime report: %w", err)
	}
	var rep steps.CutoverReport
	if err := json.Unmarshal(b, &rep); err != nil || len(rep.VMs) == 0 {
		return nil, fmt.Errorf("downtime report: %v", err)
	}
	return &rep, nil
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}
