package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/steps"
)

// newBenchRPOCmd measures whether the scheduler holds an RPO for many VMs:
// a lab with --vms web VMs under the guest workload, all replicated by the
// wizard's scheduler (the plan's RPO, its concurrency bound) for --minutes.
func newBenchRPOCmd() *cobra.Command {
	var vms int
	var rpo time.Duration
	var minutes float64
	var diskMiB, workloadKiB int64
	var cpuprofile string
	cmd := &cobra.Command{
		Use:   "rpo [--vms 50] [--rpo 1m] [--minutes 3]",
		Short: "Measure whether every VM holds its RPO when many replicate at once (lab)",
		Long: `Start a fresh embedded lab with --vms web VMs (WebApp1..N) under the guest
workload, put all of them in the lab's plan with --rpo, and run steps 1 to 6 as
the wizard does: the infrastructure, VM selection, then replication handed to
the scheduler (replication.Scheduler, as "ferry lab" / "ferry serve" run it: one
pass per RPO per VM, the plan's concurrency bound). Once every initial sync is
done, watch for --minutes (fractions allowed: --minutes 0.5 for a quick try)
and print the passes completed per VM per RPO window, pass durations, the
worst replication lag (age of a replica's last complete pass, sampled every
second) and whether any VM missed its RPO. Target: none does.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := lab.ValidateVMs(vms); err != nil {
				return usagef("--vms %d: want 1 to %d", vms, lab.MaxVMs)
			}
			if err := replication.ValidateRPO(rpo); err != nil {
				return usagef("--rpo %s: %v", rpo, err)
			}
			if minutes <= 0 || minutes > 24*60 {
				return usagef("--minutes %g: want more than 0 and at most 1440 (fractions allowed, e.g. 0.5)", minutes)
			}
			if diskMiB < 16 {
				return usagef("--disk-mib %d: must be at least 16", diskMiB)
			}
			if workloadKiB < 0 {
				return usagef("--workload-kib %d: must be 0 or more", workloadKiB)
			}
			stop, err := benchCPUProfile(cmd, cpuprofile)
			if err != nil {
				return err
			}
			defer stop()
			r, err := benchRPO(cmd, rpoBenchOptions{VMs: vms, RPO: rpo, Watch: time.Duration(minutes * float64(time.Minute)),
				DiskSize: diskMiB << 20, Rate: workloadKiB << 10})
			if err != nil {
				return err
			}
			r.print(cmd)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&vms, "vms", 50, "web VMs replicated at once (1 to 100)")
	fl.DurationVar(&rpo, "rpo", time.Minute, "RPO of every VM (1m to 24h)")
	fl.Float64Var(&minutes, "minutes", 3, "how long to watch after the initial syncs (fractions allowed)")
	fl.Int64Var(&diskMiB, "disk-mib", 64, "size of each web VM's disk in MiB (sparse)")
	fl.StringVar(&cpuprofile, "cpuprofile", "", "write a CPU profile of the whole run (the lab included: it runs in this process) to FILE")
	fl.Int64Var(&workloadKiB, "workload-kib", lab.DefaultWorkloadRate>>10, "KiB per second the guest workload writes into each VM (0: none)")
	return cmd
}

type rpoBenchOptions struct {
	VMs      int
	RPO      time.Duration
	Watch    time.Duration
	DiskSize int64
	Rate     int64
}

// rpoWatch collects the scheduler's events and samples during the watch.
type rpoWatch struct {
	mu       sync.Mutex
	from, to time.Time
	passes   map[string]int       // passes committed in the window, by VM
	started  map[string]time.Time // start of the running pass, by VM
	phase    map[string]phaseAt   // phase of the running pass, by VM
	inPhase  map[replication.Phase]time.Duration
	durs     []time.Duration // durations of the passes committed in the window
	kinds    map[replication.PassKind]int
	sent     int64
	warnings []string // RPO warnings in the window
	errors   []string
	worst    time.Duration // largest replica age sampled in the window
	worstVM  string
	missed   map[string]bool // VMs whose replica was older than the RPO
}

type phaseAt struct {
	phase replication.Phase
	since time.Time
}

func (w *rpoWatch) inWindow(at time.Time) bool {
	return !w.from.IsZero() && !at.Before(w.from) && (w.to.IsZero() || !at.After(w.to))
}

// endPhase adds the time vm spent in its current phase (in the window).
func (w *rpoWatch) endPhase(vm string, at time.Time) {
	if p, ok := w.phase[vm]; ok && w.inWindow(at) {
		w.inPhase[p.phase] += at.Sub(p.since)
	}
	delete(w.phase, vm)
}

func (w *rpoWatch) handle(e replication.Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	at := e.Time
	if at.IsZero() {
		at = time.Now()
	}
	switch e.Kind {
	case replication.EventPhase:
		if _, ok := w.started[e.VM]; !ok && e.Phase != replication.PhaseIdle {
			w.started[e.VM] = at
		}
		if p, ok := w.phase[e.VM]; !ok || p.phase != e.Phase {
			w.endPhase(e.VM, at)
			if e.Phase != replication.PhaseIdle {
				w.phase[e.VM] = phaseAt{e.Phase, at}
			}
		}
	case replication.EventPassDone:
		w.endPhase(e.VM, at)
		start, ok := w.started[e.VM]
		delete(w.started, e.VM)
		if !w.inWindow(at) {
			return
		}
		w.passes[e.VM]++
		w.kinds[e.Pass]++
		w.sent += e.Sent
		if ok {
			w.durs = append(w.durs, at.Sub(start))
		}
	case replication.EventRPOWarning, replication.EventError, replication.EventPaused:
		if e.Kind != replication.EventRPOWarning {
			w.endPhase(e.VM, at)
			delete(w.started, e.VM)
		}
		if !w.inWindow(at) {
			return
		}
		msg := fmt.Sprintf("%s: %s", e.VM, e.Msg)
		if e.Err != nil {
			msg += ": " + e.Err.Error()
		}
		if e.Kind == replication.EventRPOWarning {
			w.warnings = append(w.warnings, msg)
		} else {
			w.errors = append(w.errors, msg)
		}
	}
}

// sample records the replicas' ages now.
func (w *rpoWatch) sample(st []replication.JobStatus) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range st {
		age := s.LastPassAge
		if s.LastPass.IsZero() {
			continue
		}
		if age > w.worst {
			w.worst, w.worstVM = age, s.VM
		}
		if s.Health == replication.HealthMissed || s.Paused {
			w.missed[s.VM] = true
		}
	}
}

type rpoBenchResult struct {
	opts     rpoBenchOptions
	setup    time.Duration // lab start to every initial sync done
	watched  time.Duration
	vms      []string
	passes   map[string]int
	durs     []time.Duration
	inPhase  map[replication.Phase]time.Duration
	kinds    map[replication.PassKind]int
	sent     int64
	warnings []string
	errors   []string
	worst    time.Duration
	worstVM  string
	missed   []string
	tracker  string
}

func benchRPO(cmd *cobra.Command, o rpoBenchOptions) (*rpoBenchResult, error) {
	ctx := cmd.Context()
	errOut := cmd.ErrOrStderr()
	start := time.Now()
	fmt.Fprintf(errOut, "bench rpo: starting a lab with %d web VMs (%d MiB disks, workload %d KiB/s each)\n", o.VMs, o.DiskSize>>20, max(o.Rate, 0)>>10)
	l, pf, done, err := benchLab(ctx, "ferry-bench-rpo-", lab.Options{DiskSize: o.DiskSize, WorkloadRate: o.Rate, VMs: o.VMs})
	if err != nil {
		return nil, err
	}
	defer done()
	dir := l.Dir
	pf.RPO = o.RPO.String()
	pf.VMs = nil
	var names []string
	for _, vm := range l.WebApps() {
		pf.VMs = append(pf.VMs, steps.VMPlan{Name: vm.Name, RPO: replication.RPO(o.RPO)})
		names = append(names, vm.Name)
	}
	it := steps.NewItinerary()
	pf.ApplyDefaults(it)
	env := steps.NewEnv(l.Config(), pf, steps.NewState(filepath.Join(dir, "bench.state.json")))
	defer env.Close(context.WithoutCancel(ctx))

	w := &rpoWatch{passes: map[string]int{}, started: map[string]time.Time{}, kinds: map[replication.PassKind]int{}, missed: map[string]bool{},
		phase: map[string]phaseAt{}, inPhase: map[replication.Phase]time.Duration{}}
	// The wizard's warm replication: the scheduler owns every job, step 6
	// hands each VM to it and waits for its initial sync.
	sched, err := env.EnableWarm(ctx, w.handle)
	if err != nil {
		return nil, err
	}
	var upTo steps.Itinerary
	for _, st := range it {
		upTo = append(upTo, st)
		if st.Step.ID() == "replication" {
			break
		}
	}
	var failed []string
	r := &steps.Runner{Itinerary: upTo, Env: env, Emit: func(ev steps.Event) {
		switch ev.Kind {
		case steps.EventFailed:
			failed = append(failed, ev.Error)
		case steps.EventStarted:
			fmt.Fprintf(errOut, "bench rpo: %s (%s in)\n", ev.Message, time.Since(start).Round(time.Second))
		}
	}}
	if _, err := r.Run(ctx); err != nil {
		return nil, fmt.Errorf("%w %s", err, strings.Join(failed, "; "))
	}
	res := &rpoBenchResult{opts: o, setup: time.Since(start), vms: names}
	fmt.Fprintf(errOut, "bench rpo: every initial sync done after %s; watching for %s\n", res.setup.Round(time.Second), o.Watch)

	w.mu.Lock()
	w.from = time.Now()
	w.mu.Unlock()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	end := time.After(o.Watch)
	progress := time.Now()
watch:
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-end:
			break watch
		case <-tick.C:
			w.sample(sched.Status())
			if time.Since(progress) >= 30*time.Second {
				progress = time.Now()
				w.mu.Lock()
				n := 0
				for _, c := range w.passes {
					n += c
				}
				fmt.Fprintf(errOut, "bench rpo: %s watched, %d passes, worst lag so far %s\n", time.Since(w.from).Round(time.Second), n, w.worst.Round(100*time.Millisecond))
				w.mu.Unlock()
			}
		}
	}
	w.sample(sched.Status())
	w.mu.Lock()
	w.to = time.Now()
	res.watched = w.to.Sub(w.from)
	res.passes, res.durs, res.kinds, res.sent, res.inPhase = w.passes, w.durs, w.kinds, w.sent, w.inPhase
	res.warnings, res.errors, res.worst, res.worstVM = w.warnings, w.errors, w.worst, w.worstVM
	for vm := range w.missed {
		res.missed = append(res.missed, vm)
	}
	w.mu.Unlock()
	sort.Strings(res.missed)
	st := l.CBT.Stats()
	res.tracker = fmt.Sprintf("%d guest writes tracked (%d MiB), %d snapshots' change sets, %d bytes of disk read by the tracker, %d untracked writes",
		st.Writes, st.BytesWritten>>20, st.Epochs, st.BytesRead, st.Untracked)
	return res, nil
}

func (r *rpoBenchResult) print(cmd *cobra.Command) {
	out := cmd.OutOrStdout()
	o := r.opts
	windows := r.watched.Seconds() / o.RPO.Seconds()
	var per []float64
	total := 0
	for _, vm := range r.vms {
		per = append(per, float64(r.passes[vm])/windows)
		total += r.passes[vm]
	}
	sort.Float64s(per)
	sort.Slice(r.durs, func(i, j int) bool { return r.durs[i] < r.durs[j] })
	fmt.Fprintf(out, "bench rpo: %d VMs, RPO %s, %d MiB disks, workload %d KiB/s per VM, watched %s (%.2f RPO windows) after every initial sync (setup %s)\n",
		o.VMs, o.RPO, o.DiskSize>>20, max(o.Rate, 0)>>10, r.watched.Round(time.Second), windows, r.setup.Round(time.Second))
	fmt.Fprintf(out, "passes completed: %d (%s), %.1f MiB on the wire\n", total, kindsText(r.kinds), float64(r.sent)/(1<<20))
	if len(per) > 0 {
		fmt.Fprintf(out, "passes per VM per RPO window: min %.2f, median %.2f, max %.2f\n", per[0], per[len(per)/2], per[len(per)-1])
	}
	if len(r.durs) > 0 {
		fmt.Fprintf(out, "pass duration: median %s, p95 %s, max %s (RPO/2 = %s)\n", r.durs[len(r.durs)/2].Round(time.Millisecond),
			r.durs[len(r.durs)*95/100].Round(time.Millisecond), r.durs[len(r.durs)-1].Round(time.Millisecond), o.RPO/2)
	}
	if total > 0 {
		var parts []string
		for _, p := range []replication.Phase{replication.PhaseSnapshot, replication.PhasePlan, replication.PhaseCompare, replication.PhaseTransfer,
			replication.PhaseCommit, replication.PhaseRelease, replication.PhaseVerify} {
			if d := r.inPhase[p]; d > 0 {
				parts = append(parts, fmt.Sprintf("%s %s", p, (d/time.Duration(total)).Round(time.Millisecond)))
			}
		}
		fmt.Fprintf(out, "time per pass by phase (mean): %s\n", strings.Join(parts, ", "))
	}
	fmt.Fprintf(out, "worst replication lag: %s (%s); RPO %s\n", r.worst.Round(100*time.Millisecond), r.worstVM, o.RPO)
	fmt.Fprintf(out, "RPO warnings: %d; failed passes: %d\n", len(r.warnings), len(r.errors))
	for i, m := range append(append([]string(nil), r.warnings...), r.errors...) {
		if i == 5 {
			fmt.Fprintf(out, "  ... and %d more\n", len(r.warnings)+len(r.errors)-5)
			break
		}
		fmt.Fprintf(out, "  %s\n", m)
	}
	fmt.Fprintf(out, "lab CBT: %s\n", r.tracker)
	if len(r.missed) == 0 {
		fmt.Fprintf(out, "RPO missed: none of %d VMs (target: none)\n", o.VMs)
	} else {
		fmt.Fprintf(out, "RPO missed: %d of %d VMs (target: none): %s\n", len(r.missed), o.VMs, strings.Join(r.missed, ", "))
	}
}

func kindsText(k map[replication.PassKind]int) string {
	var parts []string
	for kind, n := range k {
		parts = append(parts, fmt.Sprintf("%d %s", n, kind))
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
