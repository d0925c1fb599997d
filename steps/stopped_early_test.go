package steps

import (
	"context"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmware/govmomi/guest"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/lab"
)

// stopWaveAt runs the confirmed wave's cutover and stops it (as a signal
// does: its context cancelled) once all n of its VMs reached phase (the
// phase hook's name), and returns the report it saved, as text too.
func stopWaveAt(t *testing.T, env *Env, r *Runner, phase string, n int) (*CutoverReport, string, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	arrived := 0
	all := make(chan struct{})
	env.phaseHook = func(vm, p string) {
		if p != phase {
			return
		}
		mu.Lock()
		if arrived++; arrived == n {
			cancel()
			close(all)
		}
		mu.Unlock()
		select {
		case <-all:
		case <-time.After(60 * time.Second):
			t.Errorf("%s waited at %q for the other VMs of the wave", vm, phase)
		}
	}
	defer func() { env.phaseHook = nil }()
	_, err := r.Run(ctx)
	rep, md, rerr := env.LastCutoverReport()
	if rerr != nil || rep == nil {
		t.Fatalf("report: %v", rerr)
	}
	text, rerr := os.ReadFile(md)
	if rerr != nil {
		t.Fatal(rerr)
	}
	return rep, string(text), err
}

// TestWaveStoppedBeforeAnyShutdown: a wave stopped (a signal) before any
// of its VMs was shut down, in their checks or as their shutdown was about
// to be asked for, reports each VM "stopped before the shutdown" with no
// downtime figure, the wave "no VM was shut down" and its probe not
// judged; every source still runs (QA: a wave stopped in its first moments
// reported a VM never shut down "failed". Stopped as the shutdown began,
// VMs never shut down read "rolled back", shutdown to power-on 0.0s, in a
// wave "down from the first shutdown", its probe "FAILED: context
// canceled").
func TestWaveStoppedBeforeAnyShutdown(t *testing.T) {
	t.Parallel()
	vms := []string{"WebApp1", "WebApp2", "WebApp3"}
	_, env := waveLab(t, vms...)
	r, lines := lockedRunner(env)
	ctx := context.Background()
	if _, err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	confirmed, err := ConfirmedVMs(env.Plan(), strings.Join(vms, ","))
	if err != nil {
		t.Fatal(err)
	}
	env.CutoverVMs, r.Confirmed = confirmed, true
	onprem, err := env.OnPrem(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []string{"checks", "shutdown"} {
		rep, md, err := stopWaveAt(t, env, r, at, len(vms))
		if err == nil {
			t.Fatalf("stopped at %q: the wave went through:\n%s", at, strings.Join(lines(), "\n"))
		}
		if w := rep.WaveFigures(); !strings.Contains(w, "no VM was shut down") {
			t.Errorf("stopped at %q: the wave reads %q; want no VM was shut down", at, w)
		}
		if !strings.Contains(md, ": 3 stopped before the shutdown; no VM was shut down;") ||
			!strings.Contains(md, "- shop (WebApp1, WebApp2): all up at -; not judged: the wave was stopped (context canceled)\n") {
			t.Errorf("stopped at %q: report:\n%s", at, md)
		}
		for _, v := range rep.VMs {
			if want := "stopped before the shutdown · measured downtime - · shutdown to power-on -"; !strings.HasPrefix(v.Figures(), want) {
				t.Errorf("stopped at %q: %s reads %q; want %q", at, v.VM, v.Figures(), want)
			}
			if row := "| " + v.VM + " | stopped before the shutdown | - | - |"; !strings.Contains(md, row) {
				t.Errorf("stopped at %q: the report has no row %q:\n%s", at, row, md)
			}
			if !strings.Contains(v.Error, "kept running on-prem") {
				t.Errorf("stopped at %q: %s's error %q does not say it kept running", at, v.VM, v.Error)
			}
		}
		for _, vm := range vms {
			if src, err := onprem.VMByName(ctx, vm); err != nil || !src.PoweredOn() {
				t.Errorf("stopped at %q: %s on-prem: %v %+v; want it running", at, vm, err, src)
			}
		}
	}
}

// TestWaveVMNeverShutDownHasNoDowntime: in a wave stopped while one VM is
// in its window and the next waits for its own, the one that waits was
// never shut down: whatever its probes saw meanwhile (here its guest ping
// to the VM in its window, which is down) is no downtime of its, and it
// reads "stopped before the shutdown" with no downtime figure; the VM that
// was down keeps its measured downtime and rollback, and the wave its
// downtime from that shutdown (QA: "failed · measured downtime at least
// 0.1s" of a VM of a wave stopped early, never shut down).
func TestWaveVMNeverShutDownHasNoDowntime(t *testing.T) {
	t.Parallel()
	_, env := waveLab(t, "WebApp2", "WebApp1")
	// WebApp1's own probe, as in the lab's plan: a ping from its guest to
	// WebApp2.
	env.Plan().Probes = append(env.Plan().Probes, ProbePlan{Name: "WebApp1 -> WebApp2", From: "WebApp1", To: "172.16.10.12"})
	one := 1
	env.Plan().Cutover.Parallel = &one
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, lines := lockedRunner(env)
	if _, err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	onprem, err := env.OnPrem(ctx)
	if err != nil {
		t.Fatal(err)
	}
	web1, err := onprem.VMByName(ctx, "WebApp1")
	if err != nil {
		t.Fatal(err)
	}
	pm, err := guest.NewOperationsManager(onprem.Client.Client, web1.Ref.Reference()).ProcessManager(ctx)
	if err != nil {
		t.Fatal(err)
	}
	auth := &types.NamePasswordAuthentication{Username: lab.GuestUser, Password: lab.GuestPassword}
	// failedPings waits until WebApp1's guest ping probe failed twice since
	// it was called (the second ping began once the monitor had recorded
	// the first): guest programs are numbered in the order they start.
	failedPings := func() bool {
		mark, err := pm.StartProgram(ctx, auth, &types.GuestProgramSpec{ProgramPath: "/bin/ping", Arguments: "-c 1 -W 1 172.16.10.250"})
		if err != nil {
			t.Error(err)
			return false
		}
		for range 3000 {
			var pids []int64
			for p := mark + 1; p < mark+500; p++ {
				pids = append(pids, p)
			}
			procs, err := pm.ListProcesses(ctx, auth, pids)
			if err != nil {
				t.Error(err)
				return false
			}
			failed := 0
			for _, p := range procs {
				if strings.HasSuffix(p.CmdLine, " 172.16.10.12") && p.EndTime != nil && p.ExitCode != 0 {
					failed++
				}
			}
			if failed >= 2 {
				return true
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Error("WebApp1's guest ping never failed while WebApp2 was down")
		return false
	}
	vms, err := ConfirmedVMs(env.Plan(), "WebApp2,WebApp1")
	if err != nil {
		t.Fatal(err)
	}
	env.CutoverVMs, r.Confirmed = vms, true
	waiting := "WebApp1: ready to shut down; waiting for a place"
	env.phaseHook = func(vm, phase string) {
		if vm != "WebApp2" || phase != "final pass" {
			return
		}
		// WebApp2 is down; WebApp1 prepared meanwhile and waits for its
		// window, its guest ping failing.
		for range 3000 {
			if slices.ContainsFunc(lines(), func(l string) bool { return strings.Contains(l, waiting) }) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		failedPings()
		cancel()
	}
	if _, err := r.Run(ctx); err == nil {
		t.Fatalf("a stopped wave went through:\n%s", strings.Join(lines(), "\n"))
	}
	if !slices.ContainsFunc(lines(), func(l string) bool { return strings.Contains(l, waiting) }) {
		t.Fatalf("WebApp1 never waited for its window:\n%s", strings.Join(lines(), "\n"))
	}
	rep, md, err := env.LastCutoverReport()
	if err != nil || rep == nil {
		t.Fatalf("report: %v", err)
	}
	text, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]VMReport{}
	for _, v := range rep.VMs {
		by[v.VM] = v
	}
	if v, want := by["WebApp1"], "stopped before the shutdown · measured downtime - · shutdown to power-on -"; !strings.HasPrefix(v.Figures(), want) ||
		!strings.Contains(string(text), "| WebApp1 | stopped before the shutdown | - | - |") {
		t.Errorf("WebApp1, never shut down, reads %q; want %q:\n%s", v.Figures(), want, text)
	}
	if v := by["WebApp2"]; v.Outcome != "rolled back" || v.MeasuredDowntimeSeconds <= 0 || !strings.Contains(v.Figures(), "rolled back · measured downtime ") {
		t.Errorf("WebApp2, down in its window: %q; want rolled back, its measured downtime", v.Figures())
	}
	if w := rep.WaveFigures(); !strings.Contains(w, " · downtime ") || !strings.Contains(string(text), ": 1 rolled back, 1 stopped before the shutdown; downtime ") {
		t.Errorf("the wave reads %q; want its downtime from WebApp2's shutdown:\n%s", w, text)
	}
}
